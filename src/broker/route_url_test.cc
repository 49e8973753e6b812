// SPDX-License-Identifier: Apache-2.0
// Route URLs as users type them: `mumba route hello://greet?name=Ann`.
#include "broker/route_url.h"

#include <gtest/gtest.h>

namespace mumba {
namespace {

constexpr const char* kKey = "onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";
const std::string kAddress = std::string("mumba://") + kKey;

RouteUrl Parse(const std::string& url) {
  auto r = ParseRouteUrl(url);
  EXPECT_TRUE(r.ok()) << url << ": " << r.status().message();
  return r.ok() ? *r : RouteUrl{"<error>", "", ""};
}

void ExpectParsed(const std::string& url, const std::string& app, const std::string& path,
                  const std::string& query) {
  RouteUrl r = Parse(url);
  EXPECT_EQ(r.app, app) << url;
  EXPECT_EQ(r.path, path) << url;
  EXPECT_EQ(r.query, query) << url;
}

void ExpectBad(const std::string& url) {
  auto r = ParseRouteUrl(url);
  ASSERT_FALSE(r.ok()) << url << " parsed as app=" << r->app << " path=" << r->path;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << url;
}

TEST(RouteUrlTest, AppSchemeWithPathAndQuery) {
  ExpectParsed("hello://greet?name=Ann", "hello", "/greet", "name=Ann");
}

TEST(RouteUrlTest, PathAndQueryForms) {
  ExpectParsed("hello://greet", "hello", "/greet", "");
  ExpectParsed("hello://", "hello", "/", "");
  ExpectParsed("hello://?x=1", "hello", "/", "x=1");
  ExpectParsed("hello://a/b/c?x=1&y=2", "hello", "/a/b/c", "x=1&y=2");
  ExpectParsed("hello:///greet", "hello", "/greet", "");
  ExpectParsed("hello://greet?", "hello", "/greet", "");
  ExpectParsed("hello://greet?q=a?b", "hello", "/greet", "q=a?b");
  ExpectParsed("hello://api/*", "hello", "/api/*", "");
}

TEST(RouteUrlTest, FragmentIsDropped) {
  ExpectParsed("hello://greet?name=Ann#top", "hello", "/greet", "name=Ann");
  ExpectParsed("hello://greet#top?name=Ann", "hello", "/greet", "");
}

TEST(RouteUrlTest, SchemeIsCaseInsensitive) {
  ExpectParsed("Hello://greet", "hello", "/greet", "");
  ExpectParsed("MY-APP2://x", "my-app2", "/x", "");
}

TEST(RouteUrlTest, AddressForm) {
  ExpectParsed(kAddress + "/greet?x=1", kAddress, "/greet", "x=1");
  ExpectParsed(kAddress, kAddress, "/", "");
  ExpectParsed(kAddress + "/", kAddress, "/", "");
  ExpectParsed(kAddress + "?x=1", kAddress, "/", "x=1");
  ExpectParsed(kAddress + "/a/b#frag", kAddress, "/a/b", "");
}

TEST(RouteUrlTest, AddressIsCanonicalised) {
  std::string upper = kKey;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ExpectParsed("mumba://" + upper + "/greet", kAddress, "/greet", "");
  ExpectParsed("MUMBA://" + std::string(kKey) + "/greet", kAddress, "/greet", "");
}

TEST(RouteUrlTest, NotARouteUrl) {
  ExpectBad("");
  ExpectBad("hello");
  ExpectBad("hello:/greet");
  ExpectBad("hello:greet");
  ExpectBad("://greet");
  ExpectBad("/greet?name=Ann");
}

TEST(RouteUrlTest, BadAddresses) {
  ExpectBad("mumba://");
  ExpectBad("mumba:///greet");
  ExpectBad("mumba://short/greet");
  ExpectBad(kAddress + "x/greet");
  std::string bad = kKey;
  bad[3] = '1';
  ExpectBad("mumba://" + bad + "/greet");
  // The message says what is wrong with the address.
  auto r = ParseRouteUrl("mumba://short/greet");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("52"), std::string::npos) << r.status().message();
}

TEST(RouteUrlTest, SchemeMustBeAnAppName) {
  // An app's scheme is its name, a lowercase DNS label: anything else can never
  // reach an app, and letting it through only makes a confusing "not installed".
  ExpectBad("hel lo://greet");
  ExpectBad("hel_lo://greet");
  ExpectBad("a/b://greet");
  ExpectBad("-hello://greet");
  ExpectBad("hello.app://greet");
  ExpectBad("he?llo://greet");
  ExpectBad(std::string(64, 'a') + "://greet");
}

}  // namespace
}  // namespace mumba
