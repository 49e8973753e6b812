// SPDX-License-Identifier: Apache-2.0
// The links that byte tunnels (peer/tunnel.h) run over: one TLS 1.3 connection
// between two hosts, on OpenSSL directly (no gRPC), in which each side presents
// its link certificate (link_certificate.h) and proves the node key in it. A link
// carries a few length-prefixed messages first (which app is called, and the
// answer), then the tunnel's bytes.
//
// The certificate rules are CheckLinkCertificate's (peer/link_certificate.h): one
// self-signed ed25519 leaf and nothing else in the chain. TLS 1.2 and below are
// refused, as are session tickets and resumption: each link is a full handshake
// in which both keys are proved again. Links listen and dial
// with LinkListener (peer/tunnel_listener.h) and DialLink.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "mumba/status.h"
#include "peer/node_key.h"
#include "platform/clock.h"
#include "platform/unique_fd.h"

struct ssl_st;
struct ssl_ctx_st;

namespace mumba {

class Tunnel;
class LinkListener;
class LinkDialer;

// The largest message WriteMessage sends (and so the most a sensible ReadMessage
// asks for): a message names an app or answers, it carries no payload.
inline constexpr size_t kMaxLinkMessageBytes = 64 * 1024;

// One TLS 1.3 connection to another host whose node the handshake proved. Made by
// DialLink and LinkListener; handed to a Tunnel (Tunnel::Start) once the messages
// before it are exchanged. Not thread-safe: one thread at a time uses it.
// Destroying it closes the connection (without a TLS close_notify: a tunnel that
// ends sends one).
class TlsLink {
 public:
  ~TlsLink();
  TlsLink(const TlsLink&) = delete;
  TlsLink& operator=(const TlsLink&) = delete;

  // The node id (node_key.h) whose key the other side proved in the handshake.
  const std::string& peer_node() const { return peer_node_; }

  // The other side's IP address as text ("192.0.2.1", "2001:db8::1"; an
  // IPv4-mapped IPv6 address as the IPv4 one), or "" when the socket cannot say.
  std::string peer_address() const;

  // Sends `message` as one length-prefixed message (4 bytes, big-endian, then the
  // bytes), waiting at most until `deadline`. OK once it is handed to the kernel.
  // INVALID_ARGUMENT when it is longer than kMaxLinkMessageBytes (nothing is
  // sent), DEADLINE_EXCEEDED when the peer does not take it in time, UNAVAILABLE
  // when the connection fails or the peer closed it. After an error the link is
  // only good for closing.
  Status WriteMessage(std::string_view message, Clock::time_point deadline);

  // Reads one message WriteMessage sent, waiting at most until `deadline`.
  // RESOURCE_EXHAUSTED when the peer announces more than `max_bytes` (no more of
  // it is read), DEADLINE_EXCEEDED when it does not come in time, UNAVAILABLE when
  // the connection fails or the peer closed it (also how a client learns that the
  // server refused its certificate: TLS 1.3 tells it after the client's side of
  // the handshake is done). After an error the link is only good for closing.
  Expected<std::string> ReadMessage(size_t max_bytes, Clock::time_point deadline);

 private:
  friend class Tunnel;
  friend class LinkListener;
  friend class LinkDialer;
  struct SslFree {
    void operator()(ssl_st* ssl) const;
  };

  TlsLink(UniqueFd socket, std::unique_ptr<ssl_st, SslFree> ssl, std::string peer_node);

  // Writes or reads exactly `size` bytes, waiting at most until `deadline`.
  Status WriteAll(const char* data, size_t size, Clock::time_point deadline);
  Status ReadAll(char* data, size_t size, Clock::time_point deadline);

  UniqueFd socket_;  // Non-blocking TCP; the SSL reads and writes it.
  std::unique_ptr<ssl_st, SslFree> ssl_;
  std::string peer_node_;
};

// The dialing side of links for one node: its TLS context with its link
// certificate, made once (some 0.7 ms of OpenSSL work that every dial would
// otherwise repeat). Copyable; Dial may run on any threads at once.
class LinkDialer {
 public:
  // INTERNAL only if OpenSSL fails.
  static Expected<LinkDialer> Make(const NodeKey& self);

  // As DialLink(self, endpoint, expected_node, timeout), for the node this
  // dialer was made for.
  Expected<std::unique_ptr<TlsLink>> Dial(const std::string& endpoint, const std::string& expected_node,
                                          std::chrono::milliseconds timeout) const;

 private:
  explicit LinkDialer(std::shared_ptr<ssl_ctx_st> ctx) : ctx_(std::move(ctx)) {}
  std::shared_ptr<ssl_ctx_st> ctx_;
};

// Opens a link to the host at `endpoint` ("IP:PORT", or "[IPv6]:PORT"; no names
// are resolved), presenting `self`'s link certificate, within `timeout` for the
// connection and the whole handshake.
//
// `expected_node` is the node id the host was looked up under; the link is refused
// with UNAUTHENTICATED, in the handshake, when the server proves another key (a
// man in the middle, or another node at that address). Empty: any node is taken,
// for learning which one is there (peer_node() tells); keep talking to it over
// links that expect that id.
//
// Also UNAUTHENTICATED when the server's certificate is not a link certificate;
// INVALID_ARGUMENT for a malformed endpoint or expected id; UNAVAILABLE when the
// connection or the handshake fails (refused, reset, not TLS 1.3...);
// DEADLINE_EXCEEDED when `timeout` passes first. INTERNAL only if OpenSSL fails.
// Any thread; it blocks. The server checks the client's certificate after the
// client's side of the handshake is done (TLS 1.3), so a server that refuses it
// shows as the link's first read failing. A host that dials often keeps a
// LinkDialer instead, which makes its TLS context once.
Expected<std::unique_ptr<TlsLink>> DialLink(const NodeKey& self, const std::string& endpoint,
                                            const std::string& expected_node, std::chrono::milliseconds timeout);

}  // namespace mumba
