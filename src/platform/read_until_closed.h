// SPDX-License-Identifier: Apache-2.0
// For tests of child processes: everything a child wrote on a descriptor, until it
// closed it, bounded in time so that a child that hangs fails the test instead.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace mumba {

// What was read from `fd` until end of file, or until nothing arrived for
// `quiet_ms`. Works on blocking and non-blocking descriptors.
inline std::string ReadUntilClosed(int fd, int quiet_ms = 20'000) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, quiet_ms) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    break;
  }
  return out;
}

}  // namespace mumba
