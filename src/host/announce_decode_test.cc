// SPDX-License-Identifier: Apache-2.0
// DecodeAddress and DecodeAnnounce: an app's address, and what any DHT node may
// answer for it.
#include "host/announce_decode.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/keys.h"

namespace mumba {
namespace {

using Fields = std::map<std::string, std::string>;

std::string Address() {
  static const std::string address = AddressOf(GenerateKeyPair().public_key);
  return address;
}

Fields GoodFields() {
  return {{"ih", std::string(20, '\x01')}, {"v2", std::string(32, '\xab')}, {"name", "hello"},
          {"version", "1.2.3"}, {"size", "4096"}};
}

TEST(AnnounceDecodeTest, AddressesInEitherFormNameTheirKey) {
  auto full = DecodeAddress(Address());
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->canonical, Address());
  EXPECT_EQ(AddressOf(full->public_key), Address());
  auto bare = DecodeAddress(Address().substr(kAddressScheme.size()));
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->canonical, Address());
  for (const std::string& bad : {std::string(), std::string("mumba://"), Address() + "a", Address().substr(0, 20),
                                 std::string(Address()).replace(10, 1, "!")}) {
    EXPECT_EQ(DecodeAddress(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(AnnounceDecodeTest, AGoodItemGivesTheApp) {
  auto app = DecodeAnnounce(Address(), 7, GoodFields());
  ASSERT_TRUE(app.ok()) << app.status().message();
  EXPECT_EQ(app->address, Address());
  EXPECT_EQ(app->seq, 7);
  EXPECT_EQ(app->name, "hello");
  EXPECT_EQ(app->version, "1.2.3");
  EXPECT_EQ(app->size, 4096u);
  std::string v1_hex, v2_hex;
  for (int i = 0; i < 20; ++i) v1_hex += "01";
  for (int i = 0; i < 32; ++i) v2_hex += "ab";
  EXPECT_EQ(app->info_hash, v1_hex);
  EXPECT_EQ(app->info_hash_v2, v2_hex);
  EXPECT_TRUE(app->magnet.empty());

  Fields without_v2 = GoodFields();
  without_v2.erase("v2");
  EXPECT_EQ(DecodeAnnounce(Address(), 1, without_v2)->info_hash_v2, "");
}

TEST(AnnounceDecodeTest, EachBadFieldIsRefused) {
  auto refused = [](const char* key, const std::string& value) {
    Fields f = GoodFields();
    f[key] = value;
    return DecodeAnnounce(Address(), 1, f).status().code() == Code::kInvalidArgument;
  };
  for (const char* size : {"", "-1", "+1", " 1", "1 ", "0x10", "1e3", "18446744073709551616", "1.0"}) {
    EXPECT_TRUE(refused("size", size)) << size;
  }
  EXPECT_TRUE(refused("ih", std::string(19, 'a')));
  EXPECT_TRUE(refused("ih", std::string(40, 'a')));
  EXPECT_TRUE(refused("name", "Hello"));
  EXPECT_TRUE(refused("name", "../x"));
  EXPECT_TRUE(refused("version", "1.2"));
  EXPECT_TRUE(refused("version", "1.2.3\n"));
  Fields none;
  EXPECT_EQ(DecodeAnnounce(Address(), 1, none).status().code(), Code::kInvalidArgument);
}

// Before, a refused size was quoted as it came (24 bytes of it) into the message
// `mumba install` prints: an item could write escape sequences to the terminal.
TEST(AnnounceDecodeTest, ARefusalQuotesOnlyPrintableText) {
  Fields f = GoodFields();
  f["size"] = "\x1b]0;owned\x07\x9b" "2J" + std::string(100, 'x');
  auto refused = DecodeAnnounce(Address(), 1, f);
  ASSERT_EQ(refused.status().code(), Code::kInvalidArgument);
  const std::string message = refused.status().message();
  for (unsigned char c : message) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << int(c) << " in " << message;
  EXPECT_NE(message.find("\\x1b]0;owned\\x07\\x9b2J"), std::string::npos) << message;
  EXPECT_LT(message.size(), 200u);
}

}  // namespace
}  // namespace mumba
