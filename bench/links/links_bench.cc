// SPDX-License-Identifier: Apache-2.0
// mumba-links-bench: what an authenticated link costs a unary call. A child
// process (this program with --serve) answers grpc.health.v1.Health/Check on two
// ports of 127.0.0.1, one plaintext and one behind LinkServerCredentials; this
// process calls each, alternating rounds, over one channel shared by 1 and then N
// client threads (one connection per pair of hosts, as links are), and prints
// calls/s and latency beside the target: the link at >= 0.8x plaintext.
// It also times a fresh channel's first call (connect and, for the link, the
// TLS handshake with both certificates checked).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "bench_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "peer/link_credentials.h"

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
  bool serve = false;
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  Flags flags(
      "usage: mumba-links-bench [--calls N] [--clients N] [--rounds N] [--connects N]\n"
      "  --calls N     calls per round for each client count (default 20000)\n"
      "  --clients N   the larger client count (default 8; 1 is always measured)\n"
      "  --rounds N    plaintext and link rounds, alternating (default 3)\n"
      "  --connects N  fresh channels timed to their first call (default 30)\n"
      "  (--serve runs the server child the bench starts itself)\n");
  flags.Add("--calls", &o.calls).Add("--clients", &o.clients).Add("--rounds", &o.rounds);
  flags.Add("--connects", &o.connects).Add("--serve", &o.serve);
  flags.Parse(argc, argv);
  if (o.calls < 100 || o.clients < 1 || o.rounds < 1 || o.connects < 1) Fail("out-of-range flag (see --help)");
  return o;
}

// ---- The server child. ----

// Answers every call, asking first which node made it, as a host's handler of
// peer calls does (a plaintext call is simply told it came from no node).
class CheckService final : public Health::CallbackService {
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const HealthCheckRequest*,
                                  HealthCheckResponse* response) override {
    auto peer = PeerNodeOf(*ctx);
    response->set_status(peer.ok() || peer.status().code() == Code::kPermissionDenied ? HealthCheckResponse::SERVING
                                                                                      : HealthCheckResponse::UNKNOWN);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Serves until SIGTERM; prints "PLAIN_PORT LINK_PORT NODE_ID" once listening.
int Serve() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  NodeKey self{GenerateKeyPair()};
  CheckService service;
  int plain_port = 0, link_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &plain_port);
  builder.AddListeningPort("127.0.0.1:0", LinkServerCredentials(self), &link_port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || plain_port == 0 || link_port == 0) return 1;
  std::printf("%d %d %s\n", plain_port, link_port, self.id().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

// ---- The client. ----

ChildRegistry g_children;

struct Server {
  pid_t pid = 0;
  int plain_port = 0;
  int link_port = 0;
  std::string node_id;
};

Server StartServer(const fs::path& log) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) Fail("pipe");
  Server s;
  s.pid = g_children.Spawn({(BinDir() / "mumba-links-bench").string(), "--serve"}, {.log = log, .stdout_fd = fds[1]});
  ::close(fds[1]);
  std::string line;
  char c;
  while (line.size() < 200 && ::read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  ::close(fds[0]);
  char id[64] = {};
  if (std::sscanf(line.c_str(), "%d %d %63s", &s.plain_port, &s.link_port, id) != 3) {
    Fail("the server did not start: " + Tail(log, 8));
  }
  s.node_id = id;
  return s;
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

int Run(const Options& o) {
  fs::path dir = MakeTempDir("/tmp/mlb-");
  Server server = StartServer(dir / "server.log");
  Progress("server pid %d: plaintext on :%d, link on :%d as node %s", server.pid, server.plain_port,
           server.link_port, server.node_id.c_str());
  NodeKey self{GenerateKeyPair()};
  auto plain_channel = [&] {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(server.plain_port), grpc::InsecureChannelCredentials());
  };
  auto link_channel = [&] {
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server.link_port),
                                     LinkChannelCredentials(self, server.node_id), LinkChannelArguments());
  };
  auto plain = plain_channel();
  auto link = link_channel();

  std::vector<int> counts = {1};
  if (o.clients > 1) counts.push_back(o.clients);
  std::vector<TableRow> rows;
  for (int clients : counts) {
    std::vector<double> plain_rates, link_rates, plain_us, link_us;
    for (int round = 0; round < o.rounds; ++round) {
      Figures p = RunCalls(plain, clients, o.calls);
      Figures l = RunCalls(link, clients, o.calls);
      Progress("%d client%s, round %d: plaintext %s, link %s", clients, clients == 1 ? "" : "s", round + 1,
               PerSecond(p.per_s).c_str(), PerSecond(l.per_s).c_str());
      plain_rates.push_back(p.per_s);
      link_rates.push_back(l.per_s);
      plain_us.insert(plain_us.end(), p.latencies_us.begin(), p.latencies_us.end());
      link_us.insert(link_us.end(), l.latencies_us.begin(), l.latencies_us.end());
    }
    double pr = Summarize(plain_rates).median, lr = Summarize(link_rates).median;
    std::string who = Fmt("%d client%s", clients, clients == 1 ? "" : "s");
    rows.push_back({"unary call over a link, " + who, PerSecond(lr), "plaintext TCP " + PerSecond(pr), Ratio(lr, pr),
                    ">= 0.80x", lr >= kTarget * pr ? "yes" : "NO"});
    rows.push_back({"  latency over a link, " + who, "", Latency(link_us), "", "", ""});
    rows.push_back({"  latency over plaintext TCP, " + who, "", Latency(plain_us), "", "", ""});
  }
  double plain_connect = ConnectMs(plain_channel, o.connects);
  double link_connect = ConnectMs(link_channel, o.connects);
  rows.push_back({"new channel to its first answer (median)", Fmt("%.2f ms", link_connect),
                  Fmt("plaintext TCP %.2f ms", plain_connect), Ratio(link_connect, plain_connect), "", ""});
  std::printf("mumba-links-bench: %d calls per round, %d rounds (median rate), load %s\n", o.calls, o.rounds,
              LoadAverage().c_str());
  PrintTable(rows, {.figure = 44, .value = 12, .baseline = 36, .target = 10});
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
    if (o.serve) return Serve();
    SetProgramName("mumba-links-bench");
    HandleStopSignals([] { g_children.CleanUpOnce([] { g_children.EndAll(std::chrono::seconds(5), std::chrono::seconds(5)); }); });
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-links-bench: error: %s\n", e.what());
    g_children.CleanUpOnce([] { g_children.EndAll(std::chrono::seconds(5), std::chrono::seconds(5)); });
    return 1;
  }
}
