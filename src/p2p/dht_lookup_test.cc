// SPDX-License-Identifier: Apache-2.0
// PutMutable's lookup and put without a session: reading other nodes' answers and
// the two state machines, on made-up nodes and times.
#include "p2p/dht_lookup.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/keys.h"
#include "p2p/mutable_item.h"

namespace mumba::p2p {
namespace {

using namespace std::chrono_literals;

lt::udp::endpoint Ep(int port) { return {lt::make_address_v4("127.0.0.1"), static_cast<uint16_t>(port)}; }

// A node `distance` away from the all-zero target (the id is the distance).
DhtNode NodeAt(uint8_t distance, int port) {
  lt::sha1_hash id;
  id[0] = static_cast<char>(distance);
  return {id, Ep(port)};
}

std::string Compact(const DhtNode& n) {
  std::string s(n.first.data(), 20);
  auto ip = n.second.address().to_v4().to_bytes();
  s.append(reinterpret_cast<const char*>(ip.data()), 4);
  s += static_cast<char>(n.second.port() >> 8);
  s += static_cast<char>(n.second.port() & 0xff);
  return s;
}

lt::entry Answer(const std::string& token) {
  lt::entry m;
  m["y"] = "r";
  m["r"]["id"] = std::string(20, 'x');
  m["r"]["token"] = token;
  return m;
}

TEST(P2pDhtLookupTest, CompactNodesReadsWholeEntriesWithAPort) {
  std::string s = Compact(NodeAt(1, 7000)) + Compact(NodeAt(2, 0)) + Compact(NodeAt(3, 7003));
  s += "partial";
  auto nodes = CompactNodes(s);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0], NodeAt(1, 7000));
  EXPECT_EQ(nodes[1], NodeAt(3, 7003));
  EXPECT_TRUE(CompactNodes("short").empty());
}

TEST(P2pDhtLookupTest, AnAnswerIsReadAndOnlyAValidlySignedItemIsTaken) {
  KeyPair key = GenerateKeyPair();
  auto signed_item = SignItem(key, {{"name", "x"}}, 7);
  ASSERT_TRUE(signed_item.ok());
  lt::entry m = Answer("tok");
  m["r"]["nodes"] = Compact(NodeAt(4, 7004));
  m["r"]["v"] = signed_item->value;
  m["r"]["seq"] = 7;
  m["r"]["sig"] = std::string(signed_item->signature.bytes.data(), 64);

  auto answer = ReadGetAnswer(m, signed_item->public_key);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->token, "tok");
  ASSERT_EQ(answer->nodes.size(), 1u);
  ASSERT_TRUE(answer->item);
  EXPECT_EQ(answer->item->seq, 7);
  EXPECT_EQ(answer->item->fields.at("name"), "x");

  // The same signature over a higher sequence number is a forgery.
  m["r"]["seq"] = 8;
  answer = ReadGetAnswer(m, signed_item->public_key);
  ASSERT_TRUE(answer);
  EXPECT_FALSE(answer->item);

  // An error, or anything without an "r" dictionary, is no answer.
  lt::entry error;
  error["y"] = "e";
  error["e"] = lt::entry::list_type{lt::entry(203), lt::entry("bad")};
  EXPECT_FALSE(ReadGetAnswer(error, signed_item->public_key));
  EXPECT_FALSE(IsAnswer(error));
  EXPECT_FALSE(ReadGetAnswer(lt::entry("r"), signed_item->public_key));
  EXPECT_TRUE(IsAnswer(Answer("")));
}

TEST(P2pDhtLookupTest, TheLookupEndsWhenTheClosestAnsweredAndGivesUpOnSilentOnes) {
  ClosestNodesLookup lookup{lt::sha1_hash()};
  std::vector<DhtNode> nodes;
  for (int i = 1; i <= 20; ++i) nodes.push_back(NodeAt(static_cast<uint8_t>(i), 7000 + i));
  lookup.Add(nodes);
  const Clock::time_point t0{};
  // A few more than k are asked at once, the closest first.
  auto asked = lookup.NextToAsk(t0);
  ASSERT_EQ(asked.size(), kClosestNodes + 4);
  EXPECT_EQ(asked.front(), Ep(7001));
  EXPECT_FALSE(lookup.Over(t0));

  // The closest node stays silent; the next eight answer within 1 ms.
  const GetAnswer answer{.token = "t", .nodes = {}, .item = std::nullopt};
  for (int i = 2; i <= 9; ++i) EXPECT_TRUE(lookup.Answered(Ep(7000 + i), answer, t0 + 1ms));
  EXPECT_FALSE(lookup.Answered(Ep(7002), answer, t0 + 1ms));  // Already answered.
  EXPECT_FALSE(lookup.Answered(Ep(9999), answer, t0 + 1ms));  // Never asked.
  EXPECT_TRUE(lookup.NextToAsk(t0 + 1ms).empty());
  // Node 1, closer than the eighth answer, is awaited until given up on.
  EXPECT_FALSE(lookup.Over(t0 + 1ms));
  const auto give_up = lookup.NextGiveUp(t0 + 1ms);
  EXPECT_EQ(give_up, t0 + SilentAfter(1ms));
  EXPECT_FALSE(lookup.Over(give_up - 1ms));
  EXPECT_TRUE(lookup.Over(give_up));
  auto closest = lookup.Closest();
  ASSERT_EQ(closest.size(), kClosestNodes);
  EXPECT_EQ(closest.front().first, Ep(7002));
  EXPECT_EQ(closest.back().first, Ep(7009));
}

TEST(P2pDhtLookupTest, AnswersNameCloserNodesWhichAreAskedNext) {
  ClosestNodesLookup lookup{lt::sha1_hash()};
  lookup.Add({NodeAt(100, 7100)});
  const Clock::time_point t0{};
  ASSERT_EQ(lookup.NextToAsk(t0).size(), 1u);
  lt::entry m = Answer("t");
  m["r"]["nodes"] = Compact(NodeAt(5, 7005)) + Compact(NodeAt(100, 7100));
  EXPECT_TRUE(lookup.Answered(Ep(7100), ReadGetAnswer(m, {}), t0 + 1ms));
  auto next = lookup.NextToAsk(t0 + 1ms);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0], Ep(7005));
  // A node that answers with an error is not waited for.
  EXPECT_TRUE(lookup.Answered(Ep(7005), std::nullopt, t0 + 2ms));
  EXPECT_TRUE(lookup.Over(t0 + 2ms));
  ASSERT_EQ(lookup.Closest().size(), 1u);
}

TEST(P2pDhtLookupTest, APutRoundIsOverAtMostConfirmationsOrWhenTheRestIsGivenUpOn) {
  const Clock::time_point t0{};
  std::vector<lt::udp::endpoint> targets;
  for (int i = 0; i < 8; ++i) targets.push_back(Ep(7000 + i));
  PutRound most(targets, 1ms, t0);
  for (int i = 0; i < 4; ++i) most.Answered(Ep(7000 + i), true, t0 + 1ms);
  EXPECT_FALSE(most.Over(t0 + 1ms));
  most.Answered(Ep(7004), true, t0 + 1ms);
  EXPECT_TRUE(most.Over(t0 + 1ms));
  EXPECT_EQ(most.confirmed(), 5);

  PutRound few(targets, 1ms, t0);
  few.Answered(Ep(7000), true, t0 + 1ms);
  few.Answered(Ep(7001), false, t0 + 1ms);
  few.Answered(Ep(7001), true, t0 + 1ms);  // Settled already: not counted.
  EXPECT_EQ(few.confirmed(), 1);
  EXPECT_FALSE(few.Over(t0 + 2ms));
  EXPECT_EQ(few.NextGiveUp(t0 + 2ms), t0 + SilentAfter(1ms));
  EXPECT_TRUE(few.Over(t0 + SilentAfter(1ms)));

  PutRound none({}, 1ms, t0);
  EXPECT_TRUE(none.Over(t0));
  EXPECT_EQ(none.confirmed(), 0);
}

TEST(P2pDhtLookupTest, SilenceIsAFewSlowestAnswersWithinBounds) {
  EXPECT_EQ(SilentAfter(0ms), 20ms);
  EXPECT_EQ(SilentAfter(10ms), 40ms);
  EXPECT_EQ(SilentAfter(2s), 1s);
}

}  // namespace
}  // namespace mumba::p2p
