// SPDX-License-Identifier: Apache-2.0
// mumba-ui-bench: app UIs in headless Chromium, each figure printed beside its
// baseline.
//
// In one run it makes a throw-away MUMBA_HOME under /tmp, starts a host there with
// `mumba --home H host start`, installs and starts the hello bundle, and measures
//   (a) the route GET /greet?name=x fetched from a page: a headless Chromium of the
//       bench's own (shell::LaunchChromium, its own profile, holding hello's secret
//       cookie from `mumba gateway-session` as the host's windows do) opens
//       http://hello.localhost:PORT/ on the host's gateway and runs fetch loops in
//       the page (1 loop, then N in parallel), timed with performance.now();
//       against the same route called over gRPC (mumba.app.v1.Routes/Handle) on
//       the daemon's socket, 1 thread and N threads. A third path, HTTP/1.1
//       keep-alive to the gateway from this process (with the same cookie), tells
//       how much of the gap is the gateway and how much is the browser;
//   (b) `mumba launch hello --headless --json` of a first window (the app's browser
//       not running), wall time and the host's first_paint_ms, against plain
//       Chromium: LaunchChromium, Target.createTarget, Page.navigate to a file://
//       copy of hello's ui/index.html and two animation frames;
//   (c) `mumba launch` of a second window while one is open;
//   (d) the memory of the app's browser (every process of its process group: RSS
//       and PSS from /proc/PID/smaps_rollup) with 1 and 3 windows, against the
//       bench's plain Chromium with 1 and 3 pages of the same page;
//   (e) calls per second from one page: mumba.call of SayHello (which builds a
//       greeting and emits a "greeted" event to the app's pages, a synchronous call
//       of the daemon to the host) over the page's WebSocket with 1, 8 and 64 in flight,
//       mumba.call of Ping (which does nothing: the target's row, the counterpart
//       of the do-nothing HTTP server) and mumba.route of /greet the same way,
//       against the page's own HTTP fetch loop of SayHello and Chromium's fetch
//       loop against the bench's do-nothing HTTP server (1 and 8 loops).
//       `--only-calls` measures (e) alone.
// Everything runs on 127.0.0.1; Chromium gets Mumba's flags (no background
// networking, no component updates). The table goes to stdout, progress to stderr.
//
// Whatever happens (error, SIGINT, SIGTERM, SIGHUP) the bench closes its browser,
// stops the host it started (`mumba host stop`, or SIGTERM on a signal), kills by
// process group whatever browser of its own outlived that (only processes whose
// command line names the bench's folder) and removes the folder. Exit status: 0
// when the bench ran, whatever the targets say; 1 when it could not run; 128 + the
// signal when stopped by one.
//
// Errors are exceptions (BenchError, bench_util.h), caught in main.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "bench_util.h"
#include "mumba/app/v1/routes.grpc.pb.h"
#include "shell/browser_process.h"
#include "shell/cdp_connection.h"
#include "shell/chromium.h"
#include "shell/page.h"
#include "shell/runtime.h"
#include "shell/target.h"

namespace {

using namespace mumba::bench;
namespace av1 = mumba::app::v1;
namespace shell = mumba::shell;
using json = nlohmann::json;
using namespace std::chrono_literals;
using Row = TableRow;

constexpr char kApp[] = "hello";
constexpr char kRoutePath[] = "/greet";
constexpr char kRouteQuery[] = "name=x";
constexpr char kReply[] = "Hello, x!";
// Waits for two animation frames: the page has been painted at least once. The
// host's Windows::Open ends with the same expression.
constexpr char kDoubleFrame[] =
    "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))";
constexpr auto kSettle = 1500ms;  // Before reading memory, after the last page loaded.

struct Options {
  double seconds = 2.0;  // Measured time of each route figure, cut into two slices.
  int lanes = 8;         // Parallel loops in the page, threads on the socket.
  int samples = 5;       // Window launches of each kind; the median is reported.
  bool only_calls = false;  // (e) alone.
  fs::path bin_dir;      // mumba and mumba-host.
  fs::path bundle;       // The hello bundle.
};

template <typename T>
T Must(mumba::Expected<T> e, const std::string& what) {
  if (!e.ok()) Fail(what + ": " + e.status().message());
  return std::move(e).value();
}

void Must(const mumba::Status& s, const std::string& what) {
  if (!s.ok()) Fail(what + ": " + s.message());
}

// ---- /proc: processes, process groups and their memory. ----

// Every live process whose process group is `pgid`.
std::vector<pid_t> GroupMembers(pid_t pgid) {
  std::vector<pid_t> out;
  if (pgid <= 0) return out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    auto fields = StatFields(pid);
    // Field 5 is pgrp; a zombie (state Z) holds no memory and is about to go.
    if (fields.size() > 2 && fields[0] != "Z" && std::stol(fields[2]) == pgid) out.push_back(pid);
  }
  return out;
}

bool WaitGroupGone(pid_t pgid, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (!GroupMembers(pgid).empty()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

struct GroupMemory {
  int processes = 0;
  long rss_kib = 0;   // Sum of every process's resident pages: shared pages count in each.
  long pss_kib = 0;   // Proportional: a page shared by k processes counts 1/k in each.
  // The anonymous and shmem part of PSS: memory the browser made for itself. Unlike
  // file pages (the Chromium binary, its resources), another browser running at the
  // same time does not take a share of it, so it is the steadier figure.
  long own_kib = 0;
  int other_chromiums = 0;  // Chromium processes outside the group at that moment.
};

bool IsChromium(pid_t pid) {
  return Runs(pid, [](const std::string& exe) {
    return exe.ends_with("/chromium") || exe.ends_with("/chromium (deleted)");
  });
}

GroupMemory MemoryOfGroup(pid_t pgid) {
  GroupMemory m;
  for (pid_t pid : GroupMembers(pgid)) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
    long rss = -1, pss = -1, own = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("Rss:")) rss = std::strtol(line.c_str() + 4, nullptr, 10);
      if (line.starts_with("Pss:")) pss = std::strtol(line.c_str() + 4, nullptr, 10);
      if (line.starts_with("Pss_Anon:")) own += std::strtol(line.c_str() + 9, nullptr, 10);
      if (line.starts_with("Pss_Shmem:")) own += std::strtol(line.c_str() + 10, nullptr, 10);
    }
    if (rss < 0 || pss < 0) continue;  // It ended meanwhile.
    ++m.processes;
    m.rss_kib += rss;
    m.pss_kib += pss;
    m.own_kib += own;
  }
  if (m.processes == 0) Fail("no process of group " + std::to_string(pgid) + " to measure");
  const std::vector<pid_t> members = GroupMembers(pgid);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (std::find(members.begin(), members.end(), pid) == members.end() && IsChromium(pid)) ++m.other_chromiums;
  }
  return m;
}

// ---- What the bench is responsible for. ----

// Everything that must be undone at the end, shared by main and the signal thread.
// `mu` guards the fields. Once the registry is closed, later starts are errors, so
// nothing escapes a cleanup that has begun.
struct Session {
  std::mutex mu;
  fs::path root;                 // /tmp/mub-XXXXXX: the home, the bench's profiles, logs. Set once, first.
  fs::path home;                 // root/h: the throw-away MUMBA_HOME.
  ChildRegistry children;        // CLI commands, the app's daemon, and the process groups of every
                                 // browser seen (the app's and ours).
  CliHost host;                  // The host on `home`, started through the CLI.
  std::shared_ptr<shell::CdpConnection> plain;  // The bench's own browser, while it runs.
};
Session g_session;

CliResult RunCli(const std::vector<std::string>& args, Clock::duration timeout) {
  return g_session.host.Run(args, timeout);
}

void NoteBrowser(pid_t pgid) { g_session.children.NoteGroup(pgid); }

json ParseJson(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    Fail(what + " printed no JSON (" + e.what() + "): " + text);
  }
}

// A proto3 JSON integer: int64 fields come as strings.
long JsonInt(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return it->get<long>();
  if (it->is_string()) return std::strtol(it->get<std::string>().c_str(), nullptr, 10);
  return 0;
}

std::string JsonString(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Closes the bench's own browser (`hard`: SIGKILL to its process group at once)
// and waits for its whole group to end. Called by the cleanup or by main.
void ClosePlainBrowser(bool hard) {
  std::shared_ptr<shell::CdpConnection> b;
  {
    std::lock_guard lock(g_session.mu);
    b = std::move(g_session.plain);
    g_session.plain.reset();
  }
  if (!b) return;
  pid_t pgid = b->pid();
  if (hard) {
    shell::SignalProcessGroup(pgid, SIGKILL);
  } else {
    b->Close(2s);
  }
  if (!WaitGroupGone(pgid, 10s)) Progress("plain Chromium's group %d is still there after 10 s", pgid);
}

// Ends what the bench started and removes its folder; the body of Cleanup.
void EndEverything(bool from_signal) {
  fs::path root, home;
  {
    std::lock_guard lock(g_session.mu);
    root = g_session.root;
    home = g_session.home;
  }
  ClosePlainBrowser(from_signal);
  g_session.host.StopHost(from_signal);
  // The host closes the app's browser and stops its daemon; whatever is left is
  // killed, but only processes that name our folder (pids and groups are reused).
  const std::string under = root.string() + "/";
  const std::vector<pid_t> browsers = g_session.children.GroupsSeen();
  auto ours = [&](pid_t pgid) {
    std::vector<pid_t> out;
    for (pid_t pid : GroupMembers(pgid)) {
      if (ReadFile("/proc/" + std::to_string(pid) + "/cmdline").find(under) != std::string::npos) out.push_back(pid);
    }
    return out;
  };
  if (!root.empty()) {
    for (pid_t pgid : browsers) {
      for (pid_t pid : ours(pgid)) {
        Progress("browser process %d (group %d) outlived the host; killing it", pid, pgid);
        ::kill(pid, SIGKILL);
      }
    }
    g_session.children.KillStrayDaemons(home);
    g_session.children.EndAll(2s, 2s);
    auto deadline = Clock::now() + 5s;
    for (pid_t pgid : browsers) {
      while (!ours(pgid).empty() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
      if (!ours(pgid).empty()) Progress("browser group %d is still there 5 s after it was killed", pgid);
    }
    std::error_code ec;
    fs::remove_all(root, ec);
    if (ec) Progress("cannot remove %s: %s", root.c_str(), ec.message().c_str());
  }
}

// Ends everything the bench started and removes its folder. Idempotent; safe from
// the signal thread (`from_signal`: no orderly goodbyes, which could block).
void Cleanup(bool from_signal) {
  g_session.children.CleanUpOnce([from_signal] { EndEverything(from_signal); });
}

// ---- The bench's own browser. ----

// Starts a plain headless Chromium with Mumba's flags on `profile`, as the host
// starts an app's browser, and makes it the session's.
shell::CdpConnection* LaunchPlainBrowser(const fs::path& profile) {
  if (g_session.children.closed()) Fail("interrupted");
  shell::LaunchOptions o;
  o.user_data_dir = profile;
  o.headless = true;
  o.log_path = g_session.root / "chromium-plain.log";
  std::shared_ptr<shell::CdpConnection> b = Must(shell::LaunchChromium(o), "LaunchChromium");
  NoteBrowser(b->pid());
  std::lock_guard lock(g_session.mu);
  if (g_session.children.closed()) {
    // A cleanup began while it started, and cannot know of it.
    shell::SignalProcessGroup(b->pid(), SIGKILL);
    Fail("interrupted");
  }
  g_session.plain = b;
  return b.get();
}

// What the app's window holds, asked of the host as its owner.
struct GatewaySession {
  std::string cookie_name;
  std::string secret;
  std::string cookie;  // cookie_name=secret, as a Cookie header carries it.
};

// `mumba gateway-session hello --json`, read from the CLI's stdout: the secret is
// never in a command line. Checks that it names `origin`.
GatewaySession OwnerSession(const std::string& origin) {
  json j = json::parse(RunCli({"gateway-session", kApp, "--json"}, 30s).out, nullptr, false);
  if (!j.is_object()) Fail("mumba gateway-session printed no JSON");  // Its output is not echoed: a secret.
  if (JsonString(j, "origin") != origin) Fail("mumba gateway-session names another origin than " + origin);
  GatewaySession s{JsonString(j, "cookie_name"), JsonString(j, "secret"), ""};
  if (s.cookie_name.empty() || s.secret.empty()) Fail("mumba gateway-session printed no cookie");
  s.cookie = s.cookie_name + "=" + s.secret;
  return s;
}

// Puts the app's cookie in the browser's profile through DevTools, as the host
// does for an app's window before its first page.
void GiveCookie(shell::CdpConnection* cdp, const std::string& origin, const GatewaySession& s) {
  json cookie{{"name", s.cookie_name}, {"value", s.secret}, {"url", origin + "/"}, {"path", "/"},
              {"httpOnly", true}, {"sameSite", "Strict"}};
  (void)Must(cdp->Call("Storage.setCookies", {{"cookies", json::array({cookie})}}), "Storage.setCookies");
}

struct Tab {
  std::string target;
  std::string session;
};

// Opens `url` in a new tab, waits for its load event and two animation frames.
Tab OpenTab(shell::CdpConnection* cdp, const std::string& url) {
  shell::TargetClient targets(cdp);
  Tab t;
  t.target = Must(targets.CreateTarget("about:blank"), "Target.createTarget");
  t.session = Must(targets.AttachToTarget(t.target), "Target.attachToTarget");
  Must(shell::PageClient(cdp, t.session).Navigate(url), "Page.navigate to " + url);
  (void)Must(shell::RuntimeClient(cdp, t.session).Evaluate(kDoubleFrame), "two animation frames");
  return t;
}

// Closes every page but `keep`: the start page LaunchChromium opens, as the host
// closes it in an app's browser.
void CloseOtherPages(shell::CdpConnection* cdp, const Tab& keep) {
  shell::TargetClient targets(cdp);
  for (const auto& t : Must(targets.GetTargets(), "Target.getTargets")) {
    if (t.type == "page" && t.target_id != keep.target) (void)targets.CloseTarget(t.target_id);
  }
}

// ---- (a) Route round trips. ----

struct Load {
  uint64_t requests = 0;
  double seconds = 0;               // Measured time, summed over slices.
  std::vector<double> latencies_us;
  std::string error;                // The first failure, if any.
  // Finalize fills these.
  double per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
};

void Finalize(Load* l, const char* what) {
  if (l->requests == 0 || l->seconds <= 0) Fail(std::string(what) + ": no request succeeded: " + l->error);
  if (!l->error.empty()) Fail(std::string(what) + ": " + l->error);
  l->per_s = static_cast<double>(l->requests) / l->seconds;
  l->p50_us = Percentile(l->latencies_us, 0.50);
  l->p99_us = Percentile(l->latencies_us, 0.99);
}

// `lanes` async loops in the page, each awaiting one fetch of the route at a time
// until `seconds` have passed. Latencies come from performance.now().
void PageLoad(shell::RuntimeClient& page, int lanes, double seconds, Load* into) {
  const std::string js = "(async () => {\n"
      "  const lanes = " + std::to_string(lanes) + ", t0 = performance.now(), until = t0 + " +
      Fmt("%.0f", seconds * 1000) + ";\n"
      "  const lat = [];\n"
      "  let bad = \"\";\n"
      "  const ends = await Promise.all(Array.from({length: lanes}, async () => {\n"
      "    let end = t0;\n"
      "    while (performance.now() < until && !bad) {\n"
      "      const s = performance.now();\n"
      "      const body = await (await fetch(\"" + std::string(kRoutePath) + "?" + kRouteQuery + "\")).text();\n"
      "      end = performance.now();\n"
      "      if (body !== \"" + kReply + "\") bad = \"unexpected reply: \" + body.slice(0, 80);\n"
      "      else lat.push(Math.round((end - s) * 1000));\n"
      "    }\n"
      "    return end;\n"
      "  }));\n"
      "  return {ms: Math.max(...ends) - t0, lat, bad};\n"
      "})()";
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(SecondsToDuration(seconds + 30));
  json r = Must(page.Evaluate(js, timeout), "the fetch loop in the page");
  if (!r.is_object() || !r["lat"].is_array() || !r["ms"].is_number()) Fail("the fetch loop returned " + r.dump());
  if (std::string bad = r["bad"].get<std::string>(); !bad.empty() && into->error.empty()) into->error = bad;
  for (const auto& v : r["lat"]) into->latencies_us.push_back(v.get<double>());
  into->requests += r["lat"].size();
  into->seconds += r["ms"].get<double>() / 1000.0;
}

grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  // A connection of its own per channel, as separate client processes would have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

// Runs `lanes` threads, each calling `one` (which returns an error or "") in a
// loop until `seconds` have passed.
void ThreadLoad(int lanes, double seconds, const std::function<std::function<std::string()>(int)>& make_caller,
                Load* into) {
  struct PerThread {
    std::vector<double> latencies_us;
    std::string error;
    Clock::time_point end;
  };
  std::vector<std::function<std::string()>> callers;
  for (int i = 0; i < lanes; ++i) callers.push_back(make_caller(i));
  std::vector<PerThread> results(lanes);
  const auto from = Clock::now() + 2ms;  // Every thread starts at once.
  const auto until = from + SecondsToDuration(seconds);
  std::vector<std::thread> threads;
  for (int i = 0; i < lanes; ++i) {
    threads.emplace_back([&, i] {
      PerThread& r = results[i];
      r.end = from;
      std::this_thread::sleep_until(from);
      while (Clock::now() < until) {
        auto t0 = Clock::now();
        std::string error = callers[i]();
        r.end = Clock::now();
        if (!error.empty()) {
          r.error = error;
          break;
        }
        r.latencies_us.push_back(Micros(r.end - t0));
      }
    });
  }
  for (auto& t : threads) t.join();
  Clock::time_point last = from;
  for (auto& r : results) {
    into->latencies_us.insert(into->latencies_us.end(), r.latencies_us.begin(), r.latencies_us.end());
    into->requests += r.latencies_us.size();
    if (into->error.empty()) into->error = r.error;
    last = std::max(last, r.end);
  }
  into->seconds += Seconds(last - from);
}

// A caller of Routes/Handle on the daemon's socket, each with its own channel.
std::function<std::string()> DirectCaller(const fs::path& socket) {
  auto stub = std::shared_ptr<av1::Routes::Stub>(av1::Routes::NewStub(grpc::CreateCustomChannel(
      "unix:" + socket.string(), grpc::InsecureChannelCredentials(), ChannelArgs())));
  auto request = std::make_shared<av1::RouteRequest>();
  request->set_method("GET");
  request->set_path(kRoutePath);
  request->set_query(kRouteQuery);
  return [stub, request]() -> std::string {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    av1::RouteResponse response;
    grpc::Status s = stub->Handle(&ctx, *request, &response);
    if (!s.ok()) return "Routes/Handle: code " + std::to_string(s.error_code()) + ": " + s.error_message();
    if ((response.status() != 0 && response.status() != 200) || response.body() != kReply) {
      return "Routes/Handle answered " + std::to_string(response.status()) + " " + response.body();
    }
    return "";
  };
}

// A caller of GET /greet on the gateway: one HTTP/1.1 keep-alive connection,
// reopened if the server closes it. Only what a minimal client sends, and the
// app's secret cookie (`cookie`: name=secret), as its window sends it.
class HttpCaller {
 public:
  HttpCaller(int port, const std::string& cookie)
      : http_(port, /*close_is_error=*/false),
        request_(Fmt("GET %s?%s HTTP/1.1\r\nHost: %s.localhost:%d\r\nCookie: %s\r\n\r\n", kRoutePath, kRouteQuery,
                     kApp, port, cookie.c_str())) {}

  std::string Call() {
    std::string body;
    if (std::string e = http_.Exchange(request_, &body); !e.empty()) return e;
    return body == kReply ? "" : "unexpected reply: " + body;
  }

 private:
  GatewayHttpClient http_;
  const std::string request_;
};

std::function<std::string()> GatewayCaller(int port, const std::string& cookie) {
  auto c = std::make_shared<HttpCaller>(port, cookie);
  return [c] { return c->Call(); };
}

// The least an HTTP server can do, for the page's ceiling: "/" is an empty page,
// every other path answers the route's reply, over HTTP/1.1 keep-alive, one thread
// per connection. Listens on 127.0.0.1 from construction to destruction.
class TinyHttpServer {
 public:
  TinyHttpServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::string e = std::strerror(errno);
      if (listen_fd_ >= 0) ::close(listen_fd_);
      Fail("the bench's HTTP server cannot listen: " + e);
    }
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~TinyHttpServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    }
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    for (auto& t : threads_) t.join();
    ::close(listen_fd_);
  }
  TinyHttpServer(const TinyHttpServer&) = delete;
  TinyHttpServer& operator=(const TinyHttpServer&) = delete;

  int port() const { return port_; }

 private:
  void Accept() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      std::lock_guard lock(mu_);
      if (fd < 0 || stopping_) {
        if (fd >= 0) ::close(fd);
        if (stopping_ || (errno != EINTR && errno != ECONNABORTED)) return;
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      connections_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    static const std::string kPage = "<!doctype html><title>plain</title><p>plain";
    const std::string page = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " +
                             std::to_string(kPage.size()) + "\r\n\r\n" + kPage;
    const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                              std::to_string(std::strlen(kReply)) + "\r\n\r\n" + kReply;
    std::string in;
    char chunk[4096];
    for (;;) {
      size_t end = in.find("\r\n\r\n");
      if (end == std::string::npos) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        in.append(chunk, static_cast<size_t>(n));
        continue;
      }
      // GETs only: no bodies to skip.
      const std::string& out = in.starts_with("GET / ") ? page : reply;
      in.erase(0, end + 4);
      if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) break;
    }
    std::lock_guard lock(mu_);
    std::erase(connections_, fd);
    ::close(fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  bool stopping_ = false;
  std::vector<int> connections_;
  std::vector<std::thread> threads_;
};

struct RouteFigures {
  int lanes = 0;
  Load page;     // From the app's page, through the gateway to the daemon.
  Load direct;   // Routes/Handle on the daemon's socket.
  Load http;     // HTTP/1.1 to the gateway from this process.
  Load ceiling;  // From a page of the bench's TinyHttpServer, the same loop.
};

// One concurrency level: each path warms up, then two slices each, the paths taking
// turns so that whatever else the machine does hits all of them alike.
RouteFigures MeasureRoutes(shell::RuntimeClient& page, shell::RuntimeClient& tiny_page, const fs::path& socket,
                           int port, const std::string& cookie, int lanes, double seconds) {
  RouteFigures f;
  f.lanes = lanes;
  Progress("routes: %d loop%s in the page / thread%s, %.1f s each, after a warm-up", lanes, lanes == 1 ? "" : "s",
           lanes == 1 ? "" : "s", seconds);
  auto direct = [&](int) { return DirectCaller(socket); };
  auto http = [&](int) { return GatewayCaller(port, cookie); };
  {
    Load warm;
    PageLoad(page, lanes, 0.3, &warm);
    ThreadLoad(lanes, 0.3, direct, &warm);
    ThreadLoad(lanes, 0.3, http, &warm);
    PageLoad(tiny_page, lanes, 0.3, &warm);
    if (!warm.error.empty()) Fail("warm-up: " + warm.error);
  }
  constexpr int kSlices = 2;
  const double slice = seconds / kSlices;
  for (int round = 0; round < kSlices; ++round) {
    for (int k = 0; k < 4; ++k) {
      switch ((round * 2 + k) % 4) {
        case 0:
          PageLoad(page, lanes, slice, &f.page);
          break;
        case 1:
          ThreadLoad(lanes, slice, direct, &f.direct);
          break;
        case 2:
          PageLoad(tiny_page, lanes, slice, &f.ceiling);
          break;
        default:
          ThreadLoad(lanes, slice, http, &f.http);
      }
    }
  }
  Finalize(&f.page, "page fetch");
  Finalize(&f.direct, "direct Routes/Handle");
  Finalize(&f.http, "gateway HTTP");
  Finalize(&f.ceiling, "page fetch from the bench's HTTP server");
  return f;
}

// ---- (e) Calls from one page. ----

constexpr char kCallMethod[] = "hello.v1.Greeter/SayHello";
constexpr char kCallReply[] = "Hello, x!";
// A method that does nothing, the counterpart of the do-nothing HTTP server.
constexpr char kPingMethod[] = "hello.v1.Greeter/Ping";

// How one page's loop reaches its answer, with `lanes` awaiting at once.
enum class CallWay { kSocketCall, kSocketPing, kSocketRoute, kHttpCall, kCeiling };

// `lanes` async loops in the page, each awaiting one request at a time for
// `seconds`. Fails when any request went another way than `way` says.
void CallLoad(shell::RuntimeClient& page, CallWay way, int lanes, double seconds, Load* into) {
  std::string one;
  switch (way) {
    case CallWay::kSocketCall:
      one = Fmt("(await m.call('%s', {name: 'x'})).message", kCallMethod);
      break;
    case CallWay::kSocketPing:
      one = Fmt("String((await m.call('%s', {})).ok)", kPingMethod);
      break;
    case CallWay::kSocketRoute:
      one = Fmt("await (await m.route('%s?%s')).text()", kRoutePath, kRouteQuery);
      break;
    case CallWay::kHttpCall:
      one = Fmt("(await (await fetch('/_mumba/call/%s', {method: 'POST', body: '{\"name\":\"x\"}'})).json()).message",
                kCallMethod);
      break;
    case CallWay::kCeiling:
      one = Fmt("await (await fetch('%s?%s')).text()", kRoutePath, kRouteQuery);
      break;
  }
  const std::string expected = way == CallWay::kSocketCall || way == CallWay::kHttpCall ? kCallReply
                               : way == CallWay::kSocketPing                          ? "true"
                                                                                      : kReply;
  const bool socket = way == CallWay::kSocketCall || way == CallWay::kSocketPing || way == CallWay::kSocketRoute;
  const std::string js = "(async () => {\n"
      "  const m = " + std::string(socket ? "await import('/_mumba/mumba.js')" : "null") + ";\n"
      "  performance.clearResourceTimings();\n"
      "  const lanes = " + std::to_string(lanes) + ", t0 = performance.now(), until = t0 + " +
      Fmt("%.0f", seconds * 1000) + ";\n"
      "  const lat = [];\n"
      "  let bad = \"\";\n"
      "  const ends = await Promise.all(Array.from({length: lanes}, async () => {\n"
      "    let end = t0;\n"
      "    while (performance.now() < until && !bad) {\n"
      "      const s = performance.now();\n"
      "      const got = " + one + ";\n"
      "      end = performance.now();\n"
      "      if (got !== \"" + expected + "\") bad = \"unexpected reply: \" + String(got).slice(0, 80);\n"
      "      else lat.push(Math.round((end - s) * 1000));\n"
      "    }\n"
      "    return end;\n"
      "  }));\n"
      "  const http = performance.getEntriesByType('resource').length;\n"
      "  return {ms: Math.max(...ends) - t0, lat, bad, http};\n"
      "})()";
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(SecondsToDuration(seconds + 30));
  json r = Must(page.Evaluate(js, timeout), "the call loop in the page");
  if (!r.is_object() || !r["lat"].is_array() || !r["ms"].is_number()) Fail("the call loop returned " + r.dump());
  if (std::string bad = r["bad"].get<std::string>(); !bad.empty() && into->error.empty()) into->error = bad;
  if (socket && r["http"].get<int>() > 0 && into->error.empty()) {
    into->error = Fmt("%d requests went over HTTP instead of the socket", r["http"].get<int>());
  }
  for (const auto& v : r["lat"]) into->latencies_us.push_back(v.get<double>());
  into->requests += r["lat"].size();
  into->seconds += r["ms"].get<double>() / 1000.0;
}

struct CallFigures {
  std::vector<int> socket_lanes;  // In flight on the socket: 1, 8, 64.
  std::vector<Load> socket_calls, socket_pings, socket_routes;
  std::vector<int> http_lanes;  // Loops of HTTP requests: 1, 8.
  std::vector<Load> http_calls, ceiling;
};

// Every way and concurrency takes a warm-up, then two slices each, taking turns.
// `page` is a page of the app without an events handler of its own; `tiny_page`
// is one of the bench's TinyHttpServer.
CallFigures MeasureCalls(shell::RuntimeClient& page, shell::RuntimeClient& tiny_page, double seconds) {
  CallFigures f;
  f.socket_lanes = {1, 8, 64};
  f.http_lanes = {1, 8};
  f.socket_calls.resize(f.socket_lanes.size());
  f.socket_pings.resize(f.socket_lanes.size());
  f.socket_routes.resize(f.socket_lanes.size());
  f.http_calls.resize(f.http_lanes.size());
  f.ceiling.resize(f.http_lanes.size());
  Progress("calls from one page: over its socket with 1, 8 and 64 in flight, over HTTP and the ceiling with 1 and "
           "8 loops, %.1f s each, after a warm-up", seconds);
  std::vector<std::function<void(double, Load*)>> runs;
  std::vector<Load*> into;
  for (size_t i = 0; i < f.socket_lanes.size(); ++i) {
    int lanes = f.socket_lanes[i];
    runs.push_back([&page, lanes](double s, Load* l) { CallLoad(page, CallWay::kSocketCall, lanes, s, l); });
    into.push_back(&f.socket_calls[i]);
    runs.push_back([&page, lanes](double s, Load* l) { CallLoad(page, CallWay::kSocketPing, lanes, s, l); });
    into.push_back(&f.socket_pings[i]);
    runs.push_back([&page, lanes](double s, Load* l) { CallLoad(page, CallWay::kSocketRoute, lanes, s, l); });
    into.push_back(&f.socket_routes[i]);
  }
  for (size_t i = 0; i < f.http_lanes.size(); ++i) {
    int lanes = f.http_lanes[i];
    runs.push_back([&page, lanes](double s, Load* l) { CallLoad(page, CallWay::kHttpCall, lanes, s, l); });
    into.push_back(&f.http_calls[i]);
    runs.push_back([&tiny_page, lanes](double s, Load* l) { CallLoad(tiny_page, CallWay::kCeiling, lanes, s, l); });
    into.push_back(&f.ceiling[i]);
  }
  for (auto& run : runs) {
    Load warm;
    run(0.3, &warm);
    if (!warm.error.empty()) Fail("warm-up: " + warm.error);
  }
  constexpr int kSlices = 2;
  for (int round = 0; round < kSlices; ++round) {
    for (size_t k = 0; k < runs.size(); ++k) {
      size_t i = round % 2 ? runs.size() - 1 - k : k;
      runs[i](seconds / kSlices, into[i]);
    }
  }
  for (auto& l : f.socket_calls) Finalize(&l, "mumba.call over the socket");
  for (auto& l : f.socket_pings) Finalize(&l, "mumba.call of Ping over the socket");
  for (auto& l : f.socket_routes) Finalize(&l, "mumba.route over the socket");
  for (auto& l : f.http_calls) Finalize(&l, "the call over HTTP");
  for (auto& l : f.ceiling) Finalize(&l, "page fetch from the bench's HTTP server");
  return f;
}

// ---- (b), (c) Windows. ----

struct Launch {
  double wall_ms = 0;   // The whole `mumba launch` command.
  double paint_ms = 0;  // first_paint_ms of its answer: the host's own time.
  std::string window;
  pid_t browser = 0;
};

Launch AppLaunch() {
  CliResult r = RunCli({"launch", kApp, "--headless", "--json"}, 60s);
  json w = ParseJson(r.out, "mumba launch");
  Launch l;
  l.wall_ms = Millis(r.took);
  l.paint_ms = static_cast<double>(JsonInt(w, "first_paint_ms"));
  l.window = JsonString(w, "id");
  l.browser = static_cast<pid_t>(JsonInt(w, "browser_pid"));
  if (l.window.empty() || l.browser <= 0) Fail("mumba launch answered without a window or browser: " + r.out);
  NoteBrowser(l.browser);
  return l;
}

// Closes every window of the app and waits until its browser's processes are gone.
void CloseApp(pid_t browser) {
  (void)RunCli({"close", kApp}, 30s);
  if (!WaitGroupGone(browser, 10s)) Fail("the app's browser (group " + std::to_string(browser) + ") is still there 10 s after mumba close");
}

// Plain Chromium: launch, one tab loading `url`, two animation frames. Returns the
// time from before the launch; then closes it and waits for its group to end.
double PlainLaunch(const fs::path& profile, const std::string& url) {
  auto t0 = Clock::now();
  shell::CdpConnection* b = LaunchPlainBrowser(profile);
  (void)OpenTab(b, url);
  double ms = Millis(Clock::now() - t0);
  ClosePlainBrowser(false);
  return ms;
}

// ---- The table. ----

void PrintRows(const std::vector<Row>& rows) {
  PrintTable(rows, {.figure = 44, .value = 14, .baseline = 34, .target = 14});
}

std::string Rate(double per_s) { return PerSecond(per_s); }
std::string Mib(long kib) { return Fmt("%.0f MB", static_cast<double>(kib) / 1024.0); }

// Everything one run measured.
struct Results {
  std::string origin;                // http://hello.localhost:PORT
  std::vector<RouteFigures> routes;  // (a), 1 lane and then N.
  std::optional<CallFigures> calls;  // (e)
  Launch cold;                       // (b) the unrecorded first launch, new profile.
  double plain_cold_ms = 0;
  std::vector<double> first_wall, first_paint, plain_first;  // (b)
  std::vector<double> second_wall, second_paint;              // (c)
  GroupMemory plain_mem1, plain_mem3, app_mem1, app_mem3;     // (d)
  std::string load_before, load_after;
  double total_s = 0;
};

std::string List(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += (out.empty() ? "" : " ") + Fmt("%.0f", x);
  return out;
}

void Print(const Options& o, const Results& r) {
  auto verdict = [](bool ok) { return std::string(ok ? "yes" : "NO"); };
  unsigned cores = std::thread::hardware_concurrency();
  std::printf("\nmumba-ui-bench: app UIs in headless Chromium, on 127.0.0.1\n");
  std::printf("machine: %u cores; load average %s before, %s after; run took %.1f s\n", cores,
              r.load_before.c_str(), r.load_after.c_str(), r.total_s);
  std::printf("Chromium: %s with Mumba's flags (LaunchChromium: --headless=new --disable-gpu ...), profiles of\n"
              "its own for the bench's browser\n\n",
              Must(shell::FindChromium(), "Chromium").c_str());

  std::vector<Row> rows;
  std::printf("(a) GET %s?%s: fetch loops in a page on %s/, each awaiting one request at a time;\n"
              "    latencies by performance.now() (0.1 ms steps in a page that is not cross-origin isolated).\n"
              "    direct  = mumba.app.v1.Routes/Handle over gRPC on the daemon's unix socket, a channel per thread\n"
              "    gateway = HTTP/1.1 keep-alive from this process to the same URL, a connection per thread\n"
              "    ceiling = the same page loop against a minimal HTTP server in this process (Chromium's own cost)\n"
              "    %.1f s per figure in 2 slices, the paths taking turns; 8 loops in a page share the 6\n"
              "    connections Chromium opens per host\n\n",
              kRoutePath, kRouteQuery, r.origin.c_str(), o.seconds);
  double best_page = 0;
  for (const auto& f : r.routes) {
    const std::string loops = f.lanes == 1 ? "1 loop" : Fmt("%d loops", f.lanes);
    const std::string threads = f.lanes == 1 ? "1 thread" : Fmt("%d threads", f.lanes);
    const std::string conns = f.lanes == 1 ? "1 connection" : Fmt("%d connections", f.lanes);
    best_page = std::max(best_page, f.page.per_s);
    double ratio = f.page.per_s / f.direct.per_s;
    rows.push_back({"page fetch, " + loops, Rate(f.page.per_s), "direct, " + threads + " " + Rate(f.direct.per_s),
                    Ratio(f.page.per_s, f.direct.per_s), ">= 0.5x", verdict(ratio >= 0.5)});
    rows.push_back({"", "", "ceiling, " + loops + " " + Rate(f.ceiling.per_s), Ratio(f.page.per_s, f.ceiling.per_s),
                    "", ""});
    rows.push_back({"  p50 latency", Fmt("%.0f us", f.page.p50_us), Fmt("direct %.0f us", f.direct.p50_us),
                    Ratio(f.page.p50_us, f.direct.p50_us), "", ""});
    rows.push_back({"", "", Fmt("ceiling %.0f us", f.ceiling.p50_us), Ratio(f.page.p50_us, f.ceiling.p50_us), "", ""});
    rows.push_back({"  p99 latency", Fmt("%.0f us", f.page.p99_us), Fmt("direct %.0f us", f.direct.p99_us),
                    Ratio(f.page.p99_us, f.direct.p99_us), "", ""});
    rows.push_back({"", "", Fmt("ceiling %.0f us", f.ceiling.p99_us), Ratio(f.page.p99_us, f.ceiling.p99_us), "", ""});
    rows.push_back({"gateway over HTTP, " + conns, Rate(f.http.per_s), "direct, " + threads + " " + Rate(f.direct.per_s),
                    Ratio(f.http.per_s, f.direct.per_s), "", ""});
    rows.push_back({"  p50 / p99 latency", Fmt("%.0f / %.0f us", f.http.p50_us, f.http.p99_us),
                    Fmt("direct %.0f / %.0f us", f.direct.p50_us, f.direct.p99_us), "", "", ""});
  }
  rows.push_back({"page fetch, the better of the above", Rate(best_page), "", "", ">= 5000/s",
                  verdict(best_page >= 5000)});
  PrintRows(rows);

  rows.clear();
  Spread wall = Summarize(r.first_wall), paint = Summarize(r.first_paint), plain = Summarize(r.plain_first);
  std::printf("\n(b) first window, median of %d: `mumba launch %s --headless --json`, the app's browser closed before\n"
              "    each (mumba close, then its processes gone), against plain Chromium: LaunchChromium,\n"
              "    Target.createTarget, Page.navigate to a file:// copy of ui/index.html, two animation frames,\n"
              "    timed from before the launch; the two take turns, after one unrecorded launch each\n\n",
              o.samples, kApp);
  rows.push_back({"mumba launch, whole command", Fmt("%.0f ms", wall.median),
                  Fmt("plain Chromium %.0f ms", plain.median), Ratio(wall.median, plain.median), "<= 1.3x",
                  verdict(wall.median <= 1.3 * plain.median)});
  rows.push_back({"  its first_paint_ms (the host's own time)", Fmt("%.0f ms", paint.median),
                  Fmt("plain Chromium %.0f ms", plain.median), Ratio(paint.median, plain.median), "", ""});
  rows.push_back({"  min / max", Fmt("%.0f / %.0f ms", wall.min, wall.max),
                  Fmt("plain %.0f / %.0f ms", plain.min, plain.max), "", "", ""});
  rows.push_back({"  every sample, ms", List(r.first_wall), "plain " + List(r.plain_first), "", "", ""});
  rows.push_back({"  unrecorded first launch (new profile)", Fmt("%.0f ms", r.cold.wall_ms),
                  Fmt("plain Chromium %.0f ms", r.plain_cold_ms), Ratio(r.cold.wall_ms, r.plain_cold_ms), "", ""});
  PrintRows(rows);

  rows.clear();
  Spread wall2 = Summarize(r.second_wall), paint2 = Summarize(r.second_paint);
  std::printf("\n(c) second window, median of %d: `mumba launch %s --headless --json` with one window open (each\n"
              "    new window closed again before the next)\n\n",
              o.samples, kApp);
  rows.push_back({"mumba launch, whole command", Fmt("%.0f ms", wall2.median), "first window " + Fmt("%.0f ms", wall.median),
                  Ratio(wall2.median, wall.median), "<= 500 ms", verdict(wall2.median <= 500)});
  rows.push_back({"  its first_paint_ms", Fmt("%.0f ms", paint2.median), "", "", "", ""});
  rows.push_back({"  min / max", Fmt("%.0f / %.0f ms", wall2.min, wall2.max), "", "", "", ""});
  rows.push_back({"  every sample, ms", List(r.second_wall), "", "", "", ""});
  PrintRows(rows);

  rows.clear();
  std::printf("\n(d) memory of every process in the browser's process group (smaps_rollup), %.1f s after the last\n"
              "    page loaded, against the bench's own Chromium on the same page (%s/); each measured\n"
              "    while the other was not running. PSS divides a shared page among its users; own = its\n"
              "    anonymous + shmem part, which no other program shares; RSS counts shared pages in each process\n\n",
              std::chrono::duration<double>(kSettle).count(), r.origin.c_str());
  auto mem_rows = [&](const std::string& label, const GroupMemory& app, const GroupMemory& base,
                      const std::string& base_label) {
    rows.push_back({label + Fmt(", PSS (%d procs)", app.processes), Mib(app.pss_kib),
                    base_label + Fmt(" %s (%d procs)", Mib(base.pss_kib).c_str(), base.processes),
                    Ratio(static_cast<double>(app.pss_kib), static_cast<double>(base.pss_kib)), "", ""});
    rows.push_back({"  own (anon + shmem PSS)", Mib(app.own_kib), base_label + " " + Mib(base.own_kib),
                    Ratio(static_cast<double>(app.own_kib), static_cast<double>(base.own_kib)), "", ""});
    rows.push_back({"  RSS", Mib(app.rss_kib), base_label + " " + Mib(base.rss_kib),
                    Ratio(static_cast<double>(app.rss_kib), static_cast<double>(base.rss_kib)), "", ""});
  };
  mem_rows("app, 1 window", r.app_mem1, r.plain_mem1, "plain, 1 page");
  mem_rows("app, 3 windows", r.app_mem3, r.plain_mem3, "plain, 3 pages");
  auto increment = [&](const char* label, long GroupMemory::*field) {
    double app = static_cast<double>(r.app_mem3.*field - r.app_mem1.*field) / 2;
    double base = static_cast<double>(r.plain_mem3.*field - r.plain_mem1.*field) / 2;
    rows.push_back({Fmt("per window after the first, %s", label), Mib(static_cast<long>(app)),
                    "plain, per page " + Mib(static_cast<long>(base)), base > 0 ? Ratio(app, base) : "-", "", ""});
  };
  increment("PSS", &GroupMemory::pss_kib);
  increment("own", &GroupMemory::own_kib);
  increment("RSS", &GroupMemory::rss_kib);
  PrintRows(rows);
  int others = std::max({r.app_mem1.other_chromiums, r.app_mem3.other_chromiums, r.plain_mem1.other_chromiums,
                         r.plain_mem3.other_chromiums});
  if (others > 0) {
    std::printf("  note: up to %d Chromium processes of other programs ran during these readings; they share\n"
                "  Chromium's file pages and lower PSS (not own) by taking their part of them\n",
                others);
  }
  std::fflush(stdout);
}

// (e): calls from one page, each way beside Chromium's own fetch loop.
void PrintCalls(const CallFigures& f) {
  auto verdict = [](bool ok) { return std::string(ok ? "yes" : "NO"); };
  std::printf("\n(e) calls from one page (a page of hello with no events handler of its own), each loop awaiting\n"
              "    one request at a time, N loops at once:\n"
              "    socket  = mumba.call('%s', {name: 'x'}) (its daemon also sends the host an event per call),\n"
              "              mumba.call('%s', {}) (does nothing) / mumba.route('%s?%s') over the page's WebSocket\n"
              "    HTTP    = the same call as POST /_mumba/call/... with fetch (what mumba.call did before)\n"
              "    ceiling = fetch loops against the bench's do-nothing HTTP server (Chromium's own cost)\n\n",
              kCallMethod, kPingMethod, kRoutePath, kRouteQuery);
  std::vector<Row> rows;
  const Load& ceiling1 = f.ceiling.front();
  const Load& ceiling_n = f.ceiling.back();
  double best = 0;
  for (size_t i = 0; i < f.socket_lanes.size(); ++i) {
    const int lanes = f.socket_lanes[i];
    const Load& c = f.socket_calls[i];
    const Load& p = f.socket_pings[i];
    const Load& r = f.socket_routes[i];
    const Load& base = lanes == 1 ? ceiling1 : ceiling_n;
    const std::string base_label = Fmt("ceiling, %d loop%s ", lanes == 1 ? 1 : f.http_lanes.back(), lanes == 1 ? "" : "s");
    best = std::max(best, p.per_s);
    rows.push_back({Fmt("mumba.call over the socket, %d in flight", lanes), Rate(c.per_s),
                    base_label + Rate(base.per_s), Ratio(c.per_s, base.per_s), "", ""});
    rows.push_back({"  p50 / p99 latency", Fmt("%.0f / %.0f us", c.p50_us, c.p99_us),
                    Fmt("ceiling %.0f / %.0f us", base.p50_us, base.p99_us), "", "", ""});
    rows.push_back({Fmt("  Ping (does nothing), %d in flight", lanes), Rate(p.per_s),
                    base_label + Rate(base.per_s), Ratio(p.per_s, base.per_s), "", ""});
    rows.push_back({Fmt("mumba.route over the socket, %d in flight", lanes), Rate(r.per_s),
                    base_label + Rate(base.per_s), Ratio(r.per_s, base.per_s), "", ""});
  }
  for (size_t i = 0; i < f.http_lanes.size(); ++i) {
    const int lanes = f.http_lanes[i];
    rows.push_back({Fmt("the call over HTTP, %d loop%s", lanes, lanes == 1 ? "" : "s"), Rate(f.http_calls[i].per_s),
                    Fmt("ceiling, %d loop%s ", lanes, lanes == 1 ? "" : "s") + Rate(f.ceiling[i].per_s),
                    Ratio(f.http_calls[i].per_s, f.ceiling[i].per_s), "", ""});
  }
  rows.push_back({"mumba.call of Ping over the socket, best", Rate(best), "ceiling, best " +
                  Rate(std::max(ceiling1.per_s, ceiling_n.per_s)), Ratio(best, std::max(ceiling1.per_s, ceiling_n.per_s)),
                  ">= 5000/s", verdict(best >= 5000)});
  PrintRows(rows);
  std::fflush(stdout);
}

// ---- The run. ----

Options ParseOptions(int argc, char** argv) {
  Options o;
  o.bin_dir = fs::canonical("/proc/self/exe").parent_path();
  Flags flags(
      "usage: mumba-ui-bench [--seconds S] [--lanes N] [--samples N] [--only-calls] [--bin-dir DIR]\n"
      "                      [--hello-bundle DIR]\n"
      "  --seconds S         measured seconds of each route figure (default 2)\n"
      "  --lanes N           parallel fetch loops in the page / gRPC threads (default 8)\n"
      "  --samples N         launches of each kind; the median is reported (default 5)\n"
      "  --only-calls        only (e), calls from one page over its socket and over HTTP\n"
      "  --bin-dir DIR       where mumba and mumba-host are (default: beside this program)\n"
      "  --hello-bundle DIR  the hello bundle (default: ../tests/hello/bundle from there)\n");
  flags.Add("--seconds", &o.seconds).Add("--lanes", &o.lanes).Add("--samples", &o.samples);
  flags.Add("--only-calls", &o.only_calls);
  flags.Add("--bin-dir", &o.bin_dir).Add("--hello-bundle", &o.bundle);
  flags.Parse(argc, argv);
  if (!flags.Given("--hello-bundle")) o.bundle = o.bin_dir.parent_path() / "tests" / kApp / "bundle";
  if (o.seconds <= 0 || o.lanes < 1 || o.samples < 1) Fail("--seconds, --lanes and --samples must be positive");
  o.bin_dir = fs::absolute(o.bin_dir);
  o.bundle = fs::absolute(o.bundle);
  return o;
}

int Run(const Options& o) {
  const auto t_start = Clock::now();
  Results r;
  r.load_before = LoadAverage();
  for (const char* exe : {"mumba", "mumba-host"}) {
    if (::access((o.bin_dir / exe).c_str(), X_OK) != 0) {
      Fail((o.bin_dir / exe).string() + " is missing (build it: cmake --build build, or pass --bin-dir)");
    }
  }
  if (!fs::exists(o.bundle / "mumba.toml") || !fs::exists(o.bundle / "ui" / "index.html")) {
    Fail("no hello bundle with a UI at " + o.bundle.string() +
         " (build it: build/bin/mumba build apps/hello --build-dir build/tests/hello, or pass --hello-bundle)");
  }
  (void)Must(shell::FindChromium(), "Chromium");
  {
    std::lock_guard lock(g_session.mu);
    g_session.root = MakeTempDir("/tmp/mub-");
    g_session.home = g_session.root / "h";
    g_session.host.Configure(o.bin_dir / "mumba", g_session.home, g_session.root, &g_session.children);
  }
  const fs::path root = g_session.root;

  // The host, with hello installed and running.
  Progress("starting a host on %s", g_session.home.c_str());
  const pid_t host_pid = g_session.host.Start(60s);
  json host = ParseJson(RunCli({"host", "status", "--json"}, 30s).out, "mumba host status");
  if (JsonInt(host, "pid") != host_pid) {
    Fail("the host answering is not the one the bench started: " + host.dump());
  }
  const int port = static_cast<int>(JsonInt(host, "gateway_port"));
  if (port <= 0) Fail("the host reports no gateway_port: " + host.dump());
  Progress("installing and starting %s", o.bundle.c_str());
  (void)RunCli({"install", o.bundle.string()}, 120s);
  (void)RunCli({"start", kApp}, 60s);
  json status = ParseJson(RunCli({"status", kApp, "--json"}, 30s).out, "mumba status");
  const fs::path socket = JsonString(status, "socket");
  g_session.children.NoteDaemon(static_cast<pid_t>(JsonInt(status, "pid")));
  if (socket.empty()) Fail("mumba status names no socket: " + status.dump());
  r.origin = Fmt("http://%s.localhost:%d", kApp, port);
  const std::string& origin = r.origin;
  // The app's secret, which its windows hold as a cookie: the bench's own browser
  // and its HTTP callers need it too, or the gateway refuses them the route.
  const GatewaySession session = OwnerSession(origin);

  // (a) and the baseline of (d): the bench's own browser on the app's page. Its
  // memory is read while no app browser runs (a page shared with another browser
  // would lower both PSS figures).
  Progress("plain Chromium on %s/", origin.c_str());
  shell::CdpConnection* plain = LaunchPlainBrowser(root / "plain-a");
  const pid_t plain_pgid = plain->pid();
  GiveCookie(plain, origin, session);
  Tab tab = OpenTab(plain, origin + "/");
  CloseOtherPages(plain, tab);
  std::this_thread::sleep_for(kSettle);
  r.plain_mem1 = MemoryOfGroup(plain_pgid);
  std::vector<Tab> extra;
  for (int i = 0; i < 2; ++i) extra.push_back(OpenTab(plain, origin + "/"));
  std::this_thread::sleep_for(kSettle);
  r.plain_mem3 = MemoryOfGroup(plain_pgid);
  for (const auto& t : extra) (void)shell::TargetClient(plain).CloseTarget(t.target);

  shell::RuntimeClient page(plain, tab.session);
  {
    TinyHttpServer tiny;
    Tab tiny_tab = OpenTab(plain, Fmt("http://plain.localhost:%d/", tiny.port()));
    shell::RuntimeClient tiny_page(plain, tiny_tab.session);
    if (!o.only_calls) {
      r.routes.push_back(MeasureRoutes(page, tiny_page, socket, port, session.cookie, 1, o.seconds));
      if (o.lanes > 1) {
        r.routes.push_back(MeasureRoutes(page, tiny_page, socket, port, session.cookie, o.lanes, o.seconds));
      }
    }
    // (e) on a page of hello's origin that lists no events (hello's own page adds
    // one to its DOM for every SayHello), its socket open and the host's limits in.
    Tab calls_tab = OpenTab(plain, origin + "/_mumba/mumba.js");
    shell::RuntimeClient calls_page(plain, calls_tab.session);
    (void)Must(calls_page.Evaluate("import('/_mumba/mumba.js').then(async m => { await m.ready(); "
                                   "await new Promise(r => setTimeout(r, 200)); return true; })"),
               "the page's socket");
    r.calls = MeasureCalls(calls_page, tiny_page, o.seconds);
    ClosePlainBrowser(false);
  }
  if (o.only_calls) {
    r.load_after = LoadAverage();
    std::printf("\nmumba-ui-bench: calls from one page in headless Chromium, on 127.0.0.1; load average %s before, "
                "%s after\n", r.load_before.c_str(), r.load_after.c_str());
    PrintCalls(*r.calls);
    return 0;
  }

  // (b) First windows, the app's and plain Chromium's taking turns, after one
  // unrecorded launch of each (the first makes the profile).
  const fs::path copy = root / "plain-ui" / "index.html";
  fs::create_directories(copy.parent_path());
  fs::copy_file(o.bundle / "ui" / "index.html", copy);
  const std::string file_url = "file://" + copy.string();
  const fs::path plain_profile = root / "plain-b";
  Progress("first windows: %d x mumba launch (mumba close between) and %d x plain Chromium on %s", o.samples,
           o.samples, file_url.c_str());
  r.cold = AppLaunch();
  CloseApp(r.cold.browser);
  r.plain_cold_ms = PlainLaunch(plain_profile, file_url);
  for (int i = 0; i < o.samples; ++i) {
    Launch l = AppLaunch();
    CloseApp(l.browser);
    r.first_wall.push_back(l.wall_ms);
    r.first_paint.push_back(l.paint_ms);
    r.plain_first.push_back(PlainLaunch(plain_profile, file_url));
  }

  // (c) and (d): a first window, its memory, second windows (each closed again),
  // then three windows and their memory.
  Progress("second windows: %d x mumba launch with one window open; memory with 1 and 3 windows", o.samples);
  Launch first = AppLaunch();
  std::this_thread::sleep_for(kSettle);
  r.app_mem1 = MemoryOfGroup(first.browser);
  for (int i = 0; i < o.samples; ++i) {
    Launch l = AppLaunch();
    if (l.browser != first.browser) Fail("a second window came in another browser");
    r.second_wall.push_back(l.wall_ms);
    r.second_paint.push_back(l.paint_ms);
    (void)RunCli({"close", l.window}, 30s);
  }
  for (int i = 0; i < 2; ++i) (void)AppLaunch();
  std::this_thread::sleep_for(kSettle);
  r.app_mem3 = MemoryOfGroup(first.browser);
  CloseApp(first.browser);

  r.load_after = LoadAverage();
  r.total_s = Seconds(Clock::now() - t_start);
  Print(o, r);
  PrintCalls(*r.calls);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  SetProgramName("mumba-ui-bench");
  // LaunchChromium reports every start at info level; the bench says what it does itself.
  spdlog::set_level(spdlog::level::warn);
  HandleStopSignals([] { Cleanup(true); });

  int rc = 1;
  auto t0 = Clock::now();
  try {
    rc = Run(ParseOptions(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-ui-bench: error: %s\n", e.what());
    for (const fs::path& log : {g_session.home / "logs" / "host.log", g_session.root / "chromium-plain.log"}) {
      if (!g_session.root.empty() && fs::exists(log)) {
        std::fprintf(stderr, "mumba-ui-bench: %s ends with:\n%s", log.c_str(), Tail(log, 8).c_str());
      }
    }
    rc = 1;
  }
  try {
    Cleanup(false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-ui-bench: error while cleaning up: %s\n", e.what());
    rc = 1;
  }
  if (!g_session.root.empty()) {
    Progress("done in %.1f s; browsers closed, host stopped, %s removed", Seconds(Clock::now() - t0),
             g_session.root.c_str());
  }
  return rc;
}
