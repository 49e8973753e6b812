// SPDX-License-Identifier: Apache-2.0
// The links between this host and other hosts, and the tunnels they carry
// (proto/mumba/peer/v1/node.proto): accepting links and answering their Open,
// greeting a node (Hello), and joining a daemon's socket to a link in either
// direction. Which nodes are peers of which app is PeerNetwork's business; this
// part only knows endpoints and node ids.
//
// Every byte another host sends is a stranger's: its Open is bounded and parsed
// as such, its tunnel's HTTP/2 passes the gate (peer/h2_gate.h), which asks
// `DecideCall` of each call before the daemon sees it, and a node refused too often
// is cut off (broker/peer_policy.h) for every app at once. The number of tunnels
// is bounded per node, per place (address) and in all, so a peer cannot make this host
// hold sockets without end, nor, with node keys made up by the dozen, take every
// tunnel this host can hold.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "broker/peer_policy.h"
#include "host/installed_apps.h"
#include "mumba/status.h"
#include "peer/h2_gate.h"
#include "peer/node_key.h"
#include "peer/tunnel.h"
#include "peer/tunnel_link.h"
#include "peer/tunnel_listener.h"
#include "platform/unique_fd.h"

namespace mumba {

// What the per-address bound on tunnels counts as one place: an IPv4 address
// itself; an IPv6 address by its /48, since a home is commonly given a /56 or a
// /48 and a host must not step around the bound with addresses of its own; a 6to4
// address (2002::/16) as the IPv4 address it is made from. `ip` as
// TlsLink::peer_address gives it; anything else is one place, "".
std::string AddressGroup(std::string_view ip);

struct PeerTunnelsParts {
  std::function<Expected<InstalledApp>(const std::string& id)> app;
  // Starts the app if it is not running; its daemon's socket.
  std::function<Expected<std::string>(const std::string& id)> ensure_running;
};

// Thread-safe.
class PeerTunnels {
 public:
  PeerTunnels(const NodeKey& key, PeerTunnelsParts parts);
  ~PeerTunnels();
  PeerTunnels(const PeerTunnels&) = delete;
  PeerTunnels& operator=(const PeerTunnels&) = delete;

  // Accepts links on `endpoint` ("IP:PORT", port 0: any); the port bound, or
  // UNAVAILABLE when it cannot listen there. Once only; again: the port bound.
  Expected<int> Listen(const std::string& endpoint);

  // Asks the node at `endpoint` whether it serves app `app_id` (a link pinned to
  // `expected_node`, or to whichever node is there when it is empty): the node id
  // the link proved. UNAVAILABLE when it cannot be reached or proves another key
  // than expected, FAILED_PRECONDITION when it is this node, NOT_FOUND when it
  // does not serve the app.
  Expected<std::string> Hello(const std::string& endpoint, const std::string& expected_node,
                              const std::string& app_id);

  // Opens a tunnel for app `app_id` to node `node` at `endpoint` and returns the
  // local end of it (non-blocking), for the app's daemon. RESOURCE_EXHAUSTED when
  // this host holds too many tunnels, UNAVAILABLE when the node cannot be reached
  // or proves another key, and the other host's refusal otherwise.
  Expected<UniqueFd> Open(const std::string& endpoint, const std::string& node, const std::string& app_id);

  // Stops accepting links and ends every tunnel (their sockets close). Idempotent.
  void Stop();

 private:
  struct Held;
  struct Opener;
  // An Open that passed the bounds check and whose tunnel is not kept yet.
  struct Pending {
    std::string node;
    std::string group;
  };
  // Counts an Open against the bounds from its check until it is destroyed, once
  // its tunnel is kept or refused: Opens answered at the same time cannot all pass
  // the check together. Borrows the list and its mutex (mu_).
  class PendingOpen {
   public:
    PendingOpen() = default;
    PendingOpen(std::mutex& mu, std::list<Pending>& list, std::list<Pending>::iterator it)
        : mu_(&mu), list_(&list), it_(it) {}
    PendingOpen(const PendingOpen&) = delete;
    PendingOpen& operator=(const PendingOpen&) = delete;
    PendingOpen& operator=(PendingOpen&& other) noexcept;
    ~PendingOpen();

   private:
    std::mutex* mu_ = nullptr;
    std::list<Pending>* list_ = nullptr;
    std::list<Pending>::iterator it_;
  };
  // Dials `endpoint` (pinned to `expected_node`, or any node when empty), sends an
  // Open for app `app_id` (a tunnel's when `calls`, else a Hello) and reads the
  // answer: the link, with `*serves` set from it when not null. UNAVAILABLE when the
  // node cannot be reached, proves another key or answers garbage,
  // FAILED_PRECONDITION when it is this node, and its refusal otherwise.
  Expected<std::unique_ptr<TlsLink>> Ask(const std::string& endpoint, const std::string& expected_node,
                                         const std::string& app_id, bool calls, bool* serves);
  // On the listener's thread, with the link's first message (its Open): answers a
  // Hello at once, and hands a tunnel's Open to a thread of its own (bounded),
  // since its app may have to start first.
  void OnLink(std::unique_ptr<TlsLink> link, std::string first_message);
  // Answers a tunnel's Open for app `app_id`; may start the app, so it may block.
  void AnswerCalls(std::unique_ptr<TlsLink> link, const std::string& app_id);
  // `group` is the link's AddressGroup.
  // On success `*pending` counts the Open against the bounds.
  Status AcceptCalls(TlsLink& link, const std::string& app_id, const std::string& group, UniqueFd* daemon,
                     PendingOpen* pending);
  // RESOURCE_EXHAUSTED when `node`, or place `group`, holds all the tunnels to this
  // node it may, counting those kept and those pending; else OK. Holds mu_.
  Status RoomFromLocked(const std::string& node, const std::string& group) const;
  // The dialer, made on first use; INTERNAL only if OpenSSL fails.
  Expected<LinkDialer*> Dialer();
  H2GateVerdict DecideCall(const std::string& app_id, const std::string& node, std::string_view path);
  // Keeps `tunnel` until it ends; drops ended ones. RESOURCE_EXHAUSTED (and
  // `tunnel` is not started) over the bounds.
  // `group` is the other side's AddressGroup for a tunnel it opened, else "".
  Status Keep(const std::string& node, std::string group, bool incoming, std::unique_ptr<TlsLink> link,
              UniqueFd local, std::unique_ptr<TunnelFilter> filter);

  const NodeKey& key_;
  const std::string id_;
  PeerTunnelsParts parts_;
  std::unique_ptr<LinkListener> listener_;
  int port_ = 0;
  std::optional<LinkDialer> dialer_;  // mu_.

  std::mutex limits_mu_;
  PeerLimits limits_;

  std::mutex mu_;
  bool stopped_ = false;
  std::list<std::unique_ptr<Held>> held_;
  std::list<std::unique_ptr<Opener>> openers_;  // Links whose Open is being answered.
  std::list<Pending> pending_;
};

}  // namespace mumba
