// SPDX-License-Identifier: Apache-2.0
// The supervisor: keeps app daemons running.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mumba/status.h"
#include "platform/clock.h"
#include "platform/process_launcher.h"
#include "supervisor/health_probe.h"
#include "supervisor/restart_policy.h"

namespace mumba {

enum class DaemonState { kStopped, kStarting, kRunning, kBackoff, kStopping, kFailed };
const char* DaemonStateName(DaemonState state);

// Everything needed to run one app's daemon.
struct DaemonSpec {
  std::string id;  // The app's address; the supervisor's key.
  std::string name;
  std::filesystem::path executable;
  std::vector<std::string> args;
  std::filesystem::path working_dir;
  std::filesystem::path socket;  // Where the daemon must serve gRPC.
  // When set, the socket is moved here as soon as it appears, and checked there
  // before the first question: only a socket (not a link) is accepted, and the
  // health check and everyone else then use this path. A daemon makes its socket
  // in a folder it can write, so it could put a link there later, to another app's
  // socket, and have the host call that app in its name; a folder it cannot reach
  // closes that door.
  std::filesystem::path claimed_socket;
  std::filesystem::path log_file;
  // The daemon's whole environment: nothing of the host's own is added to it.
  std::map<std::string, std::string> env;
  // Bytes the daemon reads on these descriptors (LaunchSpec::fd_contents).
  std::map<int, std::string> fd_contents;
  // How many wrapper processes (a sandbox's) stand between `executable` and the
  // daemon itself: a stop's SIGTERM goes to the daemon, since a wrapper would die of
  // it at once and take the daemon down without its grace. SIGKILL goes to the
  // whole process group.
  int wrapper_depth = 0;
  bool landlock_scope = false;  // LaunchSpec::landlock_scope.
};

struct DaemonStatus {
  DaemonState state = DaemonState::kStopped;
  int pid = 0;
  int restarts = 0;
  std::string last_exit;  // "exit code 1", "signal 9 (SIGKILL)"; empty if none yet.
  int64_t started_at_ms = 0;
  std::string error;      // Why it is failed.
};

struct SupervisorOptions {
  RestartPolicyOptions restart;
  std::chrono::milliseconds ready_timeout{15'000};
  std::chrono::milliseconds stop_grace{5'000};
  uint64_t log_max_bytes = 4u << 20;  // Rotate a daemon's log past this size...
  int log_keep = 2;                   // ...keeping this many older files.
};

// What the supervisor runs on. The defaults are the real machine's; a test puts a
// fake clock, a fake launcher or a fake probe here. Borrowed: each must outlive the
// supervisor.
struct SupervisorDependencies {
  const Clock* clock = &Clock::Real();                 // Every timer and wait reads it.
  ProcessLauncher* launcher = &ProcessLauncher::System();  // Starts, signals, reaps daemons.
  HealthProbe* probe = &HealthProbe::Grpc();           // Tells when a daemon is SERVING.
};

// Thread-safe: every method may be called from any thread. The blocking ones
// (Start, Stop, StopAll) must not be called from a supervisor callback.
class Supervisor {
 public:
  virtual ~Supervisor() = default;

  // Starts the supervisor's thread (an epoll loop reading `deps.clock`). Processes
  // it spawns get SIGTERM if the host dies. Never fails.
  static std::unique_ptr<Supervisor> Create(SupervisorOptions options = {},
                                            SupervisorDependencies deps = {});

  // Runs the daemon described by `spec` and blocks until its health service says
  // SERVING. OK at once if it already runs. On error (the command cannot run, the
  // daemon exits or does not become ready in time) the state is kFailed and the
  // Status says why, with the daemon's last line of output when there is one.
  virtual Status Start(const DaemonSpec& spec) = 0;

  // Stops the daemon: SIGTERM to its process group, SIGKILL after the grace
  // period. Blocks until it has exited. OK if it was not running.
  virtual Status Stop(const std::string& id) = 0;

  // A snapshot of the daemon's state; kStopped for unknown ids.
  virtual DaemonStatus Get(const std::string& id) const = 0;

  // Stops every daemon in parallel and then the supervisor's thread.
  virtual void StopAll() = 0;
};

}  // namespace mumba
