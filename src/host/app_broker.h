// SPDX-License-Identifier: Apache-2.0
// The broker's sockets: how one app's daemon gets a direct connection to another
// app. Each running app has a broker socket in its own run folder (its sandbox
// sees /run/mumba/broker.sock), a SOCK_SEQPACKET unix socket speaking
// proto/mumba/app/v1/broker.proto. A daemon asks for a target; the broker decides
// with the caller's grants and the callee's exports (broker/grants.h), makes a
// connected socket pair and hands one end to each side (SCM_RIGHTS), telling the
// callee who is on the other end. From then on the two speak gRPC to each other and
// the host sees none of it.
//
// Who asks is known by the kernel, never by the message: a connection to app A's
// broker socket is served only when its SO_PEERCRED pid belongs to a process tree
// the host started for A (as for the host socket, AppEndpoints). So an app cannot
// ask as another, and the callee learns the caller's id from the host alone.
//
// A daemon also asks here for a connection to the same app on another node (a
// target "node:<id>"): the peer network makes it (PeerNetwork::OpenTunnel) and the
// broker hands it over like any other, and closes it when the grant goes.
//
// The broker keeps one end of every connection it handed out (the callee's), so
// that revoking a grant closes open channels at once (shutdown wakes both sides)
// and so that a callee that exits leaves no caller waiting on a socket nobody
// reads.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "broker/grants.h"
#include "mumba/status.h"
#include "platform/unique_fd.h"

namespace mumba {

// What the broker needs of the rest of the host, passed in as functions so that it
// holds no pointer back to what owns it. Each is called from broker threads.
struct AppBrokerParts {
  // The pids whose process trees are app `app_id`'s (as AppEndpoints takes them).
  std::function<std::vector<pid_t>(const std::string& app_id)> allowed_roots;
  // Every installed app, as a possible callee.
  std::function<std::vector<Callee>()> callees;
  // What the owner granted app `app_id` (grants.h asks).
  std::function<std::set<std::string>(const std::string& app_id)> grants;
  // Starts app `app_id`'s daemon when it is not running and blocks until it serves
  // (or fails: its error is the caller's).
  std::function<Status(const std::string& app_id)> ensure_running;
  // A connection for app `app_id` to the same app on node `node` (a target
  // "node:<id>"; PeerNetwork::OpenTunnel, whose refusals are the caller's). Empty
  // while the host runs no peer network.
  std::function<Expected<UniqueFd>(const std::string& app_id, const std::string& node)> open_peer;
};

// A target that names another node: "node:<52-char node id>", for the same app there.
inline constexpr char kPeerTargetPrefix[] = "node:";

// Thread-safe.
class AppBroker {
 public:
  explicit AppBroker(AppBrokerParts parts);
  ~AppBroker();
  AppBroker(const AppBroker&) = delete;
  AppBroker& operator=(const AppBroker&) = delete;

  // Serves app `app_id`'s broker socket at `path` (mode 0600; one that exists is
  // replaced). OK when it already does. UNAVAILABLE when it cannot listen there.
  Status Serve(const std::string& app_id, const std::filesystem::path& path);
  // Stops serving app `app_id`'s socket and closes its broker connections and every
  // connection handed out to or from it. Nothing when there is none.
  void Drop(const std::string& app_id);
  // Drops every app's socket and connections (the host is stopping); Serve refuses
  // from then on.
  void DropAll();
  // Closes every connection handed to app `caller_id` that its grants no longer
  // allow (a grant was revoked). Returns how many were closed.
  int Recheck(const std::string& caller_id);

 private:
  struct Listener;
  struct Conn;
  struct Handed;
  void AcceptLoop(std::shared_ptr<Listener> listener);
  void ReadLoop(std::shared_ptr<Conn> conn);
  void HandleConnect(Conn& conn, uint64_t id, const std::string& target);
  // A connection to the same app on another node (target "node:<id>"), recorded
  // as handed to `caller_id`: the caller's end, or why not.
  Expected<UniqueFd> OpenPeer(const std::string& caller_id, const std::string& target);
  // Drops records of handed connections the caller has closed. mu_ held.
  void PruneLocked();

  AppBrokerParts parts_;
  std::mutex mu_;
  std::condition_variable accepting_cv_;  // A callee said it takes connections.
  bool stopping_ = false;
  std::map<std::string, std::shared_ptr<Listener>> listeners_;        // By app id.
  std::map<std::string, std::weak_ptr<Conn>> accepting_;              // Callees' listening connections.
  std::vector<std::shared_ptr<Handed>> handed_;
};

}  // namespace mumba
