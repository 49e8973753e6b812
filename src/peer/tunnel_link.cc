// SPDX-License-Identifier: Apache-2.0
#include "peer/tunnel_link.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>

#include "peer/tunnel_tls.h"

namespace mumba {

using tunnel_internal::WaitReady;

void TlsLink::SslFree::operator()(ssl_st* ssl) const { SSL_free(ssl); }

TlsLink::TlsLink(UniqueFd socket, std::unique_ptr<ssl_st, SslFree> ssl, std::string peer_node)
    : socket_(std::move(socket)), ssl_(std::move(ssl)), peer_node_(std::move(peer_node)) {}

// The SSL goes first: its BIO borrows the socket.
TlsLink::~TlsLink() { ssl_.reset(); }

std::string TlsLink::peer_address() const {
  sockaddr_storage addr{};
  socklen_t size = sizeof(addr);
  if (::getpeername(socket_.get(), reinterpret_cast<sockaddr*>(&addr), &size) != 0) return "";
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(addr);
    return ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text)) ? text : "";
  }
  if (addr.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(addr);
    if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
      return ::inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof(text)) ? text : "";
    }
    return ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text)) ? text : "";
  }
  return "";
}

Status TlsLink::WriteAll(const char* data, size_t size, Clock::time_point deadline) {
  while (size > 0) {
    ERR_clear_error();
    int n = SSL_write(ssl_.get(), data, static_cast<int>(std::min<size_t>(size, INT_MAX)));
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    switch (SSL_get_error(ssl_.get(), n)) {
      case SSL_ERROR_WANT_WRITE: MUMBA_TRY(WaitReady(socket_.get(), POLLOUT, deadline, "writing to the link")); break;
      case SSL_ERROR_WANT_READ: MUMBA_TRY(WaitReady(socket_.get(), POLLIN, deadline, "writing to the link")); break;
      default: return tunnel_internal::SslFailure(ssl_.get(), n, "writing to the link");
    }
  }
  return Status::Ok();
}

Status TlsLink::ReadAll(char* data, size_t size, Clock::time_point deadline) {
  while (size > 0) {
    ERR_clear_error();
    int n = SSL_read(ssl_.get(), data, static_cast<int>(std::min<size_t>(size, INT_MAX)));
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    switch (SSL_get_error(ssl_.get(), n)) {
      case SSL_ERROR_WANT_READ: MUMBA_TRY(WaitReady(socket_.get(), POLLIN, deadline, "reading from the link")); break;
      case SSL_ERROR_WANT_WRITE: MUMBA_TRY(WaitReady(socket_.get(), POLLOUT, deadline, "reading from the link")); break;
      default: return tunnel_internal::SslFailure(ssl_.get(), n, "reading from the link");
    }
  }
  return Status::Ok();
}

Status TlsLink::WriteMessage(std::string_view message, Clock::time_point deadline) {
  if (message.size() > kMaxLinkMessageBytes) {
    return InvalidArgument("a link message of " + std::to_string(message.size()) + " bytes is over the limit of " +
                           std::to_string(kMaxLinkMessageBytes));
  }
  // Length and bytes in one write, so they travel in one TLS record.
  std::string framed(4 + message.size(), '\0');
  auto size = static_cast<uint32_t>(message.size());
  for (int i = 0; i < 4; ++i) framed[i] = static_cast<char>((size >> (24 - 8 * i)) & 0xff);
  std::memcpy(framed.data() + 4, message.data(), message.size());
  return WriteAll(framed.data(), framed.size(), deadline);
}

Expected<std::string> TlsLink::ReadMessage(size_t max_bytes, Clock::time_point deadline) {
  unsigned char prefix[4];
  MUMBA_TRY(ReadAll(reinterpret_cast<char*>(prefix), sizeof(prefix), deadline));
  size_t size = (size_t{prefix[0]} << 24) | (size_t{prefix[1]} << 16) | (size_t{prefix[2]} << 8) | prefix[3];
  if (size > max_bytes) {
    return ResourceExhausted("the peer sent a link message of " + std::to_string(size) + " bytes, over the limit of " +
                             std::to_string(max_bytes));
  }
  std::string message(size, '\0');
  MUMBA_TRY(ReadAll(message.data(), size, deadline));
  return message;
}

Expected<LinkDialer> LinkDialer::Make(const NodeKey& self) {
  MUMBA_ASSIGN_OR_RETURN(auto ctx, tunnel_internal::MakeLinkContext(self, /*server=*/false));
  return LinkDialer(std::shared_ptr<ssl_ctx_st>(ctx.release(), SSL_CTX_free));
}

Expected<std::unique_ptr<TlsLink>> LinkDialer::Dial(const std::string& endpoint, const std::string& expected_node,
                                                    std::chrono::milliseconds timeout) const {
  const Clock::time_point deadline = Clock::Real().Now() + timeout;
  if (!expected_node.empty()) {
    auto parsed = ParseNodeId(expected_node);
    if (!parsed.ok()) return parsed.status().WithContext("the node expected at " + endpoint);
  }
  MUMBA_ASSIGN_OR_RETURN(tunnel_internal::Endpoint address, tunnel_internal::ParseEndpoint(endpoint));
  UniqueFd socket(::socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket) return Unavailable("cannot make a socket: " + std::generic_category().message(errno));
  if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&address.address), address.size) != 0) {
    if (errno != EINPROGRESS) {
      return Unavailable("cannot connect to " + endpoint + ": " + std::generic_category().message(errno));
    }
    MUMBA_TRY(WaitReady(socket.get(), POLLOUT, deadline, ("connecting to " + endpoint).c_str()));
    int error = 0;
    socklen_t size = sizeof(error);
    if (::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
    if (error != 0) return Unavailable("cannot connect to " + endpoint + ": " + std::generic_category().message(error));
  }
  tunnel_internal::SetNoDelay(socket.get());

  tunnel_internal::PeerCheck check;
  check.expected_node = expected_node;
  MUMBA_ASSIGN_OR_RETURN(auto ssl, tunnel_internal::NewLinkSsl(ctx_.get(), socket.get(), /*server=*/false, &check));
  for (;;) {
    auto step = tunnel_internal::HandshakeStep(ssl.get());
    if (step == tunnel_internal::Step::kDone) break;
    if (step == tunnel_internal::Step::kFailed) {
      return tunnel_internal::HandshakeFailure(check).WithContext("link to " + endpoint);
    }
    MUMBA_TRY(WaitReady(socket.get(), step == tunnel_internal::Step::kWantRead ? POLLIN : POLLOUT, deadline,
                        ("the TLS handshake with " + endpoint).c_str()));
  }
  SSL_set_app_data(ssl.get(), nullptr);
  // The handshake cannot complete without the check having passed; said again so
  // that no configuration mistake ever yields a link to an unknown node.
  if (check.proved_node.empty()) return Status(Code::kUnauthenticated, "link to " + endpoint + ": no node was proved");
  return std::unique_ptr<TlsLink>(new TlsLink(std::move(socket),
                                              std::unique_ptr<ssl_st, TlsLink::SslFree>(ssl.release()),
                                              std::move(check.proved_node)));
}

Expected<std::unique_ptr<TlsLink>> DialLink(const NodeKey& self, const std::string& endpoint,
                                            const std::string& expected_node, std::chrono::milliseconds timeout) {
  MUMBA_ASSIGN_OR_RETURN(LinkDialer dialer, LinkDialer::Make(self));
  return dialer.Dial(endpoint, expected_node, timeout);
}

}  // namespace mumba
