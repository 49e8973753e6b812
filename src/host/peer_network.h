// SPDX-License-Identifier: Apache-2.0
// The host's side of nodes calling nodes: the link server other hosts call, the
// app's presence in the DHT, the directory of live peers per app, and the relay of
// a daemon's calls to a peer.
//
// Who is who: a peer is known by its node key, and only by what a link proved (the
// TLS handshake of src/peer), never by what the DHT or the peer said. An endpoint
// found in the DHT becomes a peer only after a Hello over a link tells which key
// holds it and that it serves the app; later calls to that node go over links
// pinned to that key, so another host at the same endpoint is refused.
//
// What passes: a call from another node reaches a daemon only if the app is
// installed here, the owner granted it peer calls, the service is one of its
// [[exports.peers]], and the calling node is within that entry's rate and not cut
// off (broker/peer_policy.h). The daemon learns the calling node from the metadata
// "mumba-peer-node", which the host sets and never forwards from outside. A
// daemon's own call goes out only if its app was granted peer calls, and only to a
// node that is a live peer of that same app.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>

#include "common/peer_metadata.h"
#include "host/installed_apps.h"
#include "mumba/status.h"
#include "p2p/p2p_node.h"
#include "peer/node_key.h"

namespace mumba {

class DaemonClient;

struct PeerNetworkOptions {
  // Where the link server listens, "IP:PORT" (port 0: any, chosen at each start).
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
  DaemonClient& daemons;
};

struct PeerInfo {
  std::string node;      // Node id, as the link proved it.
  std::string endpoint;  // "IP:PORT" of its link server.
  int64_t last_seen_unix_ms = 0;
};

class PeerNetwork {
 public:
  // Starts the thread that announces and looks up. The link server listens (and
  // the BitTorrent node starts) only once an app runs with the peers grant, so a
  // host without such apps opens no port; when `options.listen` cannot be bound
  // then, the host logs why and tries again each round. Never fails today.
  static Expected<std::unique_ptr<PeerNetwork>> Start(NodeKey key, PeerNetworkParts parts,
                                                       PeerNetworkOptions options);
  virtual ~PeerNetwork() = default;

  virtual const std::string& node_id() const = 0;
  // "IP:PORT" the link server listens on; empty until an app runs with peers.
  virtual std::string listen() const = 0;
  // The live peers of app `app_id` (its canonical address), without this node.
  virtual std::vector<PeerInfo> PeersOf(const std::string& app_id) const = 0;
  // Relays a call app `app_id`'s daemon made on its host socket with the metadata
  // "mumba-peer: <node>" to that node. Refused (the call ends with the status) when
  // the app was not granted peer calls (PERMISSION_DENIED), names no node or a
  // malformed one (INVALID_ARGUMENT), or the node is no live peer of the app
  // (NOT_FOUND).
  virtual grpc::ServerGenericBidiReactor* RelayFromApp(grpc::GenericCallbackServerContext* ctx,
                                                       const std::string& app_id) = 0;
  // Stops the link server and the thread. Idempotent; the destructor calls it.
  virtual void Stop() = 0;
};

}  // namespace mumba
