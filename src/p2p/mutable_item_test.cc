// SPDX-License-Identifier: Apache-2.0
// BEP 44 items signed and checked without a session, and the key layouts of
// libsodium and libtorrent side by side.
#include "p2p/mutable_item.h"

#include <sodium.h>

#include <gtest/gtest.h>

#include <cstring>
#include <iterator>

#include <libtorrent/bencode.hpp>
#include <libtorrent/kademlia/ed25519.hpp>
#include <libtorrent/kademlia/item.hpp>

namespace mumba::p2p {
namespace {

TEST(P2pKeysTest, LibsodiumAndLibtorrentKeysAgree) {
  KeyPair pair = GenerateKeyPair();
  std::array<char, 32> seed;
  std::memcpy(seed.data(), pair.secret_key.data(), 32);
  auto [pk, sk] = lt::dht::ed25519_create_keypair(seed);
  // Same public key from the seed, but a different 64-byte secret layout.
  EXPECT_EQ(std::memcmp(pk.bytes.data(), pair.public_key.data(), 32), 0);
  EXPECT_NE(std::memcmp(sk.bytes.data(), pair.secret_key.data(), 64), 0);

  // A BEP 44 signature by libtorrent verifies with libsodium, and the reverse.
  std::string value = "d4:name5:helloe";
  std::string text = "3:seqi7e1:v" + value;
  lt::dht::signature lt_sig = lt::dht::sign_mutable_item(value, {}, lt::dht::sequence_number(7), pk, sk);
  EXPECT_EQ(crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(lt_sig.bytes.data()),
                                        reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                                        pair.public_key.data()),
            0);
  lt::dht::signature na_sig;
  crypto_sign_detached(reinterpret_cast<unsigned char*>(na_sig.bytes.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                       pair.secret_key.data());
  EXPECT_TRUE(lt::dht::ed25519_verify(na_sig, text, pk));
  EXPECT_EQ(na_sig.bytes, lt_sig.bytes);  // ed25519 is deterministic.

  // libsodium's secret handed to libtorrent as is signs garbage: the trap the
  // node avoids by re-deriving from the seed.
  lt::dht::secret_key raw;
  std::memcpy(raw.bytes.data(), pair.secret_key.data(), 64);
  EXPECT_FALSE(lt::dht::ed25519_verify(lt::dht::ed25519_sign(text, pk, raw), text, pk));
}

TEST(P2pMutableItemTest, LibtorrentKeysComeFromTheSeedAndMustMatch) {
  KeyPair pair = GenerateKeyPair();
  auto keys = LibtorrentKeys(pair);
  ASSERT_TRUE(keys.ok()) << keys.status().message();
  EXPECT_EQ(std::memcmp(keys->first.bytes.data(), pair.public_key.data(), 32), 0);

  KeyPair mixed = pair;
  mixed.secret_key = GenerateKeyPair().secret_key;
  EXPECT_EQ(LibtorrentKeys(mixed).status().code(), Code::kInvalidArgument);
}

TEST(P2pMutableItemTest, SignedTextIsWhatBep44Signs) {
  std::string v = "d4:name5:helloe";
  EXPECT_EQ(SignedText(std::vector<char>(v.begin(), v.end()), 42), "3:seqi42e1:vd4:name5:helloe");
}

TEST(P2pMutableItemTest, ASignedItemVerifiesWithItsFields) {
  KeyPair pair = GenerateKeyPair();
  std::string ih(20, '\0');
  ih[3] = 'x';  // Raw bytes survive, NULs included.
  std::map<std::string, std::string> fields = {{"ih", ih}, {"name", "hello"}, {"version", "1.0.0"}};
  auto item = SignItem(pair, fields, 7);
  ASSERT_TRUE(item.ok()) << item.status().message();
  EXPECT_EQ(std::memcmp(item->public_key.data(), pair.public_key.data(), 32), 0);
  EXPECT_EQ(item->seq, 7);

  auto got = VerifyItem(item->public_key, "", item->value, item->signature.bytes, 7);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->public_key, pair.public_key);
  EXPECT_EQ(got->seq, 7);
  EXPECT_EQ(got->fields, fields);

  // libsodium agrees with the signature over SignedText.
  std::vector<char> encoded;
  lt::bencode(std::back_inserter(encoded), item->value);
  std::string text = SignedText(encoded, 7);
  EXPECT_EQ(crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(item->signature.bytes.data()),
                                        reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                                        pair.public_key.data()),
            0);
}

TEST(P2pMutableItemTest, VerifyRefusesWhatTheSignatureDoesNotCover) {
  KeyPair pair = GenerateKeyPair();
  auto item = SignItem(pair, {{"name", "hello"}}, 3);
  ASSERT_TRUE(item.ok());
  const auto& sig = item->signature.bytes;
  EXPECT_FALSE(VerifyItem(item->public_key, "", item->value, sig, 4));  // Another seq.
  EXPECT_FALSE(VerifyItem(item->public_key, "salt", item->value, sig, 3));
  lt::entry changed = item->value;
  changed["name"] = "evil";
  EXPECT_FALSE(VerifyItem(item->public_key, "", changed, sig, 3));
  std::array<char, 32> other;
  KeyPair other_pair = GenerateKeyPair();
  std::memcpy(other.data(), other_pair.public_key.data(), 32);
  EXPECT_FALSE(VerifyItem(other, "", item->value, sig, 3));
  EXPECT_FALSE(
      VerifyItem(item->public_key, "", lt::entry(std::string("hello")), sig, 3));  // Not a dictionary.
}

TEST(P2pMutableItemTest, VerifyKeepsOnlyStringFields) {
  KeyPair pair = GenerateKeyPair();
  auto keys = LibtorrentKeys(pair);
  ASSERT_TRUE(keys.ok());
  lt::entry value(lt::entry::dictionary_t);
  value["name"] = "hello";
  value["n"] = lt::entry::integer_type(5);
  std::vector<char> encoded;
  lt::bencode(std::back_inserter(encoded), value);
  auto sig = lt::dht::sign_mutable_item(encoded, {}, lt::dht::sequence_number(1), keys->first, keys->second);
  std::array<char, 32> pk;
  std::memcpy(pk.data(), pair.public_key.data(), 32);
  auto got = VerifyItem(pk, "", value, sig.bytes, 1);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->fields, (std::map<std::string, std::string>{{"name", "hello"}}));
}

TEST(P2pMutableItemTest, SignItemRefusesBadKeysNegativeSeqAndLargeValues) {
  KeyPair pair = GenerateKeyPair();
  KeyPair mixed = pair;
  mixed.secret_key = GenerateKeyPair().secret_key;
  EXPECT_EQ(SignItem(mixed, {{"name", "x"}}, 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SignItem(pair, {{"name", "x"}}, -1).status().code(), Code::kInvalidArgument);
  // "d4:name" + "<n>:" + n bytes + "e": 1000 bytes fit, 1001 do not.
  std::string fits(1000 - std::string("d4:name988:e").size(), 'a');
  EXPECT_TRUE(SignItem(pair, {{"name", fits}}, 1).ok());
  auto big = SignItem(pair, {{"name", fits + "a"}}, 1);
  EXPECT_EQ(big.status().code(), Code::kInvalidArgument);
  EXPECT_NE(big.status().message().find("1001 bytes"), std::string::npos) << big.status().message();
}

}  // namespace
}  // namespace mumba::p2p
