// SPDX-License-Identifier: Apache-2.0
// Spawning the browser (through the platform's process launcher) with its
// DevTools pipe.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mumba/status.h"
#include "platform/process_launcher.h"

namespace mumba::shell {

// The environment every Chromium we start gets: only these variables of ours, when
// we have them — PATH, HOME, LANG, LC_ALL, TZ, DISPLAY, WAYLAND_DISPLAY, XAUTHORITY,
// XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS. Chromium needs the display (X11 or
// Wayland, its authority, the session bus) and the user's HOME and locale to show
// windows as the user's other programs do; nothing else of the shell that started
// the host (SSH_AUTH_SOCK, tokens, credentials) may reach a browser that runs web
// pages. Never fails.
Environment BrowserEnvironment();

struct BrowserProcessSpec {
  std::filesystem::path executable;
  std::vector<std::string> args;  // Not including argv[0].
  // The child's stdout and stderr are appended here (its folder is created if
  // missing). Empty sends them to /dev/null. A file, never a pipe: nobody has to
  // drain it, so a chatty browser can never block on a full pipe.
  std::filesystem::path log_path;
};

// A started browser. The caller owns both descriptors and must reap `pid`.
struct BrowserProcess {
  pid_t pid = -1;    // Also its process group id.
  int pidfd = -1;    // Becomes readable when the process exits.
  int pipe_fd = -1;  // Non-blocking; our end of the socket the child has at fds 3 and 4.
};

// Starts `spec.executable` in a new process group, with one end of a Unix stream
// socket at both fd 3 (Chromium reads DevTools commands there) and fd 4 (it writes
// answers there), /dev/null as stdin, no other inherited descriptors, and
// BrowserEnvironment() as its environment. The child gets SIGKILL if this process dies. Returns once exec succeeded, or
// FAILED_PRECONDITION naming the reason it did not ("No such file or directory").
// Thread-safe.
Expected<BrowserProcess> SpawnBrowserProcess(const BrowserProcessSpec& spec);

// Sends `signal` to the process group `pgid`. Errors are ignored (it may be gone).
void SignalProcessGroup(pid_t pgid, int signal);

// Waits for `pid`, which must already have exited (its pidfd is readable), and
// describes how it ended: "exit code 0", "signal 9 (SIGKILL)".
std::string ReapExitedProcess(pid_t pid);

}  // namespace mumba::shell
