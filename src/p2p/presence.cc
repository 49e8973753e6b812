// SPDX-License-Identifier: Apache-2.0
// Presence (presence.h) on libtorrent's BEP 5 announce_peer/get_peers, and the
// P2pNodeImpl methods that forward to it.
//
// libtorrent's get_peers has no end marker: replies arrive as
// dht_get_peers_reply_alerts and the lookup simply stops. A lookup's end is seen
// in DHT stats snapshots (post_dht_stats), which list the lookups still running
// with their outstanding requests and the answers so far: FindPeers asks
// for one every kSnapshotPoll and ends at the first snapshot, taken after its
// lookup started, that shows it finished or waiting only for stragglers. Alerts
// arrive in the order libtorrent made them, so every reply the lookup received
// was handled by then. Other parts of the node may ask for snapshots too: each
// is judged by its own time stamp, not by who asked for it.
#include "p2p/presence.h"

#include <algorithm>
#include <cstring>

#include <libtorrent/alert_types.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/kademlia/announce_flags.hpp>
#include <libtorrent/session_stats.hpp>

#include "p2p/p2p_node_impl.h"

namespace mumba::p2p {
namespace {

// How often a waiting FindPeers asks whether its lookup still runs.
constexpr auto kSnapshotPoll = std::chrono::milliseconds(10);
// The least a lookup waits for another answer before it counts as ended (see
// Presence::FindPeers), and the most: after 2 s libtorrent itself stops waiting
// for a node (its short timeout) and asks another.
// A DHT stats snapshot taken this long after a lookup was asked for was taken
// after it started: libtorrent's network thread runs requests in order, and is
// never that far behind.
constexpr auto kStaleMargin = std::chrono::milliseconds(50);
constexpr auto kMinGrace = std::chrono::milliseconds(100);
constexpr auto kMaxGrace = std::chrono::milliseconds(2000);

lt::sha1_hash ToHash(const Presence::Topic& topic) {
  lt::sha1_hash h;
  std::memcpy(h.data(), topic.data(), topic.size());
  return h;
}

}  // namespace

Presence::Presence(lt::session& session, const Clock& clock, const std::string& listen_ip)
    : session_(session), clock_(clock) {
  lt::error_code ec;
  lt::address ip = lt::make_address(listen_ip, ec);
  // On 0.0.0.0 or :: the node does not know the address others see until the DHT
  // tells it (external_ip_alert).
  if (!ec && !ip.is_unspecified()) own_ips_.insert(ip);
}

mumba::Status Presence::Announce(const Topic& topic, int port) {
  if (port < 1 || port > 65535) return InvalidArgument("port " + std::to_string(port) + " is not in 1..65535");
  if (!session_.is_dht_running()) return Unavailable("the DHT is off");
  const lt::sha1_hash target = ToHash(topic);
  std::lock_guard lock(mu_);
  announced_[target] = Announced{port, Now() + kPresenceRefresh};
  own_ports_[target].insert(port);
  // No implied_port: the stored port must be the links' TCP port, not the UDP
  // port the announce is sent from.
  session_.dht_announce(target, port, lt::dht::announce_flags_t{});
  return {};
}

void Presence::Withdraw(const Topic& topic) {
  std::lock_guard lock(mu_);
  announced_.erase(ToHash(topic));
}

Expected<std::vector<P2pNode::PeerEndpoint>> Presence::FindPeers(const Topic& topic,
                                                                 std::chrono::milliseconds timeout) {
  if (!session_.is_dht_running()) return Unavailable("the DHT is off");
  const auto deadline = Now() + timeout;
  auto lookup = std::make_shared<Lookup>();
  lookup->target = ToHash(topic);
  lookup->started = lookup->progressed = Now();
  std::unique_lock lock(mu_);
  auto entry = lookups_.emplace(lookup->target, lookup);
  lookup->issued = lt::clock_type::now();
  // The snapshot asked for next to the lookup is taken right after it started,
  // so it normally shows it running.
  session_.dht_get_peers(lookup->target);
  AskSnapshot(/*now_anyway=*/true);
  for (;;) {
    if (lookup->ended) break;
    auto left = deadline - Now();
    if (left <= Clock::duration::zero()) break;
    cv_.wait_for(lock, std::min<Clock::duration>(left, kSnapshotPoll));
    if (!lookup->ended) AskSnapshot();
  }
  std::vector<P2pNode::PeerEndpoint> found = std::move(lookup->found);
  lookups_.erase(entry);
  return found;
}

void Presence::AskSnapshot(bool now_anyway) {
  // Real time, not the node's clock: this paces polling, and a fake clock that
  // stands still must not stop it.
  const auto now = std::chrono::steady_clock::now();
  if (!now_anyway && last_snapshot_ask_ && now - *last_snapshot_ask_ < kSnapshotPoll) return;
  last_snapshot_ask_ = now;
  session_.post_dht_stats();
}

void Presence::OnAlert(const lt::alert* a) {
  if (const auto* r = lt::alert_cast<lt::dht_get_peers_reply_alert>(a)) {
    std::lock_guard lock(mu_);
    OnPeers(r->info_hash, r->peers());
  } else if (lt::alert_cast<lt::dht_stats_alert>(a)) {
    {
      std::lock_guard lock(mu_);
      OnDhtStats(a);
    }
    cv_.notify_all();
  } else if (const auto* ss = lt::alert_cast<lt::session_stats_alert>(a)) {
    static const int kDhtNodes = lt::find_metric_idx("dht.dht_nodes");
    if (kDhtNodes < 0) return;
    std::lock_guard lock(mu_);
    OnDhtNodes(static_cast<int>(ss->counters()[kDhtNodes]));
  } else if (const auto* ip = lt::alert_cast<lt::external_ip_alert>(a)) {
    std::lock_guard lock(mu_);
    own_ips_.insert(ip->external_address);
  }
}

void Presence::OnPeers(const lt::sha1_hash& target, const std::vector<lt::tcp::endpoint>& peers) {
  auto [begin, end] = lookups_.equal_range(target);
  if (begin == end) return;
  for (const auto& ep : peers) {
    // Port 0 is not an endpoint anyone can dial (a malformed or hostile entry).
    if (ep.port() == 0 || IsOwn(ep.address(), target, ep.port())) continue;
    std::pair<std::string, int> key{ep.address().to_string(), ep.port()};
    for (auto it = begin; it != end; ++it) {
      Lookup& l = *it->second;
      if (l.seen.insert(key).second) l.found.push_back({key.first, key.second});
    }
  }
}

Clock::duration Presence::StragglerGrace(const Lookup& l) {
  Clock::duration grace = l.first_answer ? 4 * *l.first_answer : kMaxGrace;
  return std::clamp<Clock::duration>(grace, kMinGrace, kMaxGrace);
}

void Presence::OnDhtStats(const lt::alert* a) {
  const auto& s = *lt::alert_cast<lt::dht_stats_alert>(a);
  const auto now = Now();
  const bool table_empty = std::all_of(s.routing_table.begin(), s.routing_table.end(),
                                       [](const lt::dht_routing_bucket& b) { return b.num_nodes == 0; });
  for (auto& [target, lookup] : lookups_) {
    if (lookup->ended) continue;
    // A lookup that no snapshot showed running for this long never started (it
    // had no node to ask, or every request failed at once).
    if (!lookup->seen_running && now - lookup->started >= kMaxGrace) {
      lookup->ended = true;
      continue;
    }
    if (s.timestamp() < lookup->issued) continue;
    // Every traversal of this target counts (an announce of it runs one too). A
    // finished traversal stays listed, with nothing outstanding, until the
    // answers it stopped waiting for arrive or time out.
    int outstanding = 0, answers = 0;
    for (const lt::dht_lookup& l : s.active_requests) {
      if (l.target != target || l.outstanding_requests == 0) continue;
      outstanding += l.outstanding_requests;
      answers += l.responses;
    }
    if (outstanding == 0) {
      // It ran and finished, or had no node to ask, or finished before any
      // snapshot showed it (on loopback a lookup takes a few ms). Only a
      // snapshot taken within moments of the request may predate the lookup:
      // libtorrent may have taken it, for another caller, just before.
      if (lookup->seen_running || table_empty || s.timestamp() >= lookup->issued + kStaleMargin) {
        lookup->ended = true;
      }
      continue;
    }
    lookup->seen_running = true;
    if (answers > 0 && !lookup->first_answer) lookup->first_answer = now - lookup->started;
    // Nodes left to ask are no progress: with its slots taken by nodes that do
    // not answer, libtorrent asks no one else until its 2 s short timeout.
    if (answers != lookup->answers) {
      lookup->answers = answers;
      lookup->progressed = now;
    }
    if (now - lookup->progressed >= StragglerGrace(*lookup)) lookup->ended = true;
  }
}

void Presence::OnDhtNodes(int nodes) {
  // An announce made while the routing table was empty (the node had just
  // started, or its contacts were not up yet) reached nobody: announce again as
  // soon as the table grows, as seeds are (p2p_node_impl.cc).
  const bool grew = nodes > dht_nodes_;
  dht_nodes_ = nodes;
  const auto now = Now();
  for (auto& [target, a] : announced_) {
    if (!grew && now < a.next) continue;
    session_.dht_announce(target, a.port, lt::dht::announce_flags_t{});
    a.next = now + kPresenceRefresh;
  }
}

bool Presence::IsOwn(const lt::address& ip, const lt::sha1_hash& target, int port) const {
  auto it = own_ports_.find(target);
  return it != own_ports_.end() && it->second.count(port) > 0 && own_ips_.count(ip) > 0;
}

mumba::Status P2pNodeImpl::Announce(const std::array<uint8_t, 20>& topic, int port) {
  return presence_->Announce(topic, port);
}

void P2pNodeImpl::Withdraw(const std::array<uint8_t, 20>& topic) { presence_->Withdraw(topic); }

Expected<std::vector<P2pNode::PeerEndpoint>> P2pNodeImpl::FindPeers(const std::array<uint8_t, 20>& topic,
                                                                    std::chrono::milliseconds timeout) {
  return presence_->FindPeers(topic, timeout);
}

}  // namespace mumba::p2p

namespace mumba {

std::array<uint8_t, 20> P2pNode::PeerTopic(const std::string& app_address) {
  // The whole text in one string: a string literal given to update() as a span
  // would bring its terminating NUL along.
  const std::string text = "mumba-peers:" + app_address;
  lt::hasher h;
  h.update(text);
  const lt::sha1_hash digest = h.final();
  std::array<uint8_t, 20> topic;
  std::memcpy(topic.data(), digest.data(), topic.size());
  return topic;
}

}  // namespace mumba
