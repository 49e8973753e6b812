// SPDX-License-Identifier: Apache-2.0
#include "host/peer_network.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "broker/daemon_client.h"
#include "broker/generic_proxy.h"
#include "broker/peer_policy.h"
#include "broker/transcoder.h"
#include "common/grpc_status.h"
#include "mumba/peer/v1/node.grpc.pb.h"
#include "peer/link_credentials.h"

namespace mumba {
namespace {

namespace pv1 = mumba::peer::v1;
using std::chrono::milliseconds;

constexpr milliseconds kMaxCallTime{60'000};
constexpr milliseconds kHelloTimeout{2'000};
constexpr milliseconds kLookupTimeout{1'500};

bool ServesPeers(const InstalledApp& app) {
  return app.Granted("peers") && !app.manifest->peer_exports.empty();
}

std::string MetadataValue(const grpc::ServerContextBase& ctx, const std::string& key) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(key);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

int64_t UnixMs() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Node.Hello: whether this node serves an app to peers. Any node with a valid link
// may ask; the answer says only what the DHT already announces.
class NodeService final : public pv1::Node::CallbackService {
 public:
  explicit NodeService(PeerNetworkParts& parts) : parts_(parts) {}
  grpc::ServerUnaryReactor* Hello(grpc::CallbackServerContext* ctx, const pv1::HelloRequest* req,
                                  pv1::HelloResponse* resp) override {
    auto app = parts_.app(req->app());
    resp->set_serves(app.ok() && ServesPeers(*app));
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

 private:
  PeerNetworkParts& parts_;
};

// Calls from other nodes to apps here: the policy first, then the relay.
class IncomingCalls final : public grpc::CallbackGenericService {
 public:
  IncomingCalls(PeerNetworkParts& parts, PeerLimits& limits, std::mutex& limits_mu)
      : parts_(parts), limits_(limits), limits_mu_(limits_mu) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    auto node = PeerNodeOf(*ctx);
    if (!node.ok()) return RefuseCall(ToGrpc(node.status()));
    const auto now = Clock::Real().Now();
    {
      std::lock_guard lock(limits_mu_);
      if (limits_.CutOff(*node, now)) {
        return RefuseCall(ToGrpc(Unavailable("this node is cut off for a while: too many refused calls")));
      }
    }
    auto app = parts_.app(MetadataValue(*ctx, kPeerAppMetadata));
    auto decision = DecidePeerCall(app.ok() ? app->manifest.get() : nullptr, app.ok() && app->Granted("peers"),
                                   ctx->method());
    if (!decision.ok()) {
      std::lock_guard lock(limits_mu_);
      limits_.Strike(*node, now);
      return RefuseCall(ToGrpc(decision.status()));
    }
    {
      std::lock_guard lock(limits_mu_);
      if (!limits_.Allow(*node, decision->service, decision->calls_per_second, now)) {
        return RefuseCall(ToGrpc(ResourceExhausted(decision->service + " takes at most " +
                                                   std::to_string(decision->calls_per_second) +
                                                   " calls a second from one node")));
      }
    }
    auto socket = parts_.ensure_running(app->record.id);
    if (!socket.ok()) return RefuseCall(ToGrpc(socket.status()));
    return ProxyCall(ctx, parts_.daemons.ChannelFor(*socket), {{kPeerNodeMetadata, *node}}, kMaxCallTime,
                     app->transcoder && app->transcoder->IsUnary(ctx->method()));
  }

 private:
  PeerNetworkParts& parts_;
  PeerLimits& limits_;
  std::mutex& limits_mu_;
};

class PeerNetworkImpl final : public PeerNetwork {
 public:
  PeerNetworkImpl(NodeKey key, PeerNetworkParts parts, PeerNetworkOptions options)
      : key_(std::move(key)),
        id_(key_.id()),
        parts_(std::move(parts)),
        options_(std::move(options)),
        node_service_(parts_),
        incoming_(parts_, limits_, limits_mu_) {}
  ~PeerNetworkImpl() override { Stop(); }

  void StartLoop() { thread_ = std::thread([this] { Loop(); }); }

  // Binds the link server, once: the first time an app runs with peers, so a host
  // without such apps opens no port. The loop's thread only.
  Status EnsureListening() {
    if (server_) return {};
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(options_.listen, LinkServerCredentials(key_), &port);
    builder.RegisterService(&node_service_);
    builder.RegisterCallbackGenericService(&incoming_);
    builder.SetMaxReceiveMessageSize(4 << 20);
    auto server = builder.BuildAndStart();
    if (!server || port == 0) return Unavailable("cannot listen for links on " + options_.listen);
    server_ = std::move(server);
    port_ = port;
    std::lock_guard lock(mu_);
    listen_ = options_.listen.substr(0, options_.listen.rfind(':')) + ":" + std::to_string(port);
    return {};
  }

  const std::string& node_id() const override { return id_; }
  std::string listen() const override {
    std::lock_guard lock(mu_);
    return listen_;
  }

  std::vector<PeerInfo> PeersOf(const std::string& app_id) const override {
    std::lock_guard lock(mu_);
    std::vector<PeerInfo> out;
    auto it = peers_.find(app_id);
    if (it == peers_.end()) return out;
    for (const auto& [node, p] : it->second) out.push_back(p.info);
    return out;
  }

  grpc::ServerGenericBidiReactor* RelayFromApp(grpc::GenericCallbackServerContext* ctx,
                                               const std::string& app_id) override {
    auto app = parts_.app(app_id);
    if (!app.ok()) return RefuseCall(ToGrpc(app.status()));
    if (!app->Granted("peers")) {
      return RefuseCall(ToGrpc(PermissionDenied(app->record.name + " was not granted peer calls")));
    }
    const std::string node = MetadataValue(*ctx, kPeerMetadata);
    if (!ParseNodeId(node).ok()) {
      return RefuseCall(ToGrpc(InvalidArgument("a peer call names its node in the metadata " +
                                               std::string(kPeerMetadata) + " (52 base32 characters)")));
    }
    std::shared_ptr<grpc::Channel> channel;
    {
      std::lock_guard lock(mu_);
      auto it = peers_.find(app_id);
      if (it != peers_.end()) {
        auto p = it->second.find(node);
        if (p != it->second.end()) channel = p->second.channel;
      }
    }
    if (!channel) return RefuseCall(ToGrpc(NotFound("node " + node + " is no live peer of " + app->record.name)));
    return ProxyCall(ctx, channel, {{kPeerAppMetadata, app_id}}, kMaxCallTime,
                     app->transcoder && app->transcoder->IsUnary(ctx->method()));
  }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + milliseconds(500));
    Withdraw({});
  }

 private:
  struct Peer {
    PeerInfo info;
    std::shared_ptr<grpc::Channel> channel;  // Pinned to the node's key.
    std::chrono::steady_clock::time_point answered;
  };

  std::shared_ptr<grpc::Channel> PinnedChannel(const std::string& endpoint, const std::string& node) {
    return grpc::CreateCustomChannel(endpoint, LinkChannelCredentials(key_, node), LinkChannelArguments());
  }

  // Asks `channel` whether its node serves `app_id`: the node id the link proved, or
  // an error when it does not answer, does not serve the app, or is this node.
  Expected<std::string> Hello(const std::shared_ptr<grpc::Channel>& channel, const std::string& app_id) {
    auto stub = pv1::Node::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kHelloTimeout);
    pv1::HelloRequest req;
    req.set_app(app_id);
    pv1::HelloResponse resp;
    grpc::Status s = stub->Hello(&ctx, req, &resp);
    if (!s.ok()) return FromGrpc(s);
    auto node = ServerNodeOf(ctx);
    if (!node.ok()) return node.status();
    if (*node == id_) return FailedPrecondition("that is this node");
    if (!resp.serves()) return NotFound("the node does not serve the app");
    return *node;
  }

  void Loop() {
    for (;;) {
      Refresh();
      std::unique_lock lock(mu_);
      if (wake_.wait_for(lock, options_.refresh, [this] { return stopped_; })) return;
    }
  }

  bool Stopped() {
    std::lock_guard lock(mu_);
    return stopped_;
  }

  // One round: announce what runs, withdraw what stopped, look up and greet.
  void Refresh() {
    std::set<std::string> serving;
    std::vector<InstalledApp> looking;
    for (const auto& app : parts_.apps()) {
      if (!app.Granted("peers") || !parts_.running(app.record.id)) continue;
      looking.push_back(app);
      if (ServesPeers(app)) serving.insert(app.record.id);
    }
    // The link server and the BitTorrent node start only for an app that runs with
    // peers: no open port and no traffic otherwise.
    if (looking.empty()) {
      Withdraw(serving);
      std::lock_guard lock(mu_);
      peers_.clear();
      return;
    }
    if (Status s = EnsureListening(); !s.ok()) {
      spdlog::error("peers: {}", s.message());
      return;
    }
    Expected<P2pNode*> node = parts_.p2p();
    if (node.ok()) {
      for (const auto& id : serving) {
        if (announced_.insert(id).second) {
          Status s = (*node)->Announce(P2pNode::PeerTopic(id), port_);
          if (!s.ok()) {
            spdlog::warn("peers: cannot announce {}: {}", id, s.message());
            announced_.erase(id);
          }
        }
      }
    }
    Withdraw(serving);
    for (const auto& app : looking) {
      if (Stopped()) return;
      Greet(app.record.id, node.ok() ? *node : nullptr);
    }
    // Apps no longer running have no peers.
    std::lock_guard lock(mu_);
    for (auto it = peers_.begin(); it != peers_.end();) {
      bool still = false;
      for (const auto& a : looking) still = still || a.record.id == it->first;
      it = still ? std::next(it) : peers_.erase(it);
    }
  }

  void Withdraw(const std::set<std::string>& keep) {
    if (announced_.size() == keep.size()) return;
    auto node = parts_.p2p();
    for (auto it = announced_.begin(); it != announced_.end();) {
      if (keep.contains(*it)) {
        ++it;
        continue;
      }
      if (node.ok()) (*node)->Withdraw(P2pNode::PeerTopic(*it));
      it = announced_.erase(it);
    }
  }

  void Greet(const std::string& app_id, P2pNode* node) {
    // The known peers first, over their pinned links.
    std::map<std::string, Peer> known;
    {
      std::lock_guard lock(mu_);
      known = peers_[app_id];
    }
    std::set<std::string> endpoints;
    const auto now = std::chrono::steady_clock::now();
    for (auto& [id, p] : known) {
      endpoints.insert(p.info.endpoint);
      if (Hello(p.channel, app_id).ok()) {
        p.answered = now;
        p.info.last_seen_unix_ms = UnixMs();
      }
    }
    // Then the DHT's endpoints not yet known: the link proves which node each is.
    if (node) {
      auto found = node->FindPeers(P2pNode::PeerTopic(app_id), kLookupTimeout);
      if (found.ok()) {
        for (const auto& e : *found) {
          const std::string endpoint = e.ip + ":" + std::to_string(e.port);
          if (endpoint == listen() || endpoints.contains(endpoint) || Stopped()) continue;
          auto probe = grpc::CreateCustomChannel(endpoint, LinkChannelCredentialsToAnyNode(key_),
                                                 LinkChannelArguments());
          auto id = Hello(probe, app_id);
          if (!id.ok()) continue;
          Peer p;
          p.info = PeerInfo{*id, endpoint, UnixMs()};
          p.channel = PinnedChannel(endpoint, *id);
          p.answered = now;
          known[*id] = std::move(p);
        }
      }
    }
    for (auto it = known.begin(); it != known.end();) {
      it = now - it->second.answered > options_.expiry ? known.erase(it) : std::next(it);
    }
    std::lock_guard lock(mu_);
    peers_[app_id] = std::move(known);
  }

  NodeKey key_;
  const std::string id_;
  PeerNetworkParts parts_;
  const PeerNetworkOptions options_;
  std::mutex limits_mu_;
  PeerLimits limits_;
  NodeService node_service_;
  IncomingCalls incoming_;
  // From the first app that runs with peers; the loop's thread (and Stop, after it ended).
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::thread thread_;
  std::set<std::string> announced_;  // The loop's thread only (and Stop, after it ended).

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::string listen_;  // Empty until the link server listens.
  bool stopped_ = false;
  std::map<std::string, std::map<std::string, Peer>> peers_;  // App id -> node id -> peer.
};

}  // namespace

Expected<std::unique_ptr<PeerNetwork>> PeerNetwork::Start(NodeKey key, PeerNetworkParts parts,
                                                          PeerNetworkOptions options) {
  auto net = std::make_unique<PeerNetworkImpl>(std::move(key), std::move(parts), std::move(options));
  net->StartLoop();
  return std::unique_ptr<PeerNetwork>(std::move(net));
}

}  // namespace mumba
