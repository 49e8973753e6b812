// SPDX-License-Identifier: Apache-2.0
#include "brokered_serving.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/server_posix.h>

#include <cstdio>

namespace mumba::sdk_internal {
namespace {

// gRPC keeps a service's methods private and names a service nowhere else, yet the
// SDK must know which service an object serves to hold back those the host does
// not allow a caller. An explicit instantiation may name a private member (the
// language waives access checks there), which is how this reads the list without
// changing gRPC; the list is only read, never changed.
using MethodList = std::vector<std::unique_ptr<grpc::internal::RpcServiceMethod>>;
MethodList grpc::Service::*MethodsMember();
template <MethodList grpc::Service::*M>
struct MethodsOf {
  friend MethodList grpc::Service::*MethodsMember() { return M; }
};
template struct MethodsOf<&grpc::Service::methods_>;

std::mutex callers_mu;
std::map<std::string, Caller>& Callers() {
  static auto* callers = new std::map<std::string, Caller>();
  return *callers;
}

// The fully qualified name of the service `service` serves ("hello.v1.Greeter"),
// or "" for a service with no methods.
std::string ServiceName(grpc::Service& service) {
  for (const auto& method : service.*MethodsMember()) {
    if (!method) continue;
    std::string_view name = method->name();  // "/pkg.Service/Method"
    if (name.size() < 2 || name[0] != '/') continue;
    size_t slash = name.find('/', 1);
    return std::string(name.substr(1, slash == std::string_view::npos ? std::string_view::npos : slash - 1));
  }
  return "";
}

// Records that calls arriving on the connection with peer string `peer` come from
// `caller`; the record is replaced when the descriptor number is used again.
void RememberCaller(const std::string& peer, Caller caller) {
  std::lock_guard lock(callers_mu);
  Callers()[peer] = std::move(caller);
}

}  // namespace

BrokeredServing::BrokeredServing(std::vector<grpc::Service*> services, grpc::Service* routes)
    : services_(std::move(services)), routes_(routes) {}

BrokeredServing::~BrokeredServing() { Shutdown(); }

void BrokeredServing::Accept(BrokeredConnection conn) {
  std::set<std::string> allowed(conn.services.begin(), conn.services.end());
  std::lock_guard lock(mu_);
  if (shut_) return;
  auto& server = servers_[allowed];
  if (!server) {
    grpc::ServerBuilder builder;
    // The default health service is added to every server unless told otherwise:
    // it is not the app's to offer another app.
    builder.SetOption(std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
    builder.SetMaxReceiveMessageSize(32 << 20);
    builder.SetMaxSendMessageSize(32 << 20);
    bool any = false;
    for (auto* s : services_) {
      if (allowed.contains(ServiceName(*s))) {
        builder.RegisterService(s);
        any = true;
      }
    }
    if (routes_ && allowed.contains(ServiceName(*routes_))) {
      builder.RegisterService(routes_);
      any = true;
    }
    // No listening port: connections come from the host only.
    if (any) server = builder.BuildAndStart();
    if (!server) {
      servers_.erase(allowed);
      std::fprintf(stderr, "cannot serve a connection from %s: none of its services is served here\n",
                   conn.peer_name.c_str());
      return;
    }
  }
  // gRPC names a connection made from a descriptor "fd:<number>": the caller is
  // recorded under that name before the descriptor is handed over, so the first
  // call on it already finds it. gRPC closes the descriptor only once the
  // connection's last call is gone, so while a call runs its number still means its
  // connection; a number used again is recorded again before gRPC sees it.
  RememberCaller("fd:" + std::to_string(conn.fd.get()), Caller{conn.peer_id, conn.peer_name});
  grpc::AddInsecureChannelFromFd(server.get(), conn.fd.Release());
}

void BrokeredServing::Shutdown() {
  std::map<std::set<std::string>, std::unique_ptr<grpc::Server>> servers;
  {
    std::lock_guard lock(mu_);
    shut_ = true;
    servers.swap(servers_);
  }
  for (auto& [set, server] : servers) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace mumba::sdk_internal

namespace mumba {

Caller CallerOf(const grpc::ServerContext& context) {
  std::string peer = context.peer();
  if (!peer.starts_with("fd:")) return {};
  std::lock_guard lock(sdk_internal::callers_mu);
  auto& callers = sdk_internal::Callers();
  auto it = callers.find(peer);
  return it == callers.end() ? Caller{} : it->second;
}

}  // namespace mumba
