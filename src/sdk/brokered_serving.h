// SPDX-License-Identifier: Apache-2.0
// The callee's side of brokered connections: each connection another app is given
// to this daemon is served by a gRPC server holding only the services the host
// allows that caller (so a service the app does not export answers UNIMPLEMENTED
// and its handler never runs), and the caller the host named is remembered for the
// connection, so a handler can ask who called (mumba::CallerOf). Internal to the
// SDK.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "broker_client.h"
#include "mumba/app.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace mumba::sdk_internal {

// Thread-safe.
class BrokeredServing {
 public:
  // `services` (borrowed, they outlive this object) are the app's own; `routes` the
  // SDK's route service.
  BrokeredServing(std::vector<grpc::Service*> services, grpc::Service* routes);
  ~BrokeredServing();

  // Serves `conn` with the services it allows (those of the app among
  // conn.services). The connection is closed when it allows none.
  void Accept(BrokeredConnection conn);
  // Stops every server; calls in flight get two seconds to finish.
  void Shutdown();

 private:
  std::vector<grpc::Service*> services_;
  grpc::Service* routes_;
  std::mutex mu_;
  bool shut_ = false;
  std::map<std::set<std::string>, std::unique_ptr<grpc::Server>> servers_;  // By services served.
};

}  // namespace mumba::sdk_internal
