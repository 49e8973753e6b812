// SPDX-License-Identifier: Apache-2.0
// Per-app endpoints: the sockets each app's daemon serves on and reaches the host
// on, in the app's own run folder run/<id16>/. The host knows every call arriving on
// run/<id16>/host.sock comes from that app, so the services served there (storage,
// events, automation) act for that app alone. That is known by the kernel, not by
// the path: every connection's SO_PEERCRED pid must be this process itself (the
// host calls an app's storage for its pages) or belong to a process tree the host
// allows for that app (its daemon's); anything else is closed before gRPC sees a
// byte. This process counts as itself only, never as a tree: every app's daemon
// descends from it.
//
// One gRPC server serves every app's host socket (a server per app kept two polling
// threads each awake, most of an idle host's CPU). It has no listening port: each
// socket's accept thread checks a connection, records which app the connection's
// descriptor was accepted for, and only then hands the descriptor to the server.
// gRPC 1.51 names such a connection's peer "fd:<descriptor>" and keeps the
// descriptor open until the last call on it is destroyed (chttp2 closes its
// endpoint in the transport's destructor, and every stream holds the transport), so
// during a call its descriptor number still means its connection, and a number
// reused for a new connection is recorded again before gRPC sees it. A call whose
// peer is anything else, or a descriptor never recorded, is refused.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sys/types.h>

#include <string>
#include <vector>

#include "mumba/status.h"

namespace grpc {
class CallbackGenericService;
class Server;
class ServerContextBase;
class Service;
}  // namespace grpc

namespace mumba {

// The app a call on a host socket is for: the app whose socket its connection was
// accepted on. PERMISSION_DENIED when the call did not come through a host socket.
using AppOfCall = std::function<Expected<std::string>(const grpc::ServerContextBase&)>;

// The services every app's host socket serves, each finding its call's app with the
// AppOfCall it was made with. Owned by AppEndpoints, for as long as its server.
class EndpointServices {
 public:
  virtual ~EndpointServices() = default;
  virtual std::vector<grpc::Service*> services() = 0;
};
// Makes the services of the shared server; called each time that server is built
// (at the first Ensure, and again after a DropAll).
using EndpointServicesFactory = std::function<std::unique_ptr<EndpointServices>(AppOfCall app_of)>;
// The pids whose process trees may use app `app_id`'s host socket now (0 entries
// are ignored, and so is this process, which counts as itself only). Called from
// the endpoint's accept thread for each connection.
using AllowedRoots = std::function<std::vector<pid_t>(const std::string& app_id)>;

// Thread-safe.
class AppEndpoints {
 public:
  AppEndpoints(std::filesystem::path run_dir, EndpointServicesFactory factory, AllowedRoots allowed_roots);
  ~AppEndpoints();

  // run/<first 16 chars of the key>/: the app's own run folder, which holds its two
  // sockets and nothing else (its sandbox sees it as /run/mumba).
  std::filesystem::path RunDir(const std::string& app_id) const;
  // RunDir/app.sock: where the app's daemon makes its gRPC socket.
  std::filesystem::path ServeSocket(const std::string& app_id) const;
  // run/<id16>.app.sock: where the supervisor moves that socket once it appears, out
  // of the daemon's reach, and where the host calls it. In its own run folder the
  // daemon could later put a link to another app's socket in its place.
  std::filesystem::path DaemonSocket(const std::string& app_id) const;
  // RunDir/host.sock: where it reaches the host.
  std::filesystem::path HostSocket(const std::string& app_id) const;

  // Makes the app's run folder (0700) and serves its host socket there (at once
  // when it does already), building the shared server first when there is none;
  // returns the socket's path. Only connections from this process or the app's
  // allowed process trees are served, the others are closed and logged.
  // UNAVAILABLE when it cannot listen there or the server cannot start.
  Expected<std::filesystem::path> Ensure(const std::string& app_id);
  // Stops accepting on the app's host socket and removes it and the run folder.
  // Nothing if there is none. Connections already served stay the app's until they
  // close: the host's own, and its daemon's, which end with the daemon.
  void Drop(const std::string& app_id);
  // Drops every endpoint and shuts the shared server down, closing every connection
  // (the host is stopping).
  void DropAll();

  // The app whose host socket the connection of the call `ctx` was accepted on.
  // PERMISSION_DENIED for a call of any other server, or of a connection this
  // object did not hand over. Thread-safe; cheap (one lock, one map lookup).
  Expected<std::string> AppOf(const grpc::ServerContextBase& ctx) const;

 private:
  struct Endpoint;
  // Records that descriptor `fd` is a connection to `app_id`'s host socket and hands
  // it to `server`, which owns it from then on.
  void Serve(grpc::Server* server, const std::string& app_id, int fd);

  std::filesystem::path run_dir_;
  EndpointServicesFactory factory_;
  AllowedRoots allowed_roots_;
  std::mutex mu_;
  std::unique_ptr<EndpointServices> services_;  // The shared server's, built with it.
  std::unique_ptr<grpc::Server> server_;        // Built at the first Ensure.
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_;  // By id.
  // The app of each descriptor handed to the server, by descriptor number. An entry
  // is replaced when its number comes back from accept() for a new connection, which
  // the kernel does only once gRPC has closed the old one.
  mutable std::mutex connections_mu_;
  std::map<int, std::string> connection_apps_;
};

}  // namespace mumba
