// SPDX-License-Identifier: Apache-2.0
// The daemon state machine: starts daemons through the process launcher, watches
// their exit and output on an event loop, asks the health probe until they say
// SERVING, restarts them on the restart policy and stops them with SIGTERM, then
// SIGKILL. It owns no thread: it runs on whatever loop it is given, the real one
// (Supervisor) or one a test turns by hand on a fake clock.
//
//   stopped/failed --Start--> starting --SERVING--> running
//   starting/running --exit--> backoff --delay--> starting   (or failed: gave up)
//   starting/running --Stop--> stopping --exit--> stopped
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mumba/status.h"
#include "platform/process_launcher.h"
#include "supervisor/event_loop.h"
#include "supervisor/health_probe.h"
#include "supervisor/supervisor.h"

namespace mumba {

// Every method runs on the loop's thread, except Get. Callbacks run on the loop's
// thread, exactly once each.
class DaemonStateMachine {
 public:
  using Done = std::function<void(Status)>;

  // `loop`, `launcher` and `probe` must outlive the state machine; every time and
  // timer is read from loop.clock().
  DaemonStateMachine(SupervisorOptions options, EventLoop& loop, ProcessLauncher& launcher,
                     HealthProbe& probe);
  // Stops watching the descriptors of daemons still running (it does not stop
  // them: call Stop first).
  ~DaemonStateMachine();
  DaemonStateMachine(const DaemonStateMachine&) = delete;
  DaemonStateMachine& operator=(const DaemonStateMachine&) = delete;

  // Runs the daemon described by `spec`; `done` gets OK once its health service
  // says SERVING, at once if it already runs. While it is stopping, it is started
  // again once it has stopped, and `done` gets that new start's result. On error
  // (the command cannot run, the daemon exits or is not ready within
  // ready_timeout, or it is stopped meanwhile) `done` gets why, with the daemon's
  // last line of output when there is one, and the state is kFailed (kStopped when
  // stopped).
  void Start(const DaemonSpec& spec, Done done);

  // Stops the daemon: SIGTERM to its process group, SIGKILL after stop_grace.
  // `done` gets OK once it has exited, at once if it was not running; a daemon
  // waiting in backoff is not restarted.
  void Stop(const std::string& id, Done done);

  // The ids of every daemon ever started.
  std::vector<std::string> Ids() const;

  // Any thread: a snapshot of the daemon's state; kStopped for unknown ids.
  DaemonStatus Get(const std::string& id) const;

 private:
  struct Instance;

  Instance* Find(const std::string& id, uint64_t generation);
  void Publish(const Instance& inst);
  void Spawn(Instance& inst);
  void OnReadyTimeout(const std::string& id, uint64_t gen);
  // Moves the daemon's socket to spec.claimed_socket once it exists: true when done
  // (or not asked for), false while it is not there yet or when it was not a socket
  // (then the daemon is being killed and the start fails).
  bool Claim(Instance& inst);
  void Probe(const std::string& id, uint64_t gen);
  void OnProbe(const std::string& id, uint64_t gen, HealthAnswer answer);
  void OnOutput(const std::string& id, uint64_t gen);
  void OnExit(const std::string& id, uint64_t gen);
  void OnStopped(Instance& inst);
  void OnCrash(Instance& inst, const std::string& how);
  void Fail(Instance& inst, const Status& why);

  SupervisorOptions options_;
  EventLoop& loop_;
  ProcessLauncher& launcher_;
  HealthProbe& probe_;
  std::map<std::string, std::unique_ptr<Instance>> instances_;
  mutable std::mutex snapshot_mu_;
  std::map<std::string, DaemonStatus> snapshots_;
};

}  // namespace mumba
