// SPDX-License-Identifier: Apache-2.0
#include "sandbox/sandbox.h"

#include <unistd.h>

#include <system_error>

#include "sandbox/seccomp_filter.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

// The descriptor bwrap reads the seccomp program from.
constexpr int kSeccompFd = 3;

// The files of /etc that libraries read: the loader's cache, the time zone, user
// and host names, and the links of programs installed as alternatives. None of them
// holds a secret. Each is a mount that every start pays for (about 0.1 ms here), so
// the list is short.
constexpr const char* kEtcFiles[] = {
    "/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group",
    "/etc/nsswitch.conf", "/etc/hosts", "/etc/alternatives",
};
// What only an app with the network needs: name servers and TLS roots.
constexpr const char* kEtcNetworkFiles[] = {"/etc/resolv.conf", "/etc/gai.conf", "/etc/ssl"};

// The top-level folders of the system's programs. On Debian 12 they are links into
// /usr; elsewhere they may be folders of their own.
constexpr const char* kSystemDirs[] = {"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"};

void Add(std::vector<std::string>& args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more.begin(), more.end());
}

}  // namespace

LaunchSpec Confine(const fs::path& bwrap, const std::string& seccomp, const AppJail& jail,
                   const LaunchSpec& inner) {
  std::vector<std::string> a;
  Add(a, {"--ro-bind", "/usr", "/usr"});
  std::error_code ec;
  for (const char* dir : kSystemDirs) {
    if (fs::is_symlink(dir, ec)) {
      Add(a, {"--symlink", fs::read_symlink(dir, ec).string(), dir});
    } else if (fs::is_directory(dir, ec)) {
      Add(a, {"--ro-bind", dir, dir});
    }
  }
  for (const char* file : kEtcFiles) Add(a, {"--ro-bind-try", file, file});
  if (jail.network) {
    for (const char* file : kEtcNetworkFiles) Add(a, {"--ro-bind-try", file, file});
  }
  Add(a, {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  Add(a, {"--ro-bind", jail.bundle_dir.string(), std::string(kSandboxAppDir)});
  Add(a, {"--bind", jail.data_dir.string(), std::string(kSandboxDataDir)});
  Add(a, {"--bind", jail.run_dir.string(), std::string(kSandboxRunDir)});
  // Every namespace, a user namespace in which no further one can be made, and no
  // capability even when the host runs as root.
  Add(a, {"--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"});
  if (jail.network) a.push_back("--share-net");
  // Tied to bwrap, which the launcher ties to the host. No --new-session: the host
  // stops the app through its process group; the seccomp filter refuses TIOCSTI,
  // which --new-session would otherwise be needed against.
  Add(a, {"--die-with-parent", "--seccomp", std::to_string(kSeccompFd)});
  if (!inner.working_dir.empty()) Add(a, {"--chdir", inner.working_dir.string()});
  Add(a, {"--", inner.executable.string()});
  a.insert(a.end(), inner.args.begin(), inner.args.end());

  LaunchSpec outer = inner;
  outer.executable = bwrap;
  outer.search_path = false;
  outer.argv0.clear();
  outer.args = std::move(a);
  outer.working_dir = "/";
  outer.fd_contents[kSeccompFd] = seccomp;
  // Sharing the host's network would share its abstract unix sockets too (an X
  // server's, a session bus's); without it, scoping still keeps signals inside.
  outer.landlock_scope = true;
  return outer;
}

Expected<fs::path> CheckSandbox(ProcessLauncher& launcher) {
  fs::path bwrap;
  for (const char* candidate : {"/usr/bin/bwrap", "/usr/local/bin/bwrap"}) {
    if (::access(candidate, X_OK) == 0) {
      bwrap = candidate;
      break;
    }
  }
  const std::string fix =
      " Install bubblewrap (`apt-get install bubblewrap`), or let apps run unconfined with "
      "`[security] sandbox = false` in $MUMBA_HOME/config.toml.";
  if (bwrap.empty()) return FailedPrecondition("apps cannot be sandboxed: bwrap is not installed." + fix);
  auto seccomp = SeccompProgram();
  if (!seccomp.ok()) return FailedPrecondition("apps cannot be sandboxed: " + seccomp.status().message() + "." + fix);

  std::error_code ec;
  fs::path scratch = fs::temp_directory_path(ec) / ("mumba-sandbox-check-" + std::to_string(::getpid()));
  fs::create_directories(scratch / "x", ec);
  LaunchSpec inner;
  inner.executable = "/bin/true";
  AppJail jail{scratch / "x", scratch / "x", scratch / "x", false};
  LaunchSpec check = Confine(bwrap, *seccomp, jail, inner);
  check.capture_output = true;
  auto launched = launcher.Launch(check);
  std::string why;
  if (!launched.ok()) {
    why = launched.status().message();
  } else {
    ProcessExit exit = launcher.Wait(launched->pid);
    if (exit.ExitCode() != 0) {
      char buf[512];
      ssize_t n = ::read(launched->output.get(), buf, sizeof buf);
      why = "bwrap failed (" + exit.Describe() + ")" +
            (n > 0 ? ": " + std::string(buf, static_cast<size_t>(n)) : std::string());
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      why += "; user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone, "
             "user.max_user_namespaces)";
    }
  }
  fs::remove_all(scratch, ec);
  if (!why.empty()) return FailedPrecondition("apps cannot be sandboxed: " + why + "." + fix);
  return bwrap;
}

}  // namespace mumba
