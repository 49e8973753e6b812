// SPDX-License-Identifier: Apache-2.0
#include "shell/browser_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string_view>
#include <thread>

extern char** environ;

namespace mumba::shell {
namespace {

// PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not when the
// process does. Forking on a thread that lives as long as the process means a
// browser started from a short-lived worker thread is not killed when that worker
// finishes, yet still dies with us.
class LauncherThread {
 public:
  static LauncherThread& Get() {
    // Never destroyed: the detached thread may still wait on it during exit.
    static LauncherThread* launcher = new LauncherThread();
    return *launcher;
  }

  void Run(const std::function<void()>& work) {
    std::promise<void> done;
    std::future<void> finished = done.get_future();
    {
      std::lock_guard lock(mu_);
      queue_.push_back([&] {
        work();
        done.set_value();
      });
    }
    cv_.notify_one();
    finished.wait();
  }

 private:
  LauncherThread() {
    std::thread([this] { Loop(); }).detach();
  }

  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

std::string ErrnoText(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

// Moves `fd` to a number >= 10 (close-on-exec), closing the original. The child
// later dup2()s these onto 0..4; keeping the sources above 4 avoids dup2(fd, fd),
// which would leave close-on-exec set and make the descriptor vanish at exec.
int MoveHigh(int fd) {
  if (fd < 0) return fd;
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ::close(fd);
  return high;
}

void CloseAll(std::initializer_list<int> fds) {
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace

Expected<BrowserProcess> SpawnBrowserProcess(const BrowserProcessSpec& spec) {
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed.
  std::string exe = spec.executable.string();
  std::vector<std::string> argv_s = {exe};
  argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  int log_fd;
  if (spec.log_path.empty()) {
    log_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  } else {
    std::error_code ec;
    std::filesystem::create_directories(spec.log_path.parent_path(), ec);
    log_fd = ::open(spec.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  }
  if (log_fd < 0) {
    int err = errno;
    return FailedPrecondition(
        ErrnoText(("cannot open log " + spec.log_path.string()).c_str(), err));
  }
  log_fd = MoveHigh(log_fd);
  int stdin_fd = MoveHigh(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    int err = errno;
    CloseAll({log_fd, stdin_fd});
    return Internal(ErrnoText("socketpair", err));
  }
  int ours = sv[0];
  int theirs = MoveHigh(sv[1]);
  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    CloseAll({log_fd, stdin_fd, ours, theirs});
    return Internal(ErrnoText("pipe", err));
  }
  int report_read = report_pipe[0];
  int report = MoveHigh(report_pipe[1]);
  if (log_fd < 0 || stdin_fd < 0 || theirs < 0 || report < 0) {
    int err = errno;
    CloseAll({log_fd, stdin_fd, ours, theirs, report_read, report});
    return Internal(ErrnoText("fcntl", err));
  }

  pid_t pid = -1;
  int fork_errno = 0;
  pid_t parent = ::getpid();
  LauncherThread::Get().Run([&] {
    pid = ::fork();
    if (pid < 0) {
      fork_errno = errno;
      return;
    }
    if (pid != 0) return;
    // The child.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // We died before prctl took effect.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
    if (::dup2(stdin_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0 ||
        ::dup2(theirs, 3) < 0 || ::dup2(theirs, 4) < 0) {
      int err = errno;
      (void)!::write(report, &err, sizeof err);
      ::_exit(127);
    }
    // Only 0..4 and the exec-error pipe stay open (the pipe closes at exec).
    ::close_range(5, report - 1, 0);
    ::close_range(report + 1, UINT_MAX, 0);
    ::execve(argv[0], argv.data(), envp.data());
    int err = errno;
    (void)!::write(report, &err, sizeof err);
    ::_exit(127);
  });
  CloseAll({log_fd, stdin_fd, theirs, report});
  if (pid < 0) {
    CloseAll({ours, report_read});
    return Internal(ErrnoText("fork", fork_errno));
  }
  // Also set the group here, so it exists whichever of the two runs first.
  ::setpgid(pid, pid);

  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(report_read, &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(report_read);
  if (n == sizeof child_errno) {
    ::close(ours);
    ::waitpid(pid, nullptr, 0);
    return FailedPrecondition(ErrnoText(("cannot run " + exe).c_str(), child_errno));
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int err = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(ours);
    return Internal(ErrnoText("pidfd_open", err));
  }
  ::fcntl(ours, F_SETFL, ::fcntl(ours, F_GETFL) | O_NONBLOCK);
  return BrowserProcess{pid, pidfd, ours};
}

void SignalProcessGroup(pid_t pgid, int signal) {
  if (pgid > 0) ::kill(-pgid, signal);
}

std::string ReapExitedProcess(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid) return "unknown exit (" + std::string(std::strerror(errno)) + ")";
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    return "signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "exited";
}

}  // namespace mumba::shell
