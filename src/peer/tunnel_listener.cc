// SPDX-License-Identifier: Apache-2.0
#include "peer/tunnel_listener.h"

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <system_error>
#include <vector>

#include "peer/tunnel_tls.h"
#include "platform/clock.h"

namespace mumba {
namespace {

using tunnel_internal::PeerCheck;
using tunnel_internal::Step;

// How long accepting pauses when the process or the system is out of descriptors
// or memory, instead of polling a listening socket that stays readable.
constexpr std::chrono::milliseconds kAcceptPause{100};

// One accepted connection whose handshake is under way. The SSL goes before the
// check it points at and the socket its BIO borrows (members end in reverse).
struct Handshake {
  UniqueFd socket;
  std::unique_ptr<PeerCheck> check;
  tunnel_internal::Ssl ssl;
  Clock::time_point deadline;
  short wants = POLLIN;
  bool handshaken = false;
  std::string message;      // The first message as far as it came, length first.
  size_t message_size = 0;  // Its length, once known.
};

std::string ErrnoText(int err) { return std::generic_category().message(err); }

}  // namespace

struct LinkListener::Context {
  tunnel_internal::SslCtx ctx;
};

LinkListener::LinkListener(UniqueFd socket, int port, UniqueFd stop, LinkListenerOptions options)
    : socket_(std::move(socket)), port_(port), stop_(std::move(stop)), options_(options) {}

LinkListener::~LinkListener() { Stop(); }

Expected<std::unique_ptr<LinkListener>> LinkListener::Listen(const NodeKey& self, const std::string& endpoint,
                                                             LinkListenerOptions options) {
  MUMBA_ASSIGN_OR_RETURN(tunnel_internal::Endpoint address, tunnel_internal::ParseEndpoint(endpoint));
  UniqueFd socket(::socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket) return Unavailable("cannot make a socket: " + ErrnoText(errno));
  int one = 1;
  (void)::setsockopt(socket.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(socket.get(), reinterpret_cast<sockaddr*>(&address.address), address.size) != 0 ||
      ::listen(socket.get(), SOMAXCONN) != 0) {
    return Unavailable("cannot listen on " + endpoint + ": " + ErrnoText(errno));
  }
  sockaddr_storage bound{};
  socklen_t size = sizeof(bound);
  if (::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&bound), &size) != 0) {
    return Unavailable("cannot read the address listened on: " + ErrnoText(errno));
  }
  int port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return Internal("cannot make an eventfd: " + ErrnoText(errno));
  MUMBA_ASSIGN_OR_RETURN(auto ctx, tunnel_internal::MakeLinkContext(self, /*server=*/true));
  std::unique_ptr<LinkListener> listener(new LinkListener(std::move(socket), port, std::move(stop), options));
  listener->context_ = std::make_unique<Context>(Context{std::move(ctx)});
  return listener;
}

Status LinkListener::Serve(OnLink on_link) {
  if (stopped_ || thread_.joinable()) return FailedPrecondition("the link listener is already serving or stopped");
  try {
    thread_ = std::thread([this, on_link = std::move(on_link)] { ServeLoop(on_link); });
  } catch (const std::system_error& e) {
    return Internal(std::string("cannot start the link listener's thread: ") + e.what());
  }
  return Status::Ok();
}

void LinkListener::Stop() {
  if (stopped_) return;
  stopped_ = true;
  uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  socket_.Reset();
}

void LinkListener::ServeLoop(const OnLink& on_link) {
  std::vector<std::unique_ptr<Handshake>> pending;
  std::vector<pollfd> fds;
  Clock::time_point accept_paused_until{};
  const auto max_handshakes = static_cast<size_t>(std::max(1, options_.max_handshakes));

  // Runs `h`'s handshake, then the read of its first message, as far as they go
  // without waiting. True while under way; false once it ended (handed to
  // on_link, or refused).
  auto advance = [&](Handshake& h) {
    if (!h.handshaken) {
      switch (tunnel_internal::HandshakeStep(h.ssl.get())) {
        case Step::kWantRead: h.wants = POLLIN; return true;
        case Step::kWantWrite: h.wants = POLLOUT; return true;
        case Step::kFailed: tunnel_internal::TakeSslErrors(); return false;
        case Step::kDone: break;
      }
      SSL_set_app_data(h.ssl.get(), nullptr);
      // The handshake cannot finish unless the check passed; said again so that
      // no configuration mistake ever hands out a link to an unknown node.
      if (h.check->proved_node.empty()) return false;
      h.handshaken = true;
    }
    // The first message: its 4-byte length, then exactly that many bytes, so that
    // whatever follows stays in OpenSSL's buffer for the link's next reader.
    for (;;) {
      size_t want = h.message.size() < 4 ? 4 : 4 + h.message_size;
      if (h.message.size() == want) break;
      char buffer[4096];
      ERR_clear_error();
      int n = SSL_read(h.ssl.get(), buffer, static_cast<int>(std::min(sizeof(buffer), want - h.message.size())));
      if (n <= 0) {
        switch (SSL_get_error(h.ssl.get(), n)) {
          case SSL_ERROR_WANT_READ: h.wants = POLLIN; return true;
          case SSL_ERROR_WANT_WRITE: h.wants = POLLOUT; return true;
          default: tunnel_internal::TakeSslErrors(); return false;
        }
      }
      h.message.append(buffer, static_cast<size_t>(n));
      if (h.message.size() == 4) {
        auto* p = reinterpret_cast<const unsigned char*>(h.message.data());
        h.message_size = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
        if (h.message_size > options_.max_first_message_bytes) return false;
      }
    }
    on_link(std::unique_ptr<TlsLink>(new TlsLink(std::move(h.socket),
                                                 std::unique_ptr<ssl_st, TlsLink::SslFree>(h.ssl.release()),
                                                 std::move(h.check->proved_node))),
            h.message.substr(4));
    return false;
  };

  for (;;) {
    auto now = Clock::Real().Now();
    bool accepting = pending.size() < max_handshakes && now >= accept_paused_until;
    fds.clear();
    fds.push_back({stop_.get(), POLLIN, 0});
    fds.push_back({accepting ? socket_.get() : -1, POLLIN, 0});
    Clock::time_point wake = accepting ? Clock::time_point::max() : accept_paused_until;
    for (auto& h : pending) {
      fds.push_back({h->socket.get(), h->wants, 0});
      wake = std::min(wake, h->deadline);
    }
    int timeout = -1;
    if (wake != Clock::time_point::max()) {
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      timeout = static_cast<int>(std::clamp<long long>(ms, 0, INT_MAX));
    }
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) {
      // Nothing here makes poll fail but a lack of memory: wait a little for it.
      Clock::Real().SleepFor(kAcceptPause);
      continue;
    }
    if (n > 0 && fds[0].revents != 0) return;
    now = Clock::Real().Now();

    // The handshakes in flight: step the ready ones, end the finished and the late.
    std::vector<std::unique_ptr<Handshake>> still;
    still.reserve(pending.size());
    for (size_t i = 0; i < pending.size(); ++i) {
      Handshake& h = *pending[i];
      bool going = n > 0 && fds[i + 2].revents != 0 ? advance(h) : true;
      if (going && now < h.deadline) still.push_back(std::move(pending[i]));
    }
    pending = std::move(still);

    if (!accepting || n <= 0 || fds[1].revents == 0) continue;
    while (pending.size() < max_handshakes) {
      UniqueFd socket(::accept4(socket_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!socket) {
        // EAGAIN: none left. ECONNABORTED: that client is gone already. Anything
        // else (out of descriptors or memory) pauses accepting for a while.
        if (errno == ECONNABORTED || errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) accept_paused_until = now + kAcceptPause;
        break;
      }
      tunnel_internal::SetNoDelay(socket.get());
      auto h = std::make_unique<Handshake>();
      h->socket = std::move(socket);
      h->check = std::make_unique<PeerCheck>();
      h->deadline = now + options_.handshake_timeout;
      auto ssl = tunnel_internal::NewLinkSsl(context_->ctx.get(), h->socket.get(), /*server=*/true, h->check.get());
      if (!ssl.ok()) continue;
      h->ssl = std::move(ssl).value();
      // The client's first flight is often here already.
      if (advance(*h)) pending.push_back(std::move(h));
    }
  }
}

}  // namespace mumba
