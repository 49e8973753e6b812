// SPDX-License-Identifier: Apache-2.0
// What a tunnel's pump (peer/tunnel.h) lets look at the bytes it moves between a
// link to another host (the remote side) and a local socket (a daemon's). The
// receiving host's HTTP/2 gate (peer/h2_gate.h) is one: it sees each call another
// node makes before the daemon does, and refuses what policy refuses.
//
// Both methods are called on the pump's one thread, never at once, so a filter
// needs no lock of its own. Whatever a filter appends is written in that order:
// a filter that injects bytes toward the remote side must therefore only ever
// emit whole frames of its protocol on that side (never half of one of the local
// side's frames), since its injections go between what it passed on.
#pragma once

#include <string>
#include <string_view>

#include "mumba/status.h"

namespace mumba {

class TunnelFilter {
 public:
  virtual ~TunnelFilter() = default;

  // Bytes that came from the remote side, in order, in pieces of any size. Appends
  // what goes on to the local side to `to_local` and what is answered to the remote
  // side to `to_remote`. An error ends the tunnel (both sides are closed): the remote
  // side broke the protocol or a limit, or policy cut it off; its message says why.
  virtual Status FromRemote(std::string_view bytes, std::string* to_local, std::string* to_remote) = 0;

  // Bytes that came from the local side, in order, in pieces of any size. Appends
  // what goes on to the remote side to `to_remote`. An error ends the tunnel.
  virtual Status FromLocal(std::string_view bytes, std::string* to_remote) = 0;
};

}  // namespace mumba
