// SPDX-License-Identifier: Apache-2.0
// The host's side of app UIs: the gateway serving every app's pages, and the
// events a daemon pushes to them.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "broker/daemon_client.h"
#include "broker/transcoder.h"
#include "common/work_queue.h"
#include "gateway/gateway.h"
#include "host/app_endpoints.h"
#include "host/app_lifecycle.h"
#include "host/installed_apps.h"
#include "mumba/status.h"
#include "mumba/ui/v1/events.grpc.pb.h"

namespace mumba {

class HomeApp;

// Each app origin's secret, which its windows hold as a cookie and without which
// the gateway refuses it everything but its static files (gateway.h). Made from 32
// random bytes on first use, held only in this process's memory (never in a file,
// an environment, a command line, a URL or a log) and new at every host start.
// Thread-safe.
class GatewaySecrets {
 public:
  // The secret of app `app_id` (64 lowercase hex digits), the same until Forget.
  std::string For(const std::string& app_id);
  // Drops the app's secret (it was uninstalled): a later For makes a new one.
  void Forget(const std::string& app_id);

 private:
  std::mutex mu_;
  std::map<std::string, std::string> secrets_;  // By app id.
};

// Where an app's pages come from while its author works on it (`mumba dev`): its
// source folder's ui/ instead of its installed bundle's. Set only by the owner over
// host.sock, held in memory, gone when the host stops. Thread-safe.
class DevUiDirs {
 public:
  // The folder to serve app `app_id`'s pages from instead of its bundle's, or "".
  std::filesystem::path For(const std::string& app_id) const;
  // Serves app `app_id`'s pages from `dir` (absolute); an empty `dir` goes back to
  // the bundle's.
  void Set(const std::string& app_id, const std::filesystem::path& dir);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::filesystem::path> dirs_;  // By app id.
};

// Serves the gateway's requests from the host's apps. Thread-safe.
class HostGatewayBackend final : public GatewayBackend {
 public:
  // The parts it serves from; all borrowed, they must outlive the backend.
  struct Parts {
    InstalledApps& apps;
    AppLifecycle& lifecycle;
    AppEndpoints& endpoints;
    DaemonClient& daemons;
    GatewaySecrets& secrets;  // Each app's secret, which FindApp hands the gateway.
    const DevUiDirs& dev_ui;  // Apps whose pages come from a source folder.
    HomeApp* home = nullptr;  // The host's home app, when it has one.
  };
  // Pages reach their app's storage through mumba.call on mumba.storage.v1 methods
  // (unary ones), answered on the app's host socket with exactly the access its
  // daemon has.
  static Expected<std::unique_ptr<HostGatewayBackend>> Create(Parts parts);
  Expected<GatewayApp> FindApp(const std::string& label) override;
  void Route(const std::string& app_id, mumba::app::v1::RouteRequest request,
             std::function<void(Expected<mumba::app::v1::RouteResponse>)> done) override;
  void Call(const std::string& app_id, const std::string& method, std::string json,
            std::function<void(Expected<std::string>)> done) override;
  void DaemonChannel(const std::string& app_id,
                     std::function<void(Expected<std::shared_ptr<grpc::Channel>>)> done) override;

 private:
  HostGatewayBackend(Parts parts, std::shared_ptr<const Transcoder> storage)
      : parts_(parts), storage_(std::move(storage)), work_(2) {}
  Parts parts_;
  std::shared_ptr<const Transcoder> storage_;
  WorkQueue work_;  // Starts daemons that are not running yet, off the gateway's threads.
};

// The gateway on the port config.toml's [gateway] port names. With port 0 the host
// reuses the port it picked last time (recorded in `port_file`), so that pages keep
// their origin and with it their browser storage, and picks a new one only if that
// one is taken. `limits` are [gateway]'s too.
Expected<std::unique_ptr<Gateway>> StartGateway(int configured_port, const GatewayLimits& limits,
                                                const std::filesystem::path& port_file, GatewayBackend* backend);

// Where events for pages go: the gateway once it serves, nowhere before.
// Thread-safe.
class PageEvents {
 public:
  // `gateway` is borrowed and must outlive this object (the host keeps it until
  // the end, stopped or not).
  void Attach(Gateway* gateway) { gateway_ = gateway; }
  // Sends the event to every events socket of the app's pages and returns how many
  // there were. UNAVAILABLE before the gateway serves; RESOURCE_EXHAUSTED for an
  // event larger than the gateway sends (GatewayLimits::max_event_bytes).
  Expected<int> Emit(const std::string& app_id, const std::string& event, const std::string& json);

 private:
  std::atomic<Gateway*> gateway_{nullptr};
};

// mumba.ui.v1.Events on the apps' host sockets: each call emits to the pages of the
// app whose socket it came through.
class EventsService final : public mumba::ui::v1::Events::Service {
 public:
  // `events` is borrowed and must outlive the service; `app_of` tells each call's
  // app (a call it cannot place is refused with its error).
  EventsService(PageEvents& events, AppOfCall app_of) : events_(events), app_of_(std::move(app_of)) {}
  grpc::Status Emit(grpc::ServerContext* ctx, const mumba::ui::v1::EmitRequest* req,
                    mumba::ui::v1::EmitResponse* resp) override;

 private:
  PageEvents& events_;
  AppOfCall app_of_;
};

}  // namespace mumba
