// SPDX-License-Identifier: Apache-2.0
// Base32 is the alphabet of addresses: every key must have exactly one spelling,
// and every spelling must decode back to its key.
#include "common/base32.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

namespace mumba {
namespace {

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

// RFC 4648 section 10, lowercased and without padding.
const std::vector<std::pair<std::string, std::string>> kVectors = {
    {"", ""},
    {"f", "my"},
    {"fo", "mzxq"},
    {"foo", "mzxw6"},
    {"foob", "mzxw6yq"},
    {"fooba", "mzxw6ytb"},
    {"foobar", "mzxw6ytboi"},
};

TEST(Base32Test, EncodesRfc4648Vectors) {
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base32Encode(Bytes(plain)), encoded) << plain;
  }
}

TEST(Base32Test, DecodesRfc4648Vectors) {
  for (const auto& [plain, encoded] : kVectors) {
    auto bytes = Base32Decode(encoded);
    ASSERT_TRUE(bytes.ok()) << encoded << ": " << bytes.status().message();
    EXPECT_EQ(*bytes, Bytes(plain)) << encoded;
  }
}

TEST(Base32Test, AcceptsUpperCase) {
  auto bytes = Base32Decode("MZXW6YTBOI");
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  EXPECT_EQ(*bytes, Bytes("foobar"));
  auto mixed = Base32Decode("MzXw6YtBoI");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(*mixed, Bytes("foobar"));
}

TEST(Base32Test, RoundTripsEveryLengthAndByte) {
  for (size_t len = 0; len <= 70; ++len) {
    std::vector<uint8_t> data(len);
    for (size_t i = 0; i < len; ++i) data[i] = static_cast<uint8_t>(i * 37 + len * 11 + 255);
    std::string text = Base32Encode(data);
    EXPECT_EQ(text.size(), (len * 8 + 4) / 5) << len;
    EXPECT_EQ(text.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567"), std::string::npos);
    auto back = Base32Decode(text);
    ASSERT_TRUE(back.ok()) << len << ": " << back.status().message();
    EXPECT_EQ(*back, data) << len;
  }
  for (int b = 0; b < 256; ++b) {
    std::vector<uint8_t> one = {static_cast<uint8_t>(b), 0xff, static_cast<uint8_t>(255 - b)};
    auto back = Base32Decode(Base32Encode(one));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, one);
  }
}

TEST(Base32Test, ThirtyTwoBytesAreFiftyTwoCharacters) {
  std::vector<uint8_t> key(32, 0xff);
  std::string text = Base32Encode(key);
  EXPECT_EQ(text.size(), 52u);
  // 256 bits fill 51 characters and 1 bit of the last; the other 4 bits are zero.
  EXPECT_EQ(text.back(), 'q');
}

TEST(Base32Test, RefusesCharactersOutsideTheAlphabet) {
  for (std::string bad : {"mzxw0", "mzxw1", "mzxw8", "mzxw9", "mzx=", "mzxq====", "mz xq",
                          "mzxq\n", "mz-xq", "mz\xc3\xa9q"}) {
    auto r = Base32Decode(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
  auto r = Base32Decode("ab0d");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'0'"), std::string::npos) << r.status().message();
  EXPECT_FALSE(Base32Decode(std::string_view("my\0", 3)).ok());
}

TEST(Base32Test, RefusesLengthsNoEncoderProduces) {
  // Lengths 1, 3 and 6 (mod 8) leave 5 or more bits that make no byte.
  for (const char* bad : {"a", "aaa", "aaaaaa", "aaaaaaaaa", "mzxw6ytbo", "mzxw6ytboia"}) {
    EXPECT_FALSE(Base32Decode(bad).ok()) << bad;
  }
}

TEST(Base32Test, RefusesNonZeroTrailingBits) {
  // "my" is 'f'; "mz" would be 'f' with a stray 1 in the unused low bits.
  EXPECT_FALSE(Base32Decode("mz").ok());
  EXPECT_FALSE(Base32Decode("mzxr").ok());
  EXPECT_FALSE(Base32Decode("mzxw6yr").ok());
  std::string key = Base32Encode(std::vector<uint8_t>(32, 0xff));
  key.back() = 'r';
  auto r = Base32Decode(key);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("trailing"), std::string::npos) << r.status().message();
}

TEST(Base32Test, EveryDecodableTextIsTheCanonicalEncoding) {
  // Try every 2-character text: whatever decodes must re-encode to itself
  // (lowercased), so one key never has two addresses.
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz234567ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  int decoded = 0;
  for (char a : alphabet) {
    for (char b : alphabet) {
      std::string text = {a, b};
      auto bytes = Base32Decode(text);
      if (!bytes.ok()) continue;
      ++decoded;
      std::string lower = text;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      EXPECT_EQ(Base32Encode(*bytes), lower) << text;
    }
  }
  // 256 one-byte values, each spelt in lower, upper or mixed case: 4 ways for letters.
  EXPECT_GE(decoded, 256);
}

}  // namespace
}  // namespace mumba
