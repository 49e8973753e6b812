// SPDX-License-Identifier: Apache-2.0
#include "p2p/session_settings.h"

namespace mumba {

lt::settings_pack SessionSettings(const std::string& listen, bool loopback) {
  lt::settings_pack s;
  s.set_str(lt::settings_pack::listen_interfaces, listen);
  // The port asked for or an error: by default libtorrent quietly tries the next
  // ten ports and then one the OS picks.
  s.set_int(lt::settings_pack::max_retry_port_bind, 0);
  s.set_bool(lt::settings_pack::listen_system_port_fallback, false);
  s.set_bool(lt::settings_pack::enable_dht, true);
  // The default names public routers; we join only where told (options.bootstrap
  // or AddDhtNode), and nodes given here would become routers that never enter
  // the routing table anyway.
  s.set_str(lt::settings_pack::dht_bootstrap_nodes, "");
  // Multicast and router traffic: never wanted.
  s.set_bool(lt::settings_pack::enable_lsd, false);
  s.set_bool(lt::settings_pack::enable_upnp, false);
  s.set_bool(lt::settings_pack::enable_natpmp, false);
  // On a public network libtorrent's defaults stay: one connection per IP (so a
  // single host cannot take every slot of a seeder) and the DHT's upload limit
  // of 8000 B/s (so a flood of requests cannot turn the node into an amplifier).
  if (loopback) {
    // Every peer here has the same IP: with one connection per IP a seeder
    // would accept one downloader only.
    s.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
    // A private DHT's few nodes each store and answer every item, and at the
    // default 8000 B/s mutable puts time out. Never 0: libtorrent 2.0.8
    // divides by it (SIGFPE).
    s.set_int(lt::settings_pack::dht_upload_rate_limit, 1000000);
    // A private DHT on 127.0.0.1: every node has the same IP. The default
    // block rate limit (5/s) bans 127.0.0.1 after ~50 messages, and the IP
    // restrictions keep all but one loopback node out of routing tables and
    // lookups. On public addresses the defaults protect the node and stay.
    s.set_int(lt::settings_pack::dht_block_ratelimit, 100000);
    s.set_bool(lt::settings_pack::dht_restrict_routing_ips, false);
    s.set_bool(lt::settings_pack::dht_restrict_search_ips, false);
    // uTP on loopback moves 14-19 MB/s against ~95 MB/s for TCP.
    s.set_bool(lt::settings_pack::enable_outgoing_utp, false);
    // A seed and a downloader that find each other in the DHT dial each other
    // at once; between two 127.0.0.1 peers libtorrent's "duplicate peer-id"
    // rule then drops both connections, and the peer is not retried for 60 s.
    // Seeds here wait to be dialled, and a failed peer is retried after 1 s.
    s.set_bool(lt::settings_pack::seeding_outgoing_connections, false);
    s.set_int(lt::settings_pack::min_reconnect_time, 1);
  }
  return s;
}

}  // namespace mumba
