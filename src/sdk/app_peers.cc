// SPDX-License-Identifier: Apache-2.0
// App's side of nodes calling nodes: the peers its host found (mumba.app.v1.Peers
// in proto/mumba/app/v1/peers.proto), and channels to the same app on them, each
// on a connection the host tunnels to that node (the broker's "node:<id>" target).

#include <thread>

#include "app_impl.h"
#include "common/peer_metadata.h"

namespace mumba {
namespace {

namespace av1 = mumba::app::v1;

Peer FromProto(const av1::Peer& p) { return Peer{p.node(), p.endpoint(), p.last_seen_unix_ms()}; }

bool IsNodeId(std::string_view node) {
  if (node.size() != 52) return false;
  for (char c : node) {
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  }
  return true;
}

// How long the host may take to make a connection to another node (a few round
// trips to it; the other host may start its app).
constexpr auto kPeerConnectTimeout = std::chrono::seconds(30);

}  // namespace

struct PeerWatch::Impl {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<av1::PeerChange>> reader;
  std::thread thread;
  ~Impl() {
    ctx.TryCancel();
    if (thread.joinable()) thread.join();
  }
};

PeerWatch::PeerWatch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PeerWatch::~PeerWatch() = default;

std::string PeerOf(const grpc::ServerContext& context) {
  // Connections other apps are given (CallerOf) never carry a node: only the host
  // calls on the daemon's own socket, and it sets this itself.
  if (context.peer().starts_with("fd:")) return "";
  auto it = context.client_metadata().find(kPeerNodeMetadata);
  if (it == context.client_metadata().end()) return "";
  std::string node(it->second.data(), it->second.size());
  return IsNodeId(node) ? node : "";
}

Expected<std::vector<Peer>> App::Peers() {
  const auto& host = impl_->Host();
  av1::ListPeersResponse resp;
  MUMBA_TRY(host->Call(host->peers, &av1::Peers::Stub::List, av1::ListPeersRequest(), &resp));
  std::vector<Peer> out;
  for (const auto& p : resp.peers()) out.push_back(FromProto(p));
  return out;
}

Expected<std::string> App::NodeId() {
  const auto& host = impl_->Host();
  av1::SelfResponse resp;
  MUMBA_TRY(host->Call(host->peers, &av1::Peers::Stub::Self, av1::SelfRequest(), &resp));
  return resp.node();
}

Expected<std::unique_ptr<PeerWatch>> App::WatchPeers(std::function<void(const Peer&, bool)> fn) {
  const auto& host = impl_->Host();
  MUMBA_TRY(host->Usable());
  if (!fn) return InvalidArgument("a peer watch needs a callback");
  auto impl = std::make_unique<PeerWatch::Impl>();
  impl->reader = host->peers->Watch(&impl->ctx, av1::WatchPeersRequest());
  impl->thread = std::thread([r = impl->reader.get(), fn = std::move(fn)] {
    av1::PeerChange change;
    while (r->Read(&change)) fn(FromProto(change.peer()), change.kind() == av1::PeerChange::ARRIVED);
    (void)r->Finish();
  });
  return std::unique_ptr<PeerWatch>(new PeerWatch(std::move(impl)));
}

Expected<std::shared_ptr<grpc::Channel>> App::PeerChannel(std::string_view node) {
  if (!IsNodeId(node)) {
    return InvalidArgument("'" + std::string(node.substr(0, 80)) + "' is not a node id (52 base32 characters)");
  }
  if (impl_->host_socket.empty()) return Unavailable("peers need the host: run this app with `mumba start`");
  {
    // One connection per node, made again once it broke.
    std::lock_guard lock(impl_->broker_mu);
    auto it = impl_->peer_channels.find(std::string(node));
    if (it != impl_->peer_channels.end() && !it->second.Broken()) return it->second.channel;
  }
  MUMBA_ASSIGN_OR_RETURN(sdk_internal::BrokerClient * broker, impl_->Broker());
  MUMBA_ASSIGN_OR_RETURN(sdk_internal::BrokeredConnection conn,
                         broker->Connect(std::string("node:") + std::string(node), kPeerConnectTimeout));
  auto kept = sdk_internal::KeepChannelOn(conn);
  auto channel = kept.channel;
  std::lock_guard lock(impl_->broker_mu);
  impl_->peer_channels[std::string(node)] = std::move(kept);
  return channel;
}

}  // namespace mumba
