// SPDX-License-Identifier: Apache-2.0
#include "host/app_broker.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/hung_up.h"
#include "common/packet_socket.h"
#include "mumba/app/v1/broker.pb.h"
#include "platform/peer_credentials.h"
#include "platform/unique_fd.h"
#include "platform/unix_listener.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

namespace av1 = mumba::app::v1;

// A target longer than this names nothing installed.
constexpr size_t kMaxTargetChars = 512;
// The broker keeps a descriptor per open connection: an app may hold this many at
// once, so that one asking in a loop cannot take the host's descriptors.
constexpr int kMaxOpenPerCaller = 256;
// How long a connection waits for a callee that serves to say it takes them.
constexpr auto kListenWait = std::chrono::seconds(3);

std::string Serialized(const av1::BrokerReply& reply) {
  std::string out;
  reply.SerializeToString(&out);
  return out;
}

}  // namespace

struct AppBroker::Listener {
  std::string app_id;
  fs::path path;
  UniqueFd fd;
  std::atomic<bool> stopping{false};
  std::thread acceptor;
  std::mutex mu;
  std::vector<std::shared_ptr<Conn>> conns;
};

struct AppBroker::Conn {
  std::string app_id;
  UniqueFd fd;
  std::mutex write_mu;
  std::thread reader;
  std::atomic<bool> done{false};  // The reader returned; the daemon is gone.

  Status Send(const av1::BrokerReply& reply, int pass_fd = -1) {
    std::lock_guard lock(write_mu);
    return SendPacket(fd.get(), Serialized(reply), pass_fd);
  }
};

// One connection the broker handed out: the callee's end is kept to close it.
struct AppBroker::Handed {
  std::string caller;
  std::string callee;  // An app id, or "node:<id>" for a connection to another node.
  std::vector<std::string> services;
  // The callee's end; for a connection to another node, the broker's own
  // descriptor of the caller's end (the other end is the tunnel's).
  UniqueFd callee_end;
};

AppBroker::AppBroker(AppBrokerParts parts) : parts_(std::move(parts)) {}

AppBroker::~AppBroker() { DropAll(); }

void AppBroker::DropAll() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (const auto& [id, l] : listeners_) ids.push_back(id);
  }
  accepting_cv_.notify_all();
  for (const auto& id : ids) Drop(id);
}

Status AppBroker::Serve(const std::string& app_id, const fs::path& path) {
  std::lock_guard lock(mu_);
  if (stopping_) return Unavailable("the host is stopping");
  if (listeners_.contains(app_id)) return Status();
  auto l = std::make_shared<Listener>();
  l->app_id = app_id;
  l->path = path;
  ::unlink(path.c_str());
  l->fd = ListenUnix(path, SOCK_SEQPACKET);
  if (!l->fd) return Unavailable("cannot listen on " + path.string() + ": " + std::strerror(errno));
  l->acceptor = std::thread([this, l] { AcceptLoop(l); });
  listeners_[app_id] = l;
  return Status();
}

void AppBroker::Drop(const std::string& app_id) {
  std::shared_ptr<Listener> l;
  std::vector<std::shared_ptr<Handed>> closing;
  {
    std::lock_guard lock(mu_);
    auto it = listeners_.find(app_id);
    if (it != listeners_.end()) {
      l = it->second;
      listeners_.erase(it);
    }
    accepting_.erase(app_id);
    std::erase_if(handed_, [&](const std::shared_ptr<Handed>& h) {
      if (h->caller != app_id && h->callee != app_id) return false;
      closing.push_back(h);
      return true;
    });
  }
  for (const auto& h : closing) ::shutdown(h->callee_end.get(), SHUT_RDWR);
  if (!l) return;
  l->stopping = true;
  ::shutdown(l->fd.get(), SHUT_RDWR);
  if (l->acceptor.joinable()) l->acceptor.join();
  std::vector<std::shared_ptr<Conn>> conns;
  {
    std::lock_guard lock(l->mu);
    conns.swap(l->conns);
  }
  for (const auto& c : conns) ::shutdown(c->fd.get(), SHUT_RDWR);
  for (const auto& c : conns) {
    if (c->reader.joinable()) c->reader.join();
  }
  std::error_code ec;
  fs::remove(l->path, ec);
}

void AppBroker::AcceptLoop(std::shared_ptr<Listener> l) {
  while (!l->stopping) {
    int fd = ::accept4(l->fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (l->stopping || errno == EINVAL) return;
      std::this_thread::sleep_for(kPeerCheckRetryDelay);
      continue;
    }
    UniqueFd conn_fd(fd);
    auto pid = PeerPid(conn_fd.get());
    // The SDK connects first thing in Run, maybe before the supervisor published the pid.
    if (!pid || !DescendsFromAnyWithin(*pid, [&] { return parts_.allowed_roots(l->app_id); }, l->stopping)) {
      spdlog::warn("refused a connection to the broker socket of {} from pid {}: not a process of that app",
                   l->app_id, pid ? *pid : 0);
      continue;
    }
    auto conn = std::make_shared<Conn>();
    conn->app_id = l->app_id;
    conn->fd = std::move(conn_fd);
    std::lock_guard lock(l->mu);
    // Connections whose daemon went away have finished reading; let them go.
    std::erase_if(l->conns, [](const std::shared_ptr<Conn>& c) {
      if (!c->done) return false;
      if (c->reader.joinable()) c->reader.join();
      return true;
    });
    l->conns.push_back(conn);
    conn->reader = std::thread([this, conn] { ReadLoop(conn); });
  }
}

void AppBroker::ReadLoop(std::shared_ptr<Conn> conn) {
  for (;;) {
    auto packet = RecvPacket(conn->fd.get());
    if (!packet.ok()) break;
    av1::BrokerRequest req;
    // A descriptor sent to the broker is never used: it is closed with the packet.
    if (!req.ParseFromString(packet->bytes)) {
      spdlog::warn("broker: app {} sent a message that is not a BrokerRequest; closing its connection",
                   conn->app_id);
      break;
    }
    if (req.has_listen()) {
      std::lock_guard lock(mu_);
      accepting_[conn->app_id] = conn;
      accepting_cv_.notify_all();
    } else if (req.has_connect()) {
      HandleConnect(*conn, req.connect().id(), req.connect().target());
    }
  }
  // The daemon is gone (or broke the protocol): connections handed to it as a
  // callee end now, so that no caller waits on a socket nobody reads.
  std::vector<std::shared_ptr<Handed>> closing;
  {
    std::lock_guard lock(mu_);
    if (auto it = accepting_.find(conn->app_id); it != accepting_.end() && it->second.lock() == conn) {
      accepting_.erase(it);
      std::erase_if(handed_, [&](const std::shared_ptr<Handed>& h) {
        if (h->callee != conn->app_id) return false;
        closing.push_back(h);
        return true;
      });
    }
  }
  for (const auto& h : closing) ::shutdown(h->callee_end.get(), SHUT_RDWR);
  ::shutdown(conn->fd.get(), SHUT_RDWR);
  conn->done = true;
}

void AppBroker::HandleConnect(Conn& conn, uint64_t id, const std::string& target) {
  av1::BrokerReply reply;
  auto* r = reply.mutable_connect();
  r->set_id(id);
  auto refuse = [&](const Status& st) {
    r->set_code(static_cast<int>(st.code()));
    r->set_message(st.message());
    (void)conn.Send(reply);
  };
  if (target.size() > kMaxTargetChars) return refuse(InvalidArgument("connect: target too long"));
  {
    std::lock_guard lock(mu_);
    PruneLocked();
    int open = 0;
    for (const auto& h : handed_) open += h->caller == conn.app_id;
    if (open >= kMaxOpenPerCaller) {
      return refuse(ResourceExhausted("an app may hold " + std::to_string(kMaxOpenPerCaller) +
                                      " connections at once; close some first"));
    }
  }
  if (target.starts_with(kPeerTargetPrefix)) {
    auto caller_end = OpenPeer(conn.app_id, target);
    if (!caller_end.ok()) return refuse(caller_end.status());
    r->set_callee_id(conn.app_id);
    (void)conn.Send(reply, caller_end->get());
    return;
  }
  const std::vector<Callee> apps = parts_.callees();
  auto decision = DecideConnection(target, conn.app_id, parts_.grants(conn.app_id), apps);
  if (!decision.ok()) return refuse(decision.status());
  const std::string& callee = decision->callee.id;
  // A stopped callee is started, as routes and calls start it; its SDK says it
  // accepts connections before its socket appears, so once it serves it listens.
  if (Status st = parts_.ensure_running(callee); !st.ok()) {
    return refuse(Unavailable("cannot start " + decision->callee.name + ": " + st.message()));
  }
  // A daemon that just started says it listens on its own connection, which the
  // broker may not have read yet (its pid is checked first): give it a moment.
  std::shared_ptr<Conn> callee_conn;
  {
    std::unique_lock lock(mu_);
    accepting_cv_.wait_for(lock, kListenWait, [&] {
      if (auto it = accepting_.find(callee); it != accepting_.end()) callee_conn = it->second.lock();
      return callee_conn != nullptr || stopping_;
    });
  }
  if (!callee_conn) {
    return refuse(FailedPrecondition(decision->callee.name +
                                     " does not take connections from other apps (its daemon does not use the "
                                     "Mumba SDK's broker)"));
  }
  int pair[2];
  // Non-blocking, as gRPC's event loop needs the descriptors it is given to be.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) {
    return refuse(Unavailable(std::string("socketpair: ") + std::strerror(errno)));
  }
  UniqueFd caller_end(pair[0]);
  UniqueFd callee_end(pair[1]);
  av1::BrokerReply incoming;
  auto* in = incoming.mutable_incoming();
  in->set_caller_id(conn.app_id);
  for (const auto& c : apps) {
    if (c.id == conn.app_id) in->set_caller_name(c.name);
  }
  for (const auto& s : decision->services) in->add_services(s);
  if (Status st = callee_conn->Send(incoming, callee_end.get()); !st.ok()) {
    return refuse(Unavailable(decision->callee.name + " is not reachable: " + st.message()));
  }
  auto handed = std::make_shared<Handed>();
  handed->caller = conn.app_id;
  handed->callee = callee;
  handed->services = decision->services;
  handed->callee_end = std::move(callee_end);
  {
    std::lock_guard lock(mu_);
    PruneLocked();
    handed_.push_back(handed);
  }
  r->set_callee_id(callee);
  r->set_callee_name(decision->callee.name);
  r->set_message(decision->note);
  for (const auto& s : decision->services) r->add_services(s);
  (void)conn.Send(reply, caller_end.get());
}

Expected<UniqueFd> AppBroker::OpenPeer(const std::string& caller_id, const std::string& target) {
  if (!parts_.open_peer) return Unavailable("this host runs no peer network");
  MUMBA_ASSIGN_OR_RETURN(UniqueFd caller_end,
                         parts_.open_peer(caller_id, target.substr(std::string_view(kPeerTargetPrefix).size())));
  // The broker keeps its own descriptor of the caller's end: shutting it down when
  // the peers grant is revoked (Recheck) closes the connection for the daemon and,
  // through the tunnel, for the other node.
  auto handed = std::make_shared<Handed>();
  handed->caller = caller_id;
  handed->callee = target;
  handed->callee_end = UniqueFd(::fcntl(caller_end.get(), F_DUPFD_CLOEXEC, 0));
  if (!handed->callee_end) return Unavailable(std::string("dup: ") + std::strerror(errno));
  std::lock_guard lock(mu_);
  handed_.push_back(handed);
  return caller_end;
}

int AppBroker::Recheck(const std::string& caller_id) {
  const std::set<std::string> granted = parts_.grants(caller_id);
  const std::vector<Callee> callees = parts_.callees();
  std::vector<std::shared_ptr<Handed>> closing;
  {
    std::lock_guard lock(mu_);
    std::erase_if(handed_, [&](const std::shared_ptr<Handed>& h) {
      if (h->caller != caller_id) return false;
      if (h->callee.starts_with(kPeerTargetPrefix)) {
        if (granted.contains("peers")) return false;
        closing.push_back(h);
        return true;
      }
      std::vector<std::string> allowed;
      for (const auto& c : callees) {
        if (c.id == h->callee) allowed = AllowedServices(granted, c);
      }
      // Still allowed only when every service it serves still is.
      bool still = true;
      for (const auto& s : h->services) {
        still = still && std::find(allowed.begin(), allowed.end(), s) != allowed.end();
      }
      if (still) return false;
      closing.push_back(h);
      return true;
    });
  }
  for (const auto& h : closing) ::shutdown(h->callee_end.get(), SHUT_RDWR);
  return static_cast<int>(closing.size());
}

void AppBroker::PruneLocked() {
  std::erase_if(handed_, [](const std::shared_ptr<Handed>& h) { return HungUp(h->callee_end.get()); });
}

}  // namespace mumba
