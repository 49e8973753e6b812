// SPDX-License-Identifier: Apache-2.0
// Asynchronous calls from the host to app daemons over their unix sockets.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "mumba/app/v1/routes.grpc.pb.h"

namespace mumba {

// Thread-safe. Channels are cached per socket path and reconnect within ~100 ms
// after a daemon restarts (gRPC's default backoff would wait up to minutes).
class DaemonClient {
 public:
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& socket);

  // Calls `method` ("/pkg.Service/Method") with serialized `request`. `done` runs
  // on a gRPC thread with the status and the serialized reply.
  void CallUnary(const std::string& socket, const std::string& method, std::string request,
                 std::function<void(grpc::Status, std::string)> done);

  // Sends a route request to the daemon's mumba.app.v1.Routes service.
  void Route(const std::string& socket, const mumba::app::v1::RouteRequest& request,
             std::function<void(grpc::Status, mumba::app::v1::RouteResponse)> done);

  // Forgets the channel of a socket (after the app is stopped or removed).
  void Forget(const std::string& socket);

 private:
  struct Entry {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<grpc::GenericStub> generic;
    std::unique_ptr<mumba::app::v1::Routes::Stub> routes;
  };
  std::shared_ptr<Entry> EntryFor(const std::string& socket);

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
};

}  // namespace mumba
