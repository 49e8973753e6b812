// SPDX-License-Identifier: Apache-2.0
#include "host/peer_network.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "host/peer_tunnels.h"

namespace mumba {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kLookupTimeout{1'500};

bool ServesPeers(const InstalledApp& app) {
  return app.Granted("peers") && !app.manifest->peer_exports.empty();
}

int64_t UnixMs() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class PeerNetworkImpl final : public PeerNetwork {
 public:
  PeerNetworkImpl(NodeKey key, PeerNetworkParts parts, PeerNetworkOptions options)
      : key_(std::move(key)),
        id_(key_.id()),
        parts_(std::move(parts)),
        options_(std::move(options)),
        tunnels_(key_, PeerTunnelsParts{parts_.app, parts_.ensure_running}) {}
  ~PeerNetworkImpl() override { Stop(); }

  void StartLoop() { thread_ = std::thread([this] { Loop(); }); }

  // Accepts links, once: the first time an app runs with peers, so a host without
  // such apps opens no port. The loop's thread only.
  Status EnsureListening() {
    if (port_ != 0) return {};
    MUMBA_ASSIGN_OR_RETURN(port_, tunnels_.Listen(options_.listen));
    std::lock_guard lock(mu_);
    listen_ = options_.listen.substr(0, options_.listen.rfind(':')) + ":" + std::to_string(port_);
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

  Expected<UniqueFd> OpenTunnel(const std::string& app_id, const std::string& node) override {
    MUMBA_ASSIGN_OR_RETURN(InstalledApp app, parts_.app(app_id));
    if (!app.Granted("peers")) return PermissionDenied(app.record.name + " was not granted peer calls");
    if (!ParseNodeId(node).ok()) return InvalidArgument("'" + node.substr(0, 80) + "' is not a node id (52 base32 characters)");
    std::string endpoint;
    {
      std::lock_guard lock(mu_);
      auto it = peers_.find(app_id);
      if (it != peers_.end()) {
        auto p = it->second.find(node);
        if (p != it->second.end()) endpoint = p->second.info.endpoint;
      }
    }
    if (endpoint.empty()) return NotFound("node " + node + " is no live peer of " + app.record.name);
    return tunnels_.Open(endpoint, node, app_id);
  }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    tunnels_.Stop();
    Withdraw({});
  }

 private:
  struct Peer {
    PeerInfo info;
    std::chrono::steady_clock::time_point answered;
  };

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
      if (tunnels_.Hello(p.info.endpoint, id, app_id).ok()) {
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
          // A link to whichever node is there: its handshake proves which one it is.
          auto id = tunnels_.Hello(endpoint, "", app_id);
          if (!id.ok()) continue;
          Peer p;
          p.info = PeerInfo{*id, endpoint, UnixMs()};
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
  PeerTunnels tunnels_;
  int port_ = 0;  // Where links are accepted, from the first app that runs with peers; the loop's thread.
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
