// SPDX-License-Identifier: Apache-2.0
// The libtorrent settings every Mumba session starts from: P2pNode's, and those of
// the raw sessions that tests and benchmarks put beside it in the same private DHT.
#pragma once

#include <string>

#include <libtorrent/settings_pack.hpp>

namespace mumba {

// Listens on `listen` ("IP:PORT") or fails (no fallback port); DHT on with no
// bootstrap routers; no LSD, UPnP or NAT-PMP. Otherwise libtorrent's defaults,
// which protect a node on a public network: one connection per IP, the DHT's
// upload and block rate limits, its IP restrictions. Only with `loopback` (every
// node on 127.0.0.1) does it lift those for what a private DHT of same-IP nodes
// needs (see the comments in session_settings.cc and
// ../shared/notes/dependencies.md). Rate limits and the alert mask are the caller's.
lt::settings_pack SessionSettings(const std::string& listen, bool loopback);

}  // namespace mumba
