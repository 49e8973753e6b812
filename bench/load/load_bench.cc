// SPDX-License-Identifier: Apache-2.0
// mumba-load-bench: the host under load and at scale, each figure printed beside
// its target (issue 11, "Load, scale and faults").
//
// In one run it makes a throw-away MUMBA_HOME under /tmp, starts a host there with
// `mumba --home H host start` (loopback only), installs and starts the hello bundle,
// and then
//   (a) load: for each surface, N client threads (default 100), each with its own
//       connection, call in a loop for a warm-up and then S seconds (default 60):
//         control   Control.HostStatus and Control.Status(hello) over host.sock;
//         call      HTTP/1.1 keep-alive POST /_mumba/call/hello.v1.Greeter/SayHello
//                   on the gateway, with hello's secret cookie;
//         route     HTTP/1.1 keep-alive GET /greet?name=x on the gateway;
//         events    N clients hold hello's /_mumba/events WebSocket open while a few
//                   threads call SayHello on the gateway (each call emits
//                   "greeted"); the latency is from the call to each delivery;
//         storage   Kv.Write (one put) and Kv.Get on hello's "main" store through
//                   the owner's storage service on host.sock.
//       Each prints calls/s, p50/p99, errors, and the host's VmRSS and open
//       descriptors after the warm-up and at the end, with their ratio;
//   (b) scale: installs copies of hello (each with a fresh ed25519 id and its own
//       name) until APPS are installed, starts copies until RUNNING run, times
//       `mumba list` through the real CLI and Control.List directly (median of
//       10), and reads the idle host's CPU over 10 s from /proc/PID/stat.
// The table goes to stdout, progress to stderr. Exit status: 0 when the bench ran,
// whatever the targets say; 1 when it could not run; 128 + the signal when stopped
// by one. Whatever happens it stops the host it started (which stops the daemons),
// kills any daemon of its home that outlived it and removes its folder.
//
// Errors are exceptions (BenchError, bench_util.h), caught in main.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench_util.h"
#include "common/keys.h"
#include "mumba/host/v1/control.grpc.pb.h"
#include "mumba/storage/v1/storage.grpc.pb.h"

namespace {

using namespace mumba::bench;
namespace hv1 = mumba::host::v1;
namespace sv1 = mumba::storage::v1;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kApp[] = "hello";
constexpr char kDb[] = "main";
constexpr double kFlatTarget = 1.10;   // Memory and descriptors: end over after warm-up.
constexpr double kListTargetMs = 50;   // `mumba list` with 1000 installed, 100 running.
constexpr double kIdleTargetPct = 1;   // The idle host, % of one core.
constexpr int kEventDrivers = 4;       // Threads calling SayHello for the events surface.

struct Options {
  double seconds = 60;   // Measured seconds of each load surface.
  double warmup = 5;     // Unmeasured seconds before them.
  int clients = 100;     // Concurrent clients of each surface.
  int rounds = 1;        // Times every surface runs: growth from round to round is a leak, not a warm-up.
  int apps = 1000;       // Installed apps in the scale part (hello included).
  int running = 100;     // Of which running.
  bool skip_load = false;
  bool skip_scale = false;
  fs::path bin_dir;      // mumba and mumba-host.
  fs::path bundle;       // The hello bundle.
};

// ---- What the bench is responsible for. ----

// Everything that must be undone at the end, shared by main and the signal thread.
struct Session {
  std::mutex mu;          // Guards root and home, set once, first.
  fs::path root;          // /tmp/mul-XXXXXX: the home, the bundle copies, the CLI's output.
  fs::path home;          // root/h: the throw-away MUMBA_HOME.
  ChildRegistry children; // CLI commands and the daemons the host started.
  CliHost host;           // The host on `home`, started through the CLI.
};
Session g_session;

CliResult RunCli(const std::vector<std::string>& args, Clock::duration timeout) {
  return g_session.host.Run(args, timeout);
}

// Ends what the bench started and removes its folder. Idempotent; safe from the
// signal thread (`from_signal`: SIGTERM instead of `mumba host stop`).
void Cleanup(bool from_signal) {
  g_session.children.CleanUpOnce([from_signal] {
    fs::path root, home;
    {
      std::lock_guard lock(g_session.mu);
      root = g_session.root;
      home = g_session.home;
    }
    g_session.host.StopHost(from_signal);
    if (root.empty()) return;
    g_session.children.KillStrayDaemons(home);
    g_session.children.EndAll(2s, 2s);
    std::error_code ec;
    fs::remove_all(root, ec);
    if (ec) Progress("cannot remove %s: %s", root.c_str(), ec.message().c_str());
  });
}

json ParseJson(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    Fail(what + " printed no JSON (" + e.what() + "): " + text);
  }
}

// "what: code N: message", for an error count's first example.
std::string GrpcError(const char* what, const grpc::Status& s) {
  return Fmt("%s: code %d: %s", what, static_cast<int>(s.error_code()), s.error_message().c_str());
}

grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  // A connection of its own per channel, as separate client processes would have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  return args;
}

// A new channel (a connection of its own) to the owner's host.sock.
std::shared_ptr<grpc::Channel> HostChannel() {
  return grpc::CreateCustomChannel("unix:" + (g_session.home / "host.sock").string(),
                                   grpc::InsecureChannelCredentials(), ChannelArgs());
}

// ---- The host as /proc shows it. ----

struct HostSample {
  double rss_kb = 0;
  double fds = 0;
};

// The resident memory and open descriptors of `pid` now; zeros when it is gone.
HostSample SampleHost(pid_t pid) {
  HostSample s;
  const std::string status = ReadFile(Fmt("/proc/%d/status", pid));
  if (auto at = status.find("VmRSS:"); at != std::string::npos) {
    s.rss_kb = std::strtod(status.c_str() + at + 6, nullptr);
  }
  std::error_code ec;
  for (auto it = fs::directory_iterator(Fmt("/proc/%d/fd", pid), ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    s.fds += 1;
  }
  return s;
}

// utime + stime of `pid`, in clock ticks.
double CpuTicks(pid_t pid) {
  auto f = StatFields(pid);
  if (f.size() < 13) Fail(Fmt("cannot read /proc/%d/stat", pid));
  return std::strtod(f[11].c_str(), nullptr) + std::strtod(f[12].c_str(), nullptr);
}

// ---- HTTP/1.1 and WebSocket clients of the gateway. ----

// A keep-alive POST of SayHello on the gateway, with the app's cookie.
std::string CallRequest(int port, const std::string& cookie, const std::string& name) {
  std::string body = json{{"name", name}}.dump();
  return Fmt("POST /_mumba/call/hello.v1.Greeter/SayHello HTTP/1.1\r\nHost: %s.localhost:%d\r\nCookie: %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             kApp, port, cookie.c_str(), body.size(), body.c_str());
}

// A WebSocket client of /_mumba/events: the handshake, then frames read one by one.
// Server frames are never masked; only text frames (opcode 1) are passed on.
class EventsClient {
 public:
  explicit EventsClient(int port) : http_(port), port_(port) {}

  // Connects and upgrades; returns "" or what went wrong.
  std::string Open(const std::string& cookie) {
    if (std::string e = http_.Connect(); !e.empty()) return e;
    std::string req = Fmt(
        "GET /_mumba/events HTTP/1.1\r\nHost: %s.localhost:%d\r\nCookie: %s\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        kApp, port_, cookie.c_str());
    if (::send(http_.fd(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      return std::string("send: ") + std::strerror(errno);
    }
    for (;;) {
      if (auto end = in_.find("\r\n\r\n"); end != std::string::npos) {
        if (!in_.starts_with("HTTP/1.1 101")) return "events answered " + in_.substr(0, in_.find('\r'));
        in_.erase(0, end + 4);
        return "";
      }
      if (std::string e = Fill(); !e.empty()) return e;
    }
  }

  // Waits for the next text frame (up to the socket's receive timeout); "" and
  // *text set, or what went wrong ("timeout" when nothing came).
  std::string Next(std::string* text) {
    for (;;) {
      if (in_.size() >= 2) {
        const auto* b = reinterpret_cast<const unsigned char*>(in_.data());
        int opcode = b[0] & 0x0f;
        uint64_t len = b[1] & 0x7f;
        size_t head = 2;
        if (len == 126 && in_.size() >= 4) {
          len = (uint64_t{b[2]} << 8) | b[3];
          head = 4;
        } else if (len == 127 && in_.size() >= 10) {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
          head = 10;
        } else if (len >= 126) {
          head = 0;  // The extended length has not all come yet.
        }
        if (head > 0 && in_.size() >= head + len) {
          std::string payload = in_.substr(head, len);
          in_.erase(0, head + len);
          if (opcode == 8) return "the gateway closed the events socket";
          if (opcode == 1) {
            *text = std::move(payload);
            return "";
          }
          continue;
        }
      }
      if (std::string e = Fill(); !e.empty()) return e;
    }
  }

  void SetReceiveTimeout(Clock::duration d) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(Seconds(d));
    tv.tv_usec = static_cast<suseconds_t>((Seconds(d) - static_cast<double>(tv.tv_sec)) * 1e6);
    ::setsockopt(http_.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

 private:
  std::string Fill() {
    char chunk[8192];
    ssize_t n = ::recv(http_.fd(), chunk, sizeof chunk, 0);
    if (n > 0) {
      in_.append(chunk, static_cast<size_t>(n));
      return "";
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return "timeout";
    return n == 0 ? "the gateway closed the events socket" : std::string("recv: ") + std::strerror(errno);
  }

  GatewayHttpClient http_;
  const int port_;
  std::string in_;
};

// ---- Load. ----

struct Load {
  std::string surface;
  std::string detail;
  std::vector<double> latencies_us;  // Measured calls only.
  double seconds = 0;
  uint64_t calls = 0;
  uint64_t errors = 0;
  std::string first_error;
  HostSample warm, end;
  std::string unit = "calls/s";  // What the rate counts.
  std::string extra;  // A note printed under the table (the events surface's deliveries).
};

// An empty figure of `surface`; `detail` says what its clients call.
Load NewLoad(std::string surface, std::string detail) {
  Load l;
  l.surface = std::move(surface);
  l.detail = std::move(detail);
  return l;
}

// One client: makes one call and returns "" or what went wrong.
using Caller = std::function<std::string()>;

// Runs `clients` threads, each calling its caller in a loop for the warm-up and
// then `seconds`; samples the host after the warm-up and just before the end.
// Errors are counted and the client goes on (reconnecting where it must).
// When `measured_ns` is given, it is set to the start of the measured time (the
// steady clock's count) before any client starts.
void RunLoad(const Options& o, pid_t host, int clients, const std::function<Caller(int)>& make_caller, Load* out,
             std::atomic<int64_t>* measured_ns = nullptr) {
  std::vector<Caller> callers;
  for (int i = 0; i < clients; ++i) callers.push_back(make_caller(i));
  struct PerThread {
    std::vector<double> latencies_us;
    uint64_t errors = 0;
    std::string first_error;
  };
  std::vector<PerThread> results(clients);
  const auto from = Clock::now() + 5ms;
  const auto measured = from + SecondsToDuration(o.warmup);
  const auto until = measured + SecondsToDuration(o.seconds);
  if (measured_ns) *measured_ns = measured.time_since_epoch().count();
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      PerThread& r = results[i];
      std::this_thread::sleep_until(from);
      for (auto t0 = Clock::now(); t0 < until; t0 = Clock::now()) {
        std::string e = callers[i]();
        auto t1 = Clock::now();
        if (t0 < measured) continue;
        if (!e.empty()) {
          if (r.errors++ == 0) r.first_error = e;
          std::this_thread::sleep_for(10ms);
          continue;
        }
        r.latencies_us.push_back(Micros(t1 - t0));
      }
    });
  }
  std::this_thread::sleep_until(measured + 500ms);
  out->warm = SampleHost(host);
  std::this_thread::sleep_until(until - 200ms);
  out->end = SampleHost(host);
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    out->latencies_us.insert(out->latencies_us.end(), r.latencies_us.begin(), r.latencies_us.end());
    out->errors += r.errors;
    if (out->first_error.empty()) out->first_error = r.first_error;
  }
  out->calls = out->latencies_us.size();
  out->seconds = o.seconds;
}

// The control surface: each client its own channel, HostStatus and Status in turn.
Load LoadControl(const Options& o, pid_t host) {
  Load l = NewLoad("control", "HostStatus + Status(hello), host.sock");
  RunLoad(o, host, o.clients, [](int) -> Caller {
    auto stub = std::shared_ptr<hv1::Control::Stub>(hv1::Control::NewStub(HostChannel()));
    auto odd = std::make_shared<bool>(false);
    return [stub, odd]() -> std::string {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(10s));
      *odd = !*odd;
      if (*odd) {
        hv1::HostStatusResponse r;
        grpc::Status s = stub->HostStatus(&ctx, hv1::HostStatusRequest(), &r);
        return s.ok() ? "" : GrpcError("HostStatus", s);
      }
      hv1::AppRef ref;
      ref.set_app(kApp);
      hv1::AppInfo r;
      grpc::Status s = stub->Status(&ctx, ref, &r);
      if (!s.ok()) return GrpcError("Status", s);
      return r.state() == "running" ? "" : "hello is " + r.state();
    };
  }, &l);
  return l;
}

// The gateway's calls: each client one keep-alive connection.
Load LoadGatewayCall(const Options& o, pid_t host, int port, const std::string& cookie) {
  Load l = NewLoad("gateway call", "POST /_mumba/call/.../SayHello, keep-alive");
  const std::string request = CallRequest(port, cookie, "x");
  RunLoad(o, host, o.clients, [&](int) -> Caller {
    auto c = std::make_shared<GatewayHttpClient>(port);
    return [c, request]() -> std::string {
      std::string body;
      if (std::string e = c->Exchange(request, &body); !e.empty()) return e;
      return body.find("Hello, x!") != std::string::npos ? "" : "unexpected reply: " + body;
    };
  }, &l);
  return l;
}

// The gateway's routes: each client one keep-alive connection.
Load LoadGatewayRoute(const Options& o, pid_t host, int port, const std::string& cookie) {
  Load l = NewLoad("gateway route", "GET /greet?name=x, keep-alive");
  const std::string request =
      Fmt("GET /greet?name=x HTTP/1.1\r\nHost: %s.localhost:%d\r\nCookie: %s\r\n\r\n", kApp, port, cookie.c_str());
  RunLoad(o, host, o.clients, [&](int) -> Caller {
    auto c = std::make_shared<GatewayHttpClient>(port);
    return [c, request]() -> std::string {
      std::string body;
      if (std::string e = c->Exchange(request, &body); !e.empty()) return e;
      return body == "Hello, x!" ? "" : "unexpected reply: " + body;
    };
  }, &l);
  return l;
}

// Storage: each client its own channel, a put then a get of one of its 64 keys.
Load LoadStorage(const Options& o, pid_t host) {
  Load l = NewLoad("storage", "Kv.Write (1 put) + Kv.Get, host.sock");
  RunLoad(o, host, o.clients, [](int i) -> Caller {
    auto stub = std::shared_ptr<sv1::Kv::Stub>(sv1::Kv::NewStub(HostChannel()));
    auto n = std::make_shared<uint64_t>(0);
    return [stub, n, i]() -> std::string {
      const std::string key = Fmt("c%d-%llu", i, static_cast<unsigned long long>(*n / 2 % 64));
      const std::string value(100, 'v');
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(10s));
      if ((*n)++ % 2 == 0) {
        sv1::KvWriteRequest req;
        req.mutable_store()->set_app(kApp);
        req.mutable_store()->set_db(kDb);
        auto* op = req.add_ops();
        op->set_key(key);
        op->set_value(value);
        sv1::KvWriteResponse resp;
        grpc::Status s = stub->Write(&ctx, req, &resp);
        return s.ok() ? "" : GrpcError("Kv.Write", s);
      }
      sv1::KvGetRequest req;
      req.mutable_store()->set_app(kApp);
      req.mutable_store()->set_db(kDb);
      req.set_key(key);
      sv1::KvGetResponse resp;
      grpc::Status s = stub->Get(&ctx, req, &resp);
      if (!s.ok()) return GrpcError("Kv.Get", s);
      return resp.found() && resp.value() == value ? "" : "Kv.Get missed " + key;
    };
  }, &l);
  return l;
}

// The events surface: `clients` WebSockets listen while kEventDrivers threads call
// SayHello with the call's start time (ns, steady clock) as the name; each
// listener computes the latency from it. The calls are what RunLoad counts;
// the deliveries and their latencies are what the row shows.
Load LoadEvents(const Options& o, pid_t host, int port, const std::string& cookie) {
  Load l = NewLoad("events", Fmt("%d WebSockets, %d threads calling SayHello", o.clients, kEventDrivers));
  struct Listener {
    explicit Listener(int port) : client(port) {}
    EventsClient client;
    std::vector<double> latencies_us;
    uint64_t frames = 0;
    std::string error;
  };
  std::vector<std::unique_ptr<Listener>> listeners;
  for (int i = 0; i < o.clients; ++i) {
    listeners.push_back(std::make_unique<Listener>(port));
    if (std::string e = listeners.back()->client.Open(cookie); !e.empty()) Fail("events socket " + e);
    listeners.back()->client.SetReceiveTimeout(200ms);
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> measured_from_ns{INT64_MAX};
  std::vector<std::thread> readers;
  for (auto& p : listeners) {
    readers.emplace_back([&, lp = p.get()] {
      while (!stop.load()) {
        std::string text;
        std::string e = lp->client.Next(&text);
        if (e == "timeout") continue;
        if (!e.empty()) {
          lp->error = e;
          return;
        }
        const int64_t now = Clock::now().time_since_epoch().count();
        auto at = text.find("Hello, ");
        if (at == std::string::npos) continue;
        const int64_t sent = std::strtoll(text.c_str() + at + 7, nullptr, 10);
        if (sent < measured_from_ns.load()) continue;
        lp->frames++;
        lp->latencies_us.push_back(static_cast<double>(now - sent) / 1000.0);
      }
    });
  }
  // Every listener is registered once its handshake was answered; give the
  // gateway a moment to add the last ones before counting deliveries.
  std::this_thread::sleep_for(200ms);
  Load calls = NewLoad("", "");
  RunLoad(o, host, kEventDrivers, [&](int) -> Caller {
    auto c = std::make_shared<GatewayHttpClient>(port);
    return [c, port, cookie]() -> std::string {
      std::string body;
      const auto name = std::to_string(Clock::now().time_since_epoch().count());
      return c->Exchange(CallRequest(port, cookie, name), &body);
    };
  }, &calls, &measured_from_ns);
  std::this_thread::sleep_for(1s);  // The last frames in flight.
  stop = true;
  for (auto& t : readers) t.join();
  l.warm = calls.warm;
  l.end = calls.end;
  l.seconds = calls.seconds;
  l.errors = calls.errors;
  l.first_error = calls.first_error;
  uint64_t delivered = 0;
  for (auto& p : listeners) {
    l.latencies_us.insert(l.latencies_us.end(), p->latencies_us.begin(), p->latencies_us.end());
    delivered += p->frames;
    if (!p->error.empty()) {
      l.errors++;
      if (l.first_error.empty()) l.first_error = p->error;
    }
  }
  // Calls made in the measured time, each owed to every listener.
  const uint64_t owed = calls.calls * static_cast<uint64_t>(o.clients);
  l.calls = delivered;
  l.unit = "deliveries/s";
  l.extra = Fmt("events: %llu SayHello calls (%s, p50 %.0f us), %llu deliveries of the %llu owed (%.2f%%)",
                static_cast<unsigned long long>(calls.calls), PerSecond(calls.calls / o.seconds).c_str(),
                Percentile(calls.latencies_us, 0.5), static_cast<unsigned long long>(delivered),
                static_cast<unsigned long long>(owed), owed ? 100.0 * delivered / owed : 0.0);
  return l;
}

// ---- Scale. ----

struct Scale {
  int installed = 0;
  int running = 0;
  double install_s = 0, start_s = 0;
  std::vector<double> cli_list_ms, rpc_list_ms;
  std::vector<double> cli_status_ms;  // `mumba host status`: what any CLI command costs.
  size_t list_bytes = 0;
  double idle_pct = 0;
  double idle_before_pct = 0;  // The same host idle with hello alone, before the copies.
  double idle_rss_kb = 0, idle_fds = 0;
};

// Control.List; fails the bench when the host does not answer.
std::vector<hv1::AppInfo> ListApps(hv1::Control::Stub* control) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(60s));
  hv1::ListResponse r;
  grpc::Status s = control->List(&ctx, hv1::ListRequest(), &r);
  if (!s.ok()) Fail(GrpcError("Control.List", s));
  return {r.apps().begin(), r.apps().end()};
}

// A copy of the hello bundle at `dir` named `name`, with a fresh id.
void CopyBundle(const fs::path& bundle, const fs::path& dir, const std::string& name) {
  fs::copy(bundle, dir, fs::copy_options::recursive);
  const fs::path manifest = dir / "mumba.toml";
  std::string text = ReadFile(manifest);
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(at, eol - at);
    if (line.starts_with("id = ")) {
      line = "id = \"" + mumba::AddressOf(mumba::GenerateKeyPair().public_key) + "\"";
    } else if (line.starts_with("name = ")) {
      line = "name = \"" + name + "\"";
    }
    out += line + "\n";
    at = eol + 1;
  }
  std::ofstream(manifest, std::ios::trunc) << out;
}

// The CPU `host` uses over 10 s, after 3 s of quiet, as % of one core.
double IdleCpuPercent(pid_t host) {
  std::this_thread::sleep_for(3s);
  const double ticks0 = CpuTicks(host);
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(10s);
  const double ticks = CpuTicks(host) - ticks0;
  return 100.0 * ticks / static_cast<double>(::sysconf(_SC_CLK_TCK)) / Seconds(Clock::now() - t0);
}

// Installs and starts copies of hello up to o.apps and o.running, then times the
// listing and reads the idle CPU.
Scale RunScale(const Options& o, pid_t host) {
  Scale sc;
  Progress("the idle host's CPU over 10 s, hello alone");
  sc.idle_before_pct = IdleCpuPercent(host);
  auto control = hv1::Control::NewStub(HostChannel());
  const fs::path copies = g_session.root / "bundles";
  fs::create_directories(copies);
  const int to_install = o.apps - static_cast<int>(ListApps(control.get()).size());
  Progress("installing %d copies of hello", to_install);
  auto t0 = Clock::now();
  std::vector<std::string> names;
  for (int i = 0; i < to_install; ++i) {
    const std::string name = Fmt("h%04d", i);
    CopyBundle(o.bundle, copies / name, name);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(120s));
    hv1::InstallRequest req;
    req.set_bundle_dir((copies / name).string());
    hv1::InstallResponse resp;
    grpc::Status s = control->Install(&ctx, req, &resp);
    if (!s.ok()) Fail(GrpcError(("Install " + name).c_str(), s));
    names.push_back(name);
    if ((i + 1) % 100 == 0) Progress("  %d installed (%.1f s)", i + 1, Seconds(Clock::now() - t0));
  }
  sc.install_s = Seconds(Clock::now() - t0);

  auto count_running = [&] {
    int n = 0;
    for (const auto& a : ListApps(control.get())) {
      if (a.state() == "running") {
        n++;
        g_session.children.NoteDaemon(a.pid());
      }
    }
    return n;
  };
  const int to_start = std::min<int>(o.running - count_running(), static_cast<int>(names.size()));
  Progress("starting %d of them", to_start);
  t0 = Clock::now();
  for (int i = 0; i < to_start; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(60s));
    hv1::AppRef ref;
    ref.set_app(names[i]);
    hv1::AppInfo info;
    grpc::Status s = control->Start(&ctx, ref, &info);
    if (!s.ok()) Fail(GrpcError(("Start " + names[i]).c_str(), s));
    if (info.pid() > 0) g_session.children.NoteDaemon(info.pid());
  }
  const auto deadline = Clock::now() + 120s;
  while ((sc.running = count_running()) < o.running && Clock::now() < deadline) std::this_thread::sleep_for(500ms);
  sc.start_s = Seconds(Clock::now() - t0);
  auto apps = ListApps(control.get());
  sc.installed = static_cast<int>(apps.size());
  if (sc.running < o.running) Progress("only %d apps run after 120 s", sc.running);

  Progress("timing mumba list and Control.List, 10 each");
  for (int i = 0; i < 10; ++i) {
    CliResult r = RunCli({"list"}, 60s);
    sc.cli_list_ms.push_back(Millis(r.took));
    sc.cli_status_ms.push_back(Millis(RunCli({"host", "status"}, 60s).took));
    auto t = Clock::now();
    apps = ListApps(control.get());
    sc.rpc_list_ms.push_back(Millis(Clock::now() - t));
  }
  hv1::ListResponse whole;
  for (auto& a : apps) *whole.add_apps() = a;
  sc.list_bytes = whole.ByteSizeLong();

  Progress("the idle host's CPU over 10 s");
  control.reset();
  sc.idle_pct = IdleCpuPercent(host);
  HostSample s = SampleHost(host);
  sc.idle_rss_kb = s.rss_kb;
  sc.idle_fds = s.fds;
  return sc;
}

// ---- The table. ----

// A latency in microseconds, as "850 us" or "12.3 ms".
std::string Us(double us) { return us >= 10000 ? Fmt("%.1f ms", us / 1000) : Fmt("%.0f us", us); }

// The load table, then each surface's note and first error.
void PrintLoad(const Options& o, const std::vector<Load>& loads) {
  std::printf("\n(a) load: %d clients per surface, %.0f s warm-up, %.0f s measured\n", o.clients, o.warmup, o.seconds);
  std::vector<TableRow> rows;
  for (const Load& l : loads) {
    const std::string p = l.surface + ": ";
    rows.push_back({p + l.unit, PerSecond(l.calls / l.seconds), l.detail, "", "", ""});
    rows.push_back({p + "p50 / p99", Us(Percentile(l.latencies_us, 0.5)) + " / " + Us(Percentile(l.latencies_us, 0.99)),
                    "", "", "", ""});
    rows.push_back({p + "errors", std::to_string(l.errors), l.first_error.substr(0, 34), "", "0",
                    l.errors == 0 ? "yes" : "NO"});
    const double rss = l.warm.rss_kb > 0 ? l.end.rss_kb / l.warm.rss_kb : 0;
    rows.push_back({p + "host VmRSS end", Fmt("%.1f MiB", l.end.rss_kb / 1024),
                    Fmt("%.1f MiB after warm-up", l.warm.rss_kb / 1024),
                    Ratio(l.end.rss_kb, l.warm.rss_kb), "<= 1.10x", rss <= kFlatTarget ? "yes" : "NO"});
    const double fds = l.warm.fds > 0 ? l.end.fds / l.warm.fds : 0;
    rows.push_back({p + "host open fds end", Fmt("%.0f", l.end.fds), Fmt("%.0f after warm-up", l.warm.fds),
                    Ratio(l.end.fds, l.warm.fds), "<= 1.10x", fds <= kFlatTarget ? "yes" : "NO"});
  }
  if (loads.size() > 1) {
    const HostSample& first = loads.front().warm;
    const HostSample& last = loads.back().end;
    rows.push_back({"all surfaces: host VmRSS end", Fmt("%.1f MiB", last.rss_kb / 1024),
                    Fmt("%.1f MiB after the first warm-up", first.rss_kb / 1024), Ratio(last.rss_kb, first.rss_kb),
                    "", ""});
    rows.push_back({"all surfaces: host open fds end", Fmt("%.0f", last.fds),
                    Fmt("%.0f after the first warm-up", first.fds),
                    Ratio(last.fds, first.fds), "", ""});
  }
  PrintTable(rows, TableWidths{});
  for (const Load& l : loads) {
    if (!l.extra.empty()) std::printf("%s\n", l.extra.c_str());
    if (!l.first_error.empty()) std::printf("%s: first error: %s\n", l.surface.c_str(), l.first_error.c_str());
  }
}

// The scale table.
void PrintScale(const Scale& sc) {
  std::printf("\n(b) scale: %d apps installed, %d running (installed in %.1f s, started in %.1f s)\n", sc.installed,
              sc.running, sc.install_s, sc.start_s);
  Spread cli = Summarize(sc.cli_list_ms), rpc = Summarize(sc.rpc_list_ms), status = Summarize(sc.cli_status_ms);
  std::vector<TableRow> rows{
      {"mumba list (CLI, median of 10)", Fmt("%.1f ms", cli.median),
       Fmt("%.1f ms mumba host status", status.median), Ratio(cli.median, status.median), "<= 50 ms",
       cli.median <= kListTargetMs ? "yes" : "NO"},
      {"mumba list (CLI): min / max", Fmt("%.1f / %.1f ms", cli.min, cli.max), "", "", "", ""},
      {"Control.List (median of 10)", Fmt("%.1f ms", rpc.median),
       Fmt("min %.1f, max %.1f ms, %zu KiB", rpc.min, rpc.max, sc.list_bytes / 1024), "", "<= 50 ms",
       rpc.median <= kListTargetMs ? "yes" : "NO"},
      {"idle host CPU over 10 s", Fmt("%.2f %%", sc.idle_pct), Fmt("%.2f %% with hello alone", sc.idle_before_pct),
       Ratio(sc.idle_pct, sc.idle_before_pct), "<= 1 %",
       sc.idle_pct <= kIdleTargetPct ? "yes" : "NO"},
      {"idle host VmRSS / open fds", Fmt("%.1f MiB", sc.idle_rss_kb / 1024), Fmt("%.0f fds", sc.idle_fds), "", "", ""},
  };
  PrintTable(rows, TableWidths{});
}

// The options from the command line; fails on a bad one.
Options ParseOptions(int argc, char** argv) {
  Options o;
  o.bin_dir = BinDir();
  Flags flags(
      "usage: mumba-load-bench [options]\n"
      "The host under load (concurrent clients on host.sock, the gateway, its events\n"
      "WebSocket and storage) and at scale (many apps installed, some running).\n"
      "  --seconds S         measured seconds of each load surface (default 60)\n"
      "  --warmup S          unmeasured seconds before them (default 5)\n"
      "  --clients N         concurrent clients per surface (default 100)\n"
      "  --rounds N          run every surface N times, to tell a leak from a warm-up (default 1)\n"
      "  --apps N            installed apps in the scale part, hello included (default 1000)\n"
      "  --running N         of which running (default 100)\n"
      "  --skip-load         only the scale part\n"
      "  --skip-scale        only the load part\n"
      "  --bin-dir DIR       where mumba and mumba-host are (default: beside this program)\n"
      "  --hello-bundle DIR  the hello bundle (default: ../tests/hello/bundle from there)\n");
  flags.Add("--seconds", &o.seconds).Add("--warmup", &o.warmup);
  flags.Add("--clients", &o.clients).Add("--rounds", &o.rounds);
  flags.Add("--apps", &o.apps).Add("--running", &o.running);
  flags.Add("--skip-load", &o.skip_load).Add("--skip-scale", &o.skip_scale);
  flags.Add("--bin-dir", &o.bin_dir).Add("--hello-bundle", &o.bundle);
  flags.Parse(argc, argv);
  if (!flags.Given("--hello-bundle")) o.bundle = o.bin_dir.parent_path() / "tests" / kApp / "bundle";
  if (o.seconds < 1 || o.warmup < 1 || o.clients < 1 || o.rounds < 1) {
    Fail("--seconds and --warmup must be >= 1, --clients and --rounds >= 1");
  }
  if (o.apps < 1 || o.running < 1 || o.running > o.apps) Fail("--apps and --running must be >= 1, running <= apps");
  o.bin_dir = fs::absolute(o.bin_dir);
  o.bundle = fs::absolute(o.bundle);
  return o;
}

// The whole bench: the host, the load surfaces, the scale part, the tables.
int Run(const Options& o) {
  for (const char* exe : {"mumba", "mumba-host"}) {
    if (::access((o.bin_dir / exe).c_str(), X_OK) != 0) {
      Fail((o.bin_dir / exe).string() + " is missing (build it: cmake --build build, or pass --bin-dir)");
    }
  }
  if (!fs::exists(o.bundle / "mumba.toml")) {
    Fail("no hello bundle at " + o.bundle.string() +
         " (build it: build/bin/mumba build apps/hello --build-dir build/tests/hello, or pass --hello-bundle)");
  }
  {
    std::lock_guard lock(g_session.mu);
    g_session.root = MakeTempDir("/tmp/mul-");
    g_session.home = g_session.root / "h";
    g_session.host.Configure(o.bin_dir / "mumba", g_session.home, g_session.root, &g_session.children);
  }
  const std::string load_before = LoadAverage();
  Progress("starting a host on %s", g_session.home.c_str());
  const pid_t host = g_session.host.Start(60s);
  json status = ParseJson(RunCli({"host", "status", "--json"}, 30s).out, "mumba host status");
  const int port = status.value("gateway_port", 0);
  if (port <= 0) Fail("the host reports no gateway_port: " + status.dump());
  Progress("installing and starting %s", o.bundle.c_str());
  (void)RunCli({"install", o.bundle.string()}, 120s);
  (void)RunCli({"start", kApp}, 60s);
  json app = ParseJson(RunCli({"status", kApp, "--json"}, 30s).out, "mumba status");
  g_session.children.NoteDaemon(app.value("pid", 0));
  // The app's secret, which its windows hold as a cookie, read from the CLI's
  // stdout so that it is never in a command line.
  json session = ParseJson(RunCli({"gateway-session", kApp, "--json"}, 30s).out, "mumba gateway-session");
  const std::string cookie = session.value("cookie_name", "") + "=" + session.value("secret", "");
  if (cookie.size() < 3) Fail("mumba gateway-session printed no cookie");

  std::vector<Load> loads;
  if (!o.skip_load) {
    Progress("(a) load: %d clients, %.0f s warm-up + %.0f s per surface", o.clients, o.warmup, o.seconds);
    for (int round = 1; round <= o.rounds; ++round) {
      // A surface's figures name their round when there are several.
      const std::string suffix = o.rounds > 1 ? Fmt(" #%d", round) : "";
      auto run = [&](Load l) {
        l.surface += suffix;
        loads.push_back(std::move(l));
      };
      Progress("  control%s", suffix.c_str());
      run(LoadControl(o, host));
      Progress("  gateway call%s", suffix.c_str());
      run(LoadGatewayCall(o, host, port, cookie));
      Progress("  gateway route%s", suffix.c_str());
      run(LoadGatewayRoute(o, host, port, cookie));
      Progress("  events%s", suffix.c_str());
      run(LoadEvents(o, host, port, cookie));
      Progress("  storage%s", suffix.c_str());
      run(LoadStorage(o, host));
    }
  }
  Scale sc;
  if (!o.skip_scale) {
    Progress("(b) scale: %d apps, %d running", o.apps, o.running);
    sc = RunScale(o, host);
  }
  std::printf("mumba-load-bench: loopback host on %s; load average before %s, after %s\n", g_session.home.c_str(),
              load_before.c_str(), LoadAverage().c_str());
  if (!o.skip_load) PrintLoad(o, loads);
  if (!o.skip_scale) PrintScale(sc);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  SetProgramName("mumba-load-bench");
  HandleStopSignals([] { Cleanup(true); });
  int rc = 1;
  auto t0 = Clock::now();
  try {
    rc = Run(ParseOptions(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-load-bench: error: %s\n", e.what());
    const fs::path log = g_session.home / "logs" / "host.log";
    if (!g_session.root.empty() && fs::exists(log)) {
      std::fprintf(stderr, "mumba-load-bench: %s ends with:\n%s", log.c_str(), Tail(log, 8).c_str());
    }
    rc = 1;
  }
  try {
    Cleanup(false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-load-bench: error while cleaning up: %s\n", e.what());
    rc = 1;
  }
  if (!g_session.root.empty()) {
    Progress("done in %.1f s; host stopped, %s removed", Seconds(Clock::now() - t0), g_session.root.c_str());
  }
  return rc;
}
