// SPDX-License-Identifier: Apache-2.0
// Internal to src/peer: the OpenSSL pieces that the links of byte tunnels
// (tunnel_link.h) are made of, shared by the dialing side, the listening side and
// the pump. Nothing outside src/peer includes this.
//
// Every link runs TLS 1.3 only, over a socket BIO of our own that sends with
// MSG_NOSIGNAL: a peer that resets its connection must not kill the host with
// SIGPIPE, whichever thread happens to be writing.
#pragma once

#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "mumba/status.h"
#include "peer/node_key.h"
#include "peer/openssl_owners.h"
#include "platform/clock.h"

namespace mumba::tunnel_internal {

using peer_internal::Ssl;
using peer_internal::SslCtx;

// What the certificate check of one handshake expects and finds. The SSL points
// at it (its app data) while the handshake runs, so it must outlive that.
struct PeerCheck {
  // The node the peer must prove; empty: any node.
  std::string expected_node;
  // The node it proved; empty until its certificate passed.
  std::string proved_node;
  // Why its certificate was refused, when it was.
  Status refusal;
};

// A context for one side of links: TLS 1.3 only, presenting `self`'s link
// certificate, requiring the peer's and checking it as CheckLinkCertificate does
// (and against PeerCheck::expected_node), no session tickets, caching or
// resumption, read-ahead into a large buffer. INTERNAL only if OpenSSL fails.
Expected<SslCtx> MakeLinkContext(const NodeKey& self, bool server);

// A connection of `ctx` on the connected, non-blocking socket `fd` (borrowed: the
// caller keeps it open as long as the SSL lives), checked against `*check`.
// INTERNAL only if OpenSSL fails.
Expected<Ssl> NewLinkSsl(SSL_CTX* ctx, int fd, bool server, PeerCheck* check);

// One step of a non-blocking handshake, on any result of SSL_do_handshake.
enum class Step { kDone, kWantRead, kWantWrite, kFailed };
Step HandshakeStep(SSL* ssl);

// Why a failed handshake failed: the certificate check's refusal (UNAUTHENTICATED)
// when there was one, else UNAVAILABLE with OpenSSL's reason (e.g. a peer that
// offered only TLS 1.2, or closed the connection).
Status HandshakeFailure(const PeerCheck& check);

// Waits until `fd` is ready for `events` (POLLIN, POLLOUT). DEADLINE_EXCEEDED when
// `deadline` passes first; UNAVAILABLE when poll fails.
Status WaitReady(int fd, short events, Clock::time_point deadline, const char* what);

// OpenSSL's queued errors as one line, and the queue emptied.
std::string TakeSslErrors();

// A socket address parsed from an endpoint.
struct Endpoint {
  sockaddr_storage address{};
  socklen_t size = 0;
  int family = 0;
};

// The address of `endpoint`: "IP:PORT" or "[IPv6]:PORT", numeric only, port
// 0-65535. INVALID_ARGUMENT, saying what is wrong, for anything else.
Expected<Endpoint> ParseEndpoint(const std::string& endpoint);

// Why an SSL_read, SSL_write or SSL_shutdown that returned `result` failed, for an
// error other than WANT_READ/WANT_WRITE: UNAVAILABLE saying "the peer closed the
// link" (a close_notify or the connection's end), the errno, or OpenSSL's reason.
Status SslFailure(SSL* ssl, int result, const char* what);

// Makes `fd` a TCP socket that sends small writes at once (TCP_NODELAY).
void SetNoDelay(int fd);

}  // namespace mumba::tunnel_internal
