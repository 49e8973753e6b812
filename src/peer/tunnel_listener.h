// SPDX-License-Identifier: Apache-2.0
// LinkListener: the listening side of tunnel links (peer/tunnel_link.h). It
// accepts TCP connections and runs their TLS handshakes, and the read of each
// link's first message (which app is called), on one thread, all at once and
// non-blocking, each within a bounded time and with a bounded number in flight,
// so that a slow or hostile client holds up nobody else for long. Only a
// connection whose handshake proved a node key and whose first message came
// whole reaches the caller: garbage, plaintext, TLS 1.2, no certificate,
// certificates that are not link certificates, silence and an oversize first
// message all end here.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "mumba/status.h"
#include "peer/node_key.h"
#include "peer/tunnel_link.h"
#include "platform/unique_fd.h"

namespace mumba {

struct LinkListenerOptions {
  // How long a connection may take from being accepted to a finished handshake
  // and a whole first message before it is closed.
  std::chrono::milliseconds handshake_timeout{5000};
  // The longest first message taken; a longer one closes the connection.
  size_t max_first_message_bytes = 4096;
  // How many handshakes may be in flight at once. Past it, new connections wait
  // in the kernel's backlog until one ends (at most handshake_timeout later).
  int max_handshakes = 64;
};

// Thread-compatible: Serve and Stop from one thread at a time.
class LinkListener {
 public:
  // Listens on `endpoint` ("IP:PORT" or "[IPv6]:PORT"; port 0 picks a free port,
  // see port()) as the node `self`. INVALID_ARGUMENT for a malformed endpoint,
  // UNAVAILABLE when the address cannot be bound (in use, not local), INTERNAL if
  // OpenSSL fails. Nothing is accepted before Serve.
  static Expected<std::unique_ptr<LinkListener>> Listen(const NodeKey& self, const std::string& endpoint,
                                                        LinkListenerOptions options = {});

  // Stops (see Stop).
  ~LinkListener();
  LinkListener(const LinkListener&) = delete;
  LinkListener& operator=(const LinkListener&) = delete;

  // The port listened on.
  int port() const { return port_; }

  // What Serve hands each link to: the link, with the node it proved
  // (peer_node()), and the first message its client sent (TlsLink::WriteMessage),
  // already read.
  using OnLink = std::function<void(std::unique_ptr<TlsLink> link, std::string first_message)>;

  // Starts the serving thread, which accepts connections and hands each whose
  // handshake succeeded and whose first message came to `on_link`. `on_link` runs
  // on that thread, so other handshakes wait while it runs: it may answer with a
  // short WriteMessage (the kernel takes it at once) but must not wait for the
  // peer; it must not call Stop or destroy the listener. OK once serving;
  // FAILED_PRECONDITION when already serving or stopped, INTERNAL when the
  // thread cannot start.
  Status Serve(OnLink on_link);

  // Stops accepting, closes the listening socket and the handshakes in flight,
  // and joins the serving thread. Links already handed out are not touched.
  // Idempotent.
  void Stop();

 private:
  LinkListener(UniqueFd socket, int port, UniqueFd stop, LinkListenerOptions options);

  // The serving thread: accepts and handshakes until the stop event.
  void ServeLoop(const OnLink& on_link);

  UniqueFd socket_;
  int port_ = 0;
  UniqueFd stop_;  // An eventfd; readable once Stop was called.
  LinkListenerOptions options_;
  struct Context;
  std::unique_ptr<Context> context_;  // The TLS context of every accepted link.
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace mumba
