// SPDX-License-Identifier: Apache-2.0
#include "shell/browser_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>

#include "platform/errno_status.h"
#include "platform/process_launcher.h"
#include "platform/unique_fd.h"

namespace mumba::shell {

Environment BrowserEnvironment() {
  static constexpr const char* kPassed[] = {
      "PATH",    "HOME",           "LANG",       "LC_ALL",          "TZ",
      "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS",
  };
  Environment env;
  for (const char* name : kPassed) {
    if (const char* value = std::getenv(name)) env[name] = value;
  }
  return env;
}

Expected<BrowserProcess> SpawnBrowserProcess(const BrowserProcessSpec& spec) {
  UniqueFd log;
  if (spec.log_path.empty()) {
    log.Reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  } else {
    std::error_code ec;
    std::filesystem::create_directories(spec.log_path.parent_path(), ec);
    log.Reset(::open(spec.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  }
  if (!log) {
    return FailedPrecondition(ErrnoStatus(errno, "cannot open log " + spec.log_path.string()).message());
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return ErrnoStatus(errno, "socketpair");
  UniqueFd ours(sv[0]);
  UniqueFd theirs(sv[1]);

  LaunchSpec launch;
  launch.executable = spec.executable;
  launch.args = spec.args;
  launch.env = BrowserEnvironment();
  // Chromium reads DevTools commands on 3 and writes answers on 4.
  launch.fds = {{1, log.get()}, {2, log.get()}, {3, theirs.get()}, {4, theirs.get()}};
  launch.parent_death_signal = SIGKILL;
  MUMBA_ASSIGN_OR_RETURN(LaunchedProcess process, ProcessLauncher::System().Launch(launch));
  ::fcntl(ours.get(), F_SETFL, ::fcntl(ours.get(), F_GETFL) | O_NONBLOCK);
  return BrowserProcess{process.pid, process.pidfd.Release(), ours.Release()};
}

void SignalProcessGroup(pid_t pgid, int signal) { ProcessLauncher::System().SignalGroup(pgid, signal); }

std::string ReapExitedProcess(pid_t pid) { return ProcessLauncher::System().Wait(pid).Describe(); }

}  // namespace mumba::shell
