// SPDX-License-Identifier: Apache-2.0
// Tunnel: the pump that moves a connection's bytes between a link to another host
// (peer/tunnel_link.h) and a local stream socket (a daemon's end), both ways, on
// one thread of its own, until either side ends. On the calling host the local
// side is one end of a socket pair whose other end the calling daemon holds; on
// the receiving host it is a connection to the callee daemon's socket, and a
// TunnelFilter (peer/tunnel_filter.h, the HTTP/2 gate) sees every byte first.
//
// Every call between nodes goes through two pumps, so the loop is made for few
// system calls per message: one poll wakes it, one read takes all that is there,
// one write passes it on, and it goes back to poll without a read that would only
// say "nothing more". Bytes are held only when the other side does not take them
// at once, and at most kTunnelBufferBytes each way: past that the pump stops
// reading the side that sends, so TCP's flow control reaches the sender.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <thread>

#include "mumba/status.h"
#include "peer/tunnel_filter.h"
#include "peer/tunnel_link.h"
#include "platform/unique_fd.h"

namespace mumba {

// The most bytes a tunnel holds for one side that does not take them yet.
inline constexpr size_t kTunnelBufferBytes = 256 * 1024;

// Not thread-safe: Stop and the destructor from one thread at a time (on_end
// may call Stop, and may destroy the Tunnel).
class Tunnel {
 public:
  // Starts moving bytes between `link` (the remote side) and `local`, a connected
  // stream socket (made non-blocking here), through `filter` when it is not null.
  // Bytes the link already received (after messages read from it) are not lost.
  //
  // It ends when either side closes (the bytes already read from it are passed
  // on first, for at most a second), when either side fails, when the filter
  // returns an error (bytes it answered toward the remote side are sent first,
  // for at most a second), or on Stop. Then both sides are closed (the link with a
  // TLS close_notify when it is still sound) and `on_end` runs once, on the pump's
  // thread, with why it ended: OK when a side closed cleanly (EOF, or the link's
  // close_notify), the filter's error as it is, UNAVAILABLE when a side failed or
  // went away abruptly, CANCELLED on Stop.
  //
  // INTERNAL, with nothing started (and `link` and `local` closed), when the
  // thread or its eventfd cannot be made.
  static Expected<std::unique_ptr<Tunnel>> Start(std::unique_ptr<TlsLink> link, UniqueFd local,
                                                 std::unique_ptr<TunnelFilter> filter,
                                                 std::function<void(const Status&)> on_end);

  // Stops (see Stop).
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  // Ends the tunnel if it still runs (on_end gets CANCELLED) and waits for its
  // thread, so that on_end has run when it returns. From on_end itself it only
  // lets the thread finish on its own. Idempotent.
  void Stop();

 private:
  explicit Tunnel(UniqueFd stop) : stop_(std::move(stop)) {}

  UniqueFd stop_;  // An eventfd; readable once Stop was called.
  std::thread thread_;
};

}  // namespace mumba
