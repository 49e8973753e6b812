// SPDX-License-Identifier: Apache-2.0
// The host's settings: $MUMBA_HOME/config.toml. Every key is optional.
//
//   [storage]
//   quota_bytes = 1073741824      # what each app may store, in bytes (0 = no limit)
//   sql_timeout_ms = 5000         # how long one SQL call may run (0 = no limit)
//
//   [apps.notes]                  # per app, by name or id ("mumba://...")
//   quota_bytes = 52428800
//
//   [p2p]
//   listen = "0.0.0.0:6881"       # BitTorrent and DHT, IP:PORT (port 0: any)
//   bootstrap = ["router.bittorrent.com:6881", ...]   # DHT nodes to join through
//   seed = true                   # seed the bundles of apps installed from the network
//   upload_rate_limit = 0         # bytes/s, 0 = none
//   download_rate_limit = 0
//   update_interval_s = 3600      # how often to look for new versions (0 = never)
//   max_bundle_bytes = 1073741824 # the most a bundle fetched from the network may hold;
//                                 # one holding more, or more than its item announced,
//                                 # is stopped and deleted as soon as its metadata arrives
//   max_bundle_files = 10000      # the most files it may hold
//   peer_listen = "0.0.0.0:0"     # links from other hosts for peer calls (default: the
//                                 # IP of listen, any port; announced in the DHT)
//   peer_refresh_ms = 5000        # how often apps' peers are looked up and greeted
//   peer_expiry_ms = 15000        # a peer silent this long leaves the list
//
//   [security]
//   sandbox = true                # run every app daemon in a bubblewrap sandbox; false
//                                 # runs them unconfined, with your whole view of the machine
//
//   [gateway]
//   port = 0                      # apps' pages on http://<app>.localhost:PORT/ (127.0.0.1
//                                 # only); 0 = pick one once and keep it (gateway.port)
//   max_connections = 512         # open at once; one more is answered 503
//   header_timeout_ms = 10000     # to send a request's header, from its first byte
//   body_timeout_ms = 60000       # to send a body the gateway reads whole
//   idle_timeout_ms = 60000       # between requests, and between chunks of a streamed body
//   max_body_bytes = 8388608      # one body read whole (calls); larger is 413
//   max_buffered_bytes = 67108864 # bodies read whole, all connections together
//                                 # (src/gateway/README.md explains each limit)
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gateway/gateway.h"
#include "mumba/status.h"
#include "p2p/p2p_node.h"

namespace mumba {

// The public Mainline DHT routers: the default for users, never for tests.
inline const std::vector<std::string> kPublicDhtRouters = {
    "router.bittorrent.com:6881", "dht.transmissionbt.com:6881", "router.utorrent.com:6881",
    "dht.libtorrent.org:25401"};

struct P2pConfig {
  std::string listen = "0.0.0.0:6881";
  std::vector<std::string> bootstrap = kPublicDhtRouters;
  bool seed = true;
  int upload_rate_limit = 0;
  int download_rate_limit = 0;
  int update_interval_s = 3600;
  // Ceilings on a fetched bundle, whatever its item announced (P2pNode's defaults).
  uint64_t max_bundle_bytes = kDefaultMaxBundleBytes;
  uint64_t max_bundle_files = kDefaultMaxBundleFiles;
  // Where links from other hosts (peer calls) are taken, "IP:PORT"; empty: the IP of
  // `listen`, any port (announced in the DHT with each app that serves peers).
  std::string peer_listen;
  // How often each app's peers are looked up and greeted, and how long a peer that
  // does not answer stays in the list.
  int peer_refresh_ms = 5000;
  int peer_expiry_ms = 15000;
  // How often each followed share is looked up in the DHT for a newer snapshot.
  int follow_poll_ms = 1000;
  // Start the node with the host (the config has a [p2p] table, or the host was
  // given --listen/--bootstrap); otherwise it starts when first needed.
  bool start_with_host = false;
};

struct HostConfig {
  uint64_t quota_bytes = 1ull << 30;
  uint64_t sql_timeout_ms = 5000;
  std::map<std::string, uint64_t> app_quota_bytes;  // By app name or id.
  P2pConfig p2p;
  int gateway_port = 0;
  GatewayLimits gateway_limits;
  bool sandbox = true;

  // Reads `file`; a missing file gives the defaults. Unknown keys and wrong types
  // are INVALID_ARGUMENT naming the file, line and key.
  static Expected<HostConfig> Load(const std::filesystem::path& file);

  // The quota of the app with this id and name.
  uint64_t QuotaFor(const std::string& id, const std::string& name) const;
};

}  // namespace mumba
