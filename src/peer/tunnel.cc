// SPDX-License-Identifier: Apache-2.0
#include "peer/tunnel.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string>
#include <string_view>
#include <system_error>

#include "peer/tunnel_tls.h"
#include "platform/clock.h"

namespace mumba {
namespace {

// What one read asks for: more than any one message of a unary call, so that a
// read takes all that is there.
constexpr size_t kReadChunk = 64 * 1024;

// How long an ending tunnel keeps trying to pass on what it already read.
constexpr std::chrono::milliseconds kLinger{1000};

std::string ErrnoText(int err) { return std::generic_category().message(err); }

// Bytes read from one side that the other has not taken yet, oldest first.
class Outbox {
 public:
  bool empty() const { return head_ == bytes_.size(); }
  size_t size() const { return bytes_.size() - head_; }
  const char* data() const { return bytes_.data() + head_; }
  void Append(std::string_view more) { bytes_.append(more); }
  // Drops the first `n` bytes, which were written.
  void Consume(size_t n) {
    head_ += n;
    if (head_ == bytes_.size()) {
      // An idle tunnel does not keep the memory of its last burst.
      if (bytes_.capacity() > 2 * kReadChunk) {
        std::string().swap(bytes_);
      } else {
        bytes_.clear();
      }
      head_ = 0;
    } else if (head_ >= kReadChunk && head_ * 2 >= bytes_.size()) {
      bytes_.erase(0, head_);
      head_ = 0;
    }
  }

 private:
  std::string bytes_;
  size_t head_ = 0;
};

// The state of one tunnel, owned by its thread.
class Pump {
 public:
  // `ssl` and `remote` are `link`'s, which the Pump owns.
  Pump(std::unique_ptr<TlsLink> link, SSL* ssl, int remote, UniqueFd local, std::unique_ptr<TunnelFilter> filter,
       int stop)
      : link_(std::move(link)),
        local_(std::move(local)),
        filter_(std::move(filter)),
        stop_(stop),
        ssl_(ssl),
        remote_(remote),
        scratch_(new char[kReadChunk]) {}

  // Moves bytes until the tunnel ends, then closes both sides. Returns why it ended.
  Status Run() {
    Status why = Loop();
    if (why.code() != Code::kCancelled) Linger();
    if (link_sound_) {
      // Best effort: a close_notify tells the other host the end was deliberate.
      ERR_clear_error();
      (void)SSL_shutdown(ssl_);
      ERR_clear_error();
    }
    link_.reset();
    local_.Reset();
    return why;
  }

 private:
  bool CanReadRemote() const {
    return remote_open_ && remote_read_waits_ == 0 && to_local_.size() < kTunnelBufferBytes &&
           (filter_ == nullptr || to_remote_.size() < kTunnelBufferBytes);
  }
  bool CanReadLocal() const { return local_open_ && local_readable_ && to_remote_.size() < kTunnelBufferBytes; }
  bool CanFlushLocal() const { return !to_local_.empty() && local_writable_ && local_sound_; }
  bool CanFlushRemote() const { return !to_remote_.empty() && remote_write_waits_ == 0 && link_sound_; }

  Status Loop() {
    for (;;) {
      // Everything that can move without waiting, alternating sides, one read
      // each at a time.
      while (CanReadRemote() || CanReadLocal() || CanFlushLocal() || CanFlushRemote()) {
        if (CanReadRemote()) MUMBA_TRY(ReadRemote());
        if (CanReadLocal()) MUMBA_TRY(ReadLocal());
        if (CanFlushLocal()) MUMBA_TRY(FlushLocal());
        if (CanFlushRemote()) MUMBA_TRY(FlushRemote());
      }
      if (!local_open_) return Status::Ok();
      if (!remote_open_) return Status::Ok();

      pollfd fds[3] = {{stop_, POLLIN, 0}, {local_.get(), 0, 0}, {remote_, 0, 0}};
      if (local_open_ && !local_readable_ && to_remote_.size() < kTunnelBufferBytes) fds[1].events |= POLLIN;
      if (!to_local_.empty()) fds[1].events |= POLLOUT;
      if (remote_open_ && to_local_.size() < kTunnelBufferBytes) fds[2].events |= remote_read_waits_;
      if (!to_remote_.empty()) fds[2].events |= remote_write_waits_;
      IgnoreIdle(fds);
      int n = ::poll(fds, 3, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Internal("the tunnel cannot poll: " + ErrnoText(errno));
      }
      if (fds[0].revents != 0) return Status(Code::kCancelled, "the tunnel was stopped");
      Ready(fds[1].revents, fds[2].revents);
    }
  }

  // Leaves out of poll a side nothing is asked of (it waits for the other side):
  // poll reports a hang-up whatever is asked, so a side that hung up while the
  // pump holds back from it would otherwise wake the pump again and again.
  static void IgnoreIdle(pollfd* fds) {
    if (fds[1].events == 0) fds[1].fd = -1;
    if (fds[2].events == 0) fds[2].fd = -1;
  }

  // Marks what poll said is ready.
  void Ready(short local, short remote) {
    if ((local & (POLLIN | POLLHUP | POLLERR)) != 0) local_readable_ = true;
    if ((local & (POLLOUT | POLLHUP | POLLERR)) != 0) local_writable_ = true;
    if ((remote & (remote_read_waits_ | POLLHUP | POLLERR)) != 0) remote_read_waits_ = 0;
    if ((remote & (remote_write_waits_ | POLLHUP | POLLERR)) != 0) remote_write_waits_ = 0;
  }

  // Passes on bytes already read from one side toward the side that is still
  // open, for at most kLinger, unless Stop comes first.
  void Linger() {
    const auto deadline = Clock::Real().Now() + kLinger;
    for (;;) {
      if (CanFlushLocal() && !FlushLocal().ok()) return;
      if (CanFlushRemote() && !FlushRemote().ok()) return;
      bool local_left = !to_local_.empty() && local_sound_;
      bool remote_left = !to_remote_.empty() && link_sound_;
      if (!local_left && !remote_left) return;
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::Real().Now()).count();
      if (left <= 0) return;
      pollfd fds[3] = {{stop_, POLLIN, 0},
                       {local_.get(), static_cast<short>(local_left ? POLLOUT : 0), 0},
                       {remote_, static_cast<short>(remote_left ? remote_write_waits_ : 0), 0}};
      IgnoreIdle(fds);
      int n = ::poll(fds, 3, static_cast<int>(left));
      if (n < 0 && errno != EINTR) return;
      if (n > 0 && fds[0].revents != 0) return;
      if (n > 0) Ready(fds[1].revents, fds[2].revents);
    }
  }

  // One read from the link (OpenSSL reads all the socket holds, and hands out a
  // record at a time), passed on.
  Status ReadRemote() {
    ERR_clear_error();
    int n = SSL_read(ssl_, scratch_.get(), static_cast<int>(kReadChunk));
    if (n > 0) {
      // With nothing left in OpenSSL's buffer, another read would only find the
      // socket empty (or poll will say it is not): wait for poll instead.
      if (SSL_has_pending(ssl_) == 0) remote_read_waits_ = POLLIN;
      return FromRemote(std::string_view(scratch_.get(), static_cast<size_t>(n)));
    }
    switch (SSL_get_error(ssl_, n)) {
      case SSL_ERROR_WANT_READ: remote_read_waits_ = POLLIN; return Status::Ok();
      case SSL_ERROR_WANT_WRITE: remote_read_waits_ = POLLOUT; return Status::Ok();
      case SSL_ERROR_ZERO_RETURN: remote_open_ = false; return Status::Ok();
      default:
        remote_open_ = false;
        link_sound_ = false;
        return tunnel_internal::SslFailure(ssl_, n, "the link");
    }
  }

  // One read from the local side, passed on.
  Status ReadLocal() {
    ssize_t n = ::recv(local_.get(), scratch_.get(), kReadChunk, 0);
    if (n > 0) {
      // A stream socket gives less than asked only when it held no more: skip the
      // read that would say so.
      if (static_cast<size_t>(n) < kReadChunk) local_readable_ = false;
      return FromLocal(std::string_view(scratch_.get(), static_cast<size_t>(n)));
    }
    if (n == 0) {
      local_open_ = false;
      return Status::Ok();
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      local_readable_ = false;
      return Status::Ok();
    }
    if (errno == EINTR) return Status::Ok();
    local_open_ = false;
    local_sound_ = false;
    return Unavailable("the tunnel's local side: " + ErrnoText(errno));
  }

  Status FromRemote(std::string_view bytes) {
    if (filter_ == nullptr) return SendLocal(bytes);
    filtered_local_.clear();
    filtered_remote_.clear();
    Status verdict = filter_->FromRemote(bytes, &filtered_local_, &filtered_remote_);
    MUMBA_TRY(SendLocal(filtered_local_));
    MUMBA_TRY(SendRemote(filtered_remote_));
    return verdict;
  }

  Status FromLocal(std::string_view bytes) {
    if (filter_ == nullptr) return SendRemote(bytes);
    filtered_remote_.clear();
    Status verdict = filter_->FromLocal(bytes, &filtered_remote_);
    MUMBA_TRY(SendRemote(filtered_remote_));
    return verdict;
  }

  // Writes `bytes` to the local side after what waits for it; keeps what it does
  // not take now.
  Status SendLocal(std::string_view bytes) {
    if (bytes.empty()) return Status::Ok();
    if (to_local_.empty() && local_writable_ && local_sound_) {
      MUMBA_ASSIGN_OR_RETURN(size_t n, WriteLocal(bytes.data(), bytes.size()));
      bytes.remove_prefix(n);
    }
    to_local_.Append(bytes);
    return Status::Ok();
  }

  Status SendRemote(std::string_view bytes) {
    if (bytes.empty()) return Status::Ok();
    if (to_remote_.empty() && remote_write_waits_ == 0 && link_sound_) {
      MUMBA_ASSIGN_OR_RETURN(size_t n, WriteRemote(bytes.data(), bytes.size()));
      bytes.remove_prefix(n);
    }
    // After WANT_WRITE, OpenSSL wants the same bytes again: they are these, now at
    // the front of the outbox (it accepts a moved buffer).
    to_remote_.Append(bytes);
    return Status::Ok();
  }

  Status FlushLocal() {
    MUMBA_ASSIGN_OR_RETURN(size_t n, WriteLocal(to_local_.data(), to_local_.size()));
    to_local_.Consume(n);
    return Status::Ok();
  }

  Status FlushRemote() {
    MUMBA_ASSIGN_OR_RETURN(size_t n, WriteRemote(to_remote_.data(), to_remote_.size()));
    to_remote_.Consume(n);
    return Status::Ok();
  }

  // Writes what the local socket takes now; how much that was.
  Expected<size_t> WriteLocal(const char* data, size_t size) {
    ssize_t n = ::send(local_.get(), data, size, MSG_NOSIGNAL);
    if (n >= 0) {
      if (static_cast<size_t>(n) < size) local_writable_ = false;
      return static_cast<size_t>(n);
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      local_writable_ = false;
      return size_t{0};
    }
    local_open_ = false;
    local_sound_ = false;
    return Unavailable("the tunnel's local side: " + ErrnoText(errno));
  }

  // Writes what the link takes now, a record at a time; how much that was.
  Expected<size_t> WriteRemote(const char* data, size_t size) {
    size_t done = 0;
    while (done < size) {
      ERR_clear_error();
      int n = SSL_write(ssl_, data + done, static_cast<int>(std::min<size_t>(size - done, INT_MAX)));
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      switch (SSL_get_error(ssl_, n)) {
        case SSL_ERROR_WANT_WRITE: remote_write_waits_ = POLLOUT; return done;
        case SSL_ERROR_WANT_READ: remote_write_waits_ = POLLIN; return done;
        default:
          remote_open_ = false;
          link_sound_ = false;
          return tunnel_internal::SslFailure(ssl_, n, "the link");
      }
    }
    return done;
  }

  std::unique_ptr<TlsLink> link_;
  UniqueFd local_;
  std::unique_ptr<TunnelFilter> filter_;
  const int stop_;
  SSL* const ssl_;
  const int remote_;
  std::unique_ptr<char[]> scratch_;
  Outbox to_local_, to_remote_;
  std::string filtered_local_, filtered_remote_;  // The filter's output, reused.
  // What is known about each side without asking the kernel: a read or write is
  // tried only when it may succeed; poll tells when that changes. The link's SSL
  // may wait for the other direction (0: it need not wait).
  bool local_readable_ = true, local_writable_ = true;
  short remote_read_waits_ = 0, remote_write_waits_ = 0;
  // Whether each side may still send (no end of stream, no error), and whether it
  // may still be written to.
  bool local_open_ = true, remote_open_ = true;
  bool local_sound_ = true, link_sound_ = true;
};

}  // namespace

Expected<std::unique_ptr<Tunnel>> Tunnel::Start(std::unique_ptr<TlsLink> link, UniqueFd local,
                                                std::unique_ptr<TunnelFilter> filter,
                                                std::function<void(const Status&)> on_end) {
  if (!link || !local) return InvalidArgument("a tunnel needs a link and a local socket");
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return Internal("cannot make an eventfd: " + ErrnoText(errno));
  int flags = ::fcntl(local.get(), F_GETFL);
  if (flags < 0 || ::fcntl(local.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return Internal("cannot make the tunnel's local socket non-blocking: " + ErrnoText(errno));
  }
  SSL* ssl = link->ssl_.get();
  int remote = link->socket_.get();
  auto pump = std::make_unique<Pump>(std::move(link), ssl, remote, std::move(local), std::move(filter), stop.get());
  std::unique_ptr<Tunnel> tunnel(new Tunnel(std::move(stop)));
  try {
    tunnel->thread_ = std::thread([pump = std::move(pump), on_end = std::move(on_end)]() mutable {
      Status why = pump->Run();
      pump.reset();
      // OpenSSL's state for this thread (its error queue) goes now, not when the
      // thread exits: once on_end has destroyed the Tunnel the thread is detached,
      // and a process that ends meanwhile would leave it behind.
      OPENSSL_thread_stop();
      // Nothing of the Tunnel is touched from here: on_end may destroy it.
      on_end(why);
    });
  } catch (const std::system_error& e) {
    return Internal(std::string("cannot start the tunnel's thread: ") + e.what());
  }
  return tunnel;
}

Tunnel::~Tunnel() { Stop(); }

void Tunnel::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof(one));
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

}  // namespace mumba
