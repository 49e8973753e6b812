// SPDX-License-Identifier: Apache-2.0
// bench_util: what the benchmarks under bench/ have in common. Each of them makes a
// throw-away folder, starts real hosts (as children, or through `mumba host start`),
// times things, prints a table to stdout and progress to stderr, and whatever
// happens ends what it started and removes the folder.
//
// Errors are exceptions (BenchError), as in the benches: none of this is used
// outside bench/, and every bench catches them in main. Nothing here may be
// included from src/ or the SDK.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
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

// How SpawnChild connects the child. stdin is always /dev/null.
struct SpawnOptions {
  fs::path log{};        // stderr, appended; stdout too unless stdout_fd is set.
  int stdout_fd = -1;    // When >= 0: the child's stdout (the write end of a pipe).
  fs::path cwd{};        // When not empty: the child's working folder.
};

// fork/exec of `argv` (argv[0] a path) with the environment minus MUMBA_*
// variables, signals unblocked, and no descriptor but 0-2 inherited. The child gets
// SIGTERM if the thread that forked ends, so call from the main thread. Returns its
// pid; the caller reaps it. The caller registers the pid for its cleanup, and so
// usually calls this under the lock of that registry.
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

// ---- A host started and stopped through the CLI. ----

// What a CLI command did.
struct CliResult {
  int status = 0;  // As waitpid gives it.
  std::string out;
  std::string err;
  Clock::duration took{};  // From just before the spawn to its exit.
};

// A mumba-host on a throw-away home, started with `mumba --home H host start` (so
// not a child of the bench) and stopped with `mumba host stop`, with the daemons it
// spawned. Thread-safe: main runs commands while the signal thread may close it.
class CliHost {
 public:
  // `cli` is bin/mumba, `home` the MUMBA_HOME, `scratch` the folder for the CLI's
  // output files (cli.out, cli.err). Call once, before anything else.
  void Configure(const fs::path& cli, const fs::path& home, const fs::path& scratch);

  const fs::path& home() const { return home_; }
  pid_t pid() const;
  bool closed() const { return closed_; }

  // Runs `mumba --home H ARGS...` with stdin from /dev/null and stdout and stderr
  // into files, the environment minus MUMBA_* variables, and waits up to `timeout`
  // (on a pidfd, so the exit is seen at once; killed after it). Fails when it did
  // not finish in time or, unless `may_fail`, did not exit 0, or when the host was
  // closed meanwhile.
  CliResult Run(const std::vector<std::string>& args, Clock::duration timeout, bool may_fail = false);

  // `mumba host start`; returns the pid it names once it is the host of this home.
  pid_t Start(Clock::duration timeout);

  // Remembers a daemon of the host, so that StopHost makes sure it ended.
  void NoteDaemon(pid_t pid);

  // Makes every later Run fail and kills a CLI command in progress. Returns false
  // when it was closed already.
  bool MarkClosed();

  // Stops the host: `mumba host stop` (SIGTERM instead when `from_signal`, as a
  // command could block), SIGKILL if it is still there 10 s later.
  void StopHost(bool from_signal);

  // Kills (SIGKILL) every noted daemon that still runs a program under the home.
  void KillStrayDaemons();

 private:
  CliResult RunLocked(const std::vector<std::string>& args, Clock::duration timeout, bool may_fail,
                      bool from_cleanup);

  mutable std::mutex mu_;  // Guards host_, cli_child_ and daemons_.
  std::atomic<bool> closed_{false};
  fs::path cli_, home_, scratch_;
  pid_t host_ = 0;       // mumba-host, not our child.
  pid_t cli_child_ = 0;  // A CLI command in progress, our child.
  std::vector<pid_t> daemons_;
};

}  // namespace mumba::bench
