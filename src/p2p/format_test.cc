// SPDX-License-Identifier: Apache-2.0
// The node's format rules, without a session.
#include "p2p/format.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "common/host_port.h"

namespace mumba::p2p {
namespace {

TEST(P2pFormatTest, HexRoundTripsAndRefusesWhatIsNotHex) {
  const std::string raw("\x00\x01\xab\xff", 4);
  EXPECT_EQ(ToHex(raw.data(), raw.size()), "0001abff");
  EXPECT_EQ(HashHex(std::array<char, 2>{'\x12', '\xef'}), "12ef");
  EXPECT_EQ(ToHex(nullptr, 0), "");

  std::array<char, 4> out{};
  ASSERT_TRUE(FromHex("0001ABff", 4, out.data()));
  EXPECT_EQ(std::string(out.data(), 4), raw);
  EXPECT_FALSE(FromHex("0001abf", 4, out.data()));     // Too short.
  EXPECT_FALSE(FromHex("0001abff00", 4, out.data()));  // Too long.
  EXPECT_FALSE(FromHex("0001abfg", 4, out.data()));    // Not a hex digit.
  EXPECT_FALSE(FromHex("0x01abff", 4, out.data()));
}

TEST(P2pFormatTest, UrlEncodingKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(UrlEncode("hello-1.0_x~Y"), "hello-1.0_x~Y");
  EXPECT_EQ(UrlEncode("a b/c&d=é"), "a%20b%2Fc%26d%3D%C3%A9");
  EXPECT_EQ(UrlEncode(std::string("\0", 1)), "%00");
}

TEST(P2pFormatTest, MagnetLinksNameBothHashesAndTheEncodedName) {
  std::string v1(40, 'a'), v2(64, 'b');
  EXPECT_EQ(MagnetLink(v1, v2, "my app"),
            "magnet:?xt=urn:btih:" + v1 + "&xt=urn:btmh:1220" + v2 + "&dn=my%20app");
}

TEST(P2pFormatTest, HostPortSplitsNamesIpv4AndBracketedIpv6) {
  auto hp = SplitHostPort("router.example:6881");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "router.example");
  EXPECT_EQ(hp->port, 6881);
  hp = SplitHostPort("127.0.0.1:0");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 0);
  hp = SplitHostPort("[::1]:65535");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 65535);
}

TEST(P2pFormatTest, HostPortRefusesEverythingElse) {
  for (const char* text : {"", "127.0.0.1", ":0", "::1:0", "[::1]", "[::1]0", "[::1", "[]:1", "h:", "h:x",
                           "h:-1", "h:65536", "h:123456", "h: 1"}) {
    auto hp = SplitHostPort(text);
    ASSERT_FALSE(hp.ok()) << text;
    EXPECT_EQ(hp.status().code(), Code::kInvalidArgument) << text;
    EXPECT_NE(hp.status().message().find(text), std::string::npos) << hp.status().message();
  }
}

TEST(P2pFormatTest, PieceSizeDoublesPast2048PiecesUpTo16MiB) {
  constexpr uint64_t kMiB = 1024 * 1024;
  constexpr int k256KiB = 256 * 1024;
  EXPECT_EQ(PieceSizeFor(0), k256KiB);
  EXPECT_EQ(PieceSizeFor(1), k256KiB);
  EXPECT_EQ(PieceSizeFor(512 * kMiB), k256KiB);                // Exactly 2048 pieces.
  EXPECT_EQ(PieceSizeFor(512 * kMiB + k256KiB), 2 * k256KiB);  // 2049 pieces.
  EXPECT_EQ(PieceSizeFor(4096 * kMiB), 8 * k256KiB);
  EXPECT_EQ(PieceSizeFor(1024 * 1024 * kMiB), 64 * k256KiB);  // Capped at 16 MiB.
}

TEST(P2pFormatTest, SafeNamesStayInsideTheirFolder) {
  for (const char* name : {"bundle", "hello-1.0", ".hidden", "..."}) EXPECT_TRUE(IsSafeName(name)) << name;
  for (const std::string& name : {std::string(), std::string("."), std::string(".."), std::string("a/b"),
                                  std::string("/"), std::string("a\\b"), std::string("a\0b", 3)}) {
    EXPECT_FALSE(IsSafeName(name)) << name;
  }
}

TEST(P2pFormatTest, FetchLimitsHoldTheAnnouncedSizeTheCeilingAndTheFileCount) {
  FetchLimits limits;
  limits.announced_bytes = 1000;
  limits.max_bytes = 5000;
  limits.max_files = 3;
  EXPECT_TRUE(CheckFetchLimits("abc", 1000, 3, limits).ok());
  EXPECT_TRUE(CheckFetchLimits("abc", 0, 0, limits).ok());  // Smaller than announced is harmless.

  mumba::Status over = CheckFetchLimits("abc", 1001, 1, limits);
  EXPECT_EQ(over.code(), Code::kResourceExhausted);
  EXPECT_NE(over.message().find("torrent abc holds 1001 bytes in 1 files"), std::string::npos) << over.message();
  EXPECT_NE(over.message().find("the 1000 bytes announced"), std::string::npos) << over.message();

  limits.announced_bytes.reset();  // Nothing announced: the ceiling still holds.
  EXPECT_TRUE(CheckFetchLimits("abc", 5000, 1, limits).ok());
  mumba::Status ceiling = CheckFetchLimits("abc", 5001, 1, limits);
  EXPECT_EQ(ceiling.code(), Code::kResourceExhausted);
  EXPECT_NE(ceiling.message().find("ceiling of 5000 bytes"), std::string::npos) << ceiling.message();
  limits.announced_bytes = 1ull << 40;  // An announcement never lifts the ceiling.
  EXPECT_EQ(CheckFetchLimits("abc", 5001, 1, limits).code(), Code::kResourceExhausted);

  mumba::Status files = CheckFetchLimits("abc", 10, 4, limits);
  EXPECT_EQ(files.code(), Code::kResourceExhausted);
  EXPECT_NE(files.message().find("ceiling of 3 files"), std::string::npos) << files.message();

  // The defaults: 1 GiB and 10,000 files.
  EXPECT_TRUE(CheckFetchLimits("abc", 1ull << 30, 10000, FetchLimits{}).ok());
  EXPECT_FALSE(CheckFetchLimits("abc", (1ull << 30) + 1, 1, FetchLimits{}).ok());
  EXPECT_FALSE(CheckFetchLimits("abc", 1, 10001, FetchLimits{}).ok());
}

}  // namespace
}  // namespace mumba::p2p
