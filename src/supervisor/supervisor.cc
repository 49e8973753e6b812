// SPDX-License-Identifier: Apache-2.0
#include "supervisor/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/files.h"
#include "common/unix_channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "supervisor/process.h"

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

using namespace std::chrono_literals;
using SteadyTime = std::chrono::steady_clock::time_point;

// A daemon's log file, rotated by size: name, name.1, name.2, ...
class LogSink {
 public:
  LogSink(std::filesystem::path path, uint64_t max_bytes, int keep)
      : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep) {}
  ~LogSink() { Close(); }

  void Write(const char* data, size_t n) {
    if (fd_ < 0) Open();
    if (fd_ < 0) return;
    (void)!::write(fd_, data, n);
    size_ += n;
    if (size_ > max_bytes_) Rotate();
  }

  // A line written by the supervisor itself, marked so users can tell.
  void Note(const std::string& line) {
    std::string text = "[mumba] " + line + "\n";
    Write(text.data(), text.size());
  }

 private:
  void Open() {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    struct stat st{};
    size_ = (fd_ >= 0 && ::fstat(fd_, &st) == 0) ? static_cast<uint64_t>(st.st_size) : 0;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void Rotate() {
    Close();
    std::error_code ec;
    for (int i = keep_; i >= 1; --i) {
      auto from = i == 1 ? path_ : std::filesystem::path(path_.string() + "." + std::to_string(i - 1));
      std::filesystem::rename(from, path_.string() + "." + std::to_string(i), ec);
    }
    Open();
  }

  std::filesystem::path path_;
  uint64_t max_bytes_;
  int keep_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

struct Instance {
  DaemonSpec spec;
  DaemonStatus status;
  RestartPolicy policy;
  std::unique_ptr<LogSink> log;
  SpawnedProcess proc;
  uint64_t generation = 0;
  SteadyTime started;
  bool stop_requested = false;
  bool start_after_stop = false;
  std::string tail;  // The last bytes of output, for error messages.
  Status pending_error;  // Reported when a kill the supervisor chose completes.
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  std::vector<std::promise<Status>> start_waiters;
  std::vector<std::promise<Status>> stop_waiters;
};

std::string LastLine(const std::string& tail) {
  size_t end = tail.find_last_not_of("\r\n \t");
  if (end == std::string::npos) return "";
  size_t start = tail.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return tail.substr(start, end - start + 1);
}

class SupervisorImpl final : public Supervisor {
 public:
  explicit SupervisorImpl(SupervisorOptions options) : options_(options) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    Watch(wake_, [this] {
      uint64_t v;
      (void)!::read(wake_, &v, sizeof v);
    });
    thread_ = std::thread([this] { Loop(); });
  }

  ~SupervisorImpl() override {
    StopAll();
    ::close(wake_);
    ::close(epoll_);
  }

  Status Start(const DaemonSpec& spec) override {
    auto p = std::make_shared<std::promise<Status>>();
    auto f = p->get_future();
    Post([this, spec, p] { DoStart(spec, std::move(*p)); });
    return f.get();
  }

  Status Stop(const std::string& id) override {
    auto p = std::make_shared<std::promise<Status>>();
    auto f = p->get_future();
    Post([this, id, p] { DoStop(id, std::move(*p)); });
    return f.get();
  }

  DaemonStatus Get(const std::string& id) const override {
    std::lock_guard lock(snapshot_mu_);
    auto it = snapshots_.find(id);
    return it == snapshots_.end() ? DaemonStatus{} : it->second;
  }

  void StopAll() override {
    if (!thread_.joinable()) return;
    std::promise<std::vector<std::string>> ids_p;
    auto ids_f = ids_p.get_future();
    Post([this, &ids_p] {
      std::vector<std::string> ids;
      for (auto& [id, inst] : instances_) ids.push_back(id);
      ids_p.set_value(ids);
    });
    std::vector<std::future<Status>> stops;
    for (const auto& id : ids_f.get()) {
      auto p = std::make_shared<std::promise<Status>>();
      stops.push_back(p->get_future());
      Post([this, id, p] { DoStop(id, std::move(*p)); });
    }
    for (auto& s : stops) (void)s.get();
    Post([this] { running_ = false; });
    thread_.join();
  }

 private:
  // ---- Loop plumbing (Post is the only entry from other threads). ----
  void Post(std::function<void()> task) {
    {
      std::lock_guard lock(tasks_mu_);
      tasks_.push_back(std::move(task));
    }
    uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
  }

  void Watch(int fd, std::function<void()> handler) {
    handlers_[fd] = std::move(handler);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }

  void Unwatch(int fd) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    handlers_.erase(fd);
  }

  void After(std::chrono::milliseconds delay, std::function<void()> fn) {
    timers_.emplace(std::chrono::steady_clock::now() + delay, std::move(fn));
  }

  void Loop() {
    while (running_) {
      int timeout = -1;
      if (!timers_.empty()) {
        auto wait = std::chrono::ceil<std::chrono::milliseconds>(timers_.begin()->first -
                                                                 std::chrono::steady_clock::now());
        timeout = static_cast<int>(std::max<int64_t>(0, wait.count()));
      }
      epoll_event events[16];
      int n = ::epoll_wait(epoll_, events, 16, timeout);
      for (int i = 0; i < n; ++i) {
        auto it = handlers_.find(events[i].data.fd);
        if (it != handlers_.end()) {
          auto handler = it->second;  // The handler may unwatch itself.
          handler();
        }
      }
      auto now = std::chrono::steady_clock::now();
      while (!timers_.empty() && timers_.begin()->first <= now) {
        auto fn = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
        fn();
      }
      std::deque<std::function<void()>> tasks;
      {
        std::lock_guard lock(tasks_mu_);
        tasks.swap(tasks_);
      }
      for (auto& t : tasks) t();
    }
  }

  void Publish(Instance& inst) {
    std::lock_guard lock(snapshot_mu_);
    snapshots_[inst.spec.id] = inst.status;
  }

  Instance* Find(const std::string& id, uint64_t generation) {
    auto it = instances_.find(id);
    if (it == instances_.end() || it->second->generation != generation) return nullptr;
    return it->second.get();
  }

  // ---- Daemon life cycle (loop thread only). ----
  void DoStart(const DaemonSpec& spec, std::promise<Status> waiter) {
    auto& slot = instances_[spec.id];
    if (!slot) slot = std::make_unique<Instance>();
    Instance& inst = *slot;
    inst.policy = RestartPolicy(options_.restart);
    switch (inst.status.state) {
      case DaemonState::kRunning:
        waiter.set_value(Status());
        return;
      case DaemonState::kStarting:
        inst.start_waiters.push_back(std::move(waiter));
        return;
      case DaemonState::kStopping:
        inst.spec = spec;
        inst.start_after_stop = true;
        inst.start_waiters.push_back(std::move(waiter));
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
    inst.start_waiters.push_back(std::move(waiter));
    Spawn(inst);
  }

  void Spawn(Instance& inst) {
    ++inst.generation;
    inst.stop_requested = false;
    inst.tail.clear();
    std::error_code ec;
    std::filesystem::remove(inst.spec.socket, ec);
    std::filesystem::create_directories(inst.spec.socket.parent_path(), ec);
    auto spawned = SpawnProcess({inst.spec.executable, inst.spec.args, inst.spec.working_dir,
                                 inst.spec.env});
    if (!spawned.ok()) {
      inst.log->Note(spawned.status().message());
      Fail(inst, spawned.status());
      return;
    }
    inst.proc = *spawned;
    inst.started = std::chrono::steady_clock::now();
    inst.status.state = DaemonState::kStarting;
    inst.status.pid = inst.proc.pid;
    inst.status.started_at_ms = NowMs();
    Publish(inst);
    inst.log->Note("started " + inst.spec.name + " (pid " + std::to_string(inst.proc.pid) + ")");
    spdlog::info("started {} pid {}", inst.spec.name, inst.proc.pid);

    const std::string id = inst.spec.id;
    const uint64_t gen = inst.generation;
    Watch(inst.proc.pidfd, [this, id, gen] { OnExit(id, gen); });
    Watch(inst.proc.output_fd, [this, id, gen] { OnOutput(id, gen); });

    inst.channel = UnixChannel(inst.spec.socket.string(), 10, 100);
    inst.health = grpc::health::v1::Health::NewStub(inst.channel);
    Probe(id, gen);
    After(options_.ready_timeout, [this, id, gen] {
      Instance* in = Find(id, gen);
      if (!in || in->status.state != DaemonState::kStarting) return;
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(options_.ready_timeout).count();
      in->log->Note("not ready after " + std::to_string(secs) + " s; killing it");
      in->stop_requested = true;
      in->pending_error = DeadlineExceeded(in->spec.name + " did not report SERVING within " +
                                           std::to_string(secs) + " s (see mumba logs " +
                                           in->spec.name + ")");
      SignalGroup(in->proc.pid, SIGKILL);
    });
  }

  // Polls for the socket, then asks the health service; repeats until ready.
  void Probe(const std::string& id, uint64_t gen) {
    Instance* inst = Find(id, gen);
    if (!inst || inst->status.state != DaemonState::kStarting) return;
    if (!std::filesystem::exists(inst->spec.socket)) {
      After(2ms, [this, id, gen] { Probe(id, gen); });
      return;
    }
    struct Call {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
    };
    auto call = std::make_shared<Call>();
    call->ctx.set_wait_for_ready(true);
    call->ctx.set_deadline(std::chrono::system_clock::now() + 500ms);
    inst->health->async()->Check(&call->ctx, &call->req, &call->resp,
                                 [this, call, id, gen](grpc::Status s) {
      bool serving = s.ok() &&
                     call->resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
      Post([this, id, gen, serving] { OnProbe(id, gen, serving); });
    });
  }

  void OnProbe(const std::string& id, uint64_t gen, bool serving) {
    Instance* inst = Find(id, gen);
    if (!inst || inst->status.state != DaemonState::kStarting) return;
    if (!serving) {
      After(5ms, [this, id, gen] { Probe(id, gen); });
      return;
    }
    inst->status.state = DaemonState::kRunning;
    Publish(*inst);
    for (auto& w : inst->start_waiters) w.set_value(Status());
    inst->start_waiters.clear();
  }

  void OnOutput(const std::string& id, uint64_t gen) {
    Instance* inst = Find(id, gen);
    if (!inst) return;
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(inst->proc.output_fd, buf, sizeof buf);
      if (n > 0) {
        inst->log->Write(buf, static_cast<size_t>(n));
        inst->tail.append(buf, static_cast<size_t>(n));
        if (inst->tail.size() > 4096) inst->tail.erase(0, inst->tail.size() - 4096);
        continue;
      }
      if (n == 0) {
        Unwatch(inst->proc.output_fd);
        ::close(inst->proc.output_fd);
        inst->proc.output_fd = -1;
      }
      return;
    }
  }

  void OnExit(const std::string& id, uint64_t gen) {
    Instance* inst = Find(id, gen);
    if (!inst) return;
    std::string how = ReapProcess(inst->proc.pid);
    if (how.empty()) return;
    if (inst->proc.output_fd >= 0) OnOutput(id, gen);  // Drain what is left.
    if (inst->proc.output_fd >= 0) {
      Unwatch(inst->proc.output_fd);
      ::close(inst->proc.output_fd);
    }
    Unwatch(inst->proc.pidfd);
    ::close(inst->proc.pidfd);
    SignalGroup(inst->proc.pid, SIGKILL);  // Whatever the daemon left behind.
    pid_t pid = inst->proc.pid;
    inst->proc = SpawnedProcess{};
    inst->channel.reset();
    inst->health.reset();
    std::error_code ec;
    std::filesystem::remove(inst->spec.socket, ec);
    inst->status.pid = 0;
    inst->status.last_exit = how;
    inst->status.started_at_ms = 0;
    inst->log->Note(inst->spec.name + " (pid " + std::to_string(pid) + ") ended: " + how);
    spdlog::info("{} pid {} ended: {}", inst->spec.name, pid, how);
    ++inst->generation;  // Timers and probes of this run are void now.

    if (inst->stop_requested) {
      Status err = inst->pending_error;
      inst->pending_error = Status();
      if (!err.ok()) {
        Fail(*inst, err);
      } else {
        inst->status.state = DaemonState::kStopped;
        Publish(*inst);
        for (auto& w : inst->start_waiters) w.set_value(FailedPrecondition(inst->spec.name + " was stopped while starting"));
        inst->start_waiters.clear();
      }
      for (auto& w : inst->stop_waiters) w.set_value(Status());
      inst->stop_waiters.clear();
      if (inst->start_after_stop) {
        inst->start_after_stop = false;
        inst->status.restarts = 0;
        inst->status.error.clear();
        Spawn(*inst);
      }
      return;
    }

    std::string last = LastLine(inst->tail);
    if (!inst->start_waiters.empty()) {
      // Someone is waiting for this start: tell them now rather than retry.
      Fail(*inst, FailedPrecondition(inst->spec.name + " exited during start-up (" + how + ")" +
                                     (last.empty() ? "" : ": " + last)));
      return;
    }
    auto delay = inst->policy.OnFailure(std::chrono::steady_clock::now(), inst->started);
    if (!delay) {
      inst->log->Note("giving up after " + std::to_string(inst->policy.failures_in_window()) +
                      " failures");
      Fail(*inst, Unavailable(inst->spec.name + " gave up after " +
                              std::to_string(inst->policy.failures_in_window()) +
                              " failures in a row; last: " + how +
                              (last.empty() ? "" : ": " + last)));
      return;
    }
    inst->status.state = DaemonState::kBackoff;
    ++inst->status.restarts;
    Publish(*inst);
    inst->log->Note("restarting in " + std::to_string(delay->count()) + " ms");
    uint64_t g = inst->generation;
    After(*delay, [this, id, g] {
      Instance* in = Find(id, g);
      if (in && in->status.state == DaemonState::kBackoff) Spawn(*in);
    });
  }

  void Fail(Instance& inst, const Status& why) {
    inst.status.state = DaemonState::kFailed;
    inst.status.error = why.message();
    Publish(inst);
    for (auto& w : inst.start_waiters) w.set_value(why);
    inst.start_waiters.clear();
  }

  void DoStop(const std::string& id, std::promise<Status> waiter) {
    auto it = instances_.find(id);
    if (it == instances_.end()) {
      waiter.set_value(Status());
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
        waiter.set_value(Status());
        return;
      case DaemonState::kStopping:
        inst.stop_waiters.push_back(std::move(waiter));
        return;
      case DaemonState::kStarting:
      case DaemonState::kRunning:
        break;
    }
    inst.stop_requested = true;
    inst.status.state = DaemonState::kStopping;
    Publish(inst);
    inst.stop_waiters.push_back(std::move(waiter));
    SignalGroup(inst.proc.pid, SIGTERM);
    uint64_t gen = inst.generation;
    After(options_.stop_grace, [this, id, gen] {
      Instance* in = Find(id, gen);
      if (!in || in->proc.pid <= 0) return;
      in->log->Note("still running after the grace period; sending SIGKILL");
      SignalGroup(in->proc.pid, SIGKILL);
    });
  }

  SupervisorOptions options_;
  int epoll_ = -1;
  int wake_ = -1;
  bool running_ = true;
  std::thread thread_;
  std::mutex tasks_mu_;
  std::deque<std::function<void()>> tasks_;
  std::map<int, std::function<void()>> handlers_;
  std::multimap<SteadyTime, std::function<void()>> timers_;
  std::map<std::string, std::unique_ptr<Instance>> instances_;
  mutable std::mutex snapshot_mu_;
  std::map<std::string, DaemonStatus> snapshots_;
};

}  // namespace

std::unique_ptr<Supervisor> Supervisor::Create(SupervisorOptions options) {
  return std::make_unique<SupervisorImpl>(options);
}

}  // namespace mumba
