// SPDX-License-Identifier: Apache-2.0
#include "host/peer_tunnels.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>

#include "common/peer_metadata.h"
#include "mumba/peer/v1/node.pb.h"
#include "platform/clock.h"
#include "platform/errno_status.h"
#include "platform/unix_listener.h"

namespace mumba {
namespace {

namespace pv1 = mumba::peer::v1;
using std::chrono::milliseconds;

// How long a dialled link may take to be made and answered, and how long the
// answer to an accepted tunnel's Open may wait for the peer to take it.
constexpr milliseconds kDialTimeout{3'000};
constexpr milliseconds kOpenTimeout{5'000};
// A reply says why not in a sentence.
constexpr size_t kMaxReplyBytes = 4096;
// Tunnels held at once: from one node (each is a daemon's connection to one app,
// and a daemon keeps one per peer), and in all.
constexpr size_t kMaxTunnelsPerNode = 16;
constexpr size_t kMaxTunnels = 1024;
// Tunnels opened from one place (AddressGroup): node keys cost nothing to make,
// so without this one host could take all kMaxTunnels with 64 of them and leave
// none for anyone else. Taking them all now needs 16 places. Nodes behind one
// carrier-grade NAT address share this many.
constexpr size_t kMaxTunnelsPerAddress = 64;
// Tunnels' Opens answered at once; more are refused (each holds a thread while its
// app starts, and for up to kOpenTimeout while the answer waits).
constexpr size_t kMaxOpening = 32;

bool ServesPeers(const InstalledApp& app) {
  return app.Granted("peers") && !app.manifest->peer_exports.empty();
}

// A connection to the daemon's socket at `path`, non-blocking, as the tunnel's
// pump needs.
Expected<UniqueFd> ConnectDaemon(const std::string& path) {
  UniqueFd fd = ConnectUnix(path, SOCK_STREAM);
  if (!fd) {
    const int err = errno;
    return ErrnoStatus(err, "connect " + path);
  }
  if (::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK) != 0) {
    const int err = errno;
    return ErrnoStatus(err, "fcntl");
  }
  return fd;
}

// A status another host sent: a code within gRPC's range (anything else is
// UNKNOWN) and a message of bounded length, said to come from that node.
Status FromRemote(const pv1::OpenReply& reply, const std::string& node) {
  const int code = reply.code();
  const auto c = code > 0 && code <= static_cast<int>(Code::kUnauthenticated) ? static_cast<Code>(code)
                                                                                   : Code::kUnknown;
  return Status(c, "node " + node + ": " + reply.message().substr(0, 300));
}

// Answers a link's Open with `st` and, for a Hello, whether this node serves the
// app; as TlsLink::WriteMessage fails.
Status Answer(TlsLink& link, const Status& st, bool serves, Clock::time_point deadline) {
  pv1::OpenReply reply;
  reply.set_code(static_cast<int>(st.code()));
  reply.set_message(st.message());
  reply.set_serves(serves);
  return link.WriteMessage(reply.SerializeAsString(), deadline);
}

}  // namespace

std::string AddressGroup(std::string_view ip) {
  const std::string text(ip);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return text;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) != 1) return "";
  char out[INET6_ADDRSTRLEN] = {};
  if (v6.s6_addr[0] == 0x20 && v6.s6_addr[1] == 0x02) {
    // 6to4 (2002::/16): the IPv4 address it is made from, which has 2^80 of them.
    std::memcpy(&v4, &v6.s6_addr[2], 4);
    return ::inet_ntop(AF_INET, &v4, out, sizeof(out)) ? out : "";
  }
  std::memset(&v6.s6_addr[6], 0, 10);
  if (!::inet_ntop(AF_INET6, &v6, out, sizeof(out))) return "";
  return std::string(out) + "/48";
}

// A tunnel and what it is to whom; `ended` is set by the tunnel's own thread.
struct PeerTunnels::Held {
  std::string node;
  std::string group;  // The other side's AddressGroup, for a tunnel it opened.
  bool incoming = false;
  std::shared_ptr<std::atomic<bool>> ended = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<Tunnel> tunnel;
};

struct PeerTunnels::Opener {
  std::atomic<bool> done{false};
  std::thread thread;
};

PeerTunnels::PeerTunnels(const NodeKey& key, PeerTunnelsParts parts)
    : key_(key), id_(key.id()), parts_(std::move(parts)) {}

PeerTunnels::~PeerTunnels() { Stop(); }

Expected<int> PeerTunnels::Listen(const std::string& endpoint) {
  std::lock_guard lock(mu_);
  if (stopped_) return Unavailable("the host is stopping");
  if (listener_) return port_;
  auto listener = LinkListener::Listen(key_, endpoint);
  if (!listener.ok()) return Unavailable("cannot accept links on " + endpoint + ": " + listener.status().message());
  MUMBA_TRY((*listener)->Serve(
      [this](std::unique_ptr<TlsLink> link, std::string first) { OnLink(std::move(link), std::move(first)); }));
  listener_ = std::move(*listener);
  port_ = listener_->port();
  return port_;
}

Expected<std::unique_ptr<TlsLink>> PeerTunnels::Ask(const std::string& endpoint, const std::string& expected_node,
                                                     const std::string& app_id, bool calls, bool* serves) {
  const auto deadline = Clock::Real().Now() + kDialTimeout;
  MUMBA_ASSIGN_OR_RETURN(LinkDialer * dialer, Dialer());
  MUMBA_ASSIGN_OR_RETURN(std::unique_ptr<TlsLink> link, dialer->Dial(endpoint, expected_node, kDialTimeout));
  const std::string& node = link->peer_node();
  if (node == id_) return FailedPrecondition("that is this node");
  pv1::Open open;
  open.set_app(app_id);
  open.set_purpose(calls ? pv1::Open::CALLS : pv1::Open::HELLO);
  MUMBA_TRY(link->WriteMessage(open.SerializeAsString(), deadline));
  MUMBA_ASSIGN_OR_RETURN(std::string bytes, link->ReadMessage(kMaxReplyBytes, deadline));
  pv1::OpenReply reply;
  if (!reply.ParseFromString(bytes)) return Unavailable("node " + node + " answered garbage");
  if (reply.code() != 0) return FromRemote(reply, node);
  if (serves) *serves = reply.serves();
  return link;
}

Expected<std::string> PeerTunnels::Hello(const std::string& endpoint, const std::string& expected_node,
                                          const std::string& app_id) {
  bool serves = false;
  MUMBA_ASSIGN_OR_RETURN(std::unique_ptr<TlsLink> link, Ask(endpoint, expected_node, app_id, false, &serves));
  if (!serves) return NotFound("the node does not serve the app");
  return link->peer_node();
}

Expected<UniqueFd> PeerTunnels::Open(const std::string& endpoint, const std::string& node,
                                     const std::string& app_id) {
  MUMBA_ASSIGN_OR_RETURN(std::unique_ptr<TlsLink> link, Ask(endpoint, node, app_id, true, nullptr));
  int pair[2];
  // Non-blocking, as gRPC's event loop needs the descriptors it is given to be.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) {
    return ErrnoStatus(errno, "socketpair");
  }
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  MUMBA_TRY(Keep(node, "", /*incoming=*/false, std::move(link), std::move(ours), nullptr));
  return theirs;
}

Expected<LinkDialer*> PeerTunnels::Dialer() {
  std::lock_guard lock(mu_);
  if (!dialer_) {
    MUMBA_ASSIGN_OR_RETURN(LinkDialer dialer, LinkDialer::Make(key_));
    dialer_.emplace(std::move(dialer));
  }
  return &*dialer_;
}

void PeerTunnels::OnLink(std::unique_ptr<TlsLink> link, std::string first_message) {
  const std::string node = link->peer_node();
  // The listener's thread may not wait for the peer: a short answer is taken by
  // the kernel at once, so this deadline only bounds a peer that reads nothing.
  const auto deadline = Clock::Real().Now() + std::chrono::milliseconds(100);
  auto answer = [&](const Status& st, bool serves = false) { (void)Answer(*link, st, serves, deadline); };
  pv1::Open open;
  if (!open.ParseFromString(first_message)) {
    std::lock_guard lock(limits_mu_);
    limits_.Strike(node, Clock::Real().Now());
    return;
  }
  {
    std::lock_guard lock(limits_mu_);
    if (limits_.CutOff(node, Clock::Real().Now())) {
      return answer(Unavailable("this node is cut off for a while: too many refused calls"));
    }
  }
  if (open.purpose() != pv1::Open::CALLS) {
    auto app = parts_.app(open.app());
    return answer(Status(), app.ok() && ServesPeers(*app));
  }
  std::list<std::unique_ptr<Opener>> finished;
  std::lock_guard lock(mu_);
  if (stopped_) return;
  for (auto it = openers_.begin(); it != openers_.end();) {
    if ((*it)->done) {
      finished.push_back(std::move(*it));
      it = openers_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& f : finished) f->thread.join();
  if (openers_.size() >= kMaxOpening) return answer(Unavailable("this node is busy opening tunnels; try again"));
  auto opener = std::make_unique<Opener>();
  Opener* o = opener.get();
  opener->thread = std::thread([this, o, link = std::move(link), app_id = open.app()]() mutable {
    AnswerCalls(std::move(link), app_id);
    o->done = true;
  });
  openers_.push_back(std::move(opener));
}

void PeerTunnels::AnswerCalls(std::unique_ptr<TlsLink> link, const std::string& app_id) {
  const std::string node = link->peer_node();
  const auto deadline = Clock::Real().Now() + kOpenTimeout;
  UniqueFd daemon;
  // Read once: a peer that resets its connection later must not land in group "".
  const std::string group = AddressGroup(link->peer_address());
  PendingOpen pending;  // Held until the tunnel is kept or refused, at the end.
  if (Status st = AcceptCalls(*link, app_id, group, &daemon, &pending); !st.ok()) {
    (void)Answer(*link, st, false, deadline);
    return;
  }
  auto gate = std::make_unique<H2Gate>(
      [this, app_id, node](std::string_view path) { return DecideCall(app_id, node, path); },
      H2Gate::Headers{{kPeerNodeMetadata, node}});
  if (Status st = Answer(*link, Status(), false, deadline); !st.ok()) return;
  if (Status st = Keep(node, group, /*incoming=*/true, std::move(link), std::move(daemon), std::move(gate));
      !st.ok()) {
    spdlog::warn("peers: a tunnel from node {} was dropped: {}", node, st.message());
  }
}

Status PeerTunnels::AcceptCalls(TlsLink& link, const std::string& app_id, const std::string& group,
                                UniqueFd* daemon, PendingOpen* pending) {
  auto app = parts_.app(app_id);
  if (!app.ok() || !ServesPeers(*app)) {
    std::lock_guard lock(limits_mu_);
    limits_.Strike(link.peer_node(), Clock::Real().Now());
    return app.ok() ? PermissionDenied("this node does not take peer calls for " + app->record.name)
                    : NotFound("this node does not have that app");
  }
  {
    // Before the app is started for it.
    std::lock_guard lock(mu_);
    MUMBA_TRY(RoomFromLocked(link.peer_node(), group));
    // `*pending` holds none yet, so the temporary it is swapped with ends empty and
    // does not take the lock held here.
    *pending = PendingOpen(mu_, pending_, pending_.insert(pending_.end(), {link.peer_node(), group}));
  }
  MUMBA_ASSIGN_OR_RETURN(std::string socket, parts_.ensure_running(app->record.id));
  MUMBA_ASSIGN_OR_RETURN(*daemon, ConnectDaemon(socket));
  return {};
}

H2GateVerdict PeerTunnels::DecideCall(const std::string& app_id, const std::string& node, std::string_view path) {
  // The app as it is now: a grant revoked or an update takes effect on the next call.
  auto app = parts_.app(app_id);
  auto decision = DecidePeerCall(app.ok() ? app->manifest.get() : nullptr, app.ok() && app->Granted("peers"), path);
  const auto now = Clock::Real().Now();
  std::lock_guard lock(limits_mu_);
  if (limits_.CutOff(node, now)) {
    return {Unavailable("this node is cut off for a while: too many refused calls"), true};
  }
  if (!decision.ok()) {
    limits_.Strike(node, now);
    return {decision.status(), limits_.CutOff(node, now)};
  }
  if (!limits_.Allow(node, decision->service, decision->calls_per_second, now)) {
    return {ResourceExhausted(decision->service + " takes at most " + std::to_string(decision->calls_per_second) +
                              " calls a second from one node"),
            limits_.CutOff(node, now)};
  }
  return {};
}

PeerTunnels::PendingOpen& PeerTunnels::PendingOpen::operator=(PendingOpen&& other) noexcept {
  std::swap(mu_, other.mu_);
  std::swap(list_, other.list_);
  std::swap(it_, other.it_);
  return *this;
}

PeerTunnels::PendingOpen::~PendingOpen() {
  if (!list_) return;
  std::lock_guard lock(*mu_);
  list_->erase(it_);
}

Status PeerTunnels::RoomFromLocked(const std::string& node, const std::string& group) const {
  size_t from_node = 0;
  size_t from_group = 0;
  for (const auto& h : held_) {
    if (!h->incoming || *h->ended) continue;
    from_node += h->node == node;
    from_group += h->group == group;
  }
  // A pending Open whose tunnel was just kept is counted twice for a moment: a
  // refusal too many then, never a tunnel too many.
  for (const auto& p : pending_) {
    from_node += p.node == node;
    from_group += p.group == group;
  }
  if (from_node >= kMaxTunnelsPerNode) {
    return ResourceExhausted("a node may hold " + std::to_string(kMaxTunnelsPerNode) + " tunnels to this one");
  }
  if (from_group >= kMaxTunnelsPerAddress) {
    return ResourceExhausted("one address may hold " + std::to_string(kMaxTunnelsPerAddress) +
                             " tunnels to this node");
  }
  return {};
}

Status PeerTunnels::Keep(const std::string& node, std::string group, bool incoming, std::unique_ptr<TlsLink> link,
                         UniqueFd local, std::unique_ptr<TunnelFilter> filter) {
  std::vector<std::unique_ptr<Held>> ended;
  std::lock_guard lock(mu_);
  if (stopped_) return Unavailable("the host is stopping");
  // Ended tunnels go now; their threads have finished or are finishing.
  for (auto it = held_.begin(); it != held_.end();) {
    if (*(*it)->ended) {
      ended.push_back(std::move(*it));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  if (held_.size() >= kMaxTunnels) {
    return ResourceExhausted("this host holds " + std::to_string(kMaxTunnels) + " tunnels already");
  }
  auto held = std::make_unique<Held>();
  held->node = node;
  held->group = std::move(group);
  held->incoming = incoming;
  MUMBA_ASSIGN_OR_RETURN(held->tunnel,
                         Tunnel::Start(std::move(link), std::move(local), std::move(filter),
                                       [ended_flag = held->ended](const Status&) { *ended_flag = true; }));
  held_.push_back(std::move(held));
  return {};
}

void PeerTunnels::Stop() {
  std::unique_ptr<LinkListener> listener;
  std::list<std::unique_ptr<Opener>> openers;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    listener = std::move(listener_);
  }
  // No new link from here on; the ones being answered end within kOpenTimeout
  // (or when their app started), and find the host stopping.
  if (listener) listener->Stop();
  {
    std::lock_guard lock(mu_);
    openers = std::move(openers_);
  }
  for (auto& o : openers) o->thread.join();
  std::list<std::unique_ptr<Held>> held;
  {
    std::lock_guard lock(mu_);
    held = std::move(held_);
  }
  for (auto& h : held) h->tunnel->Stop();
}

}  // namespace mumba
