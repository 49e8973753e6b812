// SPDX-License-Identifier: Apache-2.0
// mumba-links-bench: what the authenticated path between hosts costs a unary
// call. A child process (this program with --serve) answers
// grpc.health.v1.Health/Check on a port of 127.0.0.1 (plaintext) and on a unix
// socket (a daemon's). This process calls each path, alternating rounds, over one
// channel shared by 1 and then N client threads, and prints calls/s and latency
// beside the target: a peer call at >= 0.8x plaintext.
//
// The measured path is the tunnel a peer call takes between two hosts: the
// client's channel is a unix socket connection to a "calling host" child (--call),
// whose Tunnel moves its bytes over a TLS 1.3 link (peer/tunnel_link.h) to a
// "receiving host" child (--receive), whose Tunnel moves them to the server's unix
// socket. Four processes, as in the real system (daemon, host, host, daemon), so
// every hop is a wakeup of another process. (A host hands its daemon one end of a
// socket pair; a connection to a unix socket the calling host accepts is the same
// kind of socket, and lets the bench make fresh channels.) The baseline is the
// same call over plaintext TCP straight from client to server.
//
// It also times a fresh channel's first call (connect and, for the tunnel, a new
// link: the TLS handshake with both certificates checked).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "bench_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "peer/node_key.h"
#include "peer/tunnel.h"
#include "peer/tunnel_link.h"
#include "peer/tunnel_listener.h"
#include "platform/unix_listener.h"

namespace mumba::bench {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr double kTarget = 0.8;

struct Options {
  int calls = 20000;  // Per round and client count, split among the clients.
  int clients = 8;
  int rounds = 3;
  int connects = 30;
  bool copy_filter = false;
  // The children's roles, set by the bench itself.
  bool serve = false;
  bool receive = false;
  bool call = false;
  fs::path socket;  // --serve, --receive: the server's unix socket; --call: the calling host's.
  int port = 0;     // --call: the receiving host's port.
  fs::path node;    // --call: the receiving host's node id.
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  Flags flags(
      "usage: mumba-links-bench [--calls N] [--clients N] [--rounds N] [--connects N] [--copy-filter]\n"
      "  --calls N      calls per round for each client count (default 20000)\n"
      "  --clients N    the larger client count (default 8; 1 is always measured)\n"
      "  --rounds N     plaintext and tunnel rounds, alternating (default 3)\n"
      "  --connects N   fresh channels timed to their first call (default 30)\n"
      "  --copy-filter  the receiving host's tunnels pass bytes through a filter that\n"
      "                 copies them (the least a gate costs)\n"
      "  (--serve, --receive and --call run the children the bench starts itself)\n");
  flags.Add("--calls", &o.calls).Add("--clients", &o.clients).Add("--rounds", &o.rounds);
  flags.Add("--connects", &o.connects).Add("--copy-filter", &o.copy_filter);
  flags.Add("--serve", &o.serve).Add("--receive", &o.receive).Add("--call", &o.call);
  flags.Add("--socket", &o.socket).Add("--port", &o.port).Add("--node", &o.node);
  flags.Parse(argc, argv);
  if (o.calls < 100 || o.clients < 1 || o.rounds < 1 || o.connects < 1) Fail("out-of-range flag (see --help)");
  return o;
}

// ---- The server child. ----

// Answers every call at once: the bench measures the path, not a handler.
class CheckService final : public Health::CallbackService {
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const HealthCheckRequest*,
                                  HealthCheckResponse* response) override {
    response->set_status(HealthCheckResponse::SERVING);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Blocks SIGTERM and SIGINT in every thread, for WaitForStop.
sigset_t BlockStopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  return stop;
}

void WaitForStop(const sigset_t& stop) {
  int sig = 0;
  sigwait(&stop, &sig);
}

// Serves until SIGTERM; prints "PLAIN_PORT" once listening, on 127.0.0.1 and on
// the unix socket `socket`.
int Serve(const fs::path& socket) {
  sigset_t stop = BlockStopSignals();
  CheckService service;
  int plain_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &plain_port);
  builder.AddListeningPort("unix:" + socket.string(), grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || plain_port == 0) return 1;
  std::printf("%d\n", plain_port);
  std::fflush(stdout);
  WaitForStop(stop);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

// ---- The two hosts of the tunnel path. ----

// Passes every byte on, copied: what any filter costs at least.
class CopyFilter final : public TunnelFilter {
 public:
  Status FromRemote(std::string_view bytes, std::string* to_local, std::string*) override {
    to_local->append(bytes);
    return Status::Ok();
  }
  Status FromLocal(std::string_view bytes, std::string* to_remote) override {
    to_remote->append(bytes);
    return Status::Ok();
  }
};

// The tunnels a host child started; kept until it ends.
class Tunnels {
 public:
  void Add(Expected<std::unique_ptr<Tunnel>> tunnel) {
    if (!tunnel.ok()) {
      std::fprintf(stderr, "a tunnel did not start: %s\n", tunnel.status().message().c_str());
      return;
    }
    std::lock_guard lock(mu_);
    tunnels_.push_back(std::move(tunnel).value());
  }
  void Clear() {
    std::vector<std::unique_ptr<Tunnel>> tunnels;
    {
      std::lock_guard lock(mu_);
      tunnels.swap(tunnels_);
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Tunnel>> tunnels_;
};

void LogEnd(const Status& why) {
  if (!why.ok() && why.code() != Code::kCancelled) std::fprintf(stderr, "a tunnel ended: %s\n", why.message().c_str());
}

UniqueFd ConnectUnix(const fs::path& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return {};
  return fd;
}

// The receiving host: takes links on 127.0.0.1 and tunnels each to the server's
// unix socket. Prints "PORT NODE_ID" once listening; runs until SIGTERM.
int Receive(const Options& o) {
  sigset_t stop = BlockStopSignals();
  NodeKey self{GenerateKeyPair()};
  auto listener = LinkListener::Listen(self, "127.0.0.1:0");
  if (!listener.ok()) Fail(listener.status().message());
  Tunnels tunnels;
  // As a host does: the first message names the app, the answer says it runs.
  Status serving = (*listener)->Serve([&](std::unique_ptr<TlsLink> link, std::string) {
    UniqueFd daemon = ConnectUnix(o.socket);
    if (!daemon || !link->WriteMessage("ok", Clock::now() + std::chrono::seconds(1)).ok()) return;
    tunnels.Add(Tunnel::Start(std::move(link), std::move(daemon),
                              o.copy_filter ? std::make_unique<CopyFilter>() : nullptr, LogEnd));
  });
  if (!serving.ok()) Fail(serving.message());
  std::printf("%d %s\n", (*listener)->port(), self.id().c_str());
  std::fflush(stdout);
  WaitForStop(stop);
  (*listener)->Stop();
  tunnels.Clear();
  return 0;
}

// The calling host: accepts connections on the unix socket `o.socket` and tunnels
// each over a fresh link to the receiving host. Prints "ready" once listening;
// runs until SIGTERM.
int Call(const Options& o) {
  sigset_t stop = BlockStopSignals();
  NodeKey self{GenerateKeyPair()};
  auto dialer = LinkDialer::Make(self);
  if (!dialer.ok()) Fail(dialer.status().message());
  UniqueFd listening = ListenUnix(o.socket, SOCK_STREAM);
  UniqueFd stopped(::eventfd(0, EFD_CLOEXEC));
  if (!listening || !stopped) Fail("cannot listen on " + o.socket.string());
  const std::string endpoint = "127.0.0.1:" + std::to_string(o.port);
  Tunnels tunnels;
  std::thread acceptor([&] {
    for (;;) {
      pollfd fds[2] = {{listening.get(), POLLIN, 0}, {stopped.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[1].revents != 0) return;
      if (fds[0].revents == 0) continue;
      UniqueFd daemon(::accept4(listening.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!daemon) continue;
      auto link = dialer->Dial(endpoint, o.node.string(), std::chrono::seconds(10));
      Status asked = link.ok() ? (*link)->WriteMessage("bench", Clock::now() + std::chrono::seconds(10)) : link.status();
      auto answer = asked.ok() ? (*link)->ReadMessage(100, Clock::now() + std::chrono::seconds(10)) : asked;
      if (!answer.ok()) {
        std::fprintf(stderr, "no link: %s\n", answer.status().message().c_str());
        continue;
      }
      tunnels.Add(Tunnel::Start(std::move(link).value(), std::move(daemon), nullptr, LogEnd));
    }
  });
  std::printf("ready\n");
  std::fflush(stdout);
  WaitForStop(stop);
  uint64_t one = 1;
  (void)!::write(stopped.get(), &one, sizeof(one));
  acceptor.join();
  tunnels.Clear();
  return 0;
}

// ---- The client. ----

ChildRegistry g_children;

// Starts this program with `args` and returns its pid and the first line it prints.
pid_t StartChild(const std::vector<std::string>& args, const fs::path& log, std::string* line) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) Fail("pipe");
  std::vector<std::string> argv = {(BinDir() / "mumba-links-bench").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = g_children.Spawn(argv, {.log = log, .stdout_fd = fds[1]});
  ::close(fds[1]);
  line->clear();
  char c;
  while (line->size() < 200 && ::read(fds[0], &c, 1) == 1 && c != '\n') line->push_back(c);
  ::close(fds[0]);
  return pid;
}

struct Server {
  pid_t pid = 0;
  int plain_port = 0;
};

Server StartServer(const fs::path& dir) {
  Server s;
  std::string line;
  s.pid = StartChild({"--serve", "--socket", (dir / "d.sock").string()}, dir / "server.log", &line);
  if (std::sscanf(line.c_str(), "%d", &s.plain_port) != 1) {
    Fail("the server did not start: " + Tail(dir / "server.log", 8));
  }
  return s;
}

// The receiving and calling hosts of the tunnel path; the calling host listens
// on dir/c.sock.
struct Hosts {
  pid_t receiving = 0;
  pid_t calling = 0;
};

Hosts StartHosts(const fs::path& dir, bool copy_filter) {
  Hosts h;
  std::string line;
  std::vector<std::string> args = {"--receive", "--socket", (dir / "d.sock").string()};
  if (copy_filter) args.push_back("--copy-filter");
  h.receiving = StartChild(args, dir / "receiving.log", &line);
  int port = 0;
  char id[64] = {};
  if (std::sscanf(line.c_str(), "%d %63s", &port, id) != 2) {
    Fail("the receiving host did not start: " + Tail(dir / "receiving.log", 8));
  }
  h.calling = StartChild({"--call", "--socket", (dir / "c.sock").string(), "--port", std::to_string(port), "--node", id},
                         dir / "calling.log", &line);
  if (line != "ready") Fail("the calling host did not start: " + Tail(dir / "calling.log", 8));
  return h;
}

struct Figures {
  double per_s = 0;
  std::vector<double> latencies_us;
};

// `calls` calls on `channel`, split among `clients` threads, after a warm-up.
Figures RunCalls(const std::shared_ptr<grpc::Channel>& channel, int clients, int calls) {
  auto stub = Health::NewStub(channel);
  auto one_call = [&stub]() {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::milliseconds(10000)));
    HealthCheckRequest request;
    HealthCheckResponse response;
    grpc::Status status = stub->Check(&ctx, request, &response);
    if (!status.ok()) Fail("a call failed: " + status.error_message());
  };
  for (int i = 0; i < 200; ++i) one_call();
  std::vector<std::vector<double>> latencies(clients);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  std::string failure;
  std::mutex failure_mu;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      int mine = calls / clients + (t < calls % clients ? 1 : 0);
      latencies[t].reserve(mine);
      ready++;
      while (!go) std::this_thread::yield();
      try {
        for (int i = 0; i < mine; ++i) {
          auto start = Clock::now();
          one_call();
          latencies[t].push_back(Micros(Clock::now() - start));
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(failure_mu);
        failure = e.what();
        failed = true;
      }
    });
  }
  while (ready < clients) std::this_thread::yield();
  auto start = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  double took = Seconds(Clock::now() - start);
  if (failed) Fail(failure);
  Figures f;
  f.per_s = calls / took;
  for (auto& l : latencies) f.latencies_us.insert(f.latencies_us.end(), l.begin(), l.end());
  return f;
}

// The median time from making a channel to its first call's answer.
double ConnectMs(const std::function<std::shared_ptr<grpc::Channel>()>& make, int n) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    auto start = Clock::now();
    auto stub = Health::NewStub(make());
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::milliseconds(10000)));
    HealthCheckRequest request;
    HealthCheckResponse response;
    grpc::Status status = stub->Check(&ctx, request, &response);
    if (!status.ok()) Fail("a first call failed: " + status.error_message());
    ms.push_back(Millis(Clock::now() - start));
  }
  return Summarize(ms).median;
}

std::string Latency(const std::vector<double>& us) {
  return Fmt("p50 %.0f us, p99 %.0f us", Percentile(us, 0.5), Percentile(us, 0.99));
}

// Fresh channels for ConnectMs: a channel of its own connection each time (gRPC
// would otherwise share the connection of a live channel to the same target).
grpc::ChannelArguments FreshConnection(grpc::ChannelArguments args = {}) {
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

int Run(const Options& o) {
  fs::path dir = MakeTempDir("/tmp/mlb-");
  Server server = StartServer(dir);
  Progress("server pid %d: plaintext on :%d", server.pid, server.plain_port);
  Hosts hosts = StartHosts(dir, o.copy_filter);
  Progress("tunnel hosts: calling pid %d, receiving pid %d%s", hosts.calling, hosts.receiving,
           o.copy_filter ? " (copying filter)" : "");
  const std::string plain_target = "127.0.0.1:" + std::to_string(server.plain_port);
  const std::string tunnel_target = "unix:" + (dir / "c.sock").string();
  auto plain_channel = [&] {
    return grpc::CreateCustomChannel(plain_target, grpc::InsecureChannelCredentials(), FreshConnection());
  };
  auto tunnel_channel = [&] {
    return grpc::CreateCustomChannel(tunnel_target, grpc::InsecureChannelCredentials(), FreshConnection());
  };
  struct Path {
    const char* name;
    std::shared_ptr<grpc::Channel> channel;
    std::vector<double> rates, latencies_us;
  };
  std::vector<Path> paths = {{"plaintext", plain_channel(), {}, {}},
                             {"tunnel", tunnel_channel(), {}, {}}};

  std::vector<int> counts = {1};
  if (o.clients > 1) counts.push_back(o.clients);
  std::vector<TableRow> rows;
  for (int clients : counts) {
    for (auto& path : paths) path.rates.clear(), path.latencies_us.clear();
    for (int round = 0; round < o.rounds; ++round) {
      std::string line;
      for (auto& path : paths) {
        Figures f = RunCalls(path.channel, clients, o.calls);
        path.rates.push_back(f.per_s);
        path.latencies_us.insert(path.latencies_us.end(), f.latencies_us.begin(), f.latencies_us.end());
        line += Fmt(", %s %s", path.name, PerSecond(f.per_s).c_str());
      }
      Progress("%d client%s, round %d%s", clients, clients == 1 ? "" : "s", round + 1, line.c_str());
    }
    double pr = Summarize(paths[0].rates).median, tr = Summarize(paths[1].rates).median;
    std::string who = Fmt("%d client%s", clients, clients == 1 ? "" : "s");
    rows.push_back({"unary call through two tunnels, " + who, PerSecond(tr), "plaintext TCP " + PerSecond(pr),
                    Ratio(tr, pr), ">= 0.80x", tr >= kTarget * pr ? "yes" : "NO"});
    rows.push_back({"  latency through two tunnels, " + who, "", Latency(paths[1].latencies_us), "", "", ""});
    rows.push_back({"  latency over plaintext TCP, " + who, "", Latency(paths[0].latencies_us), "", "", ""});
  }
  double plain_connect = ConnectMs(plain_channel, o.connects);
  double tunnel_connect = ConnectMs(tunnel_channel, o.connects);
  rows.push_back({"new channel's first answer, two tunnels", Fmt("%.2f ms", tunnel_connect),
                  Fmt("plaintext TCP %.2f ms", plain_connect), Ratio(tunnel_connect, plain_connect), "", ""});
  std::printf("mumba-links-bench: %d calls per round, %d rounds (median rate), load %s\n", o.calls, o.rounds,
              LoadAverage().c_str());
  PrintTable(rows, {.figure = 44, .value = 12, .baseline = 36, .target = 10});
  paths.clear();
  g_children.End(hosts.calling, std::chrono::seconds(5));
  g_children.End(hosts.receiving, std::chrono::seconds(5));
  g_children.End(server.pid, std::chrono::seconds(5));
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace
}  // namespace mumba::bench

int main(int argc, char** argv) {
  using namespace mumba::bench;
  try {
    Options o = ParseOptions(argc, argv);
    if (o.serve) return Serve(o.socket);
    if (o.receive) return Receive(o);
    if (o.call) return Call(o);
    SetProgramName("mumba-links-bench");
    HandleStopSignals([] { g_children.CleanUpOnce([] { g_children.EndAll(std::chrono::seconds(5), std::chrono::seconds(5)); }); });
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-links-bench: error: %s\n", e.what());
    g_children.CleanUpOnce([] { g_children.EndAll(std::chrono::seconds(5), std::chrono::seconds(5)); });
    return 1;
  }
}
