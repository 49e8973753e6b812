// SPDX-License-Identifier: Apache-2.0
// What an app's daemon reaches of the peer network on its host socket:
// mumba.app.v1.Peers, the live peers of its own app (connections to them come from
// the broker, app_broker.h). Each call's app is the one whose socket it came
// through (AppOfCall), never one the daemon names.
#pragma once

#include <atomic>
#include <functional>

#include "host/app_endpoints.h"
#include "host/peer_network.h"
#include "mumba/app/v1/peers.grpc.pb.h"

namespace mumba {

// The peer network, or nullptr while the host runs none.
using PeerNetworkOf = std::function<PeerNetwork*()>;

class PeersService final : public mumba::app::v1::Peers::Service {
 public:
  // `stopping` is borrowed: Watch streams end when it turns true.
  PeersService(PeerNetworkOf network, AppOfCall app_of, const std::atomic<bool>& stopping)
      : network_(std::move(network)), app_of_(std::move(app_of)), stopping_(stopping) {}
  // This host's node id; UNAVAILABLE while it runs no peer network.
  grpc::Status Self(grpc::ServerContext* ctx, const mumba::app::v1::SelfRequest* req,
                    mumba::app::v1::SelfResponse* resp) override;
  // The live peers of the caller's app; none while the host runs no peer network.
  grpc::Status List(grpc::ServerContext* ctx, const mumba::app::v1::ListPeersRequest* req,
                    mumba::app::v1::ListPeersResponse* resp) override;
  // The peers known now as arrivals, then each change, until the caller cancels or
  // the host stops.
  grpc::Status Watch(grpc::ServerContext* ctx, const mumba::app::v1::WatchPeersRequest* req,
                     grpc::ServerWriter<mumba::app::v1::PeerChange>* writer) override;

 private:
  PeerNetworkOf network_;
  AppOfCall app_of_;
  const std::atomic<bool>& stopping_;
};

// Fills `out` from `info`.
void ToProto(const PeerInfo& info, mumba::app::v1::Peer* out);

}  // namespace mumba
