// SPDX-License-Identifier: Apache-2.0
#include "supervisor/daemon_state_machine.h"

#include <csignal>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/files.h"
#include "supervisor/log_sink.h"
#include "supervisor/restart_policy.h"

namespace mumba {

namespace {

using namespace std::chrono_literals;

// How often to look again for a socket that is not there yet, and to ask again a
// daemon that is not SERVING yet.
constexpr auto kSocketPollInterval = 2ms;
constexpr auto kProbeRetryInterval = 5ms;
constexpr int kOutputReadsPerWake = 16;  // 256 KiB of a daemon's output per wake-up.
// How much of a daemon's output is kept for error messages.
constexpr size_t kTailBytes = 4096;

std::string LastLine(const std::string& tail) {
  size_t end = tail.find_last_not_of("\r\n \t");
  if (end == std::string::npos) return "";
  size_t start = tail.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return tail.substr(start, end - start + 1);
}

// Calls every waiter once with `status`. The list is emptied first, so a waiter
// that starts or stops a daemon again does not see itself.
void Resolve(std::vector<DaemonStateMachine::Done>& waiters, const Status& status) {
  auto called = std::move(waiters);
  waiters.clear();
  for (auto& done : called) done(status);
}

}  // namespace

struct DaemonStateMachine::Instance {
  DaemonSpec spec;
  DaemonStatus status;
  RestartPolicy policy;
  std::unique_ptr<LogSink> log;
  LaunchedProcess proc;
  // Bumped on every spawn and exit: timers and probes of an earlier run find
  // another generation and do nothing.
  uint64_t generation = 0;
  Clock::time_point started;
  bool stop_requested = false;
  bool start_after_stop = false;
  std::string tail;      // The last bytes of output, for error messages.
  Status pending_error;  // Reported when a kill the supervisor chose completes.
  bool claimed = false;  // The socket was moved to spec.claimed_socket.
  std::unique_ptr<HealthCheck> health;
  std::vector<Done> start_waiters;
  std::vector<Done> stop_waiters;
};

DaemonStateMachine::DaemonStateMachine(SupervisorOptions options, EventLoop& loop,
                                       ProcessLauncher& launcher, HealthProbe& probe)
    : options_(options), loop_(loop), launcher_(launcher), probe_(probe) {}

DaemonStateMachine::~DaemonStateMachine() {
  for (auto& [id, inst] : instances_) {
    if (inst->proc.pidfd) loop_.Unwatch(inst->proc.pidfd.get());
    if (inst->proc.output) loop_.Unwatch(inst->proc.output.get());
  }
}

std::vector<std::string> DaemonStateMachine::Ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, inst] : instances_) ids.push_back(id);
  return ids;
}

DaemonStatus DaemonStateMachine::Get(const std::string& id) const {
  std::lock_guard lock(snapshot_mu_);
  auto it = snapshots_.find(id);
  return it == snapshots_.end() ? DaemonStatus{} : it->second;
}

void DaemonStateMachine::Publish(const Instance& inst) {
  std::lock_guard lock(snapshot_mu_);
  snapshots_[inst.spec.id] = inst.status;
}

DaemonStateMachine::Instance* DaemonStateMachine::Find(const std::string& id, uint64_t generation) {
  auto it = instances_.find(id);
  if (it == instances_.end() || it->second->generation != generation) return nullptr;
  return it->second.get();
}

void DaemonStateMachine::Start(const DaemonSpec& spec, Done done) {
  auto& slot = instances_[spec.id];
  if (!slot) slot = std::make_unique<Instance>();
  Instance& inst = *slot;
  inst.policy = RestartPolicy(options_.restart);
  switch (inst.status.state) {
    case DaemonState::kRunning:
      done(Status());
      return;
    case DaemonState::kStarting:
      inst.start_waiters.push_back(std::move(done));
      return;
    case DaemonState::kStopping:
      inst.spec = spec;
      inst.start_after_stop = true;
      inst.start_waiters.push_back(std::move(done));
      return;
    case DaemonState::kBackoff:
    case DaemonState::kStopped:
    case DaemonState::kFailed:
      break;
  }
  inst.spec = spec;
  inst.log = std::make_unique<LogSink>(spec.log_file, options_.log_max_bytes, options_.log_keep);
  inst.status.restarts = 0;
  inst.status.error.clear();
  inst.start_waiters.push_back(std::move(done));
  Spawn(inst);
}

void DaemonStateMachine::Spawn(Instance& inst) {
  ++inst.generation;
  inst.stop_requested = false;
  inst.tail.clear();
  std::error_code ec;
  std::filesystem::remove(inst.spec.socket, ec);
  if (!inst.spec.claimed_socket.empty()) std::filesystem::remove(inst.spec.claimed_socket, ec);
  inst.claimed = false;
  std::filesystem::create_directories(inst.spec.socket.parent_path(), ec);
  LaunchSpec launch;
  launch.executable = inst.spec.executable;
  launch.args = inst.spec.args;
  launch.working_dir = inst.spec.working_dir;
  // The spec's variables are the daemon's whole environment: nothing of the host's
  // own environment (the shell that started it) reaches an app.
  launch.env = inst.spec.env;
  launch.fd_contents = inst.spec.fd_contents;
  launch.landlock_scope = inst.spec.landlock_scope;
  launch.capture_output = true;
  launch.parent_death_signal = SIGTERM;
  auto launched = launcher_.Launch(launch);
  if (!launched.ok()) {
    inst.log->Note(launched.status().message());
    Fail(inst, launched.status());
    return;
  }
  inst.proc = std::move(*launched);
  inst.started = loop_.clock().Now();
  inst.status.state = DaemonState::kStarting;
  inst.status.pid = inst.proc.pid;
  // A wall-clock time for people ("started 3 minutes ago"), not for timers.
  inst.status.started_at_ms = NowMs();
  Publish(inst);
  inst.log->Note("started " + inst.spec.name + " (pid " + std::to_string(inst.proc.pid) + ")");
  spdlog::info("started {} pid {}", inst.spec.name, inst.proc.pid);

  const std::string id = inst.spec.id;
  const uint64_t gen = inst.generation;
  loop_.Watch(inst.proc.pidfd.get(), [this, id, gen] { OnExit(id, gen); });
  loop_.Watch(inst.proc.output.get(), [this, id, gen] { OnOutput(id, gen); });
  inst.health = probe_.Connect(inst.spec.claimed_socket.empty() ? inst.spec.socket : inst.spec.claimed_socket);
  Probe(id, gen);
  loop_.After(options_.ready_timeout, [this, id, gen] { OnReadyTimeout(id, gen); });
}

void DaemonStateMachine::OnReadyTimeout(const std::string& id, uint64_t gen) {
  Instance* inst = Find(id, gen);
  if (!inst || inst->status.state != DaemonState::kStarting) return;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(options_.ready_timeout).count();
  inst->log->Note("not ready after " + std::to_string(secs) + " s; killing it");
  inst->stop_requested = true;
  inst->pending_error = DeadlineExceeded(inst->spec.name + " did not report SERVING within " +
                                         std::to_string(secs) + " s (see mumba logs " +
                                         inst->spec.name + ")");
  launcher_.SignalGroup(inst->proc.pid, SIGKILL);
}

bool DaemonStateMachine::Claim(Instance& inst) {
  if (inst.spec.claimed_socket.empty() || inst.claimed) return true;
  std::error_code ec;
  const auto type = std::filesystem::symlink_status(inst.spec.socket, ec).type();
  if (type == std::filesystem::file_type::not_found) return false;
  // Moved first, then looked at where the daemon cannot reach it any more: what is
  // checked is what will be used.
  std::filesystem::rename(inst.spec.socket, inst.spec.claimed_socket, ec);
  const auto moved = ec ? std::filesystem::file_type::not_found
                        : std::filesystem::symlink_status(inst.spec.claimed_socket, ec).type();
  if (moved == std::filesystem::file_type::socket) {
    inst.claimed = true;
    return true;
  }
  std::filesystem::remove(inst.spec.claimed_socket, ec);
  inst.log->Note("its socket is not a socket; killing it");
  inst.stop_requested = true;
  inst.pending_error = FailedPrecondition(inst.spec.name + " put something other than a socket at " +
                                          inst.spec.socket.string());
  launcher_.SignalGroup(inst.proc.pid, SIGKILL);
  return false;
}

void DaemonStateMachine::Probe(const std::string& id, uint64_t gen) {
  Instance* inst = Find(id, gen);
  if (!inst || inst->status.state != DaemonState::kStarting) return;
  if (!Claim(*inst)) {
    if (!inst->stop_requested) loop_.After(kSocketPollInterval, [this, id, gen] { Probe(id, gen); });
    return;
  }
  // The answer may come on the probe's thread: it is handled on the loop's.
  inst->health->Ask([this, id, gen](HealthAnswer answer) {
    loop_.Post([this, id, gen, answer] { OnProbe(id, gen, answer); });
  });
}

void DaemonStateMachine::OnProbe(const std::string& id, uint64_t gen, HealthAnswer answer) {
  Instance* inst = Find(id, gen);
  if (!inst || inst->status.state != DaemonState::kStarting) return;
  if (answer != HealthAnswer::kServing) {
    loop_.After(answer == HealthAnswer::kNoSocket ? kSocketPollInterval : kProbeRetryInterval,
                [this, id, gen] { Probe(id, gen); });
    return;
  }
  inst->status.state = DaemonState::kRunning;
  Publish(*inst);
  Resolve(inst->start_waiters, Status());
}

void DaemonStateMachine::OnOutput(const std::string& id, uint64_t gen) {
  Instance* inst = Find(id, gen);
  if (!inst) return;
  char buf[16384];
  // At most this much per wake-up: a daemon that writes without pause must not keep
  // the loop from every other daemon's exits, probes and timers. The descriptor is
  // watched level-triggered, so what is left wakes the loop again after them.
  for (int reads = 0; reads < kOutputReadsPerWake; ++reads) {
    ssize_t n = ::read(inst->proc.output.get(), buf, sizeof buf);
    if (n > 0) {
      inst->log->Write(buf, static_cast<size_t>(n));
      inst->tail.append(buf, static_cast<size_t>(n));
      if (inst->tail.size() > kTailBytes) inst->tail.erase(0, inst->tail.size() - kTailBytes);
      continue;
    }
    if (n == 0) {
      loop_.Unwatch(inst->proc.output.get());
      inst->proc.output.Reset();
    }
    return;
  }
}

void DaemonStateMachine::OnExit(const std::string& id, uint64_t gen) {
  Instance* inst = Find(id, gen);
  if (!inst) return;
  auto exit = launcher_.Reap(inst->proc.pid);
  if (!exit) return;
  const std::string how = exit->Describe();
  if (inst->proc.output) OnOutput(id, gen);  // Drain what is left.
  if (inst->proc.output) loop_.Unwatch(inst->proc.output.get());
  loop_.Unwatch(inst->proc.pidfd.get());
  const pid_t pid = inst->proc.pid;
  launcher_.SignalGroup(pid, SIGKILL);  // Whatever the daemon left behind.
  inst->proc = LaunchedProcess{};
  inst->health.reset();
  std::error_code ec;
  std::filesystem::remove(inst->spec.socket, ec);
  if (!inst->spec.claimed_socket.empty()) std::filesystem::remove(inst->spec.claimed_socket, ec);
  inst->status.pid = 0;
  inst->status.last_exit = how;
  inst->status.started_at_ms = 0;
  inst->log->Note(inst->spec.name + " (pid " + std::to_string(pid) + ") ended: " + how);
  spdlog::info("{} pid {} ended: {}", inst->spec.name, pid, how);
  ++inst->generation;  // Timers and probes of this run are void now.
  if (inst->stop_requested) {
    OnStopped(*inst);
  } else {
    OnCrash(*inst, how);
  }
}

// The daemon exited because we killed it: a Stop, or a start that timed out.
void DaemonStateMachine::OnStopped(Instance& inst) {
  Status err = inst.pending_error;
  inst.pending_error = Status();
  if (!err.ok()) {
    Fail(inst, err);
  } else {
    inst.status.state = DaemonState::kStopped;
    Publish(inst);
    // A Start that came while it stopped waits for the start that follows.
    if (!inst.start_after_stop) {
      Resolve(inst.start_waiters, FailedPrecondition(inst.spec.name + " was stopped while starting"));
    }
  }
  Resolve(inst.stop_waiters, Status());
  if (inst.start_after_stop) {
    inst.start_after_stop = false;
    inst.status.restarts = 0;
    inst.status.error.clear();
    Spawn(inst);
  }
}

// The daemon exited on its own.
void DaemonStateMachine::OnCrash(Instance& inst, const std::string& how) {
  const std::string last = LastLine(inst.tail);
  if (!inst.start_waiters.empty()) {
    // Someone is waiting for this start: tell them now rather than retry.
    Fail(inst, FailedPrecondition(inst.spec.name + " exited during start-up (" + how + ")" +
                                  (last.empty() ? "" : ": " + last)));
    return;
  }
  auto delay = inst.policy.OnFailure(loop_.clock().Now(), inst.started);
  if (!delay) {
    const std::string failures = std::to_string(inst.policy.failures_in_window());
    inst.log->Note("giving up after " + failures + " failures");
    Fail(inst, Unavailable(inst.spec.name + " gave up after " + failures +
                           " failures in a row; last: " + how + (last.empty() ? "" : ": " + last)));
    return;
  }
  inst.status.state = DaemonState::kBackoff;
  ++inst.status.restarts;
  Publish(inst);
  inst.log->Note("restarting in " + std::to_string(delay->count()) + " ms");
  const std::string id = inst.spec.id;
  const uint64_t gen = inst.generation;
  loop_.After(*delay, [this, id, gen] {
    Instance* in = Find(id, gen);
    if (in && in->status.state == DaemonState::kBackoff) Spawn(*in);
  });
}

void DaemonStateMachine::Fail(Instance& inst, const Status& why) {
  inst.status.state = DaemonState::kFailed;
  inst.status.error = why.message();
  Publish(inst);
  Resolve(inst.start_waiters, why);
}

void DaemonStateMachine::Stop(const std::string& id, Done done) {
  auto it = instances_.find(id);
  if (it == instances_.end()) {
    done(Status());
    return;
  }
  Instance& inst = *it->second;
  inst.start_after_stop = false;
  switch (inst.status.state) {
    case DaemonState::kStopped:
    case DaemonState::kFailed:
    case DaemonState::kBackoff:
      ++inst.generation;
      inst.status.state = DaemonState::kStopped;
      Publish(inst);
      done(Status());
      return;
    case DaemonState::kStopping:
      inst.stop_waiters.push_back(std::move(done));
      return;
    case DaemonState::kStarting:
    case DaemonState::kRunning:
      break;
  }
  inst.stop_requested = true;
  inst.status.state = DaemonState::kStopping;
  Publish(inst);
  inst.stop_waiters.push_back(std::move(done));
  if (inst.spec.wrapper_depth > 0) {
    launcher_.SignalDescendant(inst.proc.pid, inst.spec.wrapper_depth, SIGTERM);
  } else {
    launcher_.SignalGroup(inst.proc.pid, SIGTERM);
  }
  const uint64_t gen = inst.generation;
  loop_.After(options_.stop_grace, [this, id, gen] {
    Instance* in = Find(id, gen);
    if (!in || in->proc.pid <= 0) return;
    in->log->Note("still running after the grace period; sending SIGKILL");
    launcher_.SignalGroup(in->proc.pid, SIGKILL);
  });
}

}  // namespace mumba
