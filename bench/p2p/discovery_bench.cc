// SPDX-License-Identifier: Apache-2.0
// mumba-discovery-bench: how soon a host that starts finds the other hosts running
// the same app, through DHT presence (P2pNode::Announce/FindPeers), beside the
// target of issue 13 (<= 1 s median from start to first peer in a 20-node DHT).
//
// A private DHT of N-1 resident P2pNodes in this process, each on its own loopback
// address (127.0.0.10, .11, ...: one IP per host, as on a real network), each told
// of all the others. Three residents announce the app's topic. Then, run after
// run, a new node starts on a fresh address, joins through one resident (as a
// host joins through a router), announces the topic and calls FindPeers(topic,
// --find-ms) until it names a peer: start (before P2pNode::Create) to that moment
// is the figure. The same again after --churn residents went silent (closed, their
// UDP ports held by sockets that never answer, as vanished hosts are on a real
// network), and the time a warm resident's FindPeers takes to return.
//
// Every socket is on 127.0.0.x and every node joins only through the bench's own
// nodes; bench/p2p/discovery.sh runs it in a network namespace holding only
// loopback. Every wait is bounded. The table goes to stdout, progress to stderr.
// Exit status: 0 when the bench ran, whatever the target says; 1 when it could not.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "p2p/p2p_node.h"

namespace {

using namespace mumba::bench;
using namespace std::chrono_literals;
using Row = TableRow;
using Clock = std::chrono::steady_clock;
using Topic = std::array<uint8_t, 20>;

struct Options {
  int nodes = 20;       // DHT nodes, the starting one included.
  int runs = 9;         // Starts measured per phase.
  int churn = 5;        // Residents silenced for the second phase (0: none).
  int find_ms = 1000;   // The timeout of each FindPeers call.
  int announcers = 3;   // Residents that run the app.
};

struct Phase {
  std::vector<double> first_peer_ms;  // Start -> first peer, per run that found one.
  std::vector<double> join_ms;        // Start -> the node listens and joined.
  int runs = 0;
  std::vector<double> warm_ms;        // A resident's FindPeers call, all announcers found.
  int warm_calls = 0;
};

std::string Ip(int i) { return "127.0.0." + std::to_string(i); }

std::unique_ptr<mumba::P2pNode> NewNode(const std::string& ip) {
  mumba::P2pOptions po;
  po.listen = ip + ":0";
  auto n = mumba::P2pNode::Create(po);
  if (!n.ok()) Fail("P2pNode::Create on " + ip + ": " + n.status().message());
  return std::move(n).value();
}

// Destroys nodes in parallel: a session takes a moment to close.
void CloseAll(std::vector<std::unique_ptr<mumba::P2pNode>*> nodes) {
  std::vector<std::thread> t;
  for (auto* n : nodes) t.emplace_back([n] { n->reset(); });
  for (auto& th : t) th.join();
}

// One start: a node on `ip` joins through `via`, announces `topic` and looks it up
// until it finds a peer or 10 s passed.
void MeasureStart(Phase& p, const Options& o, const std::string& ip, const std::string& via, const Topic& topic,
                  int run) {
  const auto t0 = Clock::now();
  auto node = NewNode(ip);
  if (auto st = node->AddDhtNode(via); !st.ok()) Fail("AddDhtNode: " + st.message());
  p.join_ms.push_back(Millis(Clock::now() - t0));
  if (auto st = node->Announce(topic, 52000 + run); !st.ok()) Fail("Announce: " + st.message());
  ++p.runs;
  const auto deadline = t0 + 10s;
  while (Clock::now() < deadline) {
    auto found = node->FindPeers(topic, std::chrono::milliseconds(o.find_ms));
    if (!found.ok()) Fail("FindPeers: " + found.status().message());
    if (!found->empty()) {
      p.first_peer_ms.push_back(Millis(Clock::now() - t0));
      break;
    }
  }
  std::unique_ptr<mumba::P2pNode>* n = &node;
  CloseAll({n});
}

// FindPeers calls from warm residents (not announcers) until each names every announcer.
void MeasureWarm(Phase& p, const Options& o, std::vector<std::unique_ptr<mumba::P2pNode>>& residents,
                 int first_asker, const Topic& topic) {
  for (int i = 0; i < o.runs; ++i) {
    auto& n = residents[static_cast<size_t>(first_asker + i % (static_cast<int>(residents.size()) - first_asker))];
    if (!n) continue;
    const auto t0 = Clock::now();
    auto found = n->FindPeers(topic, std::chrono::milliseconds(o.find_ms));
    double ms = Millis(Clock::now() - t0);
    ++p.warm_calls;
    if (found.ok() && static_cast<int>(found->size()) >= o.announcers) p.warm_ms.push_back(ms);
  }
}

std::string MedianText(const std::vector<double>& v) { return v.empty() ? "-" : Fmt("%.0f ms", Percentile(v, 0.5)); }

void PrintPhase(std::vector<Row>& rows, const std::string& title, const Phase& p, const Options& o) {
  rows.push_back({title, "", "", "", "", ""});
  const bool met = !p.first_peer_ms.empty() && static_cast<int>(p.first_peer_ms.size()) == p.runs &&
                   Percentile(p.first_peer_ms, 0.5) <= 1000;
  rows.push_back({Fmt("  start -> first peer, median (%zu of %d)", p.first_peer_ms.size(), p.runs),
                  MedianText(p.first_peer_ms),
                  p.first_peer_ms.empty() ? "" : Fmt("min %.0f, max %.0f ms", Percentile(p.first_peer_ms, 0.0),
                                                     Percentile(p.first_peer_ms, 1.0)),
                  "", "<= 1 s", met ? "yes" : "NO"});
  rows.push_back({"  of which create + join, median", MedianText(p.join_ms), "", "", "", ""});
  rows.push_back({Fmt("  warm FindPeers, all %d found (%zu of %d)", o.announcers, p.warm_ms.size(), p.warm_calls),
                  p.warm_ms.empty() ? "-" : Fmt("%.1f ms", Percentile(p.warm_ms, 0.5)),
                  p.warm_ms.empty() ? "" : Fmt("max %.1f ms", Percentile(p.warm_ms, 1.0)), "", "", ""});
}

void Run(const Options& o) {
  const int residents_n = o.nodes - 1;
  std::vector<std::unique_ptr<mumba::P2pNode>> residents;
  struct Closer {
    std::vector<std::unique_ptr<mumba::P2pNode>>* nodes;
    ~Closer() {
      std::vector<std::unique_ptr<mumba::P2pNode>*> all;
      for (auto& n : *nodes) all.push_back(&n);
      CloseAll(all);
    }
  } closer{&residents};
  Progress("starting %d resident DHT nodes on 127.0.0.10..%d", residents_n, 10 + residents_n - 1);
  std::vector<std::string> addrs;
  for (int i = 0; i < residents_n; ++i) {
    residents.push_back(NewNode(Ip(10 + i)));
    addrs.push_back(residents.back()->Status().listen);
  }
  for (int i = 0; i < residents_n; ++i) {
    for (int j = 0; j < residents_n; ++j) {
      if (i != j) (void)residents[static_cast<size_t>(i)]->AddDhtNode(addrs[static_cast<size_t>(j)]);
    }
  }
  const int want = std::min(residents_n - 1, 8);
  const auto formed_deadline = Clock::now() + 15s;
  for (;;) {
    int lo = INT_MAX;
    for (auto& n : residents) lo = std::min(lo, n->Status().dht_nodes);
    if (lo >= want) break;
    if (Clock::now() >= formed_deadline) Fail(Fmt("the DHT did not form: a node knows %d of %d after 15 s", lo, want));
    std::this_thread::sleep_for(20ms);
  }

  // The app runs on the last `announcers` residents; silenced ones are the first.
  const Topic topic = mumba::P2pNode::PeerTopic("mumba://discovery-bench");
  const int first_announcer = residents_n - o.announcers;
  for (int i = first_announcer; i < residents_n; ++i) {
    if (auto st = residents[static_cast<size_t>(i)]->Announce(topic, 51000 + i); !st.ok()) Fail(st.message());
  }
  // Until a resident sees every announcer: the announcements are stored.
  const auto stored_deadline = Clock::now() + 10s;
  for (;;) {
    auto found = residents[0]->FindPeers(topic, 2s);
    if (found.ok() && static_cast<int>(found->size()) >= o.announcers) break;
    if (Clock::now() >= stored_deadline) Fail("the announcements were not found within 10 s");
  }

  const int churn = std::clamp(o.churn, 0, first_announcer - 2);
  const int via = churn;  // A resident that stays up.
  Phase calm, churned;
  Progress("%d starts, each joining through one resident", o.runs);
  for (int r = 0; r < o.runs; ++r) MeasureStart(calm, o, Ip(100 + r), addrs[static_cast<size_t>(via)], topic, r);
  MeasureWarm(calm, o, residents, churn, topic);

  if (churn > 0) {
    Progress("silencing %d residents", churn);
    std::vector<std::unique_ptr<mumba::P2pNode>*> gone;
    for (int i = 0; i < churn; ++i) gone.push_back(&residents[static_cast<size_t>(i)]);
    CloseAll(gone);
    std::vector<int> fds;
    for (int i = 0; i < churn; ++i) {
      const std::string& addr = addrs[static_cast<size_t>(i)];
      int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1))));
      ::inet_pton(AF_INET, addr.substr(0, addr.rfind(':')).c_str(), &a.sin_addr);
      if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        fds.push_back(fd);
      } else if (fd >= 0) {
        ::close(fd);
      }
    }
    Progress("%d starts with %d of %d nodes silent", o.runs, churn, o.nodes);
    for (int r = 0; r < o.runs; ++r) {
      MeasureStart(churned, o, Ip(150 + r), addrs[static_cast<size_t>(via)], topic, r);
    }
    MeasureWarm(churned, o, residents, churn, topic);
    for (int fd : fds) ::close(fd);
  }

  std::printf("\nmumba-discovery-bench: DHT presence in a private DHT of %d P2pNodes on 127.0.0.x (loopback only)\n",
              o.nodes);
  std::printf("machine: %u cores, load %s; %d residents announce the topic; each start joins through one resident\n",
              std::thread::hardware_concurrency(), LoadAverage().c_str(), o.announcers);
  std::printf("a start = P2pNode::Create + AddDhtNode + Announce + FindPeers(%d ms) until a peer is named\n\n",
              o.find_ms);
  std::vector<Row> rows;
  PrintPhase(rows, Fmt("all %d nodes answer:", o.nodes), calm, o);
  if (churn > 0) PrintPhase(rows, Fmt("with %d of %d nodes silent:", churn, o.nodes), churned, o);
  PrintTable(rows, {.figure = 46, .value = 10, .baseline = 22, .target = 8});
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  SetProgramName("mumba-discovery-bench");
  try {
    Options o;
    Flags flags("usage: mumba-discovery-bench [--nodes N] [--runs N] [--churn N] [--find-ms MS]\n");
    flags.Add("--nodes", &o.nodes).Add("--runs", &o.runs).Add("--churn", &o.churn).Add("--find-ms", &o.find_ms);
    flags.Parse(argc, argv);
    if (o.nodes < 8 || o.nodes > 80 || o.runs < 1 || o.runs > 45 || o.find_ms < 10) {
      Fail("--nodes 8..80, --runs 1..45, --find-ms >= 10");
    }
    Run(o);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-discovery-bench: error: %s\n", e.what());
    return 1;
  }
}
