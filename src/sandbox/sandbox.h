// SPDX-License-Identifier: Apache-2.0
// The app sandbox: the bubblewrap jail each app's daemon runs in, so that an app
// reaches nothing it was not given. What a daemon sees there:
//
//   /app          its bundle, read-only (also its working folder)
//   /data         its data folder, read-write (also HOME)
//   /run/mumba    its own run folder: app.sock, where it serves, and host.sock,
//                 where it reaches the host; no other app's sockets
//   /usr, /lib…   the system's programs and libraries, read-only
//   /etc/…        the few files libraries read (ld.so.cache, localtime, passwd,
//                 hosts, …; resolv.conf and ssl with the network), read-only
//   /tmp, /dev, /proc   private
//
// and nothing else of the machine: no $MUMBA_HOME (stores, keys, tokens, browser
// profiles, other apps), no owner's HOME. It has its own PID namespace (it cannot
// see, signal or trace other processes, and everything in it dies with the app,
// even what called setsid), its own IPC, UTS and user namespaces (and cannot make
// more), no network unless the manifest asks for it, no new privileges, no
// capabilities, the seccomp filter of seccomp_filter.h, and — where the kernel has
// Landlock scoping (Linux 6.12) — no abstract unix socket or signal reaching out of
// the jail, which matters when it shares the host's network.
#pragma once

#include <filesystem>
#include <string_view>

#include "mumba/status.h"
#include "platform/process_launcher.h"

namespace mumba {

// Where a daemon finds things inside its sandbox.
inline constexpr std::string_view kSandboxAppDir = "/app";
inline constexpr std::string_view kSandboxDataDir = "/data";
inline constexpr std::string_view kSandboxRunDir = "/run/mumba";

// How many processes stand between bwrap, as launched, and the app's program: bwrap
// and the init of the PID namespace. Both would die of a SIGTERM at once and take
// the program down without its grace, so a polite stop signals the program itself.
inline constexpr int kSandboxWrapperDepth = 2;

// One app's jail, in the host's paths.
struct AppJail {
  std::filesystem::path bundle_dir;  // -> /app, read-only.
  std::filesystem::path data_dir;    // -> /data, read-write.
  std::filesystem::path run_dir;     // -> /run/mumba, read-write.
  bool network = false;              // Shares the host's network when true.
};

// `inner` (its executable, args, working folder and environment already as the
// daemon sees them inside) wrapped so that it runs in `jail` through the bwrap at
// `bwrap` with `seccomp` (SeccompProgram()) as its filter. The environment stays
// the daemon's: bwrap passes it on. Pure: nothing is started or checked.
LaunchSpec Confine(const std::filesystem::path& bwrap, const std::string& seccomp, const AppJail& jail,
                   const LaunchSpec& inner);

// Whether daemons can be sandboxed on this machine: the path of a bwrap that ran
// /bin/true in the same kind of jail, or FAILED_PRECONDITION saying what is missing
// (bwrap not installed, user namespaces refused, the seccomp filter not built) and
// what to do. Starts one short process through `launcher`.
Expected<std::filesystem::path> CheckSandbox(ProcessLauncher& launcher);

}  // namespace mumba
