// SPDX-License-Identifier: Apache-2.0
// mumba-dht-silent-bench: how long resolving (P2pNode::GetMutable) and publishing
// (P2pNode::PutMutable) an app's address take in a private DHT of in-process
// P2pNodes on 127.0.0.1, first with every node answering, then with some nodes
// silent, as the real DHT is full of nodes that never answer.
//
// A silent node is one that was in the others' routing tables and then stops
// answering without a word: the node is closed and a plain UDP socket bound on its
// port reads and drops every datagram. (On loopback a closed port answers with
// ICMP "port unreachable", which libtorrent takes as an immediate failure: that
// is not silence.)
//
// In each phase the publisher puts the next sequence number `--puts` times, and
// after each put the other live nodes look the item up in turn; every lookup must
// return the newest sequence number (one that returns an older one is counted as
// stale). Baselines, once per phase: a raw libtorrent session in the same DHT
// looks the item up (when the first item came, when the lookup ended) and puts
// an item of its own with dht_put_item (until its dht_put_alert), which is what
// P2pNode did before it cut lookups short and did its own puts. Targets, from
// issue 13: resolution <= 50 ms median with a quarter of the nodes silent; the
// publish time is reported.
//
// Every socket is on 127.0.0.1 and every node joins only the bench's own nodes;
// bench/p2p/run_dht_silent.sh also runs it in a network namespace holding only
// loopback. Every wait is bounded. The table goes to stdout, progress to stderr.
// Exit status: 0 when the bench ran, whatever the targets say; 1 when it could not.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <libtorrent/alert_types.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>

#include "bench_util.h"
#include "raw_session.h"
#include "common/keys.h"
#include "p2p/mutable_item.h"
#include "p2p/p2p_node.h"
#include "p2p/session_settings.h"

namespace {

using namespace mumba::bench;
using namespace std::chrono_literals;

struct Options {
  int nodes = 20;
  int silent = 5;  // Nodes made silent for the second phase.
  int puts = 5;    // Puts per phase; after each, one lookup from every other live node (at most `gets`).
  int gets = 8;
};

// What one phase measured.
struct Phase {
  int silent = 0;
  // The baseline: a raw libtorrent session in the same DHT, at the end of the
  // phase. When its lookup got the first item and when it ended (authoritative);
  // when its own dht_put_item was reported and on how many nodes. Unset: not
  // within kProbeTimeout.
  std::optional<double> probe_first_ms, probe_end_ms, probe_put_ms;
  int probe_put_nodes = 0;
  std::vector<double> get_ms;  // Lookups that returned the newest item.
  std::vector<double> put_ms;  // Puts that reported success.
  int gets = 0, stale = 0, not_found = 0;
  int puts = 0, put_failed = 0;
};

// Every call and wait of the bench is bounded by these.
constexpr auto kPutTimeout = 20s;
constexpr auto kGetTimeout = 20s;
constexpr auto kFormTimeout = 15s;
constexpr auto kProbeTimeout = 20s;

int PortOf(const std::string& addr) { return std::stoi(addr.substr(addr.rfind(':') + 1)); }

// Closes the sockets that keep silent ports silent.
struct SilentPorts {
  std::vector<int> fds;
  ~SilentPorts() {
    for (int fd : fds) ::close(fd);
  }
  // Binds a UDP socket on 127.0.0.1:`port` that is never read: datagrams to it
  // are dropped without any answer.
  void Hold(int port) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) Fail("socket: " + std::string(std::strerror(errno)));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      Fail("cannot hold silent port " + std::to_string(port) + ": " + std::strerror(errno));
    }
    fds.push_back(fd);
  }
};

// A raw libtorrent session with the settings P2pNode gives a loopback node,
// joined to every node: what libtorrent does on its own, for the baselines.
class Probe {
 public:
  explicit Probe(const std::vector<std::string>& addrs) {
    lt::settings_pack s = mumba::SessionSettings("127.0.0.1:0", /*loopback=*/true);
    s.set_int(lt::settings_pack::alert_mask, lt::alert_category::status | lt::alert_category::dht |
                                                 lt::alert_category::error);
    session_ = std::make_unique<lt::session>(lt::session_params(s));
    JoinLoopbackDht(*session_, addrs);
  }
  ~Probe() { lt::session_proxy proxy = session_->abort(); }

  // Looks up `key`'s item and, at the same time, puts the probe's own item at
  // `seq` (a key of its own, so that the publisher's sequence is untouched).
  void Measure(const mumba::KeyPair& key, int64_t seq, Phase& p) {
    std::array<char, 32> pk;
    std::memcpy(pk.data(), key.public_key.data(), pk.size());
    auto item = mumba::p2p::SignItem(own_, {{"probe", std::to_string(seq)}}, seq);
    if (!item.ok()) Fail("SignItem: " + item.status().message());
    std::vector<lt::alert*> alerts;
    session_->pop_alerts(&alerts);  // Drops what came before.
    const auto start = Clock::now();
    session_->dht_get_item(pk);
    session_->dht_put_item(item->public_key, [value = item->value, sig = item->signature.bytes, seq](
                                                 lt::entry& e, std::array<char, 64>& s, std::int64_t& q,
                                                 const std::string&) {
      e = value;
      s = sig;
      q = seq;
    });
    while (Clock::now() - start < kProbeTimeout && !(p.probe_end_ms && p.probe_put_ms)) {
      session_->wait_for_alert(lt::milliseconds(20));
      session_->pop_alerts(&alerts);
      const double ms = Millis(Clock::now() - start);
      for (lt::alert* a : alerts) {
        if (auto* m = lt::alert_cast<lt::dht_mutable_item_alert>(a); m && m->key == pk) {
          if (!p.probe_first_ms && m->item.type() == lt::entry::dictionary_t) p.probe_first_ms = ms;
          if (m->authoritative) p.probe_end_ms = ms;
        } else if (auto* put = lt::alert_cast<lt::dht_put_alert>(a); put && put->seq == seq) {
          p.probe_put_ms = ms;
          p.probe_put_nodes = put->num_success;
        }
      }
    }
  }

 private:
  std::unique_ptr<lt::session> session_;
  mumba::KeyPair own_ = mumba::GenerateKeyPair();
};

// The publisher (the last node) puts seq + 1, seq + 2, ... (`seq` ends at the
// last one) and after each put the live nodes look the item up in turn.
Phase Measure(std::vector<std::unique_ptr<mumba::P2pNode>>& nodes, Probe& probe, const mumba::KeyPair& key,
              int silent, int64_t& seq, const Options& o) {
  Phase p;
  p.silent = silent;
  auto& publisher = *nodes.back();
  std::vector<size_t> askers;
  for (size_t i = static_cast<size_t>(silent); i + 1 < nodes.size(); ++i) askers.push_back(i);
  size_t next_asker = 0;
  for (int round = 0; round < o.puts; ++round) {
    ++seq;
    std::map<std::string, std::string> fields = {{"name", "bench"}, {"version", std::to_string(seq)}};
    auto t0 = Clock::now();
    mumba::Status put = publisher.PutMutable(key, fields, seq, kPutTimeout);
    double ms = Millis(Clock::now() - t0);
    ++p.puts;
    if (put.ok()) {
      p.put_ms.push_back(ms);
    } else {
      ++p.put_failed;
      Progress("put seq %lld failed after %.0f ms: %s", static_cast<long long>(seq), ms, put.message().c_str());
    }
    Progress("%d silent: put seq %lld in %.0f ms", silent, static_cast<long long>(seq), ms);
    for (int k = 0; k < o.gets && k < static_cast<int>(askers.size()); ++k) {
      auto& asker = *nodes[askers[next_asker++ % askers.size()]];
      t0 = Clock::now();
      auto got = asker.GetMutable(key.public_key, kGetTimeout);
      ms = Millis(Clock::now() - t0);
      ++p.gets;
      if (!got.ok()) {
        ++p.not_found;
      } else if (got->seq < seq && put.ok()) {
        ++p.stale;
      } else {
        p.get_ms.push_back(ms);
      }
    }
  }
  Progress("%d silent: raw libtorrent lookup and put (up to %.0f s)", silent, Seconds(kProbeTimeout));
  probe.Measure(key, seq, p);
  return p;
}

void Print(const Options& o, const std::vector<Phase>& phases, double form_ms, double total_s) {
  std::printf("\nmumba-dht-silent-bench: GetMutable and PutMutable in a private DHT of %d P2pNodes on 127.0.0.1\n",
              o.nodes);
  std::printf("DHT formed (every node knows >= 8) in %.0f ms; run took %.1f s; %u cores\n", form_ms, total_s,
              std::thread::hardware_concurrency());
  std::printf("silent = closed, its UDP port held by a socket that drops every datagram (no ICMP)\n\n");
  std::vector<TableRow> rows;
  auto opt_ms = [](const std::optional<double>& v) {
    return v ? Fmt("%.1f ms", *v) : Fmt("> %.0f s", Seconds(kProbeTimeout));
  };
  for (const Phase& p : phases) {
    const std::string label = Fmt("%d of %d silent", p.silent, o.nodes);
    double get_med = Percentile(p.get_ms, 0.5);
    bool target_applies = p.silent * 4 >= o.nodes;
    rows.push_back({Fmt("resolve: GetMutable median, %s", label.c_str()),
                    p.get_ms.empty() ? "-" : Fmt("%.1f ms", get_med),
                    "libtorrent lookup end " + opt_ms(p.probe_end_ms), "", "<= 50 ms",
                    p.get_ms.empty() ? "NO" : (get_med <= 50 ? "yes" : (target_applies ? "NO" : "no"))});
    rows.push_back({"  min / p95 / max",
                    Fmt("%.1f / %.1f / %.1f ms", Percentile(p.get_ms, 0), Percentile(p.get_ms, 0.95),
                        Percentile(p.get_ms, 1)),
                    "libtorrent first item " + opt_ms(p.probe_first_ms), "", "", ""});
    rows.push_back({Fmt("  newest / stale / not found (of %d)", p.gets),
                    Fmt("%zu / %d / %d", p.get_ms.size(), p.stale, p.not_found), "", "", "never stale",
                    p.stale == 0 ? "yes" : "NO"});
    rows.push_back({Fmt("publish: PutMutable median, %s", label.c_str()),
                    p.put_ms.empty() ? "-" : Fmt("%.1f ms", Percentile(p.put_ms, 0.5)),
                    Fmt("dht_put_item %s (%d nodes)", opt_ms(p.probe_put_ms).c_str(), p.probe_put_nodes), "",
                    "report", ""});
    rows.push_back({Fmt("  min / max; stored / failed (of %d)", p.puts),
                    Fmt("%.1f / %.1f ms; %zu / %d", Percentile(p.put_ms, 0), Percentile(p.put_ms, 1),
                        p.put_ms.size(), p.put_failed),
                    "", "", "", ""});
  }
  PrintTable(rows, {.figure = 42, .value = 26, .baseline = 36, .target = 12});
  std::printf("\nbaseline: a raw libtorrent 2.0.8 session in the same DHT, once per phase: its own lookup of the\n"
              "item (first item, end of lookup) and its own dht_put_item of an item of its own (until dht_put_alert)\n");
  std::fflush(stdout);
}

int Run(const Options& o) {
  auto start = Clock::now();
  std::vector<std::unique_ptr<mumba::P2pNode>> nodes;
  mumba::bench::ParallelReset<mumba::P2pNode> closer{&nodes};  // Closed side by side, whatever happens.
  SilentPorts silent;

  Progress("starting %d DHT nodes on 127.0.0.1", o.nodes);
  std::vector<std::string> addrs;
  for (int i = 0; i < o.nodes; ++i) {
    mumba::P2pOptions po;
    po.listen = "127.0.0.1:0";
    auto n = mumba::P2pNode::Create(po);
    if (!n.ok()) Fail("P2pNode::Create: " + n.status().message());
    nodes.push_back(std::move(n).value());
    addrs.push_back(nodes.back()->Status().listen);
  }
  auto t0 = Clock::now();
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (i != j) (void)nodes[i]->AddDhtNode(addrs[j]);
    }
  }
  const int want = std::min(o.nodes - 1, 8);
  bool formed = false;
  while (!formed && Clock::now() - t0 < kFormTimeout) {
    int lo = INT_MAX;
    for (auto& n : nodes) lo = std::min(lo, n->Status().dht_nodes);
    formed = lo >= want;
    if (!formed) std::this_thread::sleep_for(20ms);
  }
  if (!formed) Fail("the DHT did not form within 15 s");
  double form_ms = Millis(Clock::now() - t0);

  mumba::KeyPair key = mumba::GenerateKeyPair();
  int64_t seq = 0;
  std::vector<Phase> phases;
  Probe probe(addrs);
  phases.push_back(Measure(nodes, probe, key, 0, seq, o));

  Progress("silencing nodes 0..%d", o.silent - 1);
  {
    std::vector<std::thread> t;
    for (int i = 0; i < o.silent; ++i) t.emplace_back([&nodes, i] { nodes[static_cast<size_t>(i)].reset(); });
    for (auto& th : t) th.join();
  }
  for (int i = 0; i < o.silent; ++i) silent.Hold(PortOf(addrs[static_cast<size_t>(i)]));
  phases.push_back(Measure(nodes, probe, key, o.silent, seq, o));

  Progress("closing the DHT nodes");
  Print(o, phases, form_ms, Seconds(Clock::now() - start));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  SetProgramName("mumba-dht-silent-bench");
  try {
    Options o;
    Flags flags("usage: mumba-dht-silent-bench [--nodes N] [--silent N] [--puts N] [--gets N]\n");
    flags.Add("--nodes", &o.nodes).Add("--silent", &o.silent).Add("--puts", &o.puts).Add("--gets", &o.gets);
    flags.Parse(argc, argv);
    if (o.nodes < 4 || o.silent < 0 || o.silent > o.nodes - 3 || o.puts < 1 || o.gets < 1) {
      Fail("--nodes >= 4, 0 <= --silent <= nodes - 3, --puts >= 1, --gets >= 1");
    }
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-dht-silent-bench: error: %s\n", e.what());
    return 1;
  }
}
