// SPDX-License-Identifier: Apache-2.0
#include "broker/peer_policy.h"

#include <gtest/gtest.h>

namespace mumba {
namespace {

using std::chrono::milliseconds;

Manifest App() {
  Manifest m;
  m.name = "tweedy";
  m.permissions.peers = true;
  m.peer_exports = {{"tweedy.v1.Feed", 5}};
  m.services = {"tweedy.v1.Admin"};
  return m;
}

TEST(ServiceOfMethodTest, OnlyTheTwoPartShape) {
  EXPECT_EQ(*ServiceOfMethod("/tweedy.v1.Feed/Posts"), "tweedy.v1.Feed");
  for (const char* bad : {"", "/", "//", "/a/", "tweedy.v1.Feed/Posts", "/a/b/c", "//Posts", "/a"}) {
    EXPECT_EQ(ServiceOfMethod(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(DecidePeerCallTest, OnlyPeerExportsOfAnInstalledGrantedApp) {
  Manifest app = App();
  auto ok = DecidePeerCall(&app, true, "/tweedy.v1.Feed/Posts");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->calls_per_second, 5);

  // Exported to apps on this node is not exported to other nodes.
  auto other = DecidePeerCall(&app, true, "/tweedy.v1.Admin/Wipe");
  EXPECT_EQ(other.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(other.status().message(), "tweedy.v1.Admin of tweedy is not callable from other nodes");
  // The host's own services are not the app's.
  EXPECT_EQ(DecidePeerCall(&app, true, "/mumba.storage.v1.Kv/Get").status().code(), Code::kPermissionDenied);
  // Not granted by the owner: nothing passes.
  EXPECT_EQ(DecidePeerCall(&app, false, "/tweedy.v1.Feed/Posts").status().code(), Code::kPermissionDenied);
  EXPECT_EQ(DecidePeerCall(nullptr, true, "/tweedy.v1.Feed/Posts").status().code(), Code::kNotFound);
  EXPECT_EQ(DecidePeerCall(&app, true, "garbage").status().code(), Code::kInvalidArgument);
}

TEST(PeerLimitsTest, EachNodeHasItsOwnRateWithABurst) {
  PeerLimits limits;
  Clock::time_point t0{};
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limits.Allow("a", "s", 5, t0)) << i;
  EXPECT_FALSE(limits.Allow("a", "s", 5, t0));
  // Another node, and another service of the same node, are not affected.
  EXPECT_TRUE(limits.Allow("b", "s", 5, t0));
  EXPECT_TRUE(limits.Allow("a", "t", 5, t0));
  // Tokens come back at the rate: one every 200 ms.
  EXPECT_FALSE(limits.Allow("a", "s", 5, t0 + milliseconds(100)));
  EXPECT_TRUE(limits.Allow("a", "s", 5, t0 + milliseconds(300)));
}

TEST(PeerLimitsTest, ANodeRefusedTooOftenIsCutOffForAWhile) {
  PeerLimits limits({.strikes = 3, .window = milliseconds(1000), .cut_off = milliseconds(5000)});
  Clock::time_point t0{};
  EXPECT_FALSE(limits.CutOff("a", t0));
  limits.Strike("a", t0);
  limits.Strike("a", t0);
  EXPECT_FALSE(limits.CutOff("a", t0));
  limits.Strike("a", t0 + milliseconds(10));
  EXPECT_TRUE(limits.CutOff("a", t0 + milliseconds(10)));
  EXPECT_FALSE(limits.CutOff("b", t0 + milliseconds(10)));
  EXPECT_TRUE(limits.CutOff("a", t0 + milliseconds(5000)));
  EXPECT_FALSE(limits.CutOff("a", t0 + milliseconds(5011)));
  // Strikes spread wider than the window never add up.
  limits.Strike("c", t0);
  limits.Strike("c", t0 + milliseconds(1500));
  limits.Strike("c", t0 + milliseconds(3000));
  EXPECT_FALSE(limits.CutOff("c", t0 + milliseconds(3000)));
}

TEST(PeerLimitsTest, AFloodOverTheRateEndsInACutOff) {
  PeerLimits limits({.strikes = 10, .window = milliseconds(1000), .cut_off = milliseconds(5000)});
  Clock::time_point t0{};
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += limits.Allow("a", "s", 5, t0) ? 1 : 0;
  EXPECT_EQ(allowed, 5);
  EXPECT_TRUE(limits.CutOff("a", t0));
}

TEST(PeerLimitsTest, MemoryIsBoundedWhateverTheCallers) {
  PeerLimits limits({.strikes = 2, .window = milliseconds(1000), .cut_off = milliseconds(5000), .max_entries = 8});
  Clock::time_point t0{};
  for (int i = 0; i < 100; ++i) {
    limits.Allow("n" + std::to_string(i), "s", 1, t0 + milliseconds(i));
    limits.Strike("n" + std::to_string(i), t0 + milliseconds(i));
  }
  // The newest are still known; the first were forgotten.
  EXPECT_FALSE(limits.Allow("n99", "s", 1, t0 + milliseconds(100)));
  EXPECT_TRUE(limits.Allow("n0", "s", 1, t0 + milliseconds(100)));
}

}  // namespace
}  // namespace mumba
