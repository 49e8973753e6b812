// SPDX-License-Identifier: Apache-2.0
// Whether the other side of a connection has gone, asked without waiting: how the
// broker drops connections it handed out and how a client knows a kept connection
// is no longer worth a call. Header-only: the SDK uses it without linking anything
// of the host.
#pragma once

#include <poll.h>

namespace mumba {

// True when the other side of connected socket `fd` closed it (or shut down its
// writing side), when it failed, or when `fd` is not open; false while it is up.
inline bool HungUp(int fd) {
  struct pollfd p {};
  p.fd = fd;
  p.events = POLLRDHUP;
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

}  // namespace mumba
