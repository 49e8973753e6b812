// SPDX-License-Identifier: Apache-2.0
// One browser process and the DevTools-protocol wire to it.
//
// The browser is started with --remote-debugging-pipe: it reads commands from its
// fd 3 and writes answers and events to its fd 4, each a JSON text followed by a NUL
// byte. A CdpConnection owns the process, its pipe and one reader thread that
// matches answers to calls by id and hands events to subscribers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "mumba/status.h"
#include "shell/browser_process.h"

namespace mumba::shell {

inline constexpr std::chrono::milliseconds kDefaultCallTimeout{10'000};

class CdpConnection {
 public:
  // Receives every protocol event: its method ("Page.loadEventFired"), its params
  // (an object) and the session it belongs to ("" for the browser itself).
  using EventHandler = std::function<void(const std::string& method, const nlohmann::json& params,
                                          const std::string& session_id)>;

  // Spawns the browser described by `spec` (whose args must include
  // --remote-debugging-pipe) and starts reading from it. Does not wait for the
  // browser to answer; the first call may be sent at once. Errors are those of
  // SpawnBrowserProcess.
  static Expected<std::unique_ptr<CdpConnection>> Start(const BrowserProcessSpec& spec);

  // Takes over a process started by SpawnBrowserProcess, with its descriptors.
  explicit CdpConnection(BrowserProcess process);

  // Close()s.
  ~CdpConnection();
  CdpConnection(const CdpConnection&) = delete;
  CdpConnection& operator=(const CdpConnection&) = delete;

  // Sends one command and blocks until its answer, returning the answer's `result`
  // object. `session_id` addresses an attached target ("" is the browser itself).
  // Errors: the browser's own error object becomes a Status carrying its message
  // (UNIMPLEMENTED for an unknown method, INVALID_ARGUMENT for bad params, UNKNOWN
  // otherwise); DEADLINE_EXCEEDED when no answer comes within `timeout`;
  // UNAVAILABLE once the browser has exited or closed its pipe, which also ends
  // every call in flight at once. Thread-safe, except that an event handler must
  // not call it (the handler runs on the thread that would deliver the answer), so
  // such a call fails at once with FAILED_PRECONDITION.
  Expected<nlohmann::json> Call(const std::string& method,
                                nlohmann::json params = nlohmann::json::object(),
                                const std::string& session_id = "",
                                std::chrono::milliseconds timeout = kDefaultCallTimeout);

  // Registers `handler` for every event from now on and returns an id for
  // Unsubscribe. Handlers run one at a time on the reader thread, in the order
  // events arrive; they must be quick, must not block, and must not Call().
  // Thread-safe.
  int Subscribe(EventHandler handler);

  // Removes a handler. Once this returns the handler is not running and will not
  // run again, unless it is called from that handler itself. Unknown ids are
  // ignored. Thread-safe.
  void Unsubscribe(int subscription);

  // Ends the browser: asks it with Browser.close, waits up to `grace` for it to
  // exit, then sends SIGTERM and, two seconds later, SIGKILL to its whole process
  // group. Returns once the process is reaped and the reader thread has stopped.
  // Idempotent; thread-safe, but must not be called from an event handler.
  void Close(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // The browser's process id, which is also its process group id. It stays valid
  // (not reused) until Close() returns.
  pid_t pid() const { return pid_; }

  // True while the process runs and its pipe is open: calls may succeed.
  bool alive() const;

  // How the process ended ("exit code 0", "signal 9 (SIGKILL)"), or "" while it
  // runs.
  std::string exit_description() const;

 private:
  struct PendingCall {
    bool done = false;
    nlohmann::json answer;
    Status failure;
  };

  void ReadLoop();
  // Parses every complete NUL-terminated message at the front of `buffer`.
  void ConsumeMessages(std::string& buffer);
  void HandleMessage(std::string_view text);
  void DispatchEvent(const std::string& method, const nlohmann::json& params,
                     const std::string& session_id);
  // Fails every pending call and every later one with `why`. The first reason wins.
  void Disconnect(const Status& why);
  Status Send(const std::string& bytes, std::chrono::steady_clock::time_point deadline);
  bool WaitForExit(std::chrono::milliseconds timeout);

  const pid_t pid_;
  const int pidfd_;
  const int pipe_fd_;
  std::thread reader_;
  std::thread::id reader_id_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // Signalled when a call completes or the process exits.
  int64_t next_id_ = 1;
  std::map<int64_t, std::shared_ptr<PendingCall>> pending_;
  Status disconnected_;  // OK while calls may be sent.
  bool exited_ = false;
  std::string exit_description_;

  std::timed_mutex write_mu_;  // One message at a time on the wire.

  // Recursive so that a handler may Subscribe or Unsubscribe; held while handlers
  // run so that Unsubscribe can promise the handler is no longer running.
  std::recursive_mutex handlers_mu_;
  std::map<int, std::shared_ptr<EventHandler>> handlers_;
  int next_handler_id_ = 1;

  std::mutex close_mu_;
  bool closed_ = false;
};

}  // namespace mumba::shell
