// SPDX-License-Identifier: Apache-2.0
#include "host/app_endpoints.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include "common/keys.h"
#include "platform/peer_credentials.h"
#include "platform/unique_fd.h"
#include "platform/unix_listener.h"

namespace fs = std::filesystem;

namespace mumba {

namespace {

std::string SocketStem(const std::string& app_id) {
  return app_id.substr(kAddressScheme.size()).substr(0, 16);
}

// The descriptor of a connection gRPC added from one ("fd:7"), or -1 for any other
// peer.
int DescriptorOfPeer(const std::string& peer) {
  constexpr std::string_view kPrefix = "fd:";
  if (!peer.starts_with(kPrefix) || peer.size() == kPrefix.size()) return -1;
  int fd = -1;
  const char* end = peer.data() + peer.size();
  auto [at, ec] = std::from_chars(peer.data() + kPrefix.size(), end, fd);
  if (ec != std::errc() || at != end || fd < 0) return -1;
  return fd;
}

}  // namespace

struct AppEndpoints::Endpoint {
  std::string app_id;
  fs::path socket;
  UniqueFd listener;
  std::atomic<bool> stopping{false};
  std::thread acceptor;

  ~Endpoint() {
    // shutdown() wakes the blocking accept(), and a check in progress gives up
    // within one retry delay, so no connection is handed over after this.
    stopping = true;
    if (listener) ::shutdown(listener.get(), SHUT_RDWR);
    if (acceptor.joinable()) acceptor.join();
    std::error_code ec;
    fs::remove(socket, ec);
  }

  // Accepts until the listener is shut down; hands allowed connections to `owner`.
  // `server` outlives the acceptor: DropAll joins every acceptor before it goes.
  void AcceptLoop(AppEndpoints* owner, grpc::Server* server, const AllowedRoots& allowed_roots) {
    while (!stopping) {
      int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        // EINVAL after shutdown(); anything else (EMFILE) is given a moment so the
        // loop does not spin while descriptors are short.
        if (stopping || errno == EINVAL) return;
        std::this_thread::sleep_for(kPeerCheckRetryDelay);
        continue;
      }
      UniqueFd conn(fd);
      auto pid = PeerPid(conn.get());
      if (pid && Allowed(*pid, allowed_roots)) {
        owner->Serve(server, app_id, conn.Release());
        continue;
      }
      spdlog::warn("refused a connection to the host socket of {} from pid {}: not a process of that app",
                   app_id, pid ? *pid : 0);
    }
  }

  // This process is served as itself (the host calls an app's storage for its
  // pages); anything else must belong to the app's daemon tree.
  bool Allowed(pid_t pid, const AllowedRoots& allowed_roots) const {
    if (pid == ::getpid()) return true;
    return DescendsFromAnyWithin(pid, [&] { return allowed_roots(app_id); }, stopping);
  }

};

AppEndpoints::AppEndpoints(fs::path run_dir, EndpointServicesFactory factory, AllowedRoots allowed_roots)
    : run_dir_(std::move(run_dir)), factory_(std::move(factory)), allowed_roots_(std::move(allowed_roots)) {}

AppEndpoints::~AppEndpoints() { DropAll(); }

fs::path AppEndpoints::RunDir(const std::string& app_id) const { return run_dir_ / SocketStem(app_id); }

fs::path AppEndpoints::ServeSocket(const std::string& app_id) const { return RunDir(app_id) / "app.sock"; }

fs::path AppEndpoints::DaemonSocket(const std::string& app_id) const {
  return run_dir_ / (SocketStem(app_id) + ".app.sock");
}

fs::path AppEndpoints::HostSocket(const std::string& app_id) const { return RunDir(app_id) / "host.sock"; }

Expected<fs::path> AppEndpoints::Ensure(const std::string& app_id) {
  std::lock_guard lock(mu_);
  auto& ep = endpoints_[app_id];
  if (ep) return ep->socket;
  if (!server_) {
    // No listening port: connections reach the server only through the acceptors,
    // after their peer has been checked.
    services_ = factory_([this](const grpc::ServerContextBase& ctx) { return AppOf(ctx); });
    grpc::ServerBuilder builder;
    for (grpc::Service* s : services_->services()) builder.RegisterService(s);
    builder.SetMaxReceiveMessageSize(32 << 20);
    builder.SetMaxSendMessageSize(32 << 20);
    server_ = builder.BuildAndStart();
    if (!server_) {
      services_.reset();
      endpoints_.erase(app_id);
      return Unavailable("cannot start the server of the apps' host sockets");
    }
  }
  auto fresh = std::make_unique<Endpoint>();
  fresh->app_id = app_id;
  fresh->socket = HostSocket(app_id);
  std::error_code ec;
  // Only the owner may look inside: the daemon's socket is the app's own.
  fs::create_directories(RunDir(app_id), ec);
  fs::permissions(RunDir(app_id), fs::perms::owner_all, fs::perm_options::replace, ec);
  fs::remove(fresh->socket, ec);
  fresh->listener = ListenUnix(fresh->socket, SOCK_STREAM);
  if (!fresh->listener) {
    endpoints_.erase(app_id);
    return Unavailable("cannot listen on " + HostSocket(app_id).string());
  }
  Endpoint* raw = fresh.get();
  fresh->acceptor = std::thread(
      [this, raw, server = server_.get(), roots = allowed_roots_] { raw->AcceptLoop(this, server, roots); });
  ep = std::move(fresh);
  return ep->socket;
}

void AppEndpoints::Serve(grpc::Server* server, const std::string& app_id, int fd) {
  {
    std::lock_guard lock(connections_mu_);
    connection_apps_[fd] = app_id;
  }
  grpc::AddInsecureChannelFromFd(server, fd);
}

Expected<std::string> AppEndpoints::AppOf(const grpc::ServerContextBase& ctx) const {
  const std::string peer = ctx.peer();
  const int fd = DescriptorOfPeer(peer);
  std::lock_guard lock(connections_mu_);
  auto it = fd < 0 ? connection_apps_.end() : connection_apps_.find(fd);
  if (it == connection_apps_.end()) {
    return PermissionDenied("the call from " + peer + " did not come through an app's host socket");
  }
  return it->second;
}

void AppEndpoints::Drop(const std::string& app_id) {
  std::unique_ptr<Endpoint> ep;  // Stopped outside the lock.
  {
    std::lock_guard lock(mu_);
    auto it = endpoints_.find(app_id);
    if (it == endpoints_.end()) return;
    ep = std::move(it->second);
    endpoints_.erase(it);
  }
  ep.reset();
  std::error_code ec;
  fs::remove_all(RunDir(app_id), ec);
  fs::remove(DaemonSocket(app_id), ec);
}

void AppEndpoints::DropAll() {
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<EndpointServices> services;
  {
    std::lock_guard lock(mu_);
    endpoints.swap(endpoints_);
    server.swap(server_);
    services.swap(services_);
  }
  // The acceptors first, so that no connection reaches a server shutting down.
  endpoints.clear();
  if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server.reset();
  services.reset();
  // connection_apps_ keeps its entries: no call carries their descriptors any more,
  // and an Ensure racing with this may already have recorded a new connection.
}

}  // namespace mumba
