// SPDX-License-Identifier: Apache-2.0
// mumba-host: one per MUMBA_HOME. Usually started by `mumba host start`.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/files.h"
#include "common/paths.h"
#include "host/host.h"
#include "host/shares.h"

namespace {

// Holds an exclusive flock on host.lock for the life of the process, so a second
// host on the same home is refused.
int TakeLock(const std::filesystem::path& lock_file) {
  int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "mumba-host: cannot open %s: %s\n", lock_file.c_str(), std::strerror(errno));
    std::exit(1);
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    (void)!::pread(fd, buf, sizeof buf - 1, 0);
    std::fprintf(stderr, "mumba-host: another host is already running on %s (pid %s)\n",
                 lock_file.parent_path().c_str(), buf[0] ? buf : "unknown");
    std::exit(3);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  (void)!::ftruncate(fd, 0);
  (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives threads up to 8 arenas per core, and memory freed in one is kept
  // there: under load rounds the host grew from 29 to 51 MiB and stayed, with no
  // leak (two arenas: 29 to 39 MiB after the first round, then flat; same rates).
  mallopt(M_ARENA_MAX, 2);
  // The host's own child (Shares): reads a stranger's LMDB file whole, so that a
  // file LMDB would crash on crashes this process instead of the host.
  if (argc == 3 && std::string_view(argv[1]) == "--check-kv-replica") {
    mumba::Status st = mumba::WalkKvStore(argv[2]);
    if (!st.ok()) std::fprintf(stderr, "mumba-host: %s\n", st.message().c_str());
    return st.ok() ? 0 : 1;
  }
  CLI::App cli{"mumba-host: runs installed Mumba apps and serves the control API on "
               "$MUMBA_HOME/host.sock. Normally started by `mumba host start`."};
  std::string home;
  cli.add_option("--home", home, "State folder (default: $MUMBA_HOME, else $XDG_DATA_HOME/mumba)");
  std::string listen, bootstrap;
  cli.add_option("--listen", listen, "BitTorrent and DHT address IP:PORT (overrides [p2p] listen)");
  auto* bootstrap_opt = cli.add_option(
      "--bootstrap", bootstrap, "DHT nodes HOST:PORT,... ('' for none; overrides [p2p] bootstrap)");
  cli.set_version_flag("--version", MUMBA_VERSION);
  CLI11_PARSE(cli, argc, argv);

  std::filesystem::path home_dir =
      home.empty() ? mumba::DefaultHome() : std::filesystem::absolute(home).lexically_normal();
  mumba::HomeLayout layout(home_dir);
  std::error_code ec;
  // Everything the host creates is its owner's alone: sockets are born 0600 (so only
  // the owner can connect), stores and logs 0600.
  ::umask(077);
  std::filesystem::create_directories(home_dir, ec);
  if (ec) {
    std::fprintf(stderr, "mumba-host: cannot create %s: %s\n", home_dir.c_str(), ec.message().c_str());
    return 1;
  }
  std::filesystem::permissions(home_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  // Keys, stores and the owner's socket go here: refuse a folder someone else owns
  // or can reach (a failed chmod above shows here too).
  if (mumba::Status st = mumba::CheckHomeIsOurs(home_dir); !st.ok()) {
    std::fprintf(stderr, "mumba-host: %s\n", st.message().c_str());
    return 1;
  }
  int lock_fd = TakeLock(layout.lock_file());

  // Signals are taken by one thread with sigwait; every other thread blocks them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::info("mumba-host {} starting on {} (pid {})", MUMBA_VERSION, home_dir.string(), ::getpid());

  mumba::HostOptions options;
  options.home = home_dir;
  if (!listen.empty()) options.p2p_listen = listen;
  if (bootstrap_opt->count() > 0) {
    std::vector<std::string> nodes;
    std::stringstream in(bootstrap);
    for (std::string node; std::getline(in, node, ',');) {
      if (!node.empty()) nodes.push_back(node);
    }
    options.p2p_bootstrap = nodes;
  }
  auto host = mumba::Host::Create(options);
  if (!host.ok()) {
    std::fprintf(stderr, "mumba-host: %s\n", host.status().message().c_str());
    return 1;
  }

  if (auto st = (*host)->StartGateway(); !st.ok()) {
    std::fprintf(stderr, "mumba-host: %s\n", st.message().c_str());
    return 1;
  }

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  auto request_stop = [&] {
    std::lock_guard lock(mu);
    stop = true;
    cv.notify_all();
  };

  std::filesystem::remove(layout.socket(), ec);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + layout.socket().string(), grpc::InsecureServerCredentials());
  (*host)->RegisterOwnerServices(builder, request_stop);
  builder.SetMaxReceiveMessageSize(32 << 20);
  builder.SetMaxSendMessageSize(32 << 20);
  auto server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "mumba-host: cannot listen on %s\n", layout.socket().c_str());
    return 1;
  }
  ::chmod(layout.socket().c_str(), 0600);
  spdlog::info("control API on unix:{}", layout.socket().string());

  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != 0) spdlog::info("signal {}: stopping", sig);
    request_stop();
  });
  signals.detach();

  std::thread boot([&] {
    (*host)->Boot();
  });

  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return stop; });
  }
  boot.join();
  spdlog::info("stopping");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  (*host)->Shutdown();
  server.reset();
  std::filesystem::remove(layout.socket(), ec);
  ::close(lock_fd);
  spdlog::info("stopped");
  return 0;
}
