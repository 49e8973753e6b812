// SPDX-License-Identifier: Apache-2.0
// App identities: addresses derived from keys, their one canonical spelling,
// and the key store's file modes.
#include "common/keys.h"

#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cctype>

#include "common/base32.h"
#include "common/files.h"
#include "common/temp_dir.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

constexpr const char* kKey = "onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";
const std::string kAddress = std::string("mumba://") + kKey;

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

TEST(KeysTest, AddressOfAFreshKey) {
  KeyPair pair = GenerateKeyPair();
  std::string address = AddressOf(pair.public_key);
  ASSERT_EQ(address.size(), kAddressScheme.size() + kAddressKeyChars);
  EXPECT_TRUE(address.starts_with("mumba://"));
  EXPECT_EQ(address.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 8), std::string::npos)
      << address;
  // The key decodes back from the address.
  auto bytes = Base32Decode(address.substr(8));
  ASSERT_TRUE(bytes.ok());
  EXPECT_TRUE(std::equal(bytes->begin(), bytes->end(), pair.public_key.begin()));
}

TEST(KeysTest, KeyPairsAreFreshAndConsistent) {
  KeyPair a = GenerateKeyPair();
  KeyPair b = GenerateKeyPair();
  EXPECT_NE(a.public_key, b.public_key);
  EXPECT_NE(AddressOf(a.public_key), AddressOf(b.public_key));
  // libsodium layout: the secret key ends with the public key.
  EXPECT_TRUE(std::equal(a.public_key.begin(), a.public_key.end(), a.secret_key.begin() + 32));
  // And it really is the secret half: a signature made with it verifies.
  const unsigned char msg[] = "install me";
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, msg, sizeof msg, a.secret_key.data());
  EXPECT_EQ(crypto_sign_verify_detached(sig, msg, sizeof msg, a.public_key.data()), 0);
  EXPECT_NE(crypto_sign_verify_detached(sig, msg, sizeof msg, b.public_key.data()), 0);
}

TEST(KeysTest, NormalizeAcceptsEveryFormOfOneAddress) {
  for (const std::string& form :
       {kAddress, std::string(kKey), "mumba://" + Upper(kKey), Upper(kKey), kAddress + "/",
        kAddress + "//", std::string(kKey) + "/"}) {
    auto n = NormalizeAddress(form);
    ASSERT_TRUE(n.ok()) << form << ": " << n.status().message();
    EXPECT_EQ(*n, kAddress) << form;
  }
}

TEST(KeysTest, NormalizeRoundTripsFreshKeys) {
  for (int i = 0; i < 20; ++i) {
    std::string address = AddressOf(GenerateKeyPair().public_key);
    auto n = NormalizeAddress(address);
    ASSERT_TRUE(n.ok()) << address << ": " << n.status().message();
    EXPECT_EQ(*n, address);
  }
}

TEST(KeysTest, NormalizeRefusesBadAddresses) {
  std::string bad_char = kKey;
  bad_char[20] = '0';
  std::string trailing = kKey;
  trailing.back() = 'b';  // The 4 unused low bits must be zero.
  for (const std::string& bad :
       {std::string(""), std::string("mumba://"), std::string("hello"), kAddress.substr(0, 59),
        kAddress + "a", "mumba://" + bad_char, "mumba://" + trailing,
        "https://" + std::string(kKey), "mumba:/" + std::string(kKey), "/" + std::string(kKey),
        " " + kAddress, kAddress + "/greet"}) {
    auto n = NormalizeAddress(bad);
    EXPECT_FALSE(n.ok()) << bad << " -> " << (n.ok() ? *n : "");
    EXPECT_EQ(n.status().code(), Code::kInvalidArgument) << bad;
  }
  auto short_one = NormalizeAddress("mumba://abc");
  ASSERT_FALSE(short_one.ok());
  EXPECT_NE(short_one.status().message().find("52"), std::string::npos);
  EXPECT_NE(short_one.status().message().find(" 3"), std::string::npos)
      << short_one.status().message();
}

TEST(KeysTest, LooksLikeAddress) {
  EXPECT_TRUE(LooksLikeAddress(kAddress));
  EXPECT_TRUE(LooksLikeAddress(kKey));
  EXPECT_TRUE(LooksLikeAddress("mumba://typo"));  // So the user hears what is wrong with it.
  EXPECT_FALSE(LooksLikeAddress("hello"));
  EXPECT_FALSE(LooksLikeAddress(""));
  EXPECT_FALSE(LooksLikeAddress(std::string(51, 'a')));
  EXPECT_FALSE(LooksLikeAddress(std::string(53, 'a')));
}

TEST(KeysTest, SaveKeyPairWritesAPrivateFile) {
  TempDir tmp;
  fs::path keys = tmp.path() / "home" / "keys";
  KeyPair pair = GenerateKeyPair();
  Status st = SaveKeyPair(keys, pair);
  ASSERT_TRUE(st.ok()) << st.message();

  std::string address = AddressOf(pair.public_key);
  fs::path file = keys / (address.substr(8) + ".key");
  ASSERT_TRUE(fs::is_regular_file(file));
  EXPECT_EQ(fs::status(file).permissions(), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(keys).permissions(), fs::perms::owner_all);
  auto contents = ReadFile(file);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(*contents, std::string(pair.secret_key.begin(), pair.secret_key.end()));
  // Nothing else (no temporary file) is left in the folder.
  EXPECT_EQ(std::distance(fs::directory_iterator(keys), fs::directory_iterator()), 1);
}

TEST(KeysTest, SaveKeyPairNeverOverwrites) {
  TempDir tmp;
  KeyPair pair = GenerateKeyPair();
  ASSERT_TRUE(SaveKeyPair(tmp.path(), pair).ok());
  KeyPair tampered = pair;
  tampered.secret_key[0] ^= 0xff;
  Status again = SaveKeyPair(tmp.path(), tampered);
  EXPECT_EQ(again.code(), Code::kAlreadyExists);
  auto contents = ReadFile(tmp.path() / (AddressOf(pair.public_key).substr(8) + ".key"));
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(*contents, std::string(pair.secret_key.begin(), pair.secret_key.end()));
}

TEST(KeysTest, SaveKeyPairTightensAnExistingFolder) {
  TempDir tmp;
  fs::path keys = tmp.path() / "keys";
  fs::create_directories(keys);
  fs::permissions(keys, fs::perms(0755));
  ASSERT_TRUE(SaveKeyPair(keys, GenerateKeyPair()).ok());
  EXPECT_EQ(fs::status(keys).permissions(), fs::perms::owner_all);
}

TEST(KeysTest, LoadKeyPairFindsWhatWasSaved) {
  TempDir tmp;
  KeyPair pair = GenerateKeyPair();
  std::string address = AddressOf(pair.public_key);
  ASSERT_TRUE(SaveKeyPair(tmp.path(), pair).ok());
  auto loaded = LoadKeyPair(tmp.path(), address);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->secret_key, pair.secret_key);
  EXPECT_EQ(loaded->public_key, pair.public_key);
  EXPECT_EQ(ListKeys(tmp.path()), std::vector<std::string>{address});

  auto missing = LoadKeyPair(tmp.path(), AddressOf(GenerateKeyPair().public_key));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("mumba keys import"), std::string::npos);
}

TEST(KeysTest, LoadKeyPairRefusesAFileOfAnotherKey) {
  TempDir tmp;
  KeyPair a = GenerateKeyPair(), b = GenerateKeyPair();
  std::string a_file = AddressOf(a.public_key).substr(8) + ".key";
  ASSERT_TRUE(WriteFileAtomic(tmp.path() / a_file, std::string(b.secret_key.begin(), b.secret_key.end()), 0600).ok());
  EXPECT_EQ(LoadKeyPair(tmp.path(), AddressOf(a.public_key)).status().code(), Code::kDataLoss);
}

TEST(KeysTest, ExportImportRoundTrip) {
  KeyPair pair = GenerateKeyPair();
  std::string text = ExportKeyPair(pair);
  EXPECT_TRUE(text.starts_with("mumba-secret-key:"));
  auto back = ImportKeyPair(text + "\n");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->secret_key, pair.secret_key);
  EXPECT_EQ(back->public_key, pair.public_key);
  EXPECT_FALSE(ImportKeyPair("hello").ok());
  EXPECT_FALSE(ImportKeyPair("mumba-secret-key:abc").ok());
}

}  // namespace
}  // namespace mumba
