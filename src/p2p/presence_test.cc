// SPDX-License-Identifier: Apache-2.0
// Presence against real libtorrent sessions: several P2pNodes in this process on
// 127.0.0.x forming a private DHT among themselves, announcing and looking up one
// topic. Nothing leaves loopback, and every wait is bounded.
#include "p2p/presence.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include <libtorrent/alert_types.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>

#include "p2p/p2p_node.h"
#include "p2p/session_settings.h"
#include "platform/fake_clock.h"
#include "platform/hex.h"

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace mumba {
namespace {

using Topic = std::array<uint8_t, 20>;

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void Report(const std::string& what, double value, const char* unit) {
  std::printf("[ figure   ] %s: %.2f %s\n", what.c_str(), value, unit);
  std::fflush(stdout);
}

template <typename Pred>
bool WaitFor(Pred pred, Clock::duration timeout) {
  auto deadline = Steady::now() + timeout;
  while (!pred()) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::string HexOf(const Topic& t) { return ToHex({reinterpret_cast<const char*>(t.data()), t.size()}); }

std::unique_ptr<P2pNode> MakeNode(const std::string& ip, const Clock* clock = &Clock::Real()) {
  P2pOptions options;
  options.listen = ip + ":0";
  options.clock = clock;
  auto node = P2pNode::Create(std::move(options));
  EXPECT_TRUE(node.ok()) << node.status().message();
  return node.ok() ? std::move(node).value() : nullptr;
}

// Joins every node to every other and waits (bounded) until each has them all.
bool FormDht(const std::vector<P2pNode*>& nodes) {
  for (auto* a : nodes) {
    for (auto* b : nodes) {
      if (a != b) {
        EXPECT_TRUE(a->AddDhtNode(b->Status().listen).ok());
      }
    }
  }
  const int want = static_cast<int>(nodes.size()) - 1;
  return WaitFor(
      [&] {
        return std::all_of(nodes.begin(), nodes.end(), [&](P2pNode* n) { return n->Status().dht_nodes >= want; });
      },
      10s);
}

std::set<std::string> Names(const std::vector<P2pNode::PeerEndpoint>& eps) {
  std::set<std::string> out;
  for (const auto& e : eps) out.insert(e.ip + ":" + std::to_string(e.port));
  return out;
}

// Looks `topic` up from `node` until it names every endpoint in `want` (true) or
// `timeout` passed (false); `last` gets the last answer.
bool FindsAll(P2pNode& node, const Topic& topic, const std::set<std::string>& want, Clock::duration timeout,
              std::set<std::string>* last = nullptr) {
  std::set<std::string> got;
  bool ok = WaitFor(
      [&] {
        auto found = node.FindPeers(topic, 1000ms);
        EXPECT_TRUE(found.ok()) << found.status().message();
        if (found.ok()) got = Names(*found);
        return std::includes(got.begin(), got.end(), want.begin(), want.end());
      },
      timeout);
  if (last) *last = got;
  return ok;
}

std::string Host(const std::unique_ptr<P2pNode>& n) {
  std::string listen = n->Status().listen;
  return listen.substr(0, listen.rfind(':'));
}

TEST(PresenceTopicTest, DiffersByAddressAndIsStable) {
  const std::string a = "mumba://" + std::string(52, 'a');
  const std::string b = "mumba://" + std::string(52, 'b');
  // printf 'mumba-peers:mumba://aaaa...' | sha1sum
  EXPECT_EQ(HexOf(P2pNode::PeerTopic(a)), "ff7660ee86f0c87c1a96f34c5aebe7deceef1f8a");
  EXPECT_EQ(HexOf(P2pNode::PeerTopic(b)), "5f9a2a152e4a9b86f26209c1157018c3b2abd7e0");
  EXPECT_NE(P2pNode::PeerTopic(a), P2pNode::PeerTopic(b));
  EXPECT_EQ(P2pNode::PeerTopic(a), P2pNode::PeerTopic(a));
}

// Three hosts in a private DHT, each announcing `topic` on its own port.
class PresenceTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& ips) {
    for (const auto& ip : ips) {
      nodes_.push_back(MakeNode(ip));
      ASSERT_TRUE(nodes_.back());
    }
    std::vector<P2pNode*> raw;
    for (auto& n : nodes_) raw.push_back(n.get());
    ASSERT_TRUE(FormDht(raw));
  }

  // Every node announces topic_ on port 40001 + its index, and each must find the
  // other two (and never itself) within 5 s.
  void EachFindsTheOthers() {
    auto start = Steady::now();
    for (size_t i = 0; i < nodes_.size(); ++i) {
      ASSERT_TRUE(nodes_[i]->Announce(topic_, 40001 + static_cast<int>(i)).ok());
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      std::set<std::string> want;
      for (size_t j = 0; j < nodes_.size(); ++j) {
        if (j != i) want.insert(Host(nodes_[j]) + ":" + std::to_string(40001 + j));
      }
      std::set<std::string> got;
      EXPECT_TRUE(FindsAll(*nodes_[i], topic_, want, 5s, &got)) << "node " << i << " found " << got.size();
      EXPECT_EQ(got.count(Host(nodes_[i]) + ":" + std::to_string(40001 + i)), 0u) << "node " << i;
    }
    Report("3 hosts announced and each found the other two", Millis(Steady::now() - start), "ms");
  }

  Topic topic_ = P2pNode::PeerTopic("mumba://" + std::string(52, 'p'));
  std::vector<std::unique_ptr<P2pNode>> nodes_;
};

TEST_F(PresenceTest, ThreeHostsOnDistinctLoopbackAddressesFindEachOther) {
  Start({"127.0.0.1", "127.0.0.2", "127.0.0.3"});
  EachFindsTheOthers();
}

// libtorrent stores a topic's peers by IP and port, so hosts sharing one IP stay
// distinct as long as their ports differ.
TEST_F(PresenceTest, ThreeHostsOnOneAddressFindEachOtherByTheirPorts) {
  Start({"127.0.0.1", "127.0.0.1", "127.0.0.1"});
  EachFindsTheOthers();
}

TEST_F(PresenceTest, ATopicNobodyAnnouncedIsEmptyAsSoonAsTheLookupEnds) {
  Start({"127.0.0.1", "127.0.0.2", "127.0.0.3"});
  ASSERT_TRUE(nodes_[1]->Announce(topic_, 40000).ok());
  auto start = Steady::now();
  auto found = nodes_[0]->FindPeers(P2pNode::PeerTopic("mumba://nobody"), 3000ms);
  auto took = Steady::now() - start;
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_TRUE(found->empty());
  // The lookup's end is noticed: it does not wait out the timeout.
  EXPECT_LT(took, 1500ms);
  Report("lookup of a topic nobody announced", Millis(took), "ms");
}

// Hosts vanish without a word (a UDP socket that never reads holds each one's
// port; a closed port would answer "unreachable"). libtorrent would wait 15 s
// for each; the lookup ends once the nodes that answer have.
TEST_F(PresenceTest, ALookupDoesNotWaitForSilentNodes) {
  Start({"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"});
  ASSERT_TRUE(nodes_[4]->Announce(topic_, 44000).ok());
  const std::string want = Host(nodes_[4]) + ":44000";
  ASSERT_TRUE(FindsAll(*nodes_[0], topic_, {want}, 5s));
  std::vector<int> fds;
  for (size_t i : {1u, 2u}) {
    const std::string listen = nodes_[i]->Status().listen;
    const std::string ip = listen.substr(0, listen.rfind(':'));
    const int port = std::stoi(listen.substr(listen.rfind(':') + 1));
    nodes_[i].reset();
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ASSERT_EQ(::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr), 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    fds.push_back(fd);
  }
  const auto start = Steady::now();
  auto found = nodes_[0]->FindPeers(topic_, 10000ms);
  const auto took = Steady::now() - start;
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(Names(*found), std::set<std::string>{want});
  EXPECT_LT(took, 1000ms);
  Report("FindPeers with 2 of 5 nodes silent", Millis(took), "ms");
}

TEST_F(PresenceTest, RefusesAPortNoOneCanDial) {
  Start({"127.0.0.1"});
  for (int port : {0, -1, 65536}) {
    EXPECT_EQ(nodes_[0]->Announce(topic_, port).code(), Code::kInvalidArgument) << port;
  }
}

TEST(PresenceOffTest, WithoutTheDhtLookupsAndAnnouncesAreUnavailable) {
  lt::settings_pack s = SessionSettings("127.0.0.1:0", true);
  s.set_bool(lt::settings_pack::enable_dht, false);
  lt::session session{lt::session_params(s)};
  p2p::Presence presence(session, Clock::Real(), "127.0.0.1");
  Topic topic = P2pNode::PeerTopic("mumba://off");
  EXPECT_EQ(presence.Announce(topic, 4000).code(), Code::kUnavailable);
  EXPECT_EQ(presence.FindPeers(topic, 100ms).status().code(), Code::kUnavailable);
}

// Announcing again replaces the port this node refreshes; the DHT keeps the old
// one until it expires, and the node's own lookup leaves out both.
TEST_F(PresenceTest, AnnouncingAgainChangesThePortAndANodeNeverFindsItself) {
  Start({"127.0.0.1", "127.0.0.2", "127.0.0.3"});
  ASSERT_TRUE(nodes_[0]->Announce(topic_, 41000).ok());
  const std::string a = Host(nodes_[0]);
  ASSERT_TRUE(FindsAll(*nodes_[1], topic_, {a + ":41000"}, 5s));
  ASSERT_TRUE(nodes_[0]->Announce(topic_, 42000).ok());
  ASSERT_TRUE(FindsAll(*nodes_[1], topic_, {a + ":42000"}, 5s));
  ASSERT_TRUE(nodes_[2]->Announce(topic_, 43000).ok());
  std::set<std::string> own;
  ASSERT_TRUE(FindsAll(*nodes_[0], topic_, {Host(nodes_[2]) + ":43000"}, 5s, &own));
  EXPECT_EQ(own, std::set<std::string>{Host(nodes_[2]) + ":43000"});
}

// What a host sees of libtorrent's DHT: every announce_peer that reaches it.
class AnnounceWatcher {
 public:
  explicit AnnounceWatcher(const std::string& ip) : ip_(ip) {
    lt::settings_pack s = SessionSettings(ip + ":0", true);
    s.set_int(lt::settings_pack::alert_mask, lt::alert_category::dht | lt::alert_category::status);
    session_ = std::make_unique<lt::session>(lt::session_params(s));
    thread_ = std::thread([this] { Pump(); });
  }
  ~AnnounceWatcher() {
    stop_ = true;
    thread_.join();
  }
  std::string Listen() {
    WaitFor([&] { return port() != 0; }, 5s);
    return ip_ + ":" + std::to_string(port());
  }
  void Join(const std::string& host_port) {
    auto colon = host_port.rfind(':');
    session_->add_dht_node({host_port.substr(0, colon), std::stoi(host_port.substr(colon + 1))});
  }
  // How many announces of `topic` for `endpoint` ("IP:PORT") arrived so far.
  int Count(const Topic& topic, const std::string& endpoint) {
    std::lock_guard lock(mu_);
    lt::sha1_hash h(reinterpret_cast<const char*>(topic.data()));
    return static_cast<int>(std::count(seen_.begin(), seen_.end(), std::make_pair(h, endpoint)));
  }

 private:
  int port() {
    std::lock_guard lock(mu_);
    return port_;
  }
  void Pump() {
    std::vector<lt::alert*> alerts;
    while (!stop_) {
      session_->wait_for_alert(50ms);
      session_->pop_alerts(&alerts);
      std::lock_guard lock(mu_);
      for (auto* a : alerts) {
        if (auto* an = lt::alert_cast<lt::dht_announce_alert>(a)) {
          seen_.emplace_back(an->info_hash, an->ip.to_string() + ":" + std::to_string(an->port));
        } else if (auto* l = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
          if (l->socket_type == lt::socket_type_t::utp) port_ = l->port;
        }
      }
    }
  }
  const std::string ip_;
  std::unique_ptr<lt::session> session_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  int port_ = 0;
  std::vector<std::pair<lt::sha1_hash, std::string>> seen_;
};

// The DHT has no withdraw: what bounds a withdrawn host's presence is that it
// stops announcing, so each node that stored it drops it 45 min after the last
// announce (libtorrent 2.0.8). Checked here on a node whose clock is fake: it
// announces again when kPresenceRefresh has passed, and not after Withdraw.
TEST(PresenceRefreshTest, AnnouncesAgainEachRefreshUntilWithdrawn) {
  FakeClock clock;
  auto a = MakeNode("127.0.0.1", &clock);
  auto b = MakeNode("127.0.0.2");
  ASSERT_TRUE(a && b);
  AnnounceWatcher watcher("127.0.0.9");
  const std::string w = watcher.Listen();
  ASSERT_TRUE(a->AddDhtNode(w).ok());
  ASSERT_TRUE(b->AddDhtNode(w).ok());
  ASSERT_TRUE(a->AddDhtNode(b->Status().listen).ok());
  watcher.Join(a->Status().listen);
  watcher.Join(b->Status().listen);
  ASSERT_TRUE(WaitFor([&] { return a->Status().dht_nodes >= 2 && b->Status().dht_nodes >= 2; }, 10s));

  const Topic kept = P2pNode::PeerTopic("mumba://kept");
  const Topic gone = P2pNode::PeerTopic("mumba://gone");
  const std::string host = Host(a);
  ASSERT_TRUE(a->Announce(kept, 45001).ok());
  ASSERT_TRUE(a->Announce(gone, 45002).ok());
  ASSERT_TRUE(WaitFor([&] { return watcher.Count(kept, host + ":45001") >= 1; }, 5s));
  ASSERT_TRUE(WaitFor([&] { return watcher.Count(gone, host + ":45002") >= 1; }, 5s));
  ASSERT_TRUE(FindsAll(*b, gone, {host + ":45002"}, 5s));
  // Let announces the growing routing table set off settle before counting.
  std::this_thread::sleep_for(1500ms);
  const int kept_before = watcher.Count(kept, host + ":45001");
  const int gone_before = watcher.Count(gone, host + ":45002");

  a->Withdraw(gone);
  clock.Advance(p2p::kPresenceRefresh + 1s);
  // The node's stats tick (on its clock) is what sends due announces.
  EXPECT_TRUE(WaitFor([&] { return watcher.Count(kept, host + ":45001") > kept_before; }, 5s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(watcher.Count(gone, host + ":45002"), gone_before);
  // The entry itself stays in the DHT until it expires there.
  EXPECT_TRUE(FindsAll(*b, gone, {host + ":45002"}, 2s));
}

}  // namespace
}  // namespace mumba
