// SPDX-License-Identifier: Apache-2.0
#include "gateway/origin.h"

#include <gtest/gtest.h>

namespace mumba {
namespace {

TEST(OriginTest, AppLabelComesFromAHostUnderLocalhostOnTheGatewayPort) {
  EXPECT_EQ(*AppLabelFromHost("hello.localhost:8080", 8080), "hello");
  EXPECT_EQ(*AppLabelFromHost("Hello.LocalHost:8080", 8080), "hello");
  std::string id(52, 'a');
  EXPECT_EQ(*AppLabelFromHost(id + ".localhost:8080", 8080), id);
}

TEST(OriginTest, ForeignHostsAreRefused) {
  for (const char* host : {"hello.localhost:8081", "hello.localhost", "localhost:8080", "127.0.0.1:8080",
                           "evil.example:8080", "hello.evil.example:8080", "a.b.localhost:8080",
                           ".localhost:8080", "", "hello_x.localhost:8080", "hello.localhost:8080.evil:8080"}) {
    auto label = AppLabelFromHost(host, 8080);
    EXPECT_FALSE(label.ok()) << host;
    if (!label.ok()) {
      EXPECT_EQ(label.status().code(), Code::kPermissionDenied) << host;
    }
  }
}

TEST(OriginTest, OnlyTheAppsOwnPagesAndNonBrowsersAreSameOrigin) {
  const std::string host = "hello.localhost:8080";
  EXPECT_TRUE(IsSameOriginRequest(host, "", ""));                                    // curl, the CLI
  EXPECT_TRUE(IsSameOriginRequest(host, "http://hello.localhost:8080", "same-origin"));
  EXPECT_TRUE(IsSameOriginRequest(host, "", "none"));                                // typed URL
  EXPECT_FALSE(IsSameOriginRequest(host, "http://other.localhost:8080", "same-site"));
  EXPECT_FALSE(IsSameOriginRequest(host, "http://other.localhost:8080", ""));
  EXPECT_FALSE(IsSameOriginRequest(host, "", "cross-site"));                         // a link or <img>
  EXPECT_FALSE(IsSameOriginRequest(host, "null", ""));                               // sandboxed frame
}

}  // namespace
}  // namespace mumba
