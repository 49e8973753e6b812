// SPDX-License-Identifier: Apache-2.0
// The only file under src/ that forks and execs.
#include "platform/process_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <string_view>

#include "common/work_queue.h"
#include "platform/errno_status.h"

extern char** environ;

namespace mumba {
namespace {

// PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not when the
// process does. Forking on one thread that lives as long as the process means a
// child started from a short-lived worker thread is not killed when that worker
// finishes, yet still dies with us.
void OnForkThread(const std::function<void()>& work) {
  // Never destroyed: its thread may still be waited on during exit.
  static WorkQueue* thread = new WorkQueue(1);
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  thread->Post([&] {
    work();
    done.set_value();
  });
  finished.wait();
}

// Our descriptors in the child's numbering, each duplicated above every target
// number (close-on-exec), so the child's dup2 onto its target can never land on a
// source it still needs, nor be dup2(fd, fd), which would keep close-on-exec set.
struct ChildFds {
  std::vector<std::pair<int, UniqueFd>> map;  // Target -> high source.
  int highest_target = 2;
};

// The INTERNAL status for a system call the launcher needs that failed: the
// caller can do nothing about it but report it.
Status SystemFailure(int err, const std::string& what) { return Internal(ErrnoStatus(err, what).message()); }

std::string ExecutableIn(const Environment& env, const std::filesystem::path& name) {
  if (name.string().find('/') != std::string::npos) return name.string();
  auto it = env.find("PATH");
  std::string_view path = it == env.end() ? std::string_view("/usr/local/bin:/usr/bin:/bin") : it->second;
  while (!path.empty()) {
    auto colon = path.find(':');
    std::string dir(path.substr(0, colon));
    path = colon == std::string_view::npos ? std::string_view() : path.substr(colon + 1);
    // Absolute, so that the child's chdir cannot change what it names.
    std::string candidate =
        std::filesystem::absolute(std::filesystem::path(dir.empty() ? "." : dir) / name).string();
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name.string();  // execve fails with ENOENT, which is the truth.
}

// A sealed memory file holding `bytes`, open read-only at offset 0.
Expected<UniqueFd> MemoryFile(const std::string& bytes) {
  UniqueFd fd(::memfd_create("mumba-launch", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return SystemFailure(errno, "memfd_create");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return SystemFailure(errno, "cannot fill a memory file");
    done += static_cast<size_t>(n);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    return SystemFailure(errno, "cannot seal a memory file");
  }
  // Read-only through a new open file description, whose offset is its own.
  UniqueFd ro(::open(("/proc/self/fd/" + std::to_string(fd.get())).c_str(), O_RDONLY | O_CLOEXEC));
  if (!ro) return SystemFailure(errno, "cannot reopen a memory file");
  return ro;
}

// Landlock's system calls and the one structure this file needs; Debian 12's
// headers predate scoping (ABI 6).
constexpr long kLandlockCreateRuleset = 444;
constexpr long kLandlockRestrictSelf = 446;
constexpr uint32_t kLandlockCreateRulesetVersion = 1;
constexpr uint64_t kLandlockScopeAbstractUnixSocket = 1;
constexpr uint64_t kLandlockScopeSignal = 2;
struct LandlockRulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

int LandlockAbi() {
  static const int abi = static_cast<int>(
      ::syscall(kLandlockCreateRuleset, nullptr, 0, kLandlockCreateRulesetVersion));
  return abi;
}

// A ruleset that handles no access right and scopes abstract sockets and signals.
UniqueFd ScopeRuleset() {
  LandlockRulesetAttr attr{0, 0, kLandlockScopeAbstractUnixSocket | kLandlockScopeSignal};
  return UniqueFd(static_cast<int>(::syscall(kLandlockCreateRuleset, &attr, sizeof attr, 0)));
}

// The first child of `pid` as /proc lists it, or 0 when it has none.
pid_t FirstChild(pid_t pid) {
  const std::string tid = std::to_string(pid);
  std::ifstream in("/proc/" + tid + "/task/" + tid + "/children");
  pid_t child = 0;
  return in >> child ? child : 0;
}

class SystemLauncher final : public ProcessLauncher {
 public:
  Expected<LaunchedProcess> Launch(const LaunchSpec& spec) override {
    // Everything the child needs is prepared before fork: after it, only
    // async-signal-safe calls are allowed.
    const std::string exe =
        spec.search_path ? ExecutableIn(spec.env, spec.executable) : spec.executable.string();
    std::vector<std::string> argv_s = {!spec.argv0.empty() ? spec.argv0
                                       : spec.search_path  ? spec.executable.string()
                                                           : exe};
    argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (const auto& [k, v] : spec.env) env_s.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string cwd = spec.working_dir.string();

    UniqueFd output_read;
    UniqueFd output_write;
    if (spec.capture_output) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) return SystemFailure(errno, "pipe");
      output_read.Reset(p[0]);
      output_write.Reset(p[1]);
    }
    UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) return SystemFailure(errno, "cannot open /dev/null");

    std::map<int, int> wanted = spec.fds;
    std::vector<UniqueFd> contents;  // Open until the child has its copies.
    for (const auto& [target, bytes] : spec.fd_contents) {
      MUMBA_ASSIGN_OR_RETURN(UniqueFd file, MemoryFile(bytes));
      wanted[target] = file.get();
      contents.push_back(std::move(file));
    }
    for (int std_fd : {0, 1, 2}) wanted.emplace(std_fd, devnull.get());
    if (spec.capture_output) wanted[1] = wanted[2] = output_write.get();
    ChildFds fds;
    for (const auto& [target, source] : wanted) fds.highest_target = std::max(fds.highest_target, target);
    for (const auto& [target, source] : wanted) {
      UniqueFd high(::fcntl(source, F_DUPFD_CLOEXEC, fds.highest_target + 1));
      if (!high) return SystemFailure(errno, "cannot pass descriptor " + std::to_string(source));
      fds.map.emplace_back(target, std::move(high));
    }

    UniqueFd scope;
    if (spec.landlock_scope && LandlockScopeAvailable()) {
      scope = ScopeRuleset();
      if (!scope) return SystemFailure(errno, "cannot make a Landlock ruleset");
      ::fcntl(scope.get(), F_SETFD, FD_CLOEXEC);
    }
    const int scope_fd = scope.get();

    int report_pipe[2];
    if (::pipe2(report_pipe, O_CLOEXEC) != 0) return SystemFailure(errno, "pipe");
    UniqueFd report_read(report_pipe[0]);
    UniqueFd report_write(::fcntl(report_pipe[1], F_DUPFD_CLOEXEC, fds.highest_target + 1));
    ::close(report_pipe[1]);
    if (!report_write) return SystemFailure(errno, "fcntl");
    const int report = report_write.get();
    std::vector<std::pair<int, int>> child_map;
    for (const auto& [target, high] : fds.map) child_map.emplace_back(target, high.get());

    pid_t pid = -1;
    int fork_errno = 0;
    const pid_t parent = ::getpid();
    OnForkThread([&] {
      pid = ::fork();
      if (pid < 0) {
        fork_errno = errno;
        return;
      }
      if (pid != 0) return;
      // The child.
      if (spec.new_session) {
        ::setsid();
      } else {
        ::setpgid(0, 0);
      }
      if (spec.parent_death_signal != 0) {
        ::prctl(PR_SET_PDEATHSIG, spec.parent_death_signal);
        if (::getppid() != parent) ::_exit(127);  // We died before prctl took effect.
      }
      // Default handlers first, then unblock: a pending signal must never run
      // one of our handlers in the child.
      for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      auto fail = [report](int err) {
        (void)!::write(report, &err, sizeof err);
        ::_exit(127);
      };
      // Before the descriptors are closed below, the ruleset's among them.
      if (scope_fd >= 0) {
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(errno);
        if (::syscall(kLandlockRestrictSelf, scope_fd, 0) != 0) fail(errno);
      }
      for (const auto& [target, source] : child_map) {
        if (::dup2(source, target) < 0) fail(errno);
      }
      // Only the mapped descriptors and the exec-error pipe (closed at exec) stay.
      ::close_range(fds.highest_target + 1, report - 1, 0);
      ::close_range(report + 1, UINT_MAX, 0);
      for (int fd = 3; fd < fds.highest_target; ++fd) {
        bool mapped = false;
        for (const auto& [target, source] : child_map) mapped = mapped || target == fd;
        if (!mapped) ::close(fd);
      }
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) fail(errno);
      ::execve(exe.c_str(), argv.data(), envp.data());
      fail(errno);
    });
    report_write.Reset();
    fds.map.clear();
    output_write.Reset();
    if (pid < 0) return SystemFailure(fork_errno, "fork");
    // Also set the group here, so it exists whichever of the two runs first.
    if (!spec.new_session) ::setpgid(pid, pid);

    int child_errno = 0;
    ssize_t n;
    do {
      n = ::read(report_read.get(), &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    if (n == sizeof child_errno) {
      ::waitpid(pid, nullptr, 0);
      return FailedPrecondition("cannot run " + exe + ": " + std::strerror(child_errno));
    }
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) {
      int err = errno;
      ::kill(-pid, SIGKILL);  // A session leader leads its group too.
      ::waitpid(pid, nullptr, 0);
      return SystemFailure(err, "pidfd_open");
    }
    if (output_read) ::fcntl(output_read.get(), F_SETFL, ::fcntl(output_read.get(), F_GETFL) | O_NONBLOCK);
    return LaunchedProcess{pid, std::move(pidfd), std::move(output_read)};
  }

  void SignalGroup(pid_t pgid, int signal) override {
    if (pgid > 0) ::kill(-pgid, signal);
  }

  void SignalDescendant(pid_t pid, int depth, int signal) override {
    if (pid <= 0) return;
    pid_t target = pid;
    for (int i = 0; i < depth && target > 0; ++i) target = FirstChild(target);
    if (target > 0) {
      ::kill(target, signal);
    } else {
      ::kill(-pid, signal);
    }
  }

  std::optional<ProcessExit> Reap(pid_t pid) override { return WaitFor(pid, WNOHANG); }

  ProcessExit Wait(pid_t pid) override {
    auto exit = WaitFor(pid, 0);
    return exit ? *exit : ProcessExit{0, errno};
  }

 private:
  static std::optional<ProcessExit> WaitFor(pid_t pid, int flags) {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &status, flags);
    } while (r < 0 && errno == EINTR);
    if (r != pid) return std::nullopt;
    return ProcessExit{status};
  }
};

}  // namespace

bool LandlockScopeAvailable() { return LandlockAbi() >= 6; }

Environment InheritedEnvironment() {
  Environment env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

std::string ProcessExit::Describe() const {
  if (wait_errno != 0) return "unknown exit (" + std::string(std::strerror(wait_errno)) + ")";
  if (WIFEXITED(wait_status)) return "exit code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    const char* name = ::sigabbrev_np(sig);
    return "signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "exited";
}

int ProcessExit::ExitCode() const {
  if (wait_errno != 0) return 1;  // Unknown is not success.
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

ProcessLauncher& ProcessLauncher::System() {
  static SystemLauncher* launcher = new SystemLauncher();
  return *launcher;
}

}  // namespace mumba
