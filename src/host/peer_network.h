// SPDX-License-Identifier: Apache-2.0
// The host's side of nodes calling nodes: the link listener other hosts dial, the
// app's presence in the DHT, the directory of live peers per app, and the tunnels
// that carry a daemon's calls to the same app on a peer.
//
// Who is who: a peer is known by its node key, and only by what a link proved (the
// TLS handshake of src/peer/tunnel.h), never by what the DHT or the peer said. An
// endpoint found in the DHT becomes a peer only after a Hello over a link tells
// which key holds it and that it serves the app; later links to that node are
// pinned to that key, so another host at the same endpoint is refused.
//
// How calls travel: a daemon asks its host for a connection to a peer (the broker's
// "node:<id>" target) and gets one end of a socket pair; the host moves its bytes
// over a link to the peer's host, which moves them to the same app's daemon. The
// two daemons speak gRPC end to end and no host relays messages, so a peer call
// costs little more than a direct one.
//
// What passes: a call from another node reaches a daemon only if the app is
// installed here, the owner granted it peer calls, the service is one of its
// [[exports.peers]], and the calling node is within that entry's rate and not cut
// off (broker/peer_policy.h). The receiving host checks each call as it goes by,
// before the daemon sees any of it (peer/h2_gate.h), and answers a refused one
// itself. The daemon learns the calling node from the metadata "mumba-peer-node",
// which the host sets on every call and never forwards from outside. A daemon's
// own connection goes out only if its app was granted peer calls, and only to a
// node that is a live peer of that same app.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/installed_apps.h"
#include "mumba/status.h"
#include "p2p/p2p_node.h"
#include "peer/node_key.h"
#include "platform/unique_fd.h"

namespace mumba {

struct PeerNetworkOptions {
  // Where links are accepted, "IP:PORT" (port 0: any, chosen at each start).
  std::string listen = "0.0.0.0:0";
  // How often the DHT is asked for each app's peers, and each peer is greeted.
  std::chrono::milliseconds refresh{5000};
  // A peer that has not answered a greeting for this long is gone.
  std::chrono::milliseconds expiry{15000};
};

struct PeerNetworkParts {
  std::function<std::vector<InstalledApp>()> apps;
  std::function<Expected<InstalledApp>(const std::string& id)> app;
  std::function<bool(const std::string& id)> running;
  // Starts the app if it is not running; its daemon's socket.
  std::function<Expected<std::string>(const std::string& id)> ensure_running;
  // The BitTorrent node (started on first use); its DHT carries presence.
  std::function<Expected<P2pNode*>()> p2p;
};

struct PeerInfo {
  std::string node;      // Node id, as the link proved it.
  std::string endpoint;  // "IP:PORT" where it accepts links.
  int64_t last_seen_unix_ms = 0;
};

class PeerNetwork {
 public:
  // Starts the thread that announces and looks up. Links are accepted (and the
  // BitTorrent node starts) only once an app runs with the peers grant, so a host
  // without such apps opens no port; when `options.listen` cannot be bound then,
  // the host logs why and tries again each round. Never fails today.
  static Expected<std::unique_ptr<PeerNetwork>> Start(NodeKey key, PeerNetworkParts parts,
                                                       PeerNetworkOptions options);
  virtual ~PeerNetwork() = default;

  virtual const std::string& node_id() const = 0;
  // "IP:PORT" where links are accepted; empty until an app runs with peers.
  virtual std::string listen() const = 0;
  // The live peers of app `app_id` (its canonical address), without this node.
  virtual std::vector<PeerInfo> PeersOf(const std::string& app_id) const = 0;
  // A connection for app `app_id`'s daemon to the same app on node `node`: this
  // host's end of a socket pair is joined to a link pinned to that node, whose host
  // joins it to its daemon; the caller's end is returned (non-blocking, for gRPC).
  // Blocks while the link is made (a few round trips; at most a few seconds).
  // Refused: PERMISSION_DENIED when the app was not granted peer calls,
  // INVALID_ARGUMENT for a malformed node id, NOT_FOUND when the node is no live
  // peer of the app, RESOURCE_EXHAUSTED when the app holds too many, UNAVAILABLE
  // when the node cannot be reached or proves another key, and the other host's
  // refusal (its code, its message prefixed with the node) when it will not serve.
  virtual Expected<UniqueFd> OpenTunnel(const std::string& app_id, const std::string& node) = 0;
  // Stops accepting links, ends every tunnel and the thread. Idempotent; the
  // destructor calls it.
  virtual void Stop() = 0;
};

}  // namespace mumba
