// SPDX-License-Identifier: Apache-2.0
#include "shell/cdp_connection.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "shell/json_fields.h"

namespace mumba::shell {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Maps a DevTools error object ({"code": -32601, "message": "..."}) onto a Status.
// The codes are JSON-RPC's; Chromium uses -32000 for every other failure, which
// says nothing more specific than UNKNOWN.
Status CdpError(const std::string& method, const json& error) {
  std::string message = StringField(error, "message");
  if (message.empty()) message = "unknown DevTools error";
  std::string data = StringField(error, "data");
  if (!data.empty()) message += " (" + data + ")";
  auto code_it = error.find("code");
  int64_t code =
      code_it != error.end() && code_it->is_number_integer() ? code_it->get<int64_t>() : 0;
  Code mapped = Code::kUnknown;
  if (code == -32601) {
    mapped = Code::kUnimplemented;
  } else if (code == -32600 || code == -32602) {
    mapped = Code::kInvalidArgument;
  }
  return Status(mapped, method + ": " + message);
}

}  // namespace

Expected<std::unique_ptr<CdpConnection>> CdpConnection::Start(const BrowserProcessSpec& spec) {
  MUMBA_ASSIGN_OR_RETURN(BrowserProcess process, SpawnBrowserProcess(spec));
  return std::make_unique<CdpConnection>(process);
}

CdpConnection::CdpConnection(BrowserProcess process)
    : pid_(process.pid), pidfd_(process.pidfd), pipe_fd_(process.pipe_fd) {
  reader_ = std::thread([this] { ReadLoop(); });
  reader_id_ = reader_.get_id();
}

CdpConnection::~CdpConnection() {
  Close();
  // Closed only here, never in Close(): another thread may still be inside Send().
  ::close(pipe_fd_);
  ::close(pidfd_);
}

bool CdpConnection::alive() const {
  std::lock_guard lock(mu_);
  return disconnected_.ok();
}

std::string CdpConnection::exit_description() const {
  std::lock_guard lock(mu_);
  return exit_description_;
}

Expected<json> CdpConnection::Call(const std::string& method, json params,
                                   const std::string& session_id,
                                   std::chrono::milliseconds timeout) {
  if (std::this_thread::get_id() == reader_id_) {
    return FailedPrecondition(method + ": a DevTools call from an event handler would deadlock");
  }
  const auto deadline = Clock::now() + timeout;
  auto pending = std::make_shared<PendingCall>();
  int64_t id;
  {
    std::lock_guard lock(mu_);
    if (!disconnected_.ok()) return disconnected_.WithContext(method);
    id = next_id_++;
    pending_[id] = pending;
  }
  json message = {{"id", id},
                  {"method", method},
                  {"params", params.is_null() ? json::object() : std::move(params)}};
  if (!session_id.empty()) message["sessionId"] = session_id;
  std::string bytes = message.dump(-1, ' ', false, json::error_handler_t::replace);
  bytes.push_back('\0');

  Status sent = Send(bytes, deadline);
  std::unique_lock lock(mu_);
  if (!sent.ok()) {
    pending_.erase(id);
    if (sent.code() == Code::kUnavailable) {
      // A write fails the moment the browser dies; the reader learns how it died
      // a moment later, and that is the more useful answer.
      cv_.wait_until(lock, std::min(deadline, Clock::now() + 250ms),
                     [&] { return !disconnected_.ok(); });
      if (!disconnected_.ok()) return disconnected_.WithContext(method);
    }
    return sent.WithContext(method);
  }
  if (!cv_.wait_until(lock, deadline, [&] { return pending->done; })) {
    pending_.erase(id);
    return DeadlineExceeded(method + ": no answer from the browser within " +
                            std::to_string(timeout.count()) + " ms");
  }
  if (!pending->failure.ok()) return pending->failure.WithContext(method);
  const json& answer = pending->answer;
  if (auto error = answer.find("error"); error != answer.end()) return CdpError(method, *error);
  auto result = answer.find("result");
  return result != answer.end() ? *result : json::object();
}

Status CdpConnection::Send(const std::string& bytes, Clock::time_point deadline) {
  std::unique_lock lock(write_mu_, deadline);
  if (!lock.owns_lock()) return DeadlineExceeded("other commands are still being written");
  size_t offset = 0;
  while (offset < bytes.size()) {
    ssize_t n =
        ::send(pipe_fd_, bytes.data() + offset, bytes.size() - offset, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      offset += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Unavailable(std::string("cannot write to the browser: ") + std::strerror(errno));
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) {
      // Half a message on the wire would garble every later one.
      if (offset > 0)
        Disconnect(Unavailable("a command was cut off half-written; the pipe is unusable"));
      return DeadlineExceeded("the browser is not reading commands");
    }
    pollfd writable{pipe_fd_, POLLOUT, 0};
    ::poll(&writable, 1, static_cast<int>(left.count()));
  }
  return Status::Ok();
}

int CdpConnection::Subscribe(EventHandler handler) {
  std::lock_guard lock(handlers_mu_);
  int id = next_handler_id_++;
  handlers_[id] = std::make_shared<EventHandler>(std::move(handler));
  return id;
}

void CdpConnection::Unsubscribe(int subscription) {
  std::lock_guard lock(handlers_mu_);
  handlers_.erase(subscription);
}

void CdpConnection::ReadLoop() {
  std::string buffer;
  std::vector<char> chunk(64 * 1024);
  bool pipe_open = true;
  // Reads everything available now. False once the pipe is closed for good.
  auto drain = [&]() -> bool {
    for (;;) {
      ssize_t n = ::read(pipe_fd_, chunk.data(), chunk.size());
      if (n > 0) {
        size_t scanned = buffer.size();
        buffer.append(chunk.data(), static_cast<size_t>(n));
        size_t start = 0;
        for (size_t end = buffer.find('\0', scanned); end != std::string::npos;
             end = buffer.find('\0', start)) {
          HandleMessage(std::string_view(buffer).substr(start, end - start));
          start = end + 1;
        }
        buffer.erase(0, start);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  };

  for (;;) {
    pollfd fds[2] = {{pipe_open ? pipe_fd_ : -1, POLLIN, 0}, {pidfd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      // Without poll the pipe cannot be read: end the browser rather than hang callers.
      Disconnect(Internal(std::string("poll: ") + std::strerror(errno)));
      break;
    }
    if (fds[1].revents != 0) {
      // Exited: take in whatever it wrote before it went.
      if (pipe_open) drain();
      break;
    }
    if (fds[0].revents != 0 && !drain()) {
      pipe_open = false;
      // A dying process closes its descriptors before its pidfd turns readable.
      // Waiting a moment lets callers learn that it exited, and how, rather than
      // only that the pipe closed.
      pollfd exited{pidfd_, POLLIN, 0};
      if (::poll(&exited, 1, 200) > 0) break;
      Disconnect(Unavailable("the browser closed its DevTools pipe"));
    }
  }
  // The browser's helpers (renderers, zygote) share its group; none should outlive it.
  SignalProcessGroup(pid_, SIGKILL);
  std::string how = ReapExitedProcess(pid_);
  Disconnect(Unavailable("the browser exited (" + how + ")"));
  {
    std::lock_guard lock(mu_);
    exited_ = true;
    exit_description_ = how;
  }
  cv_.notify_all();
}

void CdpConnection::HandleMessage(std::string_view text) {
  json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded() || !message.is_object()) {
    spdlog::warn("browser pid {}: ignoring a DevTools message that is not a JSON object", pid_);
    return;
  }
  if (auto id = message.find("id"); id != message.end() && id->is_number_integer()) {
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(id->get<int64_t>());
      if (it == pending_.end()) return;  // Its caller gave up waiting.
      it->second->answer = std::move(message);
      it->second->done = true;
      pending_.erase(it);
    }
    cv_.notify_all();
    return;
  }
  std::string method = StringField(message, "method");
  if (method.empty()) return;
  auto params = message.find("params");
  static const json kNoParams = json::object();
  DispatchEvent(method, params != message.end() ? *params : kNoParams,
                StringField(message, "sessionId"));
}

void CdpConnection::DispatchEvent(const std::string& method, const json& params,
                                  const std::string& session_id) {
  std::lock_guard lock(handlers_mu_);
  std::vector<int> ids;
  for (const auto& entry : handlers_) ids.push_back(entry.first);
  for (int id : ids) {
    // Looked up again: an earlier handler may have removed this one.
    auto it = handlers_.find(id);
    if (it == handlers_.end()) continue;
    std::shared_ptr<EventHandler> handler = it->second;
    try {
      (*handler)(method, params, session_id);
    } catch (const std::exception& e) {
      spdlog::error("DevTools event handler for {} threw: {}", method, e.what());
    }
  }
}

void CdpConnection::Disconnect(const Status& why) {
  {
    std::lock_guard lock(mu_);
    if (disconnected_.ok()) disconnected_ = why;
    for (auto& [id, pending] : pending_) {
      pending->failure = disconnected_;
      pending->done = true;
    }
    pending_.clear();
  }
  cv_.notify_all();
}

bool CdpConnection::WaitForExit(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return exited_; });
}

void CdpConnection::Close(std::chrono::milliseconds grace) {
  if (std::this_thread::get_id() == reader_id_) {
    spdlog::error("browser pid {}: Close() from a DevTools event handler is ignored", pid_);
    return;
  }
  std::lock_guard lock(close_mu_);
  if (closed_) return;
  if (alive()) {
    // The browser may exit before it answers; either way it was asked.
    (void)Call("Browser.close", json::object(), "", std::min<std::chrono::milliseconds>(grace, 2s));
  }
  if (!WaitForExit(grace)) {
    spdlog::warn("browser pid {} still runs {} ms after Browser.close; sending SIGTERM", pid_,
                 grace.count());
    SignalProcessGroup(pid_, SIGTERM);
    if (!WaitForExit(2s)) {
      spdlog::warn("browser pid {} ignores SIGTERM; sending SIGKILL", pid_);
      SignalProcessGroup(pid_, SIGKILL);
    }
  }
  // The reader returns once it has reaped the process.
  reader_.join();
  closed_ = true;
}

}  // namespace mumba::shell
