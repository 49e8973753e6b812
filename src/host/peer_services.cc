// SPDX-License-Identifier: Apache-2.0
#include "host/peer_services.h"

#include <map>
#include <thread>

#include "common/grpc_status.h"

namespace mumba {
namespace av1 = mumba::app::v1;

namespace {
constexpr auto kWatchPoll = std::chrono::milliseconds(250);

std::map<std::string, PeerInfo> ByNode(const std::vector<PeerInfo>& peers) {
  std::map<std::string, PeerInfo> out;
  for (const auto& p : peers) out[p.node] = p;
  return out;
}
}  // namespace

void ToProto(const PeerInfo& info, av1::Peer* out) {
  out->set_node(info.node);
  out->set_endpoint(info.endpoint);
  out->set_last_seen_unix_ms(info.last_seen_unix_ms);
}

grpc::Status PeersService::Self(grpc::ServerContext* ctx, const av1::SelfRequest*, av1::SelfResponse* resp) {
  if (auto app = app_of_(*ctx); !app.ok()) return ToGrpc(app.status());
  PeerNetwork* net = network_();
  if (!net) return ToGrpc(Unavailable("this host runs no peer network (see its log for why)"));
  resp->set_node(net->node_id());
  return grpc::Status::OK;
}

grpc::Status PeersService::List(grpc::ServerContext* ctx, const av1::ListPeersRequest*,
                                av1::ListPeersResponse* resp) {
  auto app = app_of_(*ctx);
  if (!app.ok()) return ToGrpc(app.status());
  if (PeerNetwork* net = network_()) {
    for (const auto& p : net->PeersOf(*app)) ToProto(p, resp->add_peers());
  }
  return grpc::Status::OK;
}

grpc::Status PeersService::Watch(grpc::ServerContext* ctx, const av1::WatchPeersRequest*,
                                 grpc::ServerWriter<av1::PeerChange>* writer) {
  auto app = app_of_(*ctx);
  if (!app.ok()) return ToGrpc(app.status());
  // The directory changes at most once per refresh round: a poll well below that
  // keeps changes prompt at the cost of one map copy per poll.
  std::map<std::string, PeerInfo> seen;
  while (!ctx->IsCancelled() && !stopping_) {
    PeerNetwork* net = network_();
    auto now = ByNode(net ? net->PeersOf(*app) : std::vector<PeerInfo>{});
    for (const auto& [node, p] : now) {
      if (seen.contains(node)) continue;
      av1::PeerChange change;
      change.set_kind(av1::PeerChange::ARRIVED);
      ToProto(p, change.mutable_peer());
      if (!writer->Write(change)) return grpc::Status::OK;
    }
    for (const auto& [node, p] : seen) {
      if (now.contains(node)) continue;
      av1::PeerChange change;
      change.set_kind(av1::PeerChange::LEFT);
      ToProto(p, change.mutable_peer());
      if (!writer->Write(change)) return grpc::Status::OK;
    }
    seen = std::move(now);
    std::this_thread::sleep_for(kWatchPoll);
  }
  return grpc::Status::OK;
}

}  // namespace mumba
