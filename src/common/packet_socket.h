// SPDX-License-Identifier: Apache-2.0
// One message per packet on a SOCK_SEQPACKET unix socket, with at most one file
// descriptor beside it (SCM_RIGHTS): how the broker and a daemon talk, since a
// connection to hand over cannot travel in gRPC. Header-only: the SDK uses it too.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "mumba/status.h"
#include "platform/unique_fd.h"

namespace mumba {

// The largest packet either side sends or takes; a larger one is refused whole.
inline constexpr size_t kMaxPacketBytes = 64 * 1024;

struct Packet {
  std::string bytes;
  UniqueFd fd;  // Invalid when none came with it.
};

// Sends `bytes` as one packet, with `fd` (not given up: the kernel passes a copy)
// when it is 0 or more. UNAVAILABLE when the peer is gone, INVALID_ARGUMENT when
// the packet is too large. Never raises SIGPIPE.
inline Status SendPacket(int sock, std::string_view bytes, int fd = -1) {
  if (bytes.size() > kMaxPacketBytes) return InvalidArgument("packet too large");
  struct iovec iov {};
  iov.iov_base = const_cast<char*>(bytes.data());
  iov.iov_len = bytes.size();
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0) return Status();
    if (errno == EINTR) continue;
    return Unavailable(std::string("send: ") + std::strerror(errno));
  }
}

// Waits for the next packet. UNAVAILABLE when the peer closed or the socket
// broke; INVALID_ARGUMENT for a packet cut short (larger than kMaxPacketBytes) or
// one that carried more than one descriptor (every descriptor that came with it
// is closed).
inline Expected<Packet> RecvPacket(int sock) {
  Packet p;
  p.bytes.resize(kMaxPacketBytes);
  struct iovec iov {};
  iov.iov_base = p.bytes.data();
  iov.iov_len = p.bytes.size();
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Unavailable(std::string("receive: ") + std::strerror(errno));
  if (n == 0) return Unavailable("the other end closed the connection");
  int fds = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (fds++ == 0) p.fd.Reset(fd);
      else ::close(fd);
    }
  }
  if (fds > 1) return InvalidArgument("a packet carried more than one descriptor");
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return InvalidArgument("a packet was too large");
  p.bytes.resize(static_cast<size_t>(n));
  return p;
}

}  // namespace mumba
