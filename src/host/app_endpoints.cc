// SPDX-License-Identifier: Apache-2.0
#include "host/app_endpoints.h"

#include <grpcpp/grpcpp.h>

#include "common/keys.h"

namespace fs = std::filesystem;

namespace mumba {

struct AppEndpoints::Endpoint {
  fs::path socket;
  std::unique_ptr<EndpointServices> services;
  std::unique_ptr<grpc::Server> server;
  ~Endpoint() {
    if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    std::error_code ec;
    fs::remove(socket, ec);
  }
};

namespace {
std::string SocketStem(const std::string& app_id) {
  return app_id.substr(kAddressScheme.size()).substr(0, 16);
}
}  // namespace

AppEndpoints::AppEndpoints(fs::path run_dir, EndpointServicesFactory factory)
    : run_dir_(std::move(run_dir)), factory_(std::move(factory)) {}

AppEndpoints::~AppEndpoints() { DropAll(); }

fs::path AppEndpoints::DaemonSocket(const std::string& app_id) const {
  return run_dir_ / (SocketStem(app_id) + ".sock");
}

fs::path AppEndpoints::HostSocket(const std::string& app_id) const {
  return run_dir_ / (SocketStem(app_id) + ".host.sock");
}

Expected<fs::path> AppEndpoints::Ensure(const std::string& app_id) {
  std::lock_guard lock(mu_);
  auto& ep = endpoints_[app_id];
  if (ep) return ep->socket;
  auto fresh = std::make_unique<Endpoint>();
  fresh->socket = HostSocket(app_id);
  std::error_code ec;
  fs::remove(fresh->socket, ec);
  fresh->services = factory_(app_id);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + fresh->socket.string(), grpc::InsecureServerCredentials());
  for (grpc::Service* s : fresh->services->services()) builder.RegisterService(s);
  builder.SetMaxReceiveMessageSize(32 << 20);
  builder.SetMaxSendMessageSize(32 << 20);
  fresh->server = builder.BuildAndStart();
  if (!fresh->server) {
    endpoints_.erase(app_id);
    return Unavailable("cannot listen on " + HostSocket(app_id).string());
  }
  ep = std::move(fresh);
  return ep->socket;
}

void AppEndpoints::Drop(const std::string& app_id) {
  std::unique_ptr<Endpoint> ep;  // Shut down outside the lock.
  {
    std::lock_guard lock(mu_);
    auto it = endpoints_.find(app_id);
    if (it == endpoints_.end()) return;
    ep = std::move(it->second);
    endpoints_.erase(it);
  }
}

void AppEndpoints::DropAll() {
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints;
  {
    std::lock_guard lock(mu_);
    endpoints.swap(endpoints_);
  }
}

}  // namespace mumba
