// SPDX-License-Identifier: Apache-2.0
// The supervisor below the host: the daemon state machine on a loop the test turns
// by hand, with a fake clock, fake processes and a fake health probe. Nothing here
// sleeps or starts a process; time moves only when a test moves it.
#include "supervisor/daemon_state_machine.h"
#include "supervisor/log_sink.h"
#include "supervisor/manual_event_loop.h"
#include "supervisor/supervisor.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <csignal>
#include <fstream>
#include <future>
#include <sstream>

#include <gtest/gtest.h>

#include "common/temp_dir.h"
#include "platform/fake_clock.h"

namespace mumba {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A process that exists only in the test. Its pidfd is an eventfd that becomes
// readable when the test (or a signal) ends it; its output is a pipe the test
// writes into.
struct FakeProcess {
  pid_t pid = 0;
  UniqueFd exit_event;    // The same eventfd the supervisor holds as the pidfd.
  UniqueFd output_write;  // The daemon's stdout+stderr.
  bool ignores_sigterm = false;
  std::optional<ProcessExit> exit;
  bool reaped = false;
};

// Thread-safe: the Supervisor tests call it from the supervisor's thread.
class FakeLauncher final : public ProcessLauncher {
 public:
  explicit FakeLauncher(const Clock& clock) : clock_(clock) {}

  Expected<LaunchedProcess> Launch(const LaunchSpec& spec) override {
    std::lock_guard lock(mu_);
    specs_.push_back(spec);
    if (!fail_next_.ok()) return std::exchange(fail_next_, Status());
    auto proc = std::make_unique<FakeProcess>();
    proc->pid = next_pid_++;
    proc->exit_event.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    int out[2];
    if (::pipe2(out, O_CLOEXEC | O_NONBLOCK) != 0) return Internal("pipe");
    proc->output_write.Reset(out[1]);
    LaunchedProcess launched{proc->pid, UniqueFd(::dup(proc->exit_event.get())), UniqueFd(out[0])};
    launch_times_.push_back(clock_.Now());
    processes_.push_back(std::move(proc));
    return launched;
  }

  void SignalGroup(pid_t pgid, int signal) override {
    std::lock_guard lock(mu_);
    signals_.emplace_back(pgid, signal);
    FakeProcess* proc = FindLocked(pgid);
    if (!proc || proc->exit) return;
    if (signal == SIGKILL || (signal == SIGTERM && !proc->ignores_sigterm)) EndLocked(*proc, signal);
  }

  void SignalDescendant(pid_t pid, int depth, int signal) override {
    {
      std::lock_guard lock(mu_);
      descendant_signals_.push_back({pid, depth, signal});
    }
    SignalGroup(pid, signal);  // A fake process has no wrappers: the program is the group.
  }

  std::optional<ProcessExit> Reap(pid_t pid) override {
    std::lock_guard lock(mu_);
    FakeProcess* proc = FindLocked(pid);
    if (!proc || !proc->exit || proc->reaped) return std::nullopt;
    proc->reaped = true;
    return proc->exit;
  }

  ProcessExit Wait(pid_t) override {
    ADD_FAILURE() << "the supervisor never blocks on a child";
    return {};
  }

  // The daemon exits on its own with `code`.
  void Exit(pid_t pid, int code) {
    std::lock_guard lock(mu_);
    EndLocked(*FindLocked(pid), code << 8);
  }
  // The daemon prints `text`.
  void Write(pid_t pid, const std::string& text) {
    std::lock_guard lock(mu_);
    ASSERT_EQ(::write(FindLocked(pid)->output_write.get(), text.data(), text.size()),
              static_cast<ssize_t>(text.size()));
  }
  // Lets the daemon's output pipe hold `bytes` before it blocks.
  void SetPipeSize(pid_t pid, int bytes) {
    std::lock_guard lock(mu_);
    ASSERT_GE(::fcntl(FindLocked(pid)->output_write.get(), F_SETPIPE_SZ, bytes), bytes);
  }
  void IgnoreSigterm(pid_t pid) {
    std::lock_guard lock(mu_);
    FindLocked(pid)->ignores_sigterm = true;
  }
  void FailNextLaunch(Status why) {
    std::lock_guard lock(mu_);
    fail_next_ = std::move(why);
  }

  int launches() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(processes_.size());
  }
  pid_t last_pid() const {
    std::lock_guard lock(mu_);
    return processes_.empty() ? 0 : processes_.back()->pid;
  }
  Clock::time_point last_launch_time() const {
    std::lock_guard lock(mu_);
    return launch_times_.back();
  }
  LaunchSpec last_spec() const {
    std::lock_guard lock(mu_);
    return specs_.back();
  }
  std::vector<std::pair<pid_t, int>> signals() const {
    std::lock_guard lock(mu_);
    return signals_;
  }
  struct DescendantSignal {
    pid_t pid;
    int depth;
    int signal;
  };
  std::vector<DescendantSignal> descendant_signals() const {
    std::lock_guard lock(mu_);
    return descendant_signals_;
  }

 private:
  FakeProcess* FindLocked(pid_t pid) {
    for (auto& proc : processes_) {
      if (proc->pid == pid) return proc.get();
    }
    return nullptr;
  }
  // Ends the process with a waitpid status, closing its output as the kernel does.
  static void EndLocked(FakeProcess& proc, int wait_status) {
    proc.exit = ProcessExit{wait_status};
    proc.output_write.Reset();
    uint64_t one = 1;
    (void)!::write(proc.exit_event.get(), &one, sizeof one);
  }

  const Clock& clock_;
  mutable std::mutex mu_;
  pid_t next_pid_ = 4100;
  Status fail_next_;
  std::vector<LaunchSpec> specs_;
  std::vector<std::unique_ptr<FakeProcess>> processes_;
  std::vector<Clock::time_point> launch_times_;
  std::vector<std::pair<pid_t, int>> signals_;
  std::vector<DescendantSignal> descendant_signals_;
};

// The test decides what each daemon's health service says: at once (`auto_answer`)
// or when it calls Answer. Thread-safe.
class FakeProbe final : public HealthProbe {
 public:
  explicit FakeProbe(const Clock& clock) : clock_(clock) {}

  std::unique_ptr<HealthCheck> Connect(const std::filesystem::path& socket) override {
    {
      std::lock_guard lock(mu_);
      connected_to_ = socket;
    }
    return std::make_unique<Check>(*this);
  }

  // Answers every question asked so far.
  void Answer(HealthAnswer answer) {
    std::vector<std::function<void(HealthAnswer)>> pending;
    {
      std::lock_guard lock(mu_);
      pending.swap(pending_);
    }
    for (auto& done : pending) done(answer);
  }
  void set_auto_answer(std::optional<HealthAnswer> answer) {
    std::lock_guard lock(mu_);
    auto_answer_ = answer;
  }
  // Blocks until `n` questions in all have been asked (the Supervisor tests, whose
  // loop runs on its own thread). A bound, not a wait for time to pass.
  bool AwaitAsked(size_t n) {
    std::unique_lock lock(mu_);
    return asked_cv_.wait_for(lock, 10s, [&] { return ask_times_.size() >= n; });
  }
  std::vector<Clock::time_point> ask_times() const {
    std::lock_guard lock(mu_);
    return ask_times_;
  }

  std::filesystem::path connected_to() const {
    std::lock_guard lock(mu_);
    return connected_to_;
  }

 private:
  class Check final : public HealthCheck {
   public:
    explicit Check(FakeProbe& probe) : probe_(probe) {}
    void Ask(std::function<void(HealthAnswer)> done) override { probe_.Ask(std::move(done)); }

   private:
    FakeProbe& probe_;
  };

  void Ask(std::function<void(HealthAnswer)> done) {
    std::optional<HealthAnswer> answer;
    {
      std::lock_guard lock(mu_);
      ask_times_.push_back(clock_.Now());
      answer = auto_answer_;
      if (!answer) pending_.push_back(std::move(done));
    }
    asked_cv_.notify_all();
    if (answer) done(*answer);
  }

  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable asked_cv_;
  std::optional<HealthAnswer> auto_answer_;
  std::vector<std::function<void(HealthAnswer)>> pending_;
  std::filesystem::path connected_to_;
  std::vector<Clock::time_point> ask_times_;
};

// What a Start or Stop reported, once it has.
using Outcome = std::shared_ptr<std::optional<Status>>;

class DaemonStateMachineTest : public ::testing::Test {
 protected:
  DaemonSpec Spec() const {
    DaemonSpec spec;
    spec.id = "app1";
    spec.name = "hello";
    spec.executable = "/apps/hello/bin/hello";
    spec.args = {"--serve"};
    spec.working_dir = dir_.path() / "data";
    spec.socket = dir_.path() / "run" / "hello.sock";
    spec.log_file = dir_.path() / "logs" / "hello.log";
    spec.env = {{"MUMBA_APP_SOCKET", spec.socket.string()}, {"HOME", "/apps/hello/home"}};
    spec.fd_contents = extra_fd_contents_;
    spec.claimed_socket = claimed_socket_;
    spec.wrapper_depth = wrapper_depth_;
    return spec;
  }

  DaemonStateMachine& machine() {
    if (!machine_) machine_ = std::make_unique<DaemonStateMachine>(options_, loop_, launcher_, probe_);
    return *machine_;
  }

  Outcome Start() {
    auto outcome = std::make_shared<std::optional<Status>>();
    machine().Start(Spec(), [outcome](Status s) { *outcome = std::move(s); });
    loop_.RunUntilIdle();
    return outcome;
  }
  Outcome Stop() {
    auto outcome = std::make_shared<std::optional<Status>>();
    machine().Stop("app1", [outcome](Status s) { *outcome = std::move(s); });
    loop_.RunUntilIdle();
    return outcome;
  }
  // The daemon says SERVING: `started` is answered OK, and the latest process runs.
  DaemonStatus AnswerServing(const Outcome& started) {
    probe_.Answer(HealthAnswer::kServing);
    loop_.RunUntilIdle();
    EXPECT_TRUE(started->has_value() && (*started)->ok()) << (started->has_value() ? (*started)->message() : "");
    DaemonStatus status = machine().Get("app1");
    EXPECT_EQ(status.state, DaemonState::kRunning);
    EXPECT_EQ(status.pid, launcher_.last_pid());
    return status;
  }
  // Starts the daemon and has it say SERVING.
  pid_t StartRunning() {
    Outcome started = Start();
    probe_.Answer(HealthAnswer::kServing);
    loop_.RunUntilIdle();
    EXPECT_TRUE(started->has_value() && (*started)->ok());
    EXPECT_EQ(state(), DaemonState::kRunning);
    return launcher_.last_pid();
  }
  // The running daemon crashes; returns how long the supervisor waited before it
  // started the next one, measured on the fake clock.
  milliseconds CrashAndTimeRestart() {
    const int launches = launcher_.launches();
    const auto crashed_at = clock_.Now();
    launcher_.Exit(launcher_.last_pid(), 1);
    loop_.RunUntilIdle();
    EXPECT_EQ(state(), DaemonState::kBackoff);
    // Millisecond steps: the restarted daemon must not reach its ready timeout.
    for (int ms = 0; ms < 20'000 && launcher_.launches() == launches; ++ms) loop_.AdvanceBy(1ms);
    EXPECT_EQ(launcher_.launches(), launches + 1);
    return std::chrono::duration_cast<milliseconds>(launcher_.last_launch_time() - crashed_at);
  }
  DaemonState state() { return machine().Get("app1").state; }
  std::vector<int> SignalsTo(pid_t pid) const {
    std::vector<int> sent;
    for (const auto& [pgid, signal] : launcher_.signals()) {
      if (pgid == pid) sent.push_back(signal);
    }
    return sent;
  }

  std::map<int, std::string> extra_fd_contents_;
  std::filesystem::path claimed_socket_;
  int wrapper_depth_ = 0;
  TempDir dir_{"mumba-supervisor-test"};
  FakeClock clock_;
  ManualEventLoop loop_{clock_};
  FakeLauncher launcher_{clock_};
  FakeProbe probe_{clock_};
  SupervisorOptions options_;
  std::unique_ptr<DaemonStateMachine> machine_;  // Last: it goes before its fakes.
};

TEST_F(DaemonStateMachineTest, StartWaitsForServingThenRuns) {
  Outcome started = Start();
  EXPECT_FALSE(started->has_value());
  EXPECT_EQ(state(), DaemonState::kStarting);
  loop_.AdvanceBy(1s);
  EXPECT_FALSE(started->has_value()) << "a daemon is not ready until it says SERVING";

  DaemonStatus status = AnswerServing(started);
  EXPECT_GT(status.started_at_ms, 0);
  EXPECT_EQ(status.restarts, 0);

  Outcome again = Start();
  ASSERT_TRUE(again->has_value());
  EXPECT_TRUE((*again)->ok()) << "starting a running daemon is OK at once";
  EXPECT_EQ(launcher_.launches(), 1);
}

TEST_F(DaemonStateMachineTest, LaunchesTheDaemonAsTheSpecSays) {
  const char* home = std::getenv("HOME");
  const std::string saved_home = home ? home : "";
  ::setenv("MUMBA_SUPERVISOR_TEST_INHERITED", "yes", 1);
  ::setenv("HOME", "/root-of-the-host", 1);
  Start();
  ::unsetenv("MUMBA_SUPERVISOR_TEST_INHERITED");
  if (home) {
    ::setenv("HOME", saved_home.c_str(), 1);
  } else {
    ::unsetenv("HOME");
  }
  LaunchSpec spec = launcher_.last_spec();
  EXPECT_EQ(spec.executable, Spec().executable);
  EXPECT_FALSE(spec.search_path);
  EXPECT_EQ(spec.args, Spec().args);
  EXPECT_EQ(spec.working_dir, Spec().working_dir);
  EXPECT_EQ(spec.env, Spec().env) << "the spec's variables, and nothing of the host's";
  EXPECT_FALSE(spec.env.count("MUMBA_SUPERVISOR_TEST_INHERITED")) << "the host's environment is not inherited";
  EXPECT_EQ(spec.env["HOME"], "/apps/hello/home");
  EXPECT_TRUE(spec.capture_output);
  EXPECT_TRUE(spec.fds.empty()) << "stdin is /dev/null";
  EXPECT_FALSE(spec.new_session) << "a process group of its own, still ours";
  EXPECT_EQ(spec.parent_death_signal, SIGTERM);
  EXPECT_TRUE(std::filesystem::is_directory(Spec().socket.parent_path()));
}

TEST_F(DaemonStateMachineTest, PollsForTheSocketEvery2msThenAsksEvery5ms) {
  probe_.set_auto_answer(HealthAnswer::kNoSocket);
  Start();
  loop_.AdvanceBy(10ms);
  probe_.set_auto_answer(HealthAnswer::kNotServing);
  loop_.AdvanceBy(20ms);
  std::vector<long> gaps;
  auto asks = probe_.ask_times();
  for (size_t i = 1; i < asks.size(); ++i) {
    gaps.push_back(std::chrono::duration_cast<milliseconds>(asks[i] - asks[i - 1]).count());
  }
  EXPECT_EQ(gaps, (std::vector<long>{2, 2, 2, 2, 2, 2, 5, 5, 5}));
}

TEST_F(DaemonStateMachineTest, BackoffDoublesAfterEachCrash) {
  StartRunning();
  EXPECT_EQ(CrashAndTimeRestart(), 100ms);
  EXPECT_EQ(CrashAndTimeRestart(), 200ms);
  EXPECT_EQ(CrashAndTimeRestart(), 400ms);
  EXPECT_EQ(CrashAndTimeRestart(), 800ms);
  EXPECT_EQ(machine().Get("app1").restarts, 4);
  EXPECT_EQ(machine().Get("app1").last_exit, "exit code 1");
}

TEST_F(DaemonStateMachineTest, GivesUpAfterFiveFailuresInAMinute) {
  StartRunning();
  for (int i = 0; i < 4; ++i) CrashAndTimeRestart();
  const int launches = launcher_.launches();
  launcher_.Write(launcher_.last_pid(), "opening db\npanic: database is locked\n");
  launcher_.Exit(launcher_.last_pid(), 2);
  loop_.AdvanceBy(10min);
  DaemonStatus status = machine().Get("app1");
  EXPECT_EQ(status.state, DaemonState::kFailed);
  EXPECT_EQ(status.error,
            "hello gave up after 5 failures in a row; last: exit code 2: panic: database is locked");
  EXPECT_EQ(status.restarts, 4);
  EXPECT_EQ(launcher_.launches(), launches) << "no restart once it gave up";
  EXPECT_NE(ReadFile(Spec().log_file).find("[mumba] giving up after 5 failures\n"), std::string::npos);
}

TEST_F(DaemonStateMachineTest, ARunLongerThanStableAfterResetsTheBackoff) {
  StartRunning();
  EXPECT_EQ(CrashAndTimeRestart(), 100ms);
  EXPECT_EQ(CrashAndTimeRestart(), 200ms);
  probe_.Answer(HealthAnswer::kServing);
  loop_.AdvanceBy(options_.restart.stable_after);
  EXPECT_EQ(CrashAndTimeRestart(), 100ms);
  EXPECT_EQ(machine().Get("app1").restarts, 3);
}

TEST_F(DaemonStateMachineTest, StopSendsSigtermToTheProcessGroup) {
  pid_t pid = StartRunning();
  Outcome stopped = Stop();
  ASSERT_TRUE(stopped->has_value());
  EXPECT_TRUE((*stopped)->ok());
  ASSERT_FALSE(SignalsTo(pid).empty());
  EXPECT_EQ(SignalsTo(pid).front(), SIGTERM);
  DaemonStatus status = machine().Get("app1");
  EXPECT_EQ(status.state, DaemonState::kStopped);
  EXPECT_EQ(status.pid, 0);
  EXPECT_EQ(status.last_exit, "signal 15 (SIGTERM)");
}

TEST_F(DaemonStateMachineTest, AWrappedDaemonGetsItsSigtermItselfAndItsBytes) {
  wrapper_depth_ = 2;
  extra_fd_contents_ = {{3, "filter"}};
  pid_t pid = StartRunning();
  EXPECT_EQ(launcher_.last_spec().fd_contents, extra_fd_contents_);
  Outcome stopped = Stop();
  ASSERT_TRUE(stopped->has_value());
  auto sent = launcher_.descendant_signals();
  ASSERT_EQ(sent.size(), 1u) << "the polite stop skips the wrappers";
  EXPECT_EQ(sent[0].pid, pid);
  EXPECT_EQ(sent[0].depth, 2);
  EXPECT_EQ(sent[0].signal, SIGTERM);
}

TEST_F(DaemonStateMachineTest, StopSendsSigkillAfterTheGracePeriod) {
  pid_t pid = StartRunning();
  launcher_.IgnoreSigterm(pid);
  Outcome stopped = Stop();
  EXPECT_FALSE(stopped->has_value());
  EXPECT_EQ(state(), DaemonState::kStopping);
  loop_.AdvanceBy(options_.stop_grace - 1ms);
  EXPECT_FALSE(stopped->has_value());
  EXPECT_EQ(SignalsTo(pid), std::vector<int>{SIGTERM});

  loop_.AdvanceBy(1ms);
  ASSERT_TRUE(stopped->has_value());
  EXPECT_TRUE((*stopped)->ok());
  ASSERT_GE(SignalsTo(pid).size(), 2u);
  EXPECT_EQ(SignalsTo(pid)[1], SIGKILL);
  EXPECT_EQ(machine().Get("app1").last_exit, "signal 9 (SIGKILL)");
  EXPECT_EQ(state(), DaemonState::kStopped);
  EXPECT_NE(ReadFile(Spec().log_file).find("still running after the grace period; sending SIGKILL"),
            std::string::npos);
}

// A real unix socket bound at `path`, as a daemon makes it.
UniqueFd BindSocket(const std::filesystem::path& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

TEST_F(DaemonStateMachineTest, TheSocketIsMovedOutOfTheDaemonsReachBeforeItIsAsked) {
  claimed_socket_ = dir_.path() / "claimed.sock";
  Outcome started = Start();
  EXPECT_EQ(probe_.connected_to(), claimed_socket_) << "the health check asks at the claimed path";
  UniqueFd daemon = BindSocket(Spec().socket);
  loop_.AdvanceBy(2ms);
  EXPECT_FALSE(std::filesystem::exists(Spec().socket));
  EXPECT_EQ(std::filesystem::symlink_status(claimed_socket_).type(), std::filesystem::file_type::socket);
  AnswerServing(started);
}

TEST_F(DaemonStateMachineTest, ALinkWhereTheSocketShouldBeFailsTheStart) {
  claimed_socket_ = dir_.path() / "claimed.sock";
  std::ofstream(dir_.path() / "other.sock") << "another app's socket";
  Outcome started = Start();
  pid_t pid = launcher_.last_pid();
  std::filesystem::create_symlink(dir_.path() / "other.sock", Spec().socket);
  loop_.AdvanceBy(2ms);
  EXPECT_EQ(SignalsTo(pid).front(), SIGKILL);
  ASSERT_TRUE(started->has_value());
  EXPECT_EQ((*started)->code(), Code::kFailedPrecondition);
  EXPECT_NE((*started)->message().find("something other than a socket"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(claimed_socket_)) << "the link is not kept where the host would follow it";
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "other.sock")) << "what it pointed at is untouched";
  EXPECT_TRUE(probe_.ask_times().empty()) << "nothing was asked through the link";
}

TEST_F(DaemonStateMachineTest, ADaemonThatNeverBecomesHealthyIsKilledAfterReadyTimeout) {
  probe_.set_auto_answer(HealthAnswer::kNotServing);
  Outcome started = Start();
  pid_t pid = launcher_.last_pid();
  loop_.AdvanceBy(options_.ready_timeout - 1ms);
  EXPECT_FALSE(started->has_value());
  EXPECT_TRUE(SignalsTo(pid).empty());
  EXPECT_GT(probe_.ask_times().size(), 1000u) << "it kept asking";

  loop_.AdvanceBy(1ms);
  EXPECT_EQ(SignalsTo(pid).front(), SIGKILL);
  ASSERT_TRUE(started->has_value());
  EXPECT_EQ((*started)->code(), Code::kDeadlineExceeded);
  EXPECT_EQ((*started)->message(), "hello did not report SERVING within 15 s (see mumba logs hello)");
  EXPECT_EQ(state(), DaemonState::kFailed);
  loop_.AdvanceBy(1min);
  EXPECT_EQ(launcher_.launches(), 1) << "a start that timed out is not retried";
}

TEST_F(DaemonStateMachineTest, ExitDuringStartUpFailsStartWithTheLastLine) {
  Outcome started = Start();
  launcher_.Write(launcher_.last_pid(), "loading\nerror: no such table: notes\n\n");
  launcher_.Exit(launcher_.last_pid(), 3);
  loop_.RunUntilIdle();
  ASSERT_TRUE(started->has_value());
  EXPECT_EQ((*started)->code(), Code::kFailedPrecondition);
  EXPECT_EQ((*started)->message(), "hello exited during start-up (exit code 3): error: no such table: notes");
  DaemonStatus status = machine().Get("app1");
  EXPECT_EQ(status.state, DaemonState::kFailed);
  EXPECT_EQ(status.last_exit, "exit code 3");
  loop_.AdvanceBy(1min);
  EXPECT_EQ(launcher_.launches(), 1);
}

TEST_F(DaemonStateMachineTest, ExecFailureFailsStart) {
  launcher_.FailNextLaunch(FailedPrecondition("cannot run /apps/hello/bin/hello: No such file or directory"));
  Outcome started = Start();
  ASSERT_TRUE(started->has_value());
  EXPECT_EQ((*started)->code(), Code::kFailedPrecondition);
  EXPECT_EQ((*started)->message(), "cannot run /apps/hello/bin/hello: No such file or directory");
  EXPECT_EQ(state(), DaemonState::kFailed);
  EXPECT_EQ(machine().Get("app1").error, "cannot run /apps/hello/bin/hello: No such file or directory");
  EXPECT_EQ(ReadFile(Spec().log_file), "[mumba] cannot run /apps/hello/bin/hello: No such file or directory\n");
}

TEST_F(DaemonStateMachineTest, StopWhileStartingFailsTheStart) {
  Outcome started = Start();
  Outcome stopped = Stop();
  ASSERT_TRUE(started->has_value());
  EXPECT_EQ((*started)->code(), Code::kFailedPrecondition);
  EXPECT_EQ((*started)->message(), "hello was stopped while starting");
  ASSERT_TRUE(stopped->has_value());
  EXPECT_TRUE((*stopped)->ok());
  EXPECT_EQ(state(), DaemonState::kStopped);
}

TEST_F(DaemonStateMachineTest, StartWhileStoppingStartsItAgainOnceStopped) {
  pid_t first = StartRunning();
  launcher_.IgnoreSigterm(first);
  Outcome stopped = Stop();
  Outcome started = Start();
  EXPECT_FALSE(started->has_value());
  EXPECT_EQ(launcher_.launches(), 1);

  loop_.AdvanceBy(options_.stop_grace);
  ASSERT_TRUE(stopped->has_value());
  EXPECT_TRUE((*stopped)->ok());
  EXPECT_EQ(launcher_.launches(), 2);
  EXPECT_EQ(state(), DaemonState::kStarting);
  // The Start that came while it stopped is answered by the start that follows,
  // not by the stop.
  EXPECT_FALSE(started->has_value());
  EXPECT_NE(AnswerServing(started).pid, first);
}

TEST_F(DaemonStateMachineTest, StopDuringBackoffCancelsTheRestart) {
  StartRunning();
  launcher_.Exit(launcher_.last_pid(), 1);
  loop_.RunUntilIdle();
  EXPECT_EQ(state(), DaemonState::kBackoff);
  Outcome stopped = Stop();
  ASSERT_TRUE(stopped->has_value());
  EXPECT_TRUE((*stopped)->ok());
  loop_.AdvanceBy(1min);
  EXPECT_EQ(launcher_.launches(), 1);
  EXPECT_EQ(state(), DaemonState::kStopped);
}

TEST_F(DaemonStateMachineTest, AFloodOfOutputIsReadInSlicesSoOtherWorkRuns) {
  options_.log_max_bytes = 64u << 20;
  pid_t pid = StartRunning();
  launcher_.SetPipeSize(pid, 1 << 20);
  launcher_.Write(pid, std::string(1 << 20, 'x'));
  // The loop wakes the handler again and again, running what else is ready in
  // between, instead of reading the whole flood at once.
  EXPECT_GE(loop_.RunUntilIdle(), 4);
  EXPECT_EQ(std::filesystem::file_size(Spec().log_file),
            (1u << 20) + ("[mumba] started hello (pid " + std::to_string(pid) + ")\n").size());
}

TEST_F(DaemonStateMachineTest, OutputGoesToTheLogAndRotates) {
  options_.log_max_bytes = 100;
  options_.log_keep = 1;
  pid_t pid = StartRunning();
  launcher_.Write(pid, "hello from the daemon\n");
  loop_.RunUntilIdle();
  EXPECT_EQ(ReadFile(Spec().log_file),
            "[mumba] started hello (pid " + std::to_string(pid) + ")\nhello from the daemon\n");

  launcher_.Write(pid, std::string(99, 'x') + "\n");
  loop_.RunUntilIdle();
  launcher_.Write(pid, "after rotation\n");
  loop_.RunUntilIdle();
  const auto rotated = std::filesystem::path(Spec().log_file.string() + ".1");
  EXPECT_NE(ReadFile(rotated).find("hello from the daemon\n"), std::string::npos);
  EXPECT_EQ(ReadFile(Spec().log_file), "after rotation\n");
  EXPECT_FALSE(std::filesystem::exists(Spec().log_file.string() + ".2"));
}

TEST(LogSinkTest, RotatesPastMaxBytesKeepingLogKeepFiles) {
  TempDir dir("mumba-log-sink-test");
  const auto path = dir.path() / "logs" / "app.log";
  auto older = [&](int i) { return std::filesystem::path(path.string() + "." + std::to_string(i)); };
  LogSink sink(path, 100, 2);
  const std::string a(60, 'a'), b(60, 'b'), c(60, 'c'), d(60, 'd');
  sink.Write(a.data(), a.size());
  EXPECT_EQ(ReadFile(path), a);
  sink.Write(b.data(), b.size());  // 120 > 100: rotate.
  EXPECT_EQ(ReadFile(older(1)), a + b);
  EXPECT_EQ(ReadFile(path), "");
  sink.Write(c.data(), c.size());
  sink.Write(d.data(), d.size());
  EXPECT_EQ(ReadFile(older(2)), a + b);
  EXPECT_EQ(ReadFile(older(1)), c + d);
  sink.Note("third");
  sink.Write(a.data(), a.size());  // 8 + 6 + 60 = 74: no rotation yet.
  sink.Write(a.data(), a.size());
  EXPECT_EQ(ReadFile(older(2)), c + d) << "only log_keep older files are kept";
  EXPECT_EQ(ReadFile(older(1)), "[mumba] third\n" + a + a);
  EXPECT_FALSE(std::filesystem::exists(older(3)));
}

TEST(LogSinkTest, AppendsToAnExistingLogAndCountsItsSize) {
  TempDir dir("mumba-log-sink-test");
  const auto path = dir.path() / "app.log";
  std::ofstream(path) << std::string(90, 'o');
  LogSink sink(path, 100, 1);
  sink.Note("back");  // 90 + 13 > 100.
  EXPECT_EQ(ReadFile(path.string() + ".1"), std::string(90, 'o') + "[mumba] back\n");
}

// The blocking, thread-safe face over its own epoll thread, still on fakes.
TEST(SupervisorTest, StartBlocksUntilServingAndStopAllStopsEverything) {
  TempDir dir("mumba-supervisor-test");
  FakeClock clock;
  FakeLauncher launcher(clock);
  FakeProbe probe(clock);
  auto supervisor = Supervisor::Create({}, {&clock, &launcher, &probe});
  DaemonSpec spec;
  spec.id = "app1";
  spec.name = "hello";
  spec.executable = "/apps/hello/bin/hello";
  spec.socket = dir.path() / "hello.sock";
  spec.log_file = dir.path() / "hello.log";

  auto started = std::async(std::launch::async, [&] { return supervisor->Start(spec); });
  ASSERT_TRUE(probe.AwaitAsked(1));
  EXPECT_EQ(started.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(supervisor->Get("app1").state, DaemonState::kStarting);
  probe.Answer(HealthAnswer::kServing);
  Status status = started.get();
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(supervisor->Get("app1").state, DaemonState::kRunning);
  EXPECT_EQ(supervisor->Get("app1").pid, launcher.last_pid());
  EXPECT_EQ(supervisor->Get("nobody").state, DaemonState::kStopped);

  supervisor->StopAll();
  EXPECT_EQ(supervisor->Get("app1").state, DaemonState::kStopped);
  EXPECT_EQ(launcher.signals().front(), std::make_pair(launcher.last_pid(), SIGTERM));
}

}  // namespace
}  // namespace mumba
