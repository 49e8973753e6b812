// SPDX-License-Identifier: Apache-2.0
#include "bench_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace mumba::bench {

using namespace std::chrono_literals;

namespace {

std::string g_program = "bench";

// environ minus MUMBA_* variables, null-terminated; the pointers are environ's.
std::vector<char*> EnvironmentWithoutMumba() {
  std::vector<char*> env;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "MUMBA_", 6) != 0) env.push_back(*e);
  }
  env.push_back(nullptr);
  return env;
}

}  // namespace

void Fail(const std::string& what) { throw BenchError(what); }

void SetProgramName(const char* name) { g_program = name; }

void Progress(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::fprintf(stderr, "%s: ", g_program.c_str());
  std::vfprintf(stderr, format, args);
  std::fprintf(stderr, "\n");
  va_end(args);
}

std::string Fmt(const char* format, ...) {
  std::va_list args, again;
  va_start(args, format);
  va_copy(again, args);
  int n = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  std::vsnprintf(out.data(), out.size() + 1, format, again);
  va_end(again);
  return out;
}

// ---- Flags. ----

Flags& Flags::AddFlag(const std::string& name, bool takes_value, std::function<bool(const std::string&)> set) {
  flags_.push_back({name, takes_value, std::move(set)});
  return *this;
}

Flags& Flags::Add(const std::string& name, bool* out) {
  return AddFlag(name, false, [out](const std::string&) { return *out = true; });
}

Flags& Flags::Add(const std::string& name, double* out) {
  return AddFlag(name, true, [out](const std::string& text) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end || errno != 0) return false;
    *out = v;
    return true;
  });
}

Flags& Flags::Add(const std::string& name, int* out) {
  return AddFlag(name, true, [out](const std::string& text) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end || errno != 0 || v < INT_MIN || v > INT_MAX) return false;
    *out = static_cast<int>(v);
    return true;
  });
}

Flags& Flags::Add(const std::string& name, uint64_t* out) {
  return AddFlag(name, true, [out](const std::string& text) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || text[0] == '-' || *end || errno != 0) return false;
    *out = v;
    return true;
  });
}

Flags& Flags::Add(const std::string& name, fs::path* out) {
  return AddFlag(name, true, [out](const std::string& text) {
    *out = text;
    return !text.empty();
  });
}

void Flags::Parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(usage_.c_str(), stdout);
      std::exit(0);
    }
    auto flag = std::find_if(flags_.begin(), flags_.end(), [&](const Flag& f) { return f.name == a; });
    if (flag == flags_.end()) Fail("unknown argument " + a + " (see --help)");
    std::string value;
    if (flag->takes_value) {
      if (i + 1 >= argc) Fail(a + " needs a value");
      value = argv[++i];
    }
    if (!flag->set(value)) Fail(a + " needs a number, not '" + value + "'");
    flag->given = true;
  }
}

bool Flags::Given(const std::string& name) const {
  return std::any_of(flags_.begin(), flags_.end(), [&](const Flag& f) { return f.name == name && f.given; });
}

// ---- Time. ----

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

Clock::duration SecondsToDuration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string Tail(const fs::path& file, int lines) {
  std::ifstream in(file);
  std::vector<std::string> kept;
  std::string line;
  while (std::getline(in, line)) {
    kept.push_back(line);
    if (static_cast<int>(kept.size()) > lines) kept.erase(kept.begin());
  }
  std::string out;
  for (const auto& l : kept) out += "    " + l + "\n";
  return out;
}

fs::path BinDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) Fail("cannot find this executable: " + ec.message());
  return self.parent_path();
}

fs::path MakeTempDir(const std::string& prefix) {
  std::string templ = prefix + "XXXXXX";
  if (!::mkdtemp(templ.data())) Fail("mkdtemp " + templ + ": " + std::strerror(errno));
  return fs::path(templ);
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

Spread Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back()};
}

std::string Ratio(double a, double b) { return b > 0 ? Fmt("%.2fx", a / b) : "-"; }

std::string PerSecond(double per_s) {
  if (per_s < 0) return "-";
  if (per_s >= 1e6) return Fmt("%.2fM/s", per_s / 1e6);
  if (per_s >= 1e4) return Fmt("%.1fk/s", per_s / 1e3);
  return Fmt("%.0f/s", per_s);
}

void PrintTable(const std::vector<TableRow>& rows, const TableWidths& w) {
  auto line = [&](const TableRow& r) {
    std::printf("%-*s %*s  %-*s %7s  %-*s %s\n", w.figure, r.figure.c_str(), w.value, r.value.c_str(), w.baseline,
                r.baseline.c_str(), r.ratio.c_str(), w.target, r.target.c_str(), r.verdict.c_str());
  };
  line({"figure", "mumba", "baseline", "ratio", "target", "met"});
  std::printf("%s\n", std::string(124, '-').c_str());
  for (const auto& r : rows) line(r);
}

pid_t SpawnChild(const std::vector<std::string>& argv, const SpawnOptions& options) {
  // Everything the child uses is prepared before fork: after it, only
  // async-signal-safe calls are allowed there.
  std::vector<std::string> args_s = argv;
  std::vector<char*> args;
  for (auto& a : args_s) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<char*> env = EnvironmentWithoutMumba();
  const std::string log_s = options.log.string();
  const std::string cwd_s = options.cwd.string();
  const int stdout_fd = options.stdout_fd;
  const int stdin_fd = options.stdin_fd;

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) Fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int in = stdin_fd >= 0 ? stdin_fd : ::open("/dev/null", O_RDONLY);
    int out = ::open(log_s.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in >= 0) ::dup2(in, 0);
    if (out >= 0) ::dup2(out, 2);
    if (stdout_fd >= 0 || out >= 0) ::dup2(stdout_fd >= 0 ? stdout_fd : out, 1);
    ::close_range(3, UINT_MAX, 0);
    if (!cwd_s.empty() && ::chdir(cwd_s.c_str()) != 0) ::_exit(127);
    ::execve(args[0], args.data(), env.data());
    ::_exit(127);
  }
  return pid;
}

std::optional<int> WaitFor(pid_t pid, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return 0;  // Already reaped (by a cleanup).
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(1ms);
  }
}

void EndChild(pid_t pid, Clock::duration grace) {
  ::kill(pid, SIGTERM);
  if (!WaitFor(pid, grace)) {
    Progress("pid %d did not stop within %.0f s of SIGTERM; killing it", pid, Seconds(grace));
    ::kill(pid, SIGKILL);
    (void)WaitFor(pid, 5s);
  }
}

std::vector<std::string> CommandLine(pid_t pid) {
  std::vector<std::string> args;
  if (pid <= 0) return args;
  std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  for (size_t at = 0; at < cmdline.size();) {
    size_t end = cmdline.find('\0', at);
    if (end == std::string::npos) end = cmdline.size();
    args.push_back(cmdline.substr(at, end - at));
    at = end + 1;
  }
  return args;
}

bool IsHost(pid_t pid, const fs::path& home) {
  std::vector<std::string> args = CommandLine(pid);
  if (args.empty() || fs::path(args[0]).filename() != "mumba-host") return false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--home=" + home.string() ||
        (args[i] == "--home" && i + 1 < args.size() && args[i + 1] == home.string())) {
      return true;
    }
  }
  return false;
}

bool Runs(pid_t pid, const std::function<bool(const std::string&)>& matches) {
  if (pid <= 0) return false;
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
  return !ec && matches(exe);
}

bool RunsProgramUnder(pid_t pid, const fs::path& dir) {
  if (dir.empty()) return false;
  const std::string under = dir.string() + "/";
  return Runs(pid, [&](const std::string& exe) { return exe.starts_with(under); });
}

std::vector<std::string> StatFields(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) return {};
  std::istringstream in(stat.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  return fields;
}

void HandleStopSignals(std::function<void()> cleanup) {
  ::signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  std::thread([stop_signals, cleanup = std::move(cleanup)] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    Progress("signal %d: stopping what the bench started", sig);
    cleanup();
    std::_Exit(128 + sig);
  }).detach();
}

// ---- ChildRegistry. ----

pid_t ChildRegistry::Spawn(const std::vector<std::string>& argv, const SpawnOptions& options, Kind kind) {
  return Start([&] { return SpawnChild(argv, options); }, kind);
}

pid_t ChildRegistry::Start(const std::function<pid_t()>& start, Kind kind, bool during_cleanup) {
  std::lock_guard lock(mu_);
  if (closed_ && !during_cleanup) Fail("interrupted");
  pid_t pid = start();
  children_.push_back({pid, kind});
  return pid;
}

void ChildRegistry::Forget(pid_t pid) {
  std::lock_guard lock(mu_);
  std::erase_if(children_, [pid](const Child& c) { return c.pid == pid; });
}

bool ChildRegistry::Has(pid_t pid, Kind kind) const {
  std::lock_guard lock(mu_);
  return std::any_of(children_.begin(), children_.end(),
                     [&](const Child& c) { return c.pid == pid && c.kind == kind; });
}

std::vector<pid_t> ChildRegistry::Children(Kind kind) const {
  std::lock_guard lock(mu_);
  std::vector<pid_t> out;
  for (const auto& c : children_) {
    if (c.kind == kind) out.push_back(c.pid);
  }
  return out;
}

void ChildRegistry::End(pid_t pid, Clock::duration grace) {
  // Held throughout, so two threads never wait for the same child.
  std::lock_guard lock(mu_);
  auto it = std::find_if(children_.begin(), children_.end(), [pid](const Child& c) { return c.pid == pid; });
  if (it == children_.end()) return;
  EndChild(pid, grace);
  children_.erase(it);
}

void ChildRegistry::NoteDaemon(pid_t pid) {
  if (pid <= 0) return;
  std::lock_guard lock(mu_);
  if (std::find(daemons_.begin(), daemons_.end(), pid) == daemons_.end()) daemons_.push_back(pid);
}

void ChildRegistry::NoteGroup(pid_t pgid) {
  if (pgid <= 0) return;
  std::lock_guard lock(mu_);
  if (std::find(groups_.begin(), groups_.end(), pgid) == groups_.end()) groups_.push_back(pgid);
}

std::vector<pid_t> ChildRegistry::GroupsSeen() const {
  std::lock_guard lock(mu_);
  return groups_;
}

void ChildRegistry::CleanUpOnce(const std::function<void()>& cleanup) {
  std::lock_guard whole(cleanup_mu_);
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    for (const auto& c : children_) {
      if (c.kind == Kind::kCommand) ::kill(c.pid, SIGKILL);
    }
  }
  cleanup();
}

bool ChildRegistry::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void ChildRegistry::EndAll(Clock::duration host_grace, Clock::duration grace) {
  std::vector<pid_t> hosts = Children(Kind::kHost);
  for (pid_t pid : hosts) ::kill(pid, SIGTERM);
  for (pid_t pid : hosts) End(pid, host_grace);
  for (Kind kind : {Kind::kCommand, Kind::kOther}) {
    for (pid_t pid : Children(kind)) End(pid, grace);
  }
}

void ChildRegistry::KillStrayDaemons(const fs::path& dir) {
  std::vector<pid_t> daemons;
  {
    std::lock_guard lock(mu_);
    daemons.swap(daemons_);
  }
  for (pid_t pid : daemons) {
    if (RunsProgramUnder(pid, dir)) {
      Progress("daemon pid %d outlived the host; killing it", pid);
      ::kill(pid, SIGKILL);
    }
  }
}

// ---- CliHost. ----

void CliHost::Configure(const fs::path& cli, const fs::path& home, const fs::path& scratch,
                        ChildRegistry* children) {
  std::lock_guard lock(mu_);
  cli_ = cli;
  home_ = home;
  scratch_ = scratch;
  children_ = children;
}

pid_t CliHost::pid() const {
  std::lock_guard lock(mu_);
  return host_;
}

CliResult CliHost::Run(const std::vector<std::string>& args, Clock::duration timeout, bool may_fail) {
  return RunCommand(args, timeout, may_fail, /*from_cleanup=*/false);
}

CliResult CliHost::RunCommand(const std::vector<std::string>& args, Clock::duration timeout, bool may_fail,
                              bool from_cleanup) {
  std::vector<std::string> argv_s = {cli_.string(), "--home", home_.string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> env = EnvironmentWithoutMumba();
  const fs::path out_path = scratch_ / "cli.out";
  const fs::path err_path = scratch_ / "cli.err";
  std::string what = "mumba";
  for (const auto& a : args) what += " " + a;

  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&files, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  // The bench blocks stop signals and ignores SIGPIPE; the CLI gets neither.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = 0;
  int pidfd = -1;
  Clock::time_point t0;
  auto spawn = [&] {
    t0 = Clock::now();
    pid_t child = 0;
    int rc = ::posix_spawn(&child, argv[0], &files, &attr, argv.data(), env.data());
    if (rc != 0) Fail(what + ": " + std::strerror(rc));
    // Our unreaped child: its pid cannot be reused before waitpid.
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
    return child;
  };
  try {
    pid = children_->Start(spawn, ChildRegistry::Kind::kCommand, from_cleanup);
  } catch (...) {
    posix_spawn_file_actions_destroy(&files);
    posix_spawnattr_destroy(&attr);
    throw;
  }
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);

  CliResult r;
  bool exited = true;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    const auto deadline = t0 + timeout;
    for (;;) {
      int left = static_cast<int>(std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
      int n = ::poll(&p, 1, left);
      if (n > 0) break;
      if (n == 0) {
        exited = false;
        break;
      }
      if (errno != EINTR) {
        ::close(pidfd);
        Fail(what + ": poll: " + std::strerror(errno));
      }
    }
    r.took = Clock::now() - t0;
    ::close(pidfd);
  } else {
    // No pidfd (a kernel before 5.3): poll waitpid.
    auto deadline = t0 + timeout;
    exited = false;
    while (Clock::now() < deadline) {
      if (::waitpid(pid, &r.status, WNOHANG) == pid) {
        r.took = Clock::now() - t0;
        exited = true;
        children_->Forget(pid);
        pid = 0;
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    r.status = -1;
  } else if (pid > 0) {
    while (::waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
    }
  }
  if (pid > 0) children_->Forget(pid);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  if (r.status == -1) Fail(what + " did not finish in time; it said:\n" + r.out + r.err);
  bool ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
  if (!ok && !may_fail) Fail(what + " failed; it said:\n" + r.out + r.err);
  return r;
}

pid_t CliHost::Start(Clock::duration timeout) {
  // "host started on H (pid N)": known at once, so a cleanup stops it whatever fails next.
  std::string said = Run({"host", "start"}, timeout).out;
  auto at = said.find("(pid ");
  if (at == std::string::npos) Fail("cannot find the host's pid in: " + said);
  pid_t pid = static_cast<pid_t>(std::strtol(said.c_str() + at + 5, nullptr, 10));
  {
    std::lock_guard lock(mu_);
    host_ = pid;
  }
  if (!IsHost(pid, home_)) Fail("pid " + std::to_string(pid) + " is not the mumba-host of " + home_.string());
  return pid;
}

void CliHost::StopHost(bool from_signal) {
  pid_t host = pid();
  if (host <= 0) return;
  bool asked = false;
  if (!from_signal && IsHost(host, home_)) {
    try {
      (void)RunCommand({"host", "stop"}, 35s, false, /*from_cleanup=*/true);
      asked = true;
    } catch (const BenchError& e) {
      Progress("%s", e.what());
    }
  }
  if (!asked && IsHost(host, home_)) ::kill(host, SIGTERM);
  auto deadline = Clock::now() + 10s;
  while (IsHost(host, home_) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  if (IsHost(host, home_)) {
    Progress("host pid %d did not stop within 10 s; killing it", host);
    ::kill(host, SIGKILL);
  }
  std::lock_guard lock(mu_);
  host_ = 0;
}

}  // namespace mumba::bench
