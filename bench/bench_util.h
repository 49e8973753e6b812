// SPDX-License-Identifier: Apache-2.0
// bench_util: what the benchmarks under bench/ have in common. Each of them makes a
// throw-away folder, starts real hosts (as children, or through `mumba host start`),
// times things, prints a table to stdout and progress to stderr, and whatever
// happens ends what it started and removes the folder. So every bench parses its
// flags with Flags and keeps what it started in a ChildRegistry, whose
// CleanUpOnce runs its cleanup exactly once, from main or from the signal thread.
//
// Errors are exceptions (BenchError), as in the benches: none of this is used
// outside bench/, and every bench catches them in main. Nothing here may be
// included from src/ or the SDK.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mumba::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---- Errors and progress. ----

// The bench itself failed (as opposed to a figure missing its target).
struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& what);

// Names the program in every Progress line ("mumba-bench: ..."). Call once, first
// thing in main, before any other thread exists.
void SetProgramName(const char* name);

// One line to stderr, after the program's name. Any thread.
void Progress(const char* format, ...) __attribute__((format(printf, 1, 2)));

// printf into a std::string, of any length.
std::string Fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));

// ---- The command line. ----

// The flags of a bench, each bound to a variable that already holds its default.
// Every bench parses its arguments with one of these, so all of them treat a
// missing value, a malformed number and an unknown flag alike. Main thread only.
class Flags {
 public:
  // `usage` is what --help (or -h) prints to stdout, as it is, before exiting 0.
  explicit Flags(std::string usage) : usage_(std::move(usage)) {}

  // A switch: present sets *out to true. `name` is the whole flag, e.g. "--skip-dht".
  Flags& Add(const std::string& name, bool* out);
  // A flag with a value: a number (whole for the integer types), or any text.
  Flags& Add(const std::string& name, double* out);
  Flags& Add(const std::string& name, int* out);
  Flags& Add(const std::string& name, uint64_t* out);
  Flags& Add(const std::string& name, fs::path* out);

  // Sets the bound variables from argv[1..argc). On --help prints the usage and
  // exits 0. Throws BenchError for an unknown argument, a flag without its value,
  // or a value that is not a number of the flag's kind; ranges are the bench's to
  // check afterwards.
  void Parse(int argc, char** argv);

  // Whether `name` was on the command line (after Parse).
  bool Given(const std::string& name) const;

 private:
  struct Flag {
    std::string name;
    bool takes_value = false;
    // Stores the value; returns false when it is malformed.
    std::function<bool(const std::string&)> set;
    bool given = false;
  };
  Flags& AddFlag(const std::string& name, bool takes_value, std::function<bool(const std::string&)> set);

  std::string usage_;
  std::vector<Flag> flags_;
};

// ---- Time. ----

double Seconds(Clock::duration d);
double Millis(Clock::duration d);
double Micros(Clock::duration d);
Clock::duration SecondsToDuration(double seconds);
// A gRPC deadline `d` from now.
std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds d);

// ---- Files and the machine. ----

// The whole file, or "" when it cannot be read.
std::string ReadFile(const fs::path& path);
// The last `lines` lines of `file`, each indented by four spaces and ended by "\n".
std::string Tail(const fs::path& file, int lines);
// The folder of this executable (bin/, where mumba and mumba-host are too).
fs::path BinDir();
// A new empty folder `prefix`XXXXXX (mkdtemp). Keep the prefix short: unix socket
// paths inside homes must fit in 108 bytes.
fs::path MakeTempDir(const std::string& prefix);
// The first three fields of /proc/loadavg: how busy the machine was.
std::string LoadAverage();

// ---- Figures. ----

// The value at rank round(p * (n - 1)) of `v` (p in 0..1; 0 is the minimum, 1 the
// maximum, 0.5 the upper median); 0 when `v` is empty.
double Percentile(std::vector<double> v, double p);

// Median (the mean of the two middle values when there is an even number), minimum
// and maximum. `v` must not be empty.
struct Spread {
  double median = 0;
  double min = 0;
  double max = 0;
};
Spread Summarize(std::vector<double> v);

// "1.23x", or "-" when b is not positive.
std::string Ratio(double a, double b);
// Per-second rate: "850/s", "12.3k/s", "1.23M/s"; "-" when negative.
std::string PerSecond(double per_s);

// One line of a figure table: the figure, its value, what it is compared with, the
// ratio, the target and whether it was met ("yes", "NO" or "").
struct TableRow {
  std::string figure;
  std::string value;
  std::string baseline;
  std::string ratio;
  std::string target;
  std::string verdict;
};

// Column widths of PrintTable (the ratio column is 7 wide, the verdict unpadded).
struct TableWidths {
  int figure = 44;
  int value = 14;
  int baseline = 34;
  int target = 14;
};

// A header line, a line of 124 dashes, then one line per row, to stdout.
void PrintTable(const std::vector<TableRow>& rows, const TableWidths& widths);

// ---- Processes. ----

// How SpawnChild connects the child.
struct SpawnOptions {
  fs::path log{};        // stderr, appended; stdout too unless stdout_fd is set.
  int stdout_fd = -1;    // When >= 0: the child's stdout (the write end of a pipe).
  int stdin_fd = -1;     // When >= 0: the child's stdin (the read end of a pipe); else /dev/null.
  fs::path cwd{};        // When not empty: the child's working folder.
};

// fork/exec of `argv` (argv[0] a path) with the environment minus MUMBA_*
// variables, signals unblocked, and no descriptor but 0-2 inherited. The child gets
// SIGTERM if the thread that forked ends, so call from the main thread. Returns its
// pid; the caller reaps it. Benches call it through ChildRegistry::Spawn, which
// registers the child for their cleanup.
pid_t SpawnChild(const std::vector<std::string>& argv, const SpawnOptions& options);

// Reaps child `pid` if it ends within `timeout` and returns its wait status; 0 if
// it was already reaped; nullopt if it still runs.
std::optional<int> WaitFor(pid_t pid, Clock::duration timeout);

// Ends child `pid`: SIGTERM, then SIGKILL (said on stderr) if it has not ended
// after `grace`; reaps it.
void EndChild(pid_t pid, Clock::duration grace);

// The arguments of `pid` from /proc/PID/cmdline; empty if it is gone.
std::vector<std::string> CommandLine(pid_t pid);

// Whether `pid` is the mumba-host serving `home` (`--home H` or `--home=H`). Judged
// by its command line, not /proc/PID/exe: relinking bin/mumba-host while a bench
// runs turns that link into "... (deleted)".
bool IsHost(pid_t pid, const fs::path& home);

// Whether `pid` is alive and /proc/PID/exe satisfies `matches`.
bool Runs(pid_t pid, const std::function<bool(const std::string&)>& matches);

// Whether `pid` runs a program installed under `dir` (a daemon of a home): PIDs are
// reused, so a bench kills a leftover pid only when this holds.
bool RunsProgramUnder(pid_t pid, const fs::path& dir);

// The fields of /proc/PID/stat after the command: [0] is the state (field 3),
// [2] the process group (field 5), [11] and [12] utime and stime (fields 14, 15).
std::vector<std::string> StatFields(pid_t pid);

// Sends SIGINT, SIGTERM and SIGHUP to one thread that says so, calls `cleanup` and
// exits with 128 + the signal; every thread made later inherits the block. SIGINT
// and SIGHUP keep the disposition they came with (a shell ignores SIGINT in
// background jobs, nohup ignores SIGHUP, and an ignored signal never reaches
// sigwait); SIGTERM is always taken. SIGPIPE is ignored. Call first in main.
void HandleStopSignals(std::function<void()> cleanup);

// The processes a bench is responsible for, by pid, so that whatever happens (an
// error, a signal) it ends them: its children (hosts it started itself, CLI
// commands, tools), daemons a host spawned, and process groups (browsers) it saw.
// Thread-safe: main starts and reaps children while the signal thread may close
// the registry and end them.
class ChildRegistry {
 public:
  enum class Kind {
    kHost,     // A mumba-host child: ended first, with SIGTERM, so it stops its daemons.
    kCommand,  // A short command the bench waits for: killed at once by Close.
    kOther,    // Any other child (a build, a daemon started by hand, sha256sum).
  };

  // Starts `argv` with SpawnChild and registers it as `kind`, under the registry's
  // lock, so a cleanup that has begun either sees the child or refuses it. Returns
  // its pid; the caller reaps it and then calls Forget. Throws BenchError
  // ("interrupted") once the registry is closed, or when fork fails.
  pid_t Spawn(const std::vector<std::string>& argv, const SpawnOptions& options, Kind kind = Kind::kOther);

  // Registers the child that `start` starts (under the lock) and returns its pid.
  // `start` returns the pid or throws. Throws BenchError ("interrupted") without
  // calling `start` once the registry is closed, unless `during_cleanup` (a
  // command the cleanup itself runs).
  pid_t Start(const std::function<pid_t()>& start, Kind kind, bool during_cleanup = false);

  // Forgets child `pid`, which the caller has reaped (or that ended by itself).
  void Forget(pid_t pid);

  // Whether `pid` is a registered child of `kind`.
  bool Has(pid_t pid, Kind kind) const;

  // The registered children of `kind`.
  std::vector<pid_t> Children(Kind kind) const;

  // Ends registered child `pid` (EndChild: SIGTERM, SIGKILL after `grace`, reaped)
  // and forgets it. Does nothing when `pid` is not registered (already reaped).
  void End(pid_t pid, Clock::duration grace);

  // Remembers a daemon a host spawned (not our child), for KillStrayDaemons.
  void NoteDaemon(pid_t pid);

  // Remembers process group `pgid` (a browser); GroupsSeen lists them.
  void NoteGroup(pid_t pgid);
  std::vector<pid_t> GroupsSeen() const;

  // Runs the bench's cleanup once, whichever thread asks first: closes the
  // registry (every later Spawn or Start throws, and every kCommand child is
  // killed at once, since it could block the cleanup), then calls `cleanup`. A
  // thread that asks while another runs it waits until that one has finished, so
  // a signal arriving during a cleanup does not exit half way. Exceptions from
  // `cleanup` reach the caller that ran it.
  void CleanUpOnce(const std::function<void()>& cleanup);

  // Whether the cleanup has begun.
  bool closed() const;

  // Ends every registered child: SIGTERM to every host at once (they stop their
  // daemons in parallel), then each host given `host_grace` before SIGKILL, then
  // every other child given `grace`. Reaps and forgets them all.
  void EndAll(Clock::duration host_grace, Clock::duration grace);

  // Kills (SIGKILL, said on stderr) every noted daemon that still runs a program
  // under `dir`, and forgets them all. PIDs are reused: one that runs anything
  // else is left alone.
  void KillStrayDaemons(const fs::path& dir);

 private:
  struct Child {
    pid_t pid;
    Kind kind;
  };

  mutable std::mutex mu_;   // Guards the fields below.
  std::mutex cleanup_mu_;   // Held for a whole cleanup.
  bool closed_ = false;
  std::vector<Child> children_;
  std::vector<pid_t> daemons_;
  std::vector<pid_t> groups_;
};

// ---- A host started and stopped through the CLI. ----

// What a CLI command did.
struct CliResult {
  int status = 0;  // As waitpid gives it.
  std::string out;
  std::string err;
  Clock::duration took{};  // From just before the spawn to its exit.
};

// A mumba-host on a throw-away home, started with `mumba --home H host start` (so
// not a child of the bench) and stopped with `mumba host stop`. Its CLI commands
// and the daemons noted for it are kept in the bench's ChildRegistry, so the
// bench's cleanup ends them. Thread-safe: main runs commands while the signal
// thread may stop the host.
class CliHost {
 public:
  // `cli` is bin/mumba, `home` the MUMBA_HOME, `scratch` the folder for the CLI's
  // output files (cli.out, cli.err), `children` the bench's registry (it must
  // outlive this). Call once, before anything else.
  void Configure(const fs::path& cli, const fs::path& home, const fs::path& scratch, ChildRegistry* children);

  const fs::path& home() const { return home_; }
  pid_t pid() const;

  // Runs `mumba --home H ARGS...` with stdin from /dev/null and stdout and stderr
  // into files, the environment minus MUMBA_* variables, and waits up to `timeout`
  // (on a pidfd, so the exit is seen at once; killed after it). Fails when it did
  // not finish in time or, unless `may_fail`, did not exit 0, or when the bench's
  // cleanup has begun.
  CliResult Run(const std::vector<std::string>& args, Clock::duration timeout, bool may_fail = false);

  // `mumba host start`; returns the pid it names once it is the host of this home.
  pid_t Start(Clock::duration timeout);

  // Stops the host: `mumba host stop` (SIGTERM instead when `from_signal`, as a
  // command could block), SIGKILL if it is still there 10 s later. For the
  // bench's cleanup, after the registry was closed.
  void StopHost(bool from_signal);

 private:
  CliResult RunCommand(const std::vector<std::string>& args, Clock::duration timeout, bool may_fail,
                       bool from_cleanup);

  mutable std::mutex mu_;  // Guards host_.
  fs::path cli_, home_, scratch_;
  ChildRegistry* children_ = nullptr;
  pid_t host_ = 0;  // mumba-host, not our child.
};

// One HTTP/1.1 keep-alive connection to the gateway on 127.0.0.1:`port`, reopened
// when the server closes it. Only what a minimal client sends, and the app's secret
// cookie, as its window sends it.
class GatewayHttpClient {
 public:
  // `close_is_error`: whether a reply that closes the connection counts as an
  // error (a keep-alive load) or only makes the next request reconnect.
  explicit GatewayHttpClient(int port, bool close_is_error = true)
      : port_(port), close_is_error_(close_is_error) {}
  ~GatewayHttpClient() { Reset(); }
  GatewayHttpClient(const GatewayHttpClient&) = delete;
  GatewayHttpClient& operator=(const GatewayHttpClient&) = delete;

  // Sends `request` (a whole HTTP/1.1 request) and reads the reply. On a 200 sets
  // *body and returns ""; otherwise returns what went wrong.
  std::string Exchange(const std::string& request, std::string* body) {
    if (fd_ < 0) {
      if (std::string e = Connect(); !e.empty()) return e;
    }
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
      std::string e = std::string("send: ") + std::strerror(errno);
      Reset();
      return e;
    }
    std::string buffer;
    size_t header_end = std::string::npos;
    size_t length = 0;
    bool chunked = false, close_after = false;
    for (;;) {
      if (header_end == std::string::npos && (header_end = buffer.find("\r\n\r\n")) != std::string::npos) {
        std::string head = buffer.substr(0, header_end);
        std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
        if (!head.starts_with("http/1.1 200")) {
          std::string e = "gateway answered " + buffer.substr(0, buffer.find('\r'));
          Reset();
          return e;
        }
        chunked = head.find("transfer-encoding: chunked") != std::string::npos;
        auto at = head.find("content-length:");
        if (!chunked && at == std::string::npos) return "gateway reply without Content-Length or chunks";
        if (!chunked) length = std::strtoul(head.c_str() + at + 15, nullptr, 10);
        close_after = head.find("connection: close") != std::string::npos;
      }
      if (header_end != std::string::npos) {
        if (!chunked && buffer.size() >= header_end + 4 + length) {
          *body = buffer.substr(header_end + 4, length);
          break;
        }
        if (chunked && DecodeChunks(buffer.substr(header_end + 4), body)) break;
      }
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        std::string e = n == 0 ? "gateway closed the connection" : std::string("recv: ") + std::strerror(errno);
        Reset();
        return e;
      }
      buffer.append(chunk, static_cast<size_t>(n));
    }
    // A keep-alive client reuses its connection; one the server closes counts
    // as an error, since every request here asks to keep it.
    if (close_after) {
      Reset();
      if (close_is_error_) return "gateway closed a keep-alive connection";
    }
    return "";
  }

  // Opens the connection; returns "" or what went wrong.
  std::string Connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::string e = std::string("connect: ") + std::strerror(errno);
      Reset();
      return e;
    }
    return "";
  }

  int fd() const { return fd_; }

  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  // True once `in` holds a whole chunked body (through its last, empty chunk),
  // which goes to `out`.
  static bool DecodeChunks(const std::string& in, std::string* out) {
    out->clear();
    size_t at = 0;
    for (;;) {
      size_t eol = in.find("\r\n", at);
      if (eol == std::string::npos) return false;
      size_t size = std::strtoul(in.c_str() + at, nullptr, 16);
      if (size == 0) return in.size() >= eol + 4;
      if (in.size() < eol + 2 + size + 2) return false;
      out->append(in, eol + 2, size);
      at = eol + 2 + size + 2;
    }
  }

  const int port_;
  const bool close_is_error_;
  int fd_ = -1;
};


// Resets every pointer of `*items` on a thread of its own, all at once, when it
// goes out of scope (whatever happens): a libtorrent session takes a moment to
// close, and several close faster side by side.
template <typename T>
struct ParallelReset {
  std::vector<std::unique_ptr<T>>* items;
  ~ParallelReset() {
    std::vector<std::thread> threads;
    for (auto& item : *items) threads.emplace_back([&item] { item.reset(); });
    for (auto& t : threads) t.join();
  }
};

}  // namespace mumba::bench
