// SPDX-License-Identifier: Apache-2.0
// The thread-safe, blocking face of the supervisor: the daemon state machine on an
// epoll loop of its own, reached only through posted tasks.
#include "supervisor/supervisor.h"

#include <future>

#include "supervisor/daemon_state_machine.h"
#include "supervisor/event_loop.h"

namespace mumba {

const char* DaemonStateName(DaemonState state) {
  switch (state) {
    case DaemonState::kStopped: return "stopped";
    case DaemonState::kStarting: return "starting";
    case DaemonState::kRunning: return "running";
    case DaemonState::kBackoff: return "backoff";
    case DaemonState::kStopping: return "stopping";
    case DaemonState::kFailed: return "failed";
  }
  return "unknown";
}

namespace {

class SupervisorImpl final : public Supervisor {
 public:
  SupervisorImpl(SupervisorOptions options, SupervisorDependencies deps)
      : loop_(*deps.clock), machine_(options, loop_, *deps.launcher, *deps.probe) {}

  ~SupervisorImpl() override { StopAll(); }

  Status Start(const DaemonSpec& spec) override {
    return Submit([this, spec](DaemonStateMachine::Done done) { machine_.Start(spec, std::move(done)); })
        .get();
  }

  Status Stop(const std::string& id) override { return SubmitStop(id).get(); }

  DaemonStatus Get(const std::string& id) const override { return machine_.Get(id); }

  void StopAll() override {
    if (quit_) return;
    quit_ = true;
    std::promise<std::vector<std::string>> ids;
    auto ids_future = ids.get_future();
    loop_.Post([this, &ids] { ids.set_value(machine_.Ids()); });
    std::vector<std::future<Status>> stops;
    for (const auto& id : ids_future.get()) stops.push_back(SubmitStop(id));
    for (auto& stop : stops) (void)stop.get();
    loop_.Quit();
  }

 private:
  // Runs `op` on the loop thread; the future gets the status it reports.
  std::future<Status> Submit(std::function<void(DaemonStateMachine::Done)> op) {
    auto promise = std::make_shared<std::promise<Status>>();
    auto future = promise->get_future();
    loop_.Post([op = std::move(op), promise] {
      op([promise](Status status) { promise->set_value(std::move(status)); });
    });
    return future;
  }

  std::future<Status> SubmitStop(const std::string& id) {
    return Submit([this, id](DaemonStateMachine::Done done) { machine_.Stop(id, std::move(done)); });
  }

  bool quit_ = false;
  EpollEventLoop loop_;
  DaemonStateMachine machine_;  // Declared after the loop: it goes first.
};

}  // namespace

std::unique_ptr<Supervisor> Supervisor::Create(SupervisorOptions options, SupervisorDependencies deps) {
  return std::make_unique<SupervisorImpl>(options, deps);
}

}  // namespace mumba
