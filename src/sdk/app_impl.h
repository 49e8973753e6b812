// SPDX-License-Identifier: Apache-2.0
// What an App holds, shared by the files that implement it (app.cc: serving;
// app_links.cc: connections to other apps; app_peers.cc: to other nodes). Internal
// to the SDK.
#pragma once

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "broker_client.h"
#include "brokered_serving.h"
#include "host_connection.h"
#include "mumba/app.h"

namespace mumba {

namespace sdk_internal {
// A channel on the caller's end of a brokered connection (to an app, or to the same
// app on another node); takes the descriptor.
std::shared_ptr<grpc::Channel> ChannelOn(BrokeredConnection& conn);

// A channel kept for later calls, on a brokered connection, with the SDK's own
// descriptor of that connection. gRPC cannot tell whether a channel made on a
// descriptor still works (GetState answers SHUTDOWN for every such channel); the
// descriptor can: it reads as hung up once the other side closed.
struct KeptChannel {
  std::shared_ptr<grpc::Channel> channel;
  UniqueFd watch;
  // Whether the other side closed the connection (or there is none).
  bool Broken() const;
};
// ChannelOn, kept; takes the descriptor. A channel on a descriptor that cannot be
// watched (dup fails) counts as broken at its next use.
KeptChannel KeepChannelOn(BrokeredConnection& conn);
}  // namespace sdk_internal

// A route the app handles (App::Route or App::StreamRoute).
struct RouteEntry {
  std::string method;
  std::string path;
  RouteHandler handler;               // One of these two.
  StreamRouteHandler stream_handler;
};

struct App::Impl {
  std::string id;
  std::string name;
  std::filesystem::path data_dir;
  std::filesystem::path socket;
  std::vector<grpc::Service*> services;
  std::vector<RouteEntry> routes;
  std::unique_ptr<grpc::Server> server;
  std::atomic<bool> shutdown{false};
  sigset_t signals;
  std::string host_socket;  // MUMBA_HOST_SOCKET; empty when started by hand.
  std::once_flag host_once;
  std::shared_ptr<const sdk_internal::HostConnection> host;
  std::string broker_socket;  // MUMBA_BROKER_SOCKET; empty when started by hand.
  // Declared before the broker: its reader hands connections to it until it goes.
  std::unique_ptr<sdk_internal::BrokeredServing> serving;
  std::mutex broker_mu;
  std::unique_ptr<sdk_internal::BrokerClient> broker;
  std::map<std::string, sdk_internal::KeptChannel> fetch_channels;  // By target; broker_mu.
  std::map<std::string, sdk_internal::KeptChannel> peer_channels;   // By node; broker_mu.

  // The broker client, opened on first use (and again after a failed open).
  Expected<sdk_internal::BrokerClient*> Broker() {
    std::lock_guard lock(broker_mu);
    if (!broker) {
      MUMBA_ASSIGN_OR_RETURN(broker, sdk_internal::BrokerClient::Open(broker_socket));
    }
    return broker.get();
  }

  const std::shared_ptr<const sdk_internal::HostConnection>& Host() {
    std::call_once(host_once, [this] { host = sdk_internal::HostConnection::Connect(host_socket); });
    return host;
  }
};

}  // namespace mumba
