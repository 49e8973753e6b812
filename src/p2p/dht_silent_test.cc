// SPDX-License-Identifier: Apache-2.0
// BEP 44 items in a private DHT where a quarter of the nodes went silent, as the
// real DHT is full of nodes that never answer: 20 P2pNodes in this process on
// 127.0.0.1, 5 of which are closed after the DHT formed while a UDP socket that
// never reads holds each of their ports (a closed port would answer "port
// unreachable" at once, which is not silence). Nothing leaves loopback.
//
// Speed is the benchmark's (bench/p2p/dht_silent_bench.cc); the bounds here are
// generous, and only libtorrent's 15 s wait on silent nodes breaks them.
#include "p2p/p2p_node.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace mumba {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

constexpr int kNodes = 20;
constexpr int kSilent = 5;

int PortOf(const std::string& listen) { return std::stoi(listen.substr(listen.rfind(':') + 1)); }

std::unique_ptr<P2pNode> MakeNode() {
  P2pOptions options;
  options.listen = "127.0.0.1:0";
  auto node = P2pNode::Create(std::move(options));
  EXPECT_TRUE(node.ok()) << node.status().message();
  return node.ok() ? std::move(node).value() : nullptr;
}

// Joins every node to every other one and waits (bounded) until each knows at
// least `want` others.
bool JoinAll(const std::vector<P2pNode*>& nodes, int want) {
  std::vector<std::string> listens;
  for (auto* n : nodes) listens.push_back(n->Status().listen);
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (i != j && !nodes[i]->AddDhtNode(listens[j]).ok()) return false;
    }
  }
  const auto deadline = Steady::now() + 15s;
  while (Steady::now() < deadline) {
    if (std::all_of(nodes.begin(), nodes.end(), [&](P2pNode* n) { return n->Status().dht_nodes >= want; })) {
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// Closes nodes in parallel: a session takes a moment to close.
void CloseAll(std::vector<std::unique_ptr<P2pNode>>& nodes) {
  std::vector<std::thread> threads;
  for (auto& n : nodes) threads.emplace_back([&n] { n.reset(); });
  for (auto& t : threads) t.join();
}

class P2pSilentDhtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kNodes; ++i) {
      nodes_.push_back(MakeNode());
      ASSERT_TRUE(nodes_.back());
    }
    std::vector<P2pNode*> all;
    for (auto& n : nodes_) all.push_back(n.get());
    ASSERT_TRUE(JoinAll(all, 8)) << "the DHT of " << kNodes << " nodes did not form";
  }

  void TearDown() override {
    CloseAll(nodes_);
    for (int fd : silent_fds_) ::close(fd);
  }

  // Closes nodes 0..kSilent-1 and holds their UDP ports with sockets that drop
  // every datagram unanswered.
  void Silence() {
    std::vector<int> ports;
    std::vector<std::unique_ptr<P2pNode>> going;
    for (int i = 0; i < kSilent; ++i) {
      ports.push_back(PortOf(nodes_[static_cast<size_t>(i)]->Status().listen));
      going.push_back(std::move(nodes_[static_cast<size_t>(i)]));
    }
    CloseAll(going);
    for (int port : ports) {
      int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      ASSERT_GE(fd, 0) << std::strerror(errno);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
      silent_fds_.push_back(fd);
    }
  }

  P2pNode& Node(int i) { return *nodes_[static_cast<size_t>(i)]; }
  P2pNode& Publisher() { return *nodes_.back(); }

  std::vector<std::unique_ptr<P2pNode>> nodes_;
  std::vector<int> silent_fds_;
};

TEST_F(P2pSilentDhtTest, EveryLookupReturnsTheNewestItemNeverAnOlderOne) {
  KeyPair app = GenerateKeyPair();
  ASSERT_TRUE(Publisher().PutMutable(app, {{"version", "1"}}, 1, 10s).ok());
  Silence();
  // Every live node but the publisher looks up each new version right after
  // it was put: libtorrent still hands out the silent nodes, and a lookup that
  // stopped early must not have stopped before the nodes holding the newest.
  for (int64_t seq = 2; seq <= 4; ++seq) {
    const std::map<std::string, std::string> fields = {{"version", std::to_string(seq)}};
    ASSERT_TRUE(Publisher().PutMutable(app, fields, seq, 10s).ok()) << "seq " << seq;
    for (int i = kSilent; i < kNodes - 1; ++i) {
      const auto start = Steady::now();
      auto got = Node(i).GetMutable(app.public_key, 10s);
      const auto took = Steady::now() - start;
      ASSERT_TRUE(got.ok()) << "node " << i << ": " << got.status().message();
      EXPECT_EQ(got->seq, seq) << "node " << i;
      EXPECT_EQ(got->fields, fields) << "node " << i;
      EXPECT_LT(took, 5s) << "node " << i;
    }
  }
}

TEST_F(P2pSilentDhtTest, APutIsReportedBeforeLibtorrentGivesUpOnSilentNodesAndOthersReadIt) {
  KeyPair app = GenerateKeyPair();
  Silence();
  const std::map<std::string, std::string> fields = {{"name", "hello"}, {"version", "1.0.0"}};
  const auto start = Steady::now();
  Status put = Publisher().PutMutable(app, fields, 1, 20s);
  const auto took = Steady::now() - start;
  ASSERT_TRUE(put.ok()) << put.message();
  // libtorrent's own put reports only when its lookup ends, 15 s after it asked
  // a silent node; the put must be reported well before that.
  EXPECT_LT(took, 10s);
  for (int i : {kSilent, kNodes / 2, kNodes - 2}) {
    auto got = Node(i).GetMutable(app.public_key, 10s);
    ASSERT_TRUE(got.ok()) << "node " << i << ": " << got.status().message();
    EXPECT_EQ(got->seq, 1);
    EXPECT_EQ(got->fields, fields);
  }
  // An older sequence number is still refused, silent nodes or not.
  EXPECT_EQ(Publisher().PutMutable(app, {{"version", "0"}}, 0, 10s).code(), Code::kFailedPrecondition);
}

// A lookup cut short still returns the highest sequence number among what it
// was answered, never a lower one: two DHTs, one holding seq 1 and one seq 2,
// merge, and a reader that joins both asks.
TEST(P2pMixedDhtTest, ALookupReturnsTheNewestOfTheItemsItIsAnswered) {
  KeyPair app = GenerateKeyPair();
  std::vector<std::unique_ptr<P2pNode>> older, newer;
  for (int i = 0; i < 4; ++i) {
    older.push_back(MakeNode());
    newer.push_back(MakeNode());
    ASSERT_TRUE(older.back() && newer.back());
  }
  auto raw = [](const std::vector<std::unique_ptr<P2pNode>>& nodes) {
    std::vector<P2pNode*> out;
    for (auto& n : nodes) out.push_back(n.get());
    return out;
  };
  ASSERT_TRUE(JoinAll(raw(older), 3));
  ASSERT_TRUE(JoinAll(raw(newer), 3));
  ASSERT_TRUE(older[0]->PutMutable(app, {{"version", "1"}}, 1, 10s).ok());
  ASSERT_TRUE(newer[0]->PutMutable(app, {{"version", "2"}}, 2, 10s).ok());

  auto reader = MakeNode();
  ASSERT_TRUE(reader);
  std::vector<P2pNode*> all = {reader.get()};
  for (auto* n : raw(older)) all.push_back(n);
  for (auto* n : raw(newer)) all.push_back(n);
  ASSERT_TRUE(JoinAll(all, 8));
  for (int round = 0; round < 5; ++round) {
    auto got = reader->GetMutable(app.public_key, 10s);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(got->seq, 2) << "round " << round;
    EXPECT_EQ(got->fields.at("version"), "2") << "round " << round;
  }
  reader.reset();
  CloseAll(older);
  CloseAll(newer);
}

}  // namespace
}  // namespace mumba
