// SPDX-License-Identifier: Apache-2.0
// A raw libtorrent session joined to the benches' private loopback DHT: what
// libtorrent does on its own, the baseline beside P2pNode's figures.
#pragma once

#include <libtorrent/session.hpp>

#include <string>
#include <vector>

namespace mumba::bench {

// Waits (at most 10 s) until `session` listens on UDP, which joining needs, then
// adds every "IP:PORT" of `nodes` as a DHT node on 127.0.0.1. Fails the bench
// (BenchError) if it never listens.
void JoinLoopbackDht(lt::session& session, const std::vector<std::string>& nodes);

}  // namespace mumba::bench
