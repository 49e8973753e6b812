// SPDX-License-Identifier: Apache-2.0
// mumba-bench: what the host costs, each figure printed beside its baseline.
//
// In one run it makes a throw-away MUMBA_HOME, starts mumba-host on it, builds and
// installs apps/hello, starts it, and measures
//   (a) unary hello.v1.Greeter/SayHello throughput and latency, with 1 and with N
//       client threads: straight to the daemon's socket (the baseline), relayed by
//       the host (Control.Call, JSON transcoded to protobuf), and through the
//       Connect handoff (ask the host once for the socket, then call directly),
//       and `mumba call --lines` driven through pipes (JSON transcoded in the CLI,
//       which calls the daemon directly);
//       and the sandbox boundary: the same direct call on bin/hello run by hand
//       in the jail the host gives it against the same binary unconfined (both
//       without a host, so the call does the same work);
//   (b) start to SERVING: Control.Start on the stopped app (in its sandbox),
//       against fork/exec of the installed bin/hello by hand and polling its
//       health service;
//   (c) resident memory (VmRSS) of the idle host and of the hello daemon.
// The table goes to stdout, progress to stderr.
//
// Whatever happens (error, SIGINT, SIGTERM, SIGHUP) the bench stops the host it
// started and every process it or the host spawned, by PID, and removes the home.
// Exit status: 0 when the bench ran, whatever the targets say; 1 when it could not
// run; 128 + the signal when stopped by one.
//
// Errors are exceptions (BenchError, bench_util.h), caught in main.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "bench_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "mumba/host/v1/control.grpc.pb.h"
#include "platform/process_launcher.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp_filter.h"

namespace {

using namespace mumba::bench;
namespace hv1 = mumba::host::v1;
using namespace std::chrono_literals;

constexpr char kAppName[] = "hello";
constexpr char kSayHelloPath[] = "/hello.v1.Greeter/SayHello";  // For the daemon itself.
constexpr char kSayHelloMethod[] = "hello.v1.Greeter/SayHello";  // For Control.Call.
constexpr char kRequestJson[] = R"({"name":"Ann"})";
// HelloRequest{name: "Ann"} on the wire: field 1, length-delimited, 3 bytes. The
// bench needs none of hello's generated code.
const std::string kRequestBytes("\x0a\x03" "Ann", 5);
constexpr char kGreeting[] = "Hello, Ann!";

struct Options {
  double seconds = 3.0;  // Measured time of each load figure.
  double warmup = 0.5;   // Unmeasured load before it.
  int clients = 8;       // Threads of the concurrent load figures.
  int reps = 10;         // Start-up repetitions of each kind.
};

// ---- Processes the bench is responsible for. ----

// Everything that must be undone at the end, shared by main and the signal thread.
struct Session {
  std::mutex mu;            // Guards home.
  fs::path home;            // The throw-away MUMBA_HOME, removed at the end.
  ChildRegistry children;   // mumba-host (a child of ours), the build, hello by hand, and the daemons.
};
Session g_session;

// Starts `argv` (SpawnChild) with stdout and stderr appended to `log`, in `cwd`
// when given, and registers it. Call from the main thread only.
pid_t Spawn(const std::vector<std::string>& argv, const fs::path& log, const fs::path& cwd,
            ChildRegistry::Kind kind) {
  return g_session.children.Spawn(argv, {.log = log, .cwd = cwd}, kind);
}

void EndOurChild(pid_t pid) { g_session.children.End(pid, 3s); }

std::unique_ptr<hv1::Control::Stub> HostStub(const fs::path& home);

// Stops the host (StopHost, or SIGTERM when `from_signal`; SIGKILL if it does not
// end within 10 s), kills whatever the host or the bench started that is still
// there, and removes the home. Idempotent; safe from the signal thread.
void Cleanup(bool from_signal) {
  g_session.children.CleanUpOnce([from_signal] {
    fs::path home;
    {
      std::lock_guard lock(g_session.mu);
      home = g_session.home;
    }
    for (pid_t host : g_session.children.Children(ChildRegistry::Kind::kHost)) {
      bool asked = false;
      if (!from_signal) {
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(2s));
        hv1::StopHostResponse resp;
        asked = HostStub(home)->StopHost(&ctx, {}, &resp).ok();
      }
      if (!asked) ::kill(host, SIGTERM);
      g_session.children.End(host, 10s);
    }
    // The host stops its daemons; anything left is killed, but only if the PID
    // still names a program installed under our home (PIDs are reused).
    g_session.children.KillStrayDaemons(home);
    g_session.children.EndAll(2s, 2s);
    if (!home.empty()) {
      std::error_code ec;
      fs::remove_all(home, ec);
      if (ec) Progress("cannot remove %s: %s", home.c_str(), ec.message().c_str());
    }
  });
}

// ---- Small helpers. ----

// Resident memory of a process, from /proc/PID/status, in KiB: all of it (VmRSS),
// and the part that is its own (RssAnon) rather than pages of files such as shared
// libraries, which other processes may share.
struct Memory {
  long rss_kib = 0;
  long anon_kib = 0;
};

Memory MemoryOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  Memory m;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) {
      m.rss_kib = std::strtol(line.c_str() + 6, nullptr, 10);
      found = true;
    } else if (line.starts_with("RssAnon:")) {
      m.anon_kib = std::strtol(line.c_str() + 8, nullptr, 10);
    }
  }
  if (!found) Fail("cannot read VmRSS of pid " + std::to_string(pid));
  return m;
}

grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  // A connection of its own per channel, as separate client processes would have
  // (gRPC otherwise shares one connection between equal channels).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 20);
  return args;
}

std::shared_ptr<grpc::Channel> UnixChannel(const fs::path& socket) {
  return grpc::CreateCustomChannel("unix:" + socket.string(), grpc::InsecureChannelCredentials(),
                                   ChannelArgs());
}

std::unique_ptr<hv1::Control::Stub> HostStub(const fs::path& home) {
  return hv1::Control::NewStub(UnixChannel(home / "host.sock"));
}

std::string Describe(const grpc::Status& s) {
  return "code " + std::to_string(s.error_code()) + ": " + s.error_message();
}

// One Control RPC that must succeed.
template <typename Request, typename Response>
Response Control(hv1::Control::Stub& stub,
                 grpc::Status (hv1::Control::Stub::*method)(grpc::ClientContext*, const Request&,
                                                            Response*),
                 const Request& request, const char* what, std::chrono::milliseconds timeout = 60s) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeout));
  Response response;
  grpc::Status s = (stub.*method)(&ctx, request, &response);
  if (!s.ok()) Fail(std::string("Control.") + what + " failed: " + Describe(s));
  return response;
}

hv1::AppRef Ref(const std::string& app) {
  hv1::AppRef ref;
  ref.set_app(app);
  return ref;
}

// ---- (a) Unary load. ----

// One client thread's way of calling SayHello. Not thread-safe: one per thread.
class Caller {
 public:
  virtual ~Caller() = default;
  // True if the greeting came back; otherwise false and `error` says why.
  virtual bool Call(std::string* error) = 0;
};

// Straight to the daemon: a GenericStub with the raw bytes of HelloRequest, waited
// for on a completion queue of its own (what a synchronous stub does inside).
class DirectCaller final : public Caller {
 public:
  explicit DirectCaller(const fs::path& socket) : stub_(UnixChannel(socket)) {
    grpc::Slice slice(kRequestBytes);
    request_ = grpc::ByteBuffer(&slice, 1);
  }
  ~DirectCaller() override {
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  bool Call(std::string* error) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10s));
    grpc::ByteBuffer reply;
    grpc::Status status;
    auto rpc = stub_.PrepareUnaryCall(&ctx, kSayHelloPath, request_, &cq_);
    rpc->StartCall();
    rpc->Finish(&reply, &status, this);
    void* tag = nullptr;
    bool ok = false;
    if (!cq_.Next(&tag, &ok) || tag != this) {
      *error = "completion queue failed";
      return false;
    }
    if (!status.ok()) {
      *error = Describe(status);
      return false;
    }
    if (!checked_) {
      // HelloReply{message: "Hello, Ann!"}: checked once, it costs nothing later.
      std::vector<grpc::Slice> slices;
      std::string bytes;
      if (reply.Dump(&slices).ok()) {
        for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
      std::string expected = std::string("\x0a") + static_cast<char>(std::strlen(kGreeting)) + kGreeting;
      if (bytes != expected) {
        *error = "unexpected reply bytes from the daemon";
        return false;
      }
      checked_ = true;
    }
    return true;
  }

 private:
  grpc::GenericStub stub_;
  grpc::CompletionQueue cq_;
  grpc::ByteBuffer request_;
  bool checked_ = false;
};

// Relayed by the host: Control.Call with the request as JSON.
class RelayCaller final : public Caller {
 public:
  explicit RelayCaller(const fs::path& home) : stub_(HostStub(home)) {
    request_.set_app(kAppName);
    request_.set_method(kSayHelloMethod);
    request_.set_json(kRequestJson);
  }

  bool Call(std::string* error) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10s));
    hv1::CallResponse response;
    grpc::Status status = stub_->Call(&ctx, request_, &response);
    if (!status.ok()) {
      *error = Describe(status);
      return false;
    }
    if (!checked_) {
      if (response.json().find(kGreeting) == std::string::npos) {
        *error = "unexpected reply from Control.Call: " + response.json();
        return false;
      }
      checked_ = true;
    }
    return true;
  }

 private:
  std::unique_ptr<hv1::Control::Stub> stub_;
  hv1::CallRequest request_;
  bool checked_ = false;
};

// The handoff: Control.Connect once (timed), then straight to the socket it names.
class HandoffCaller final : public Caller {
 public:
  explicit HandoffCaller(const fs::path& home) {
    auto stub = HostStub(home);
    auto t0 = Clock::now();
    auto resp = Control(*stub, &hv1::Control::Stub::Connect, Ref(kAppName), "Connect");
    connect_time_ = Clock::now() - t0;
    if (resp.socket().empty()) Fail("Control.Connect returned no socket");
    direct_ = std::make_unique<DirectCaller>(resp.socket());
  }

  bool Call(std::string* error) override { return direct_->Call(error); }
  Clock::duration connect_time() const { return connect_time_; }

 private:
  std::unique_ptr<DirectCaller> direct_;
  Clock::duration connect_time_{};
};

// `mumba call --lines` as a script drives it: one CLI process for all calls, a
// request line written to its stdin and its reply line read back per call.
class LinesCaller final : public Caller {
 public:
  LinesCaller(const fs::path& cli, const fs::path& home, const fs::path& log) {
    int to_child[2];
    int from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0) Fail(std::string("pipe: ") + std::strerror(errno));
    if (::pipe2(from_child, O_CLOEXEC) != 0) {
      ::close(to_child[0]);
      ::close(to_child[1]);
      Fail(std::string("pipe: ") + std::strerror(errno));
    }
    try {
      pid_ = g_session.children.Spawn(
          {cli.string(), "--home", home.string(), "call", kAppName, kSayHelloMethod, "--lines"},
          {.log = log, .stdout_fd = from_child[1], .stdin_fd = to_child[0]}, ChildRegistry::Kind::kOther);
    } catch (...) {
      for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
      throw;
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    to_ = to_child[1];
    from_ = from_child[0];
  }
  ~LinesCaller() override {
    ::close(to_);  // End of input: the CLI exits.
    ::close(from_);
    if (!WaitFor(pid_, 3s)) EndOurChild(pid_);
    g_session.children.Forget(pid_);
  }

  bool Call(std::string* error) override {
    static const std::string line = std::string(kRequestJson) + "\n";
    if (!WriteAll(to_, line)) {
      *error = "cannot write to mumba call --lines";
      return false;
    }
    std::string reply;
    for (;;) {
      auto newline = pending_.find('\n');
      if (newline != std::string::npos) {
        reply = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        break;
      }
      // Bounded, so a CLI that stops answering fails the bench instead of hanging it.
      struct pollfd p {};
      p.fd = from_;
      p.events = POLLIN;
      int ready = ::poll(&p, 1, 10'000);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        *error = "mumba call --lines did not answer within 10 s";
        return false;
      }
      char buffer[4096];
      ssize_t n = ::read(from_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        *error = "mumba call --lines ended (see its log)";
        return false;
      }
      pending_.append(buffer, static_cast<size_t>(n));
    }
    if (!checked_) {
      if (reply.find(kGreeting) == std::string::npos) {
        *error = "unexpected reply from mumba call --lines: " + reply;
        return false;
      }
      checked_ = true;
    }
    return true;
  }

 private:
  static bool WriteAll(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string pending_;
  bool checked_ = false;
};

struct LoadResult {
  uint64_t calls = 0;
  uint64_t errors = 0;
  std::string first_error;
  double seconds = 0;  // Measured time, summed over the slices.
  std::vector<double> latencies_us;
  double calls_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// Runs each caller on a thread of its own, as fast as it goes, for `duration`.
// With `into`, every call's latency and the time taken are added to it.
void Drive(std::vector<std::unique_ptr<Caller>>& callers, Clock::duration duration, LoadResult* into) {
  struct PerThread {
    std::vector<double> latencies_us;
    uint64_t errors = 0;
    std::string first_error;
    Clock::time_point last_end{};
  };
  std::vector<PerThread> results(callers.size());
  // All threads begin together, once they all exist.
  const auto from = Clock::now() + 2ms;
  const auto until = from + duration;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < callers.size(); ++i) {
    threads.emplace_back([&, i] {
      PerThread& r = results[i];
      r.latencies_us.reserve(static_cast<size_t>(std::chrono::duration<double>(duration).count() * 40000));
      r.last_end = from;
      std::string error;
      std::this_thread::sleep_until(from);
      for (;;) {
        auto t0 = Clock::now();
        if (t0 >= until) break;
        bool ok = callers[i]->Call(&error);
        auto t1 = Clock::now();
        r.last_end = t1;
        if (ok) {
          r.latencies_us.push_back(Micros(t1 - t0));
        } else if (r.errors++ == 0) {
          r.first_error = error;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!into) return;
  Clock::time_point last = from;
  for (auto& r : results) {
    into->latencies_us.insert(into->latencies_us.end(), r.latencies_us.begin(), r.latencies_us.end());
    into->calls += r.latencies_us.size();
    into->errors += r.errors;
    if (into->first_error.empty()) into->first_error = r.first_error;
    last = std::max(last, r.last_end);
  }
  into->seconds += std::chrono::duration<double>(last - from).count();
}

void Finalize(LoadResult* r) {
  if (r->calls == 0 || r->seconds <= 0) {
    Fail("no call succeeded under load" + (r->first_error.empty() ? "" : ": " + r->first_error));
  }
  r->calls_per_s = static_cast<double>(r->calls) / r->seconds;
  r->p50_us = Percentile(r->latencies_us, 0.50);
  r->p99_us = Percentile(std::move(r->latencies_us), 0.99);
  r->latencies_us = {};
}

// ---- (b) Start-up. ----

// Control.Start on the stopped app (it returns once the daemon reports SERVING),
// then Control.Stop. Returns the time Start took.
Clock::duration TimeHostStart(hv1::Control::Stub& stub) {
  auto t0 = Clock::now();
  auto info = Control(stub, &hv1::Control::Stub::Start, Ref(kAppName), "Start");
  auto took = Clock::now() - t0;
  g_session.children.NoteDaemon(info.pid());
  if (info.state() != "running") Fail("Control.Start returned state " + info.state());
  auto stopped = Control(stub, &hv1::Control::Stub::Stop, Ref(kAppName), "Stop");
  if (stopped.state() != "stopped") Fail("Control.Stop returned state " + stopped.state());
  return took;
}

bool HealthServing(const fs::path& socket) {
  auto stub = grpc::health::v1::Health::NewStub(UnixChannel(socket));
  grpc::ClientContext ctx;
  // Fail fast: a socket that exists before its daemon listens would otherwise put
  // the channel into its 100 ms reconnect backoff, and the baseline would measure
  // that instead of the daemon. The caller asks again on a fresh channel.
  ctx.set_wait_for_ready(false);
  ctx.set_deadline(DeadlineIn(1s));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  return stub->Check(&ctx, req, &resp).ok() &&
         resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

// Waits until the daemon `pid` (our child, started by `what`) serves SERVING on
// `socket`, polling every 100 us; fails the bench when it exits first (its log's
// tail said) or is not SERVING within 10 s.
void AwaitServing(pid_t pid, const fs::path& socket, const fs::path& log, const std::string& what) {
  const auto deadline = Clock::now() + 10s;
  std::error_code ec;
  while (!(fs::exists(socket, ec) && HealthServing(socket))) {
    if (auto st = WaitFor(pid, 0s)) {
      g_session.children.Forget(pid);
      Fail(what + " exited during start-up (status " + std::to_string(*st) + "):\n" + Tail(log, 5));
    }
    if (Clock::now() > deadline) {
      EndOurChild(pid);
      Fail(what + " was not SERVING within 10 s");
    }
    std::this_thread::sleep_for(100us);
  }
}

// Starts the installed daemon by hand on `socket` and waits until it is SERVING;
// returns its pid (the caller ends it).
pid_t StartByHand(const fs::path& exe, const fs::path& socket, const fs::path& log) {
  std::error_code ec;
  fs::remove(socket, ec);
  pid_t pid = Spawn({exe.string(), "--socket", socket.string()}, log, exe.parent_path().parent_path(),
                    ChildRegistry::Kind::kOther);
  AwaitServing(pid, socket, log, exe.string());
  return pid;
}

// What a user would do without the host: fork/exec the daemon with --socket, wait
// for the socket, ask the health service until SERVING. Returns that time; if
// `memory` is given, also the daemon's idle memory 300 ms later. Then ends it.
Clock::duration TimeHandStart(const fs::path& exe, const fs::path& socket, const fs::path& log,
                              Memory* memory = nullptr) {
  auto t0 = Clock::now();
  pid_t pid = StartByHand(exe, socket, log);
  auto took = Clock::now() - t0;
  if (memory) {
    std::this_thread::sleep_for(300ms);
    *memory = MemoryOf(pid);
  }
  EndOurChild(pid);
  return took;
}

// The daemon itself: a sandboxed app's pid is bwrap's, and the daemon runs two
// generations below it (bwrap, then the init of its PID namespace).
pid_t DaemonProcess(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  if (!std::getline(comm, name) || name != "bwrap") return pid;
  for (int depth = 0; depth < 2 && pid > 0; ++depth) {
    const std::string p = std::to_string(pid);
    std::ifstream children("/proc/" + p + "/task/" + p + "/children");
    pid_t child = 0;
    pid = children >> child ? child : 0;
  }
  return pid;
}


// Starts the installed daemon by hand inside the jail the host would give it (its
// bundle at /app, `data` at /data, `run` at /run/mumba), serving on run/app.sock,
// and waits until it is SERVING; returns bwrap's pid (the caller ends it).
pid_t StartJailedByHand(const fs::path& bundle, const fs::path& data, const fs::path& run, const fs::path& log) {
  auto bwrap = mumba::CheckSandbox(mumba::ProcessLauncher::System());
  if (!bwrap.ok()) Fail(bwrap.status().message());
  fs::create_directories(data);
  fs::create_directories(run);
  mumba::LaunchSpec inner;
  inner.executable = "/app/bin/hello";
  inner.args = {"--socket", "/run/mumba/app.sock"};
  inner.working_dir = "/app";
  inner.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/data"}, {"LANG", "C.UTF-8"}};
  mumba::LaunchSpec spec = mumba::Confine(*bwrap, *mumba::SeccompProgram(), {bundle, data, run, false}, inner);
  mumba::UniqueFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  spec.fds = {{1, out.get()}, {2, out.get()}};
  const pid_t pid = g_session.children.Start(
      [&] {
        auto launched = mumba::ProcessLauncher::System().Launch(spec);
        if (!launched.ok()) Fail(launched.status().message());
        return launched->pid;
      },
      ChildRegistry::Kind::kOther);
  AwaitServing(pid, run / "app.sock", log, "hello in its jail");
  return pid;
}

// ---- The run. ----

struct Verdicts {
  int pass = 0;
  int miss = 0;
  const char* operator()(bool ok) {
    ++(ok ? pass : miss);
    return ok ? "PASS" : "MISS";
  }
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  Flags flags(
      "usage: mumba-bench [--seconds S] [--warmup S] [--clients N] [--reps N]\n"
      "Starts a host on a temporary MUMBA_HOME, installs apps/hello and prints the host's\n"
      "costs beside their baselines: relayed and handed-off SayHello calls against direct\n"
      "ones (S seconds each after a warm-up, 1 and N client threads), Control.Start against\n"
      "fork/exec by hand (median of N), and the resident memory of host and daemon.\n"
      "Defaults: --seconds 3 --warmup 0.5 --clients 8 --reps 10.\n");
  flags.Add("--seconds", &o.seconds).Add("--warmup", &o.warmup).Add("--clients", &o.clients).Add("--reps", &o.reps);
  flags.Parse(argc, argv);
  if (o.seconds <= 0 || o.warmup <= 0) Fail("--seconds and --warmup need a positive number");
  if (o.clients < 1 || o.reps < 1) Fail("--clients and --reps need a whole number of at least 1");
  return o;
}

fs::path MakeHome() {
  // Daemon sockets live in <home>/run/: keep the path short (sockaddr_un is 108 bytes).
  std::string base = "/tmp";
  if (const char* t = std::getenv("TMPDIR"); t && *t && std::strlen(t) < 40) base = t;
  return MakeTempDir(base + "/mumba-bench-");
}

int Run(const Options& options) {
  std::error_code ec;
  const fs::path bin_dir = BinDir();
  const fs::path host_exe = bin_dir / "mumba-host";
  const fs::path cli_exe = bin_dir / "mumba";
  const fs::path app_src = fs::path(MUMBA_SOURCE_DIR) / "apps" / kAppName;
  // The app is built out of the source tree, in the bench's own build folder, and
  // reused by later runs (the CLI rebuilds it when the SDK changes).
  const fs::path app_build = bin_dir.parent_path() / "bench" / "hello-build";
  for (const auto& exe : {host_exe, cli_exe}) {
    if (::access(exe.c_str(), X_OK) != 0) Fail(exe.string() + " is missing (run ninja -C build)");
  }
  if (!fs::exists(app_src / "mumba.toml")) Fail(app_src.string() + " has no mumba.toml");

  {
    std::lock_guard lock(g_session.mu);
    g_session.home = MakeHome();
  }
  const fs::path home = g_session.home;
  const fs::path logs = home / "logs";
  fs::create_directories(logs);
  Progress("home %s", home.c_str());

  // Host.
  auto t_host = Clock::now();
  pid_t host_pid =
      Spawn({host_exe.string(), "--home", home.string()}, logs / "host.log", {}, ChildRegistry::Kind::kHost);
  auto stub = HostStub(home);
  for (;;) {
    if (auto st = WaitFor(host_pid, 0s)) {
      g_session.children.Forget(host_pid);
      Fail("mumba-host exited at start (status " + std::to_string(*st) + "):\n" + Tail(logs / "host.log", 5));
    }
    if (Clock::now() - t_host > 15s) Fail("mumba-host did not answer within 15 s");
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(200ms));
    hv1::HostStatusResponse resp;
    if (fs::exists(home / "host.sock", ec) && stub->HostStatus(&ctx, {}, &resp).ok()) {
      if (resp.pid() != host_pid) Fail("the host answering is not the one the bench started");
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  Progress("host pid %d answers after %.1f ms", host_pid, Millis(Clock::now() - t_host));
  std::this_thread::sleep_for(300ms);
  const Memory host_mem_fresh = MemoryOf(host_pid);

  // Build and install hello.
  Progress("building %s in %s", app_src.c_str(), app_build.c_str());
  pid_t build_pid = Spawn({cli_exe.string(), "build", app_src.string(), "--build-dir", app_build.string()},
                          logs / "build.log", {}, ChildRegistry::Kind::kOther);
  auto build_status = WaitFor(build_pid, 600s);
  if (!build_status) {
    EndOurChild(build_pid);
    Fail("building hello took over 10 minutes");
  }
  g_session.children.Forget(build_pid);
  if (!WIFEXITED(*build_status) || WEXITSTATUS(*build_status) != 0) {
    Fail("mumba build failed:\n" + Tail(logs / "build.log", 20));
  }
  hv1::InstallRequest install;
  install.set_bundle_dir((app_build / "bundle").string());
  auto installed = Control(*stub, &hv1::Control::Stub::Install, install, "Install");
  auto info = Control(*stub, &hv1::Control::Stub::Start, Ref(kAppName), "Start");
  g_session.children.NoteDaemon(info.pid());
  if (info.state() != "running") Fail("hello is " + info.state() + " after Control.Start");
  const fs::path daemon_exe = fs::path(installed.app().install_dir()) / "bin" / kAppName;
  Progress("hello %s installed and running (pid %d, socket %s)", installed.app().version().c_str(),
           info.pid(), info.socket().c_str());
  std::this_thread::sleep_for(300ms);
  const Memory host_mem_app = MemoryOf(host_pid);
  const Memory hello_mem_idle = MemoryOf(DaemonProcess(info.pid()));
  const fs::path unconfined_socket = home / "run" / "unconfined.sock";
  const pid_t unconfined_pid = StartByHand(daemon_exe, unconfined_socket, logs / "hello-unconfined.log");
  const fs::path jailed_run = home / "run" / "jailed";
  const pid_t jailed_pid = StartJailedByHand(daemon_exe.parent_path().parent_path(), home / "jailed-data",
                                             jailed_run, logs / "hello-jailed.log");

  // (a) Load, with 1 client and then N: direct, relayed, handed off and through
  // `mumba call --lines`, and the sandbox pair. Each path
  // warms up once; then the measured time is cut into slices of about half a
  // second, the paths taking turns, so that whatever else the machine does hits
  // them all alike.
  const int rounds = std::max(1, static_cast<int>(options.seconds / 0.5 + 0.5));
  constexpr const char* kPaths[] = {"direct", "relay", "handoff", "lines", "unconfined", "jailed"};
  constexpr int kPathCount = 6;
  struct LoadRow {
    int clients;
    int path;  // Index into kPaths.
    LoadResult result;
    double connect_us = 0;  // Handoff only: median time of the one Control.Connect.
  };
  std::vector<LoadRow> rows;
  std::vector<int> client_counts = {1};
  if (options.clients != 1) client_counts.push_back(options.clients);
  for (int clients : client_counts) {
    Progress("load: %d client%s, %.1f s per path after %.1f s warm-up, in %d interleaved slices", clients,
             clients == 1 ? "" : "s", options.seconds, options.warmup, rounds);
    std::vector<std::unique_ptr<Caller>> callers[kPathCount];
    std::vector<double> connect_us;
    for (int i = 0; i < clients; ++i) {
      callers[0].push_back(std::make_unique<DirectCaller>(info.socket()));
      callers[1].push_back(std::make_unique<RelayCaller>(home));
      auto handoff = std::make_unique<HandoffCaller>(home);
      connect_us.push_back(Micros(handoff->connect_time()));
      callers[2].push_back(std::move(handoff));
      callers[3].push_back(std::make_unique<LinesCaller>(cli_exe, home, logs / "call-lines.log"));
      callers[4].push_back(std::make_unique<DirectCaller>(unconfined_socket));
      callers[5].push_back(std::make_unique<DirectCaller>(jailed_run / "app.sock"));
    }
    LoadResult results[kPathCount];
    for (int p = 0; p < kPathCount; ++p) {
      for (auto& c : callers[p]) {
        std::string error;
        if (!c->Call(&error)) Fail(std::string("first ") + kPaths[p] + " call failed: " + error);
      }
      Drive(callers[p], std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.warmup)),
            nullptr);
    }
    const auto slice = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options.seconds / rounds));
    for (int round = 0; round < rounds; ++round) {
      for (int k = 0; k < kPathCount; ++k) {
        int p = (round + k) % kPathCount;
        Drive(callers[p], slice, &results[p]);
      }
    }
    for (int p = 0; p < kPathCount; ++p) {
      Finalize(&results[p]);
      rows.push_back({clients, p, std::move(results[p]), p == 2 ? Percentile(connect_us, 0.5) : 0});
    }
  }
  std::this_thread::sleep_for(300ms);
  const Memory host_mem_after = MemoryOf(host_pid);
  const Memory hello_mem_after = MemoryOf(DaemonProcess(info.pid()));
  EndOurChild(unconfined_pid);
  EndOurChild(jailed_pid);

  // (b) Start-up, host and by hand interleaved so drift hits both alike; one
  // unrecorded round first warms caches.
  Progress("start-up: %d x Control.Start/Stop and %d x fork/exec by hand", options.reps, options.reps);
  Control(*stub, &hv1::Control::Stub::Stop, Ref(kAppName), "Stop");
  const fs::path hand_socket = home / "run" / "by-hand.sock";
  const fs::path hand_log = logs / "hello-by-hand.log";
  (void)TimeHostStart(*stub);
  (void)TimeHandStart(daemon_exe, hand_socket, hand_log);
  std::vector<double> host_ms, hand_ms;
  Memory hand_mem_idle;
  for (int i = 0; i < options.reps; ++i) {
    host_ms.push_back(Millis(TimeHostStart(*stub)));
    hand_ms.push_back(Millis(TimeHandStart(daemon_exe, hand_socket, hand_log,
                                           i == options.reps - 1 ? &hand_mem_idle : nullptr)));
  }
  Spread host_start = Summarize(host_ms);
  Spread hand_start = Summarize(hand_ms);
  std::this_thread::sleep_for(300ms);
  const Memory host_mem_end = MemoryOf(host_pid);

  // The table.
  Verdicts verdict;
  std::printf("\nmumba-bench: the host's costs beside their baselines\n");
  std::printf("  %u CPUs, gRPC %s, unix sockets, home %s\n", std::thread::hardware_concurrency(),
              grpc::Version().c_str(), home.c_str());
  std::printf("  load: %.1f s per figure after %.1f s warm-up, the paths taking turns in %d slices;\n"
              "  one thread per client, each with its own channel and its own connection\n\n",
              options.seconds, options.warmup, rounds);

  std::printf("(a) unary hello.v1.Greeter/SayHello                  calls/s    p50 us    p99 us  vs direct  target    result\n");
  for (const auto& row : rows) {
    const LoadResult* direct = nullptr;
    for (const auto& r : rows) {
      if (r.clients == row.clients && r.path == 0) direct = &r.result;
    }
    if (row.path >= 4) continue;  // The sandbox's figures: their own table below.
    const char* labels[] = {"direct on the daemon's socket", "through the host: Control.Call (JSON)",
                            "Connect handoff, then direct", "mumba call --lines (JSON, pipes)"};
    std::string who = row.path == 0 ? std::to_string(row.clients) + (row.clients == 1 ? " client" : " clients") : "";
    double ratio = row.result.calls_per_s / direct->calls_per_s;
    std::printf("  %-9s %-39s %9.0f %9.1f %9.1f %9.2fx", who.c_str(), labels[row.path], row.result.calls_per_s,
                row.result.p50_us, row.result.p99_us, ratio);
    if (row.path == 0) {
      std::printf("  (baseline)\n");
    } else {
      // The JSON paths carry issue 12's target; the handoff its own older one.
      double target = row.path == 2 ? 0.5 : 0.7;
      std::printf("  >= %.2fx  %s\n", target, verdict(ratio >= target));
    }
  }
  std::printf("\n(a') the sandbox boundary, direct SayHello      calls/s    p50 us    p99 us  vs unconf. target    result\n");
  for (const auto& row : rows) {
    if (row.path != 4) continue;
    const LoadResult* sandboxed = nullptr;
    for (const auto& r : rows) {
      if (r.clients == row.clients && r.path == 5) sandboxed = &r.result;
    }
    std::string who = std::to_string(row.clients) + (row.clients == 1 ? " client" : " clients");
    std::printf("  %-9s %-39s %9.0f %9.1f %9.1f %9.2fx  (baseline)\n", who.c_str(), "bin/hello by hand, unconfined",
                row.result.calls_per_s, row.result.p50_us, row.result.p99_us, 1.0);
    double ratio = sandboxed->calls_per_s / row.result.calls_per_s;
    std::printf("  %-9s %-39s %9.0f %9.1f %9.1f %9.2fx  >= 0.95x  %s\n", "", "the same, in the jail the host gives it",
                sandboxed->calls_per_s, sandboxed->p50_us, sandboxed->p99_us, ratio, verdict(ratio >= 0.95));
  }
  for (const auto& row : rows) {
    if (row.connect_us > 0) {
      std::printf("  Connect handoff, %d client%s: each client's one Control.Connect (fresh channel) took %.0f us, median\n",
                  row.clients, row.clients == 1 ? "" : "s", row.connect_us);
    }
    if (row.result.errors) {
      std::printf("  %s, %d client%s: %llu failed calls, first: %s\n", kPaths[row.path], row.clients,
                  row.clients == 1 ? "" : "s", static_cast<unsigned long long>(row.result.errors),
                  row.result.first_error.c_str());
    }
  }

  std::printf("\n(b) start to SERVING, median of %-3d                median ms    min ms    max ms    vs hand  target    result\n",
              options.reps);
  std::printf("  %-49s %9.2f %9.2f %9.2f %9.2fx  (baseline)\n", "fork/exec bin/hello --socket, poll health",
              hand_start.median, hand_start.min, hand_start.max, 1.0);
  double start_ratio = host_start.median / hand_start.median;
  std::printf("  %-49s %9.2f %9.2f %9.2f %9.2fx  <= 1.30x  %s\n", "through the host, sandboxed: Control.Start",
              host_start.median, host_start.min, host_start.max, start_ratio, verdict(start_ratio <= 1.3));

  auto mb = [](long kib) { return static_cast<double>(kib) / 1024.0; };
  std::printf("\n(c) resident memory                                  VmRSS MB   anon MB  baseline (VmRSS)       target    result\n");
  auto host_row = [&](const char* label, const Memory& m) {
    std::printf("  %-49s %9.1f %9.1f  %-21s  <= 25 MB  %s\n", label, mb(m.rss_kib), mb(m.anon_kib), "-",
                verdict(mb(m.rss_kib) <= 25));
  };
  host_row("mumba-host, idle, nothing installed", host_mem_fresh);
  host_row("mumba-host, idle, hello running", host_mem_app);
  host_row("mumba-host, idle after the load runs", host_mem_after);
  host_row("mumba-host, idle after the start-up runs", host_mem_end);
  char by_hand[64];
  std::snprintf(by_hand, sizeof by_hand, "by hand, idle: %.1f", mb(hand_mem_idle.rss_kib));
  auto daemon_row = [&](const char* label, const Memory& m) {
    std::printf("  %-49s %9.1f %9.1f  %-21s  <= 8 MB   %s\n", label, mb(m.rss_kib), mb(m.anon_kib), by_hand,
                verdict(mb(m.rss_kib) <= 8));
  };
  daemon_row("hello under the host, idle", hello_mem_idle);
  daemon_row("hello under the host, after the load runs", hello_mem_after);
  std::printf("  (hello by hand, idle: %.1f MB anon)\n", mb(hand_mem_idle.anon_kib));

  std::printf("\ntargets: %d PASS, %d MISS\n", verdict.pass, verdict.miss);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  SetProgramName("mumba-bench");
  HandleStopSignals([] { Cleanup(true); });

  int rc = 1;
  auto t0 = Clock::now();
  try {
    Options options = ParseOptions(argc, argv);
    rc = Run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-bench: error: %s\n", e.what());
    fs::path host_log = g_session.home / "logs" / "host.log";
    if (!g_session.home.empty() && fs::exists(host_log)) {
      std::fprintf(stderr, "mumba-bench: the host's log ends with:\n%s", Tail(host_log, 10).c_str());
    }
    rc = 1;
  }
  try {
    Cleanup(false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-bench: error while cleaning up: %s\n", e.what());
    rc = 1;
  }
  if (!g_session.home.empty()) {
    Progress("done in %.1f s; host stopped, home removed", std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return rc;
}
