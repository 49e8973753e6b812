// SPDX-License-Identifier: Apache-2.0
// App identities: addresses derived from keys, their one canonical spelling,
// the key store's file modes, and keys protected by a passphrase.
#include "common/keys.h"

#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <new>

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

// The cheapest cost libsodium allows, so that tests run in microseconds; the
// format and the checks are the same at any cost.
const PassphraseCost kCheap{crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};

fs::path FileOf(const fs::path& keys, const KeyPair& pair) {
  return keys / (AddressOf(pair.public_key).substr(8) + ".key");
}

std::string Bytes(const fs::path& file) {
  auto contents = ReadFile(file);
  return contents.ok() ? *contents : std::string();
}

size_t Entries(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

// Writes `bytes` as the key file, with the checksum at the end made anew, as a
// tamperer who knows the format would.
void WriteWithChecksum(const fs::path& file, std::string bytes) {
  crypto_generichash(reinterpret_cast<unsigned char*>(bytes.data()) + 114, 32,
                     reinterpret_cast<const unsigned char*>(bytes.data()), 114, nullptr, 0);
  ASSERT_TRUE(WriteFileAtomic(file, bytes, 0600).ok());
}

TEST(KeysTest, ProtectUnprotectRoundTrip) {
  TempDir tmp;
  KeyPair pair = GenerateKeyPair();
  std::string address = AddressOf(pair.public_key);
  ASSERT_TRUE(SaveKeyPair(tmp.path(), pair).ok());
  fs::path file = FileOf(tmp.path(), pair);
  std::string raw = Bytes(file);

  Status st = ProtectKey(tmp.path(), address, "correct horse", kCheap);
  ASSERT_TRUE(st.ok()) << st.message();
  std::string sealed = Bytes(file);
  ASSERT_EQ(sealed.size(), 146u);
  EXPECT_TRUE(sealed.starts_with("mumbakey\x01\x01"));
  EXPECT_EQ(sealed.find(raw.substr(0, 32)), std::string::npos) << "the seed is in the clear";
  EXPECT_EQ(fs::status(file).permissions(), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(Entries(tmp.path()), 1u);
  EXPECT_EQ(ListKeys(tmp.path()), std::vector<std::string>{address});
  ASSERT_TRUE(IsKeyProtected(tmp.path(), address).ok());
  EXPECT_TRUE(*IsKeyProtected(tmp.path(), address));

  auto loaded = LoadKeyPair(tmp.path(), address, "correct horse");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->secret_key, pair.secret_key);
  EXPECT_EQ(loaded->public_key, pair.public_key);

  auto no_passphrase = LoadKeyPair(tmp.path(), address);
  EXPECT_EQ(no_passphrase.status().code(), Code::kPermissionDenied);
  EXPECT_NE(no_passphrase.status().message().find("--passphrase-file"), std::string::npos)
      << no_passphrase.status().message();

  st = UnprotectKey(tmp.path(), address, "correct horse");
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(Bytes(file), raw);
  EXPECT_EQ(fs::status(file).permissions(), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(Entries(tmp.path()), 1u);
  EXPECT_FALSE(*IsKeyProtected(tmp.path(), address));
}

TEST(KeysTest, EachProtectionIsFresh) {
  TempDir tmp;
  KeyPair pair = GenerateKeyPair();
  std::string address = AddressOf(pair.public_key);
  ASSERT_TRUE(SaveKeyPair(tmp.path(), pair).ok());
  ASSERT_TRUE(ProtectKey(tmp.path(), address, "same", kCheap).ok());
  std::string first = Bytes(FileOf(tmp.path(), pair));
  ASSERT_TRUE(UnprotectKey(tmp.path(), address, "same").ok());
  ASSERT_TRUE(ProtectKey(tmp.path(), address, "same", kCheap).ok());
  std::string second = Bytes(FileOf(tmp.path(), pair));
  // A new salt and nonce every time: the same passphrase never gives the same file.
  EXPECT_NE(first.substr(26, 40), second.substr(26, 40));
  EXPECT_NE(first, second);
}

TEST(KeysTest, WrongPassphraseChangesNothing) {
  TempDir tmp;
  KeyPair pair = GenerateKeyPair();
  std::string address = AddressOf(pair.public_key);
  ASSERT_TRUE(SaveKeyPair(tmp.path(), pair).ok());
  ASSERT_TRUE(ProtectKey(tmp.path(), address, "correct horse", kCheap).ok());
  std::string sealed = Bytes(FileOf(tmp.path(), pair));

  auto loaded = LoadKeyPair(tmp.path(), address, "correct hors");
  EXPECT_EQ(loaded.status().code(), Code::kPermissionDenied);
  EXPECT_NE(loaded.status().message().find("wrong passphrase"), std::string::npos);
  EXPECT_EQ(loaded.status().message().find("correct"), std::string::npos) << "the passphrase is in the message";
  EXPECT_EQ(UnprotectKey(tmp.path(), address, "Correct horse").code(), Code::kPermissionDenied);
  EXPECT_EQ(UnprotectKey(tmp.path(), address, "").code(), Code::kPermissionDenied);
  EXPECT_EQ(Bytes(FileOf(tmp.path(), pair)), sealed);
  EXPECT_EQ(Entries(tmp.path()), 1u);
}

TEST(KeysTest, ATamperedProtectedKeyIsDataLoss) {
  TempDir tmp;
  KeyPair pair = GenerateKeyPair();
  std::string address = AddressOf(pair.public_key);
  ASSERT_TRUE(SaveKeyPair(tmp.path(), pair).ok());
  ASSERT_TRUE(ProtectKey(tmp.path(), address, "pw", kCheap).ok());
  fs::path file = FileOf(tmp.path(), pair);
  const std::string sealed = Bytes(file);

  // Every byte but the version (which is refused as a newer format) is checked.
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    ASSERT_TRUE(WriteFileAtomic(file, bad, 0600).ok());
    auto loaded = LoadKeyPair(tmp.path(), address, "pw");
    if (i == 8) {
      EXPECT_EQ(loaded.status().code(), Code::kFailedPrecondition);
    } else {
      EXPECT_EQ(loaded.status().code(), Code::kDataLoss) << "byte " << i;
    }
    EXPECT_EQ(UnprotectKey(tmp.path(), address, "pw").code(), loaded.status().code()) << "byte " << i;
    EXPECT_EQ(Bytes(file), bad) << "byte " << i;
  }
  for (size_t size : {size_t{65}, size_t{145}}) {
    ASSERT_TRUE(WriteFileAtomic(file, sealed.substr(0, size), 0600).ok());
    EXPECT_EQ(LoadKeyPair(tmp.path(), address, "pw").status().code(), Code::kDataLoss) << size;
  }
  ASSERT_TRUE(WriteFileAtomic(file, sealed + "x", 0600).ok());
  EXPECT_EQ(LoadKeyPair(tmp.path(), address, "pw").status().code(), Code::kDataLoss);

  // Whoever also mends the checksum still cannot get past the tag: the changed
  // sealed seed, or salt, reads as a wrong passphrase.
  for (size_t i : {size_t{30}, size_t{70}, size_t{113}}) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    WriteWithChecksum(file, bad);
    EXPECT_EQ(LoadKeyPair(tmp.path(), address, "pw").status().code(), Code::kPermissionDenied) << i;
  }
  // Nor make the opener allocate what the file asks for: a cost above
  // libsodium's SENSITIVE is refused before Argon2id runs.
  std::string greedy = sealed;
  for (int i = 0; i < 8; ++i) greedy[18 + i] = static_cast<char>(0xff);
  WriteWithChecksum(file, greedy);
  EXPECT_EQ(LoadKeyPair(tmp.path(), address, "pw").status().code(), Code::kDataLoss);
}

TEST(KeysTest, UnprotectedKeysWorkAsBefore) {
  TempDir tmp;
  KeyPair pair = GenerateKeyPair();
  std::string address = AddressOf(pair.public_key);
  fs::path file = FileOf(tmp.path(), pair);
  // A key file as every earlier Mumba wrote it: the 64 raw bytes.
  std::string raw(pair.secret_key.begin(), pair.secret_key.end());
  ASSERT_TRUE(WriteFileAtomic(file, raw, 0600).ok());
  ASSERT_TRUE(IsKeyProtected(tmp.path(), address).ok());
  EXPECT_FALSE(*IsKeyProtected(tmp.path(), address));
  for (std::string_view passphrase : {std::string_view(), std::string_view("ignored")}) {
    auto loaded = LoadKeyPair(tmp.path(), address, passphrase);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ(loaded->secret_key, pair.secret_key);
  }
  EXPECT_EQ(Bytes(file), raw);
  // A raw key that happens to start with the magic is still a raw key.
  unsigned char seed[32] = "mumbakey";
  KeyPair odd;
  crypto_sign_ed25519_seed_keypair(odd.public_key.data(), odd.secret_key.data(), seed);
  ASSERT_TRUE(SaveKeyPair(tmp.path(), odd).ok());
  EXPECT_FALSE(*IsKeyProtected(tmp.path(), AddressOf(odd.public_key)));
  EXPECT_TRUE(LoadKeyPair(tmp.path(), AddressOf(odd.public_key)).ok());
}

TEST(KeysTest, ProtectRefusals) {
  TempDir tmp;
  KeyPair pair = GenerateKeyPair();
  std::string address = AddressOf(pair.public_key);
  ASSERT_TRUE(SaveKeyPair(tmp.path(), pair).ok());
  fs::path file = FileOf(tmp.path(), pair);
  std::string raw = Bytes(file);

  EXPECT_EQ(ProtectKey(tmp.path(), address, "", kCheap).code(), Code::kInvalidArgument);
  EXPECT_EQ(ProtectKey(tmp.path(), address, std::string(kMaxPassphraseBytes + 1, 'a'), kCheap).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(UnprotectKey(tmp.path(), address, "pw").code(), Code::kFailedPrecondition);
  EXPECT_EQ(Bytes(file), raw);
  EXPECT_EQ(ProtectKey(tmp.path(), AddressOf(GenerateKeyPair().public_key), "pw", kCheap).code(),
            Code::kNotFound);
  EXPECT_EQ(ProtectKey(tmp.path(), "mumba://nope", "pw", kCheap).code(), Code::kInvalidArgument);

  ASSERT_TRUE(ProtectKey(tmp.path(), address, std::string(kMaxPassphraseBytes, 'a'), kCheap).ok());
  std::string sealed = Bytes(file);
  EXPECT_TRUE(LoadKeyPair(tmp.path(), address, std::string(kMaxPassphraseBytes, 'a')).ok());
  // Longer is refused before Argon2id runs, rather than cut to a prefix.
  EXPECT_EQ(LoadKeyPair(tmp.path(), address, std::string(kMaxPassphraseBytes + 1, 'a')).status().code(),
            Code::kInvalidArgument);
  Status twice = ProtectKey(tmp.path(), address, "other", kCheap);
  EXPECT_EQ(twice.code(), Code::kFailedPrecondition);
  EXPECT_NE(twice.message().find("unprotect"), std::string::npos);
  EXPECT_EQ(Bytes(file), sealed);
}

TEST(KeysTest, AFailedWriteLeavesTheKeyAsItWas) {
  TempDir tmp;
  KeyPair pair = GenerateKeyPair();
  std::string address = AddressOf(pair.public_key);
  ASSERT_TRUE(SaveKeyPair(tmp.path(), pair).ok());
  fs::path file = FileOf(tmp.path(), pair);
  std::string raw = Bytes(file);

  // The file size limit holds for root too: the 146-byte protected form cannot be
  // written, as on a full disk. The key must stay whole, with no leftovers.
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit small = old;
  small.rlim_cur = 100;
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  Status st = ProtectKey(tmp.path(), address, "pw", kCheap);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);

  EXPECT_EQ(st.code(), Code::kInternal) << st.message();
  EXPECT_EQ(Bytes(file), raw);
  EXPECT_EQ(Entries(tmp.path()), 1u);
  auto loaded = LoadKeyPair(tmp.path(), address);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->secret_key, pair.secret_key);
}

TEST(KeysTest, SecretsAreWipedWhenDone) {
  alignas(KeyPair) unsigned char storage[sizeof(KeyPair)];
  auto* pair = new (storage) KeyPair(GenerateKeyPair());
  const unsigned char* secret = reinterpret_cast<const unsigned char*>(pair->secret_key.data());
  ASSERT_FALSE(sodium_is_zero(secret, 64));
  pair->~KeyPair();
  EXPECT_TRUE(sodium_is_zero(secret, 64));

  Passphrase p("hunter2");
  EXPECT_EQ(p.view(), "hunter2");
  const char* bytes = p.view().data();
  Passphrase moved(std::move(p));
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(moved.view(), "hunter2");
  EXPECT_EQ(moved.view().data(), bytes) << "a move copies no bytes";
  moved.PopBack();
  EXPECT_EQ(moved.view(), "hunter");
  moved.Clear();
  EXPECT_TRUE(moved.empty());
  EXPECT_TRUE(sodium_is_zero(reinterpret_cast<const unsigned char*>(bytes), 7));
  // The moved-from one works again, up to the limit.
  for (size_t i = 0; i < kMaxPassphraseBytes; ++i) ASSERT_TRUE(p.Append('x'));
  EXPECT_FALSE(p.Append('x'));
  EXPECT_EQ(p.view().size(), kMaxPassphraseBytes);

  std::string text = "a secret longer than the small-string buffer";
  const char* data = text.data();
  size_t size = text.size();
  WipeString(text);
  EXPECT_TRUE(text.empty());
  EXPECT_TRUE(sodium_is_zero(reinterpret_cast<const unsigned char*>(data), size));
}

TEST(KeysTest, DefaultCostIsModerate) {
  PassphraseCost cost = DefaultPassphraseCost();
  EXPECT_EQ(cost.ops, crypto_pwhash_OPSLIMIT_MODERATE);
  EXPECT_EQ(cost.mem_bytes, crypto_pwhash_MEMLIMIT_MODERATE);
}

}  // namespace
}  // namespace mumba
