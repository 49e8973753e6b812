// SPDX-License-Identifier: Apache-2.0
// mumba host start | status | stop (and enable | disable, from host_service.cc)
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "cli/cli.h"
#include "cli/host_service.h"
#include "cli/options.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;

namespace {

// True once no process holds the host's lock (it has fully exited).
bool LockIsFree(const HomeLayout& layout) {
  int fd = ::open(layout.lock_file().c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return true;
  bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

int StartHost(const Context& ctx, const HostStartOptions& o) {
  auto layout = ctx.Layout();
  bool was_running = HostAnswers(layout, std::chrono::milliseconds(1000));
  std::vector<std::string> host_args;
  if (!o.listen.empty()) host_args.insert(host_args.end(), {"--listen", o.listen});
  if (o.bootstrap_option->count() > 0) {
    host_args.insert(host_args.end(), {"--bootstrap", o.bootstrap});
  }
  if (was_running && !host_args.empty()) {
    std::fprintf(stderr, "mumba: the host already runs; --listen/--bootstrap apply when it starts\n");
  }
  if (Status st = EnsureHost(layout, host_args); !st.ok()) return Fail(st);
  hv1::HostStatusResponse resp;
  if (int rc = Unary(*HostStub(layout), &hv1::Control::Stub::HostStatus, {}, &resp)) return rc;
  std::printf("host %s on %s (pid %d)\n", was_running ? "already running" : "started",
              layout.home.c_str(), resp.pid());
  return 0;
}

int ShowHostStatus(const Context& ctx, const HostStatusOptions& o) {
  auto layout = ctx.Layout();
  if (!HostAnswers(layout, std::chrono::milliseconds(1000))) {
    if (o.json) std::printf("{\"running\":false,\"home\":\"%s\"}\n", layout.home.c_str());
    else std::printf("no host is running on %s\n", layout.home.c_str());
    return 3;
  }
  hv1::HostStatusResponse resp;
  if (int rc = Unary(*HostStub(layout), &hv1::Control::Stub::HostStatus, {}, &resp)) return rc;
  if (o.json) {
    std::string out = ToJson(resp);
    out.insert(1, "\"running\":true,");
    std::printf("%s\n", out.c_str());
    return 0;
  }
  std::printf("host running on %s\n  pid      %d\n  version  %s\n  uptime   %.1f s\n"
              "  socket   %s\n  apps     %d installed, %d running\n",
              resp.home().c_str(), resp.pid(), resp.version().c_str(), resp.uptime_ms() / 1000.0,
              layout.socket().c_str(), resp.apps_installed(), resp.apps_running());
  if (!resp.sandbox().empty()) std::printf("  sandbox  %s\n", resp.sandbox().c_str());
  if (resp.gateway_port() > 0) {
    std::printf("  gateway  http://<app>.localhost:%d/\n", resp.gateway_port());
  }
  if (!resp.node_id().empty()) {
    std::printf("  node     %s, links %s\n", resp.node_id().c_str(),
                resp.peer_listen().empty() ? "not listening (no app runs with peers)"
                                           : ("on " + resp.peer_listen()).c_str());
  }
  if (resp.p2p_listen().empty()) {
    std::printf("  p2p      not started (starts when first needed)\n");
  } else {
    std::printf("  p2p      %s, %d DHT nodes, %d torrents, up %.1f kB/s, down %.1f kB/s\n",
                resp.p2p_listen().c_str(), resp.dht_nodes(), resp.torrents(),
                resp.upload_rate() / 1000, resp.download_rate() / 1000);
  }
  return 0;
}

int StopHost(const Context& ctx) {
  auto layout = ctx.Layout();
  if (!HostAnswers(layout, std::chrono::milliseconds(1000))) {
    std::printf("no host is running on %s\n", layout.home.c_str());
    return 0;
  }
  hv1::StopHostResponse resp;
  if (int rc = Unary(*HostStub(layout), &hv1::Control::Stub::StopHost, {}, &resp)) return rc;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!std::filesystem::exists(layout.socket()) && LockIsFree(layout)) {
      std::printf("host stopped\n");
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Fail(DeadlineExceeded("the host did not stop within 30 s"));
}

}  // namespace

void AddHostCommands(CLI::App& app, Context& ctx) {
  auto* host = app.add_subcommand("host", "Start, inspect or stop the host of $MUMBA_HOME, or have systemd start it at login");
  host->require_subcommand(1);
  AddCommand<HostStartOptions>(*host, "start", "Start the host in the background; returns once it answers",
                           [&ctx](HostStartOptions& o) { return StartHost(ctx, o); });
  AddCommand<HostStatusOptions>(*host, "status", "Show whether the host runs, and what it runs",
                            [&ctx](HostStatusOptions& o) { return ShowHostStatus(ctx, o); });
  AddCommand(*host, "stop", "Stop the host and every app it runs (they start again with it)",
             [&ctx] { return StopHost(ctx); });
  AddHostServiceCommands(*host, ctx);
}

}  // namespace mumba::cli
