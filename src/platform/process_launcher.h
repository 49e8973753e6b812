// SPDX-License-Identifier: Apache-2.0
// The one process launcher: every process Mumba starts (app daemons, Chromium, the
// host started by the CLI, the build tools of `mumba build`) is started here, with
// the same hygiene, so that what a child can inherit is decided in one place — and
// the app sandbox has one place to go.
//
// Every child:
//   - gets exactly the descriptors the spec maps (0, 1 and 2 default to /dev/null);
//     every other descriptor of ours is closed, whatever its close-on-exec flag;
//   - gets exactly the environment the spec gives (nothing is inherited unless the
//     caller passes InheritedEnvironment() on purpose);
//   - runs in its own process group (or its own session), so a signal to the group
//     reaches everything it started;
//   - gets `parent_death_signal` when this process dies (unless it is 0), even when
//     the thread that asked for it has ended long before.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mumba/status.h"
#include "platform/unique_fd.h"

namespace mumba {

using Environment = std::map<std::string, std::string>;

// This process's environment, for a child that should see what we see.
Environment InheritedEnvironment();

struct LaunchSpec {
  // An absolute or relative path; with `search_path`, a bare name is looked up in
  // the PATH of `env` (as execvp does).
  std::filesystem::path executable;
  bool search_path = false;
  // argv[0]; empty means `executable` as given.
  std::string argv0;
  std::vector<std::string> args;  // Not including argv[0].
  std::filesystem::path working_dir;  // Empty: ours.
  Environment env;                    // The child's whole environment.
  // Child descriptor number -> one of our descriptors (borrowed: the launcher
  // duplicates it). 0, 1 and 2 not listed here are /dev/null.
  std::map<int, int> fds;
  // Child descriptor number -> bytes the child can read there: a new sealed,
  // read-only memory file at offset 0 for every launch (e.g. bwrap's --seccomp
  // program; a descriptor we reused would share its offset across launches).
  std::map<int, std::string> fd_contents;
  // When set, the child's stdout and stderr both go to a pipe whose non-blocking
  // read end is LaunchedProcess::output (fds[1] and fds[2] are ignored).
  bool capture_output = false;
  // A new session (setsid) instead of only a new process group: for a child that
  // must outlive us and leave our terminal, such as the host the CLI starts.
  bool new_session = false;
  // Sent to the child when this process dies; 0 for none.
  int parent_death_signal = SIGTERM;
  // Landlock scoping: the child and everything it starts can neither connect to an
  // abstract unix socket made outside their tree (an X server's, a session bus's,
  // which sharing a network namespace would otherwise share) nor signal a process
  // outside it. Sets no_new_privs. Only where the kernel has it (Landlock ABI 6,
  // Linux 6.12); elsewhere nothing is done: see LandlockScopeAvailable().
  bool landlock_scope = false;
};

// Whether this kernel can scope abstract unix sockets and signals (LaunchSpec::landlock_scope).
bool LandlockScopeAvailable();

struct LaunchedProcess {
  pid_t pid = -1;      // Also its process group id.
  UniqueFd pidfd;      // Becomes readable when the process exits.
  UniqueFd output;     // With capture_output: its stdout+stderr, non-blocking.
};

// How a child ended.
struct ProcessExit {
  int wait_status = 0;  // As waitpid reports it.
  int wait_errno = 0;   // Set when waitpid failed: how it ended is unknown.
  // "exit code 1", "signal 9 (SIGKILL)", "unknown exit (No child processes)".
  std::string Describe() const;
  // A shell's view: N for exit(N), 128 + N for signal N; 1 when unknown.
  int ExitCode() const;
};

// Thread-safe: every method may be called from any thread.
class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;

  // Starts the process and returns once exec succeeded; FAILED_PRECONDITION naming
  // the reason it did not ("cannot run /x: No such file or directory"), INTERNAL
  // when the system refused a descriptor, a pipe or a process.
  virtual Expected<LaunchedProcess> Launch(const LaunchSpec& spec) = 0;

  // Sends `signal` to the process group `pgid`. Errors are ignored (it may be gone).
  virtual void SignalGroup(pid_t pgid, int signal) = 0;

  // Sends `signal` to the process `depth` generations below our child `pid`,
  // following each one's first child: the program a wrapper runs (bwrap, and the
  // init of its PID namespace, would die of a SIGTERM at once and take the program
  // with them, without its grace). When that process does not exist (yet), the
  // signal goes to the group `pid` leads instead. Errors are ignored.
  virtual void SignalDescendant(pid_t pid, int depth, int signal) = 0;

  // Collects the exit status of our child `pid`, or nullopt when it still runs.
  // Never blocks.
  virtual std::optional<ProcessExit> Reap(pid_t pid) = 0;

  // The same, blocking until it has exited (wait_errno set when it cannot be
  // waited for, e.g. it is not our child).
  virtual ProcessExit Wait(pid_t pid) = 0;

  // The launcher of real processes. Lives forever.
  static ProcessLauncher& System();
};

}  // namespace mumba
