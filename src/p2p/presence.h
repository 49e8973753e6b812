// SPDX-License-Identifier: Apache-2.0
// Presence: which hosts serve an app's peer services, kept in the DHT as the BEP 5
// peers of a 20-byte topic (P2pNode::PeerTopic). A host announces a topic with the
// TCP port its links listen on and looks the topic up to find the others. This
// file owns the announcements a node keeps up (and refreshes), the lookups callers
// wait on, and the alerts that answer them; P2pNodeImpl only forwards to it.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <libtorrent/address.hpp>
#include <libtorrent/alert.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/sha1_hash.hpp>

#include "p2p/p2p_node.h"

namespace mumba::p2p {

// How often an announced topic is announced again. libtorrent nodes keep a peer
// 45 min after its last announce (30 min x 1.5, fixed in 2.0.8's dht_storage.cpp)
// and others keep it for their own time; a few minutes also reaches the nodes that
// became the topic's closest since the last announce.
inline constexpr auto kPresenceRefresh = std::chrono::minutes(5);

// Thread-safe. Every method but OnAlert may block only as long as its timeout;
// OnAlert is called by the node's alert thread and never blocks.
class Presence {
 public:
  using Topic = std::array<uint8_t, 20>;

  // `session` and `clock` are borrowed and must outlive this. `listen_ip` is the
  // IP the session listens on: a found endpoint on it (or on an external IP the
  // DHT reports for this node) with the port this node announced is this node.
  Presence(lt::session& session, const Clock& clock, const std::string& listen_ip);

  // Announces `topic` with TCP `port` now, and again every kPresenceRefresh and
  // whenever the DHT routing table grows, until Withdraw; announcing the topic
  // again replaces the port. OK once the announcement is queued (the DHT stores
  // it moments later); INVALID_ARGUMENT for a port outside 1..65535; UNAVAILABLE
  // when the DHT is off.
  mumba::Status Announce(const Topic& topic, int port);
  // Stops announcing `topic` (a topic not announced is a no-op). The DHT has no
  // way to take an announcement back: nodes that stored it keep returning it
  // until it expires there (45 min after the last announce on libtorrent nodes).
  void Withdraw(const Topic& topic);
  // Looks `topic` up and returns the distinct endpoints found, without this
  // node's own, once the lookup ends or at `timeout`, whichever comes first. An
  // empty list is not an error. UNAVAILABLE when the DHT is off.
  //
  // A lookup counts as ended when libtorrent finished it, or when no node
  // answered it for StragglerGrace: libtorrent would wait seconds for each node
  // that never answers (a vanished host), and the nodes that hold a topic's
  // peers answer within a round trip.
  Expected<std::vector<P2pNode::PeerEndpoint>> FindPeers(const Topic& topic, std::chrono::milliseconds timeout);

  // Takes what concerns presence from an alert (every alert is offered):
  // get_peers replies, DHT stats, session stats, the external IP.
  void OnAlert(const lt::alert* a);

 private:
  struct Announced {
    int port = 0;
    Clock::time_point next;  // When it is announced again.
  };
  // One FindPeers call, filled in by the alert thread.
  struct Lookup {
    lt::sha1_hash target;
    std::vector<P2pNode::PeerEndpoint> found;
    std::set<std::pair<std::string, int>> seen;
    // When dht_get_peers was called (libtorrent's clock, which stamps alerts):
    // a DHT stats snapshot taken earlier says nothing about this lookup.
    lt::time_point issued;
    Clock::time_point started;
    // Whether a snapshot showed the lookup running: until then, one that does
    // not list it may have been taken before it started.
    bool seen_running = false;
    bool ended = false;
    // Progress seen in snapshots: answers so far, and when they last changed.
    std::optional<Clock::duration> first_answer;
    int answers = -1;
    Clock::time_point progressed;
  };
  // How long a lookup waits for another answer before it counts as ended: four
  // times the delay of its first answer, within kMinGrace..kMaxGrace.
  static Clock::duration StragglerGrace(const Lookup& l);

  void OnPeers(const lt::sha1_hash& target, const std::vector<lt::tcp::endpoint>& peers);
  // Ends every lookup this snapshot shows finished, waiting only for nodes that
  // do not answer, or unable to start (no node in the routing table).
  void OnDhtStats(const lt::alert* a);
  // Announces again what is due, and everything when the routing table grew.
  void OnDhtNodes(int nodes);
  // Asks libtorrent for a DHT stats snapshot, unless one was asked for within
  // the last kSnapshotPoll and not `now_anyway`. mu_ held.
  void AskSnapshot(bool now_anyway = false);
  // Whether `ip`:`port` is this node's announcement of `target`, now or earlier.
  bool IsOwn(const lt::address& ip, const lt::sha1_hash& target, int port) const;
  Clock::time_point Now() const { return clock_.Now(); }

  lt::session& session_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  std::map<lt::sha1_hash, Announced> announced_;
  // Every port this node announced each topic with, withdrawn or replaced ones
  // too: the DHT keeps returning them for a while.
  std::map<lt::sha1_hash, std::set<int>> own_ports_;
  std::multimap<lt::sha1_hash, std::shared_ptr<Lookup>> lookups_;
  std::set<lt::address> own_ips_;
  std::optional<std::chrono::steady_clock::time_point> last_snapshot_ask_;
  int dht_nodes_ = 0;
};

}  // namespace mumba::p2p
