// SPDX-License-Identifier: Apache-2.0
// The host's side of app UIs: the gateway serving every app's pages, and the
// events a daemon pushes to them.
#pragma once

#include <memory>
#include <string>

#include "broker/transcoder.h"
#include "common/work_queue.h"
#include "gateway/gateway.h"
#include "mumba/status.h"
#include "mumba/ui/v1/events.grpc.pb.h"

namespace mumba {

class Host;

// Serves the gateway's requests from the host's apps. Thread-safe.
class HostGatewayBackend final : public GatewayBackend {
 public:
  // `host` is borrowed. Pages reach their app's storage through mumba.call on
  // mumba.storage.v1 methods (unary ones), answered on the app's host socket with
  // exactly the access its daemon has.
  static Expected<std::unique_ptr<HostGatewayBackend>> Create(Host* host);
  Expected<GatewayApp> FindApp(const std::string& label) override;
  void Route(const std::string& app_id, mumba::app::v1::RouteRequest request,
             std::function<void(Expected<mumba::app::v1::RouteResponse>)> done) override;
  void Call(const std::string& app_id, const std::string& method, std::string json,
            std::function<void(Expected<std::string>)> done) override;
  void DaemonChannel(const std::string& app_id,
                     std::function<void(Expected<std::shared_ptr<grpc::Channel>>)> done) override;

 private:
  HostGatewayBackend(Host* host, std::shared_ptr<const Transcoder> storage)
      : host_(host), storage_(std::move(storage)), work_(2) {}
  Host* host_;
  std::shared_ptr<const Transcoder> storage_;
  WorkQueue work_;  // Starts daemons that are not running yet, off the gateway's threads.
};

// The gateway on the port config.toml's [gateway] port names. With port 0 the host
// reuses the port it picked last time (recorded in `port_file`), so that pages keep
// their origin and with it their browser storage, and picks a new one only if that
// one is taken.
Expected<std::unique_ptr<Gateway>> StartGateway(int configured_port, const std::filesystem::path& port_file,
                                                GatewayBackend* backend);

// mumba.ui.v1.Events for one app, on its host socket.
class EventsService final : public mumba::ui::v1::Events::Service {
 public:
  EventsService(Host* host, std::string app_id) : host_(host), app_id_(std::move(app_id)) {}
  grpc::Status Emit(grpc::ServerContext*, const mumba::ui::v1::EmitRequest* req,
                    mumba::ui::v1::EmitResponse* resp) override;

 private:
  Host* host_;
  std::string app_id_;
};

}  // namespace mumba
