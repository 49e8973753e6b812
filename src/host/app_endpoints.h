// SPDX-License-Identifier: Apache-2.0
// Per-app endpoints: the sockets each app's daemon serves on and reaches the host
// on, in the app's own run folder run/<id16>/. The host knows every call arriving on
// run/<id16>/host.sock comes from that
// app, so the services served there (storage, events, automation) act for that
// app alone. That is known by the kernel, not by the path: every connection's
// SO_PEERCRED pid must be this process itself (the host calls an app's storage for
// its pages) or belong to a process tree the host allows for that app (its daemon's);
// anything else is closed before gRPC sees a byte. This process counts as itself
// only, never as a tree: every app's daemon descends from it.
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
class Server;
class Service;
}  // namespace grpc

namespace mumba {

// The services one app's host socket serves. Owned by the endpoint.
class EndpointServices {
 public:
  virtual ~EndpointServices() = default;
  virtual std::vector<grpc::Service*> services() = 0;
};
// Makes the services for app `app_id`; called once per endpoint.
using EndpointServicesFactory = std::function<std::unique_ptr<EndpointServices>(const std::string& app_id)>;
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
  // RunDir/app.sock: where the app's daemon serves gRPC.
  std::filesystem::path DaemonSocket(const std::string& app_id) const;
  // RunDir/host.sock: where it reaches the host.
  std::filesystem::path HostSocket(const std::string& app_id) const;

  // Makes the app's run folder (0700) and serves its host socket there (at once
  // when it does already); returns the socket's path; only connections from this process or the app's allowed process trees
  // are served, the others are closed and logged. UNAVAILABLE when it cannot
  // listen there.
  Expected<std::filesystem::path> Ensure(const std::string& app_id);
  // Stops serving the app's host socket and removes it and the run folder. Nothing
  // if there is none.
  void Drop(const std::string& app_id);
  // Drops every endpoint (the host is stopping).
  void DropAll();

 private:
  struct Endpoint;
  std::filesystem::path run_dir_;
  EndpointServicesFactory factory_;
  AllowedRoots allowed_roots_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_;  // By id.
};

}  // namespace mumba
