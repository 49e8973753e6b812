// SPDX-License-Identifier: Apache-2.0
// mumba.host.v1.Control over gRPC: a thin adapter from requests onto the host's
// parts (installer, lifecycle, windows, distribution).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "broker/daemon_client.h"
#include "common/paths.h"
#include "common/work_queue.h"
#include "host/app_lifecycle.h"
#include "host/app_windows.h"
#include "host/distribution.h"
#include "host/installer.h"
#include "host/peer_network.h"
#include "host/ui.h"
#include "host/windows.h"
#include "mumba/host/v1/control.grpc.pb.h"

namespace mumba {

class ControlService final : public mumba::host::v1::Control::CallbackService {
 public:
  // The parts it serves from; all borrowed, they must outlive the service.
  struct Parts {
    const HomeLayout& layout;
    Installer& installer;
    AppLifecycle& lifecycle;
    AppWindows& app_windows;
    Windows& windows;
    Distribution& distribution;
    DaemonClient& daemons;
    InstalledApps& apps;
    AppBroker& broker;
    DevUiDirs& dev_ui;
    std::chrono::steady_clock::time_point started;
    // The peer network, or nullptr while the host runs none.
    std::function<PeerNetwork*()> peers;
  };
  // `request_stop` is called (once, from a gRPC thread) when a client asks the host
  // to stop.
  ControlService(Parts parts, std::function<void()> request_stop);

  using ServerContext = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;

  Reactor* HostStatus(ServerContext* ctx, const mumba::host::v1::HostStatusRequest* req,
                      mumba::host::v1::HostStatusResponse* resp) override;
  Reactor* StopHost(ServerContext* ctx, const mumba::host::v1::StopHostRequest* req,
                    mumba::host::v1::StopHostResponse* resp) override;
  Reactor* Install(ServerContext* ctx, const mumba::host::v1::InstallRequest* req,
                   mumba::host::v1::InstallResponse* resp) override;
  Reactor* Uninstall(ServerContext* ctx, const mumba::host::v1::UninstallRequest* req,
                     mumba::host::v1::UninstallResponse* resp) override;
  Reactor* List(ServerContext* ctx, const mumba::host::v1::ListRequest* req,
                mumba::host::v1::ListResponse* resp) override;
  Reactor* Status(ServerContext* ctx, const mumba::host::v1::AppRef* req,
                  mumba::host::v1::AppInfo* resp) override;
  Reactor* Start(ServerContext* ctx, const mumba::host::v1::AppRef* req,
                 mumba::host::v1::AppInfo* resp) override;
  Reactor* Stop(ServerContext* ctx, const mumba::host::v1::AppRef* req,
                mumba::host::v1::AppInfo* resp) override;
  Reactor* Restart(ServerContext* ctx, const mumba::host::v1::AppRef* req,
                   mumba::host::v1::AppInfo* resp) override;
  Reactor* Call(ServerContext* ctx, const mumba::host::v1::CallRequest* req,
                mumba::host::v1::CallResponse* resp) override;
  Reactor* Route(ServerContext* ctx, const mumba::host::v1::RouteCallRequest* req,
                 mumba::app::v1::RouteResponse* resp) override;
  Reactor* Connect(ServerContext* ctx, const mumba::host::v1::AppRef* req,
                   mumba::host::v1::ConnectResponse* resp) override;
  Reactor* Permissions(ServerContext* ctx, const mumba::host::v1::PermissionsRequest* req,
                       mumba::host::v1::PermissionsResponse* resp) override;
  Reactor* Peers(ServerContext* ctx, const mumba::host::v1::AppRef* req,
                 mumba::app::v1::ListPeersResponse* resp) override;
  Reactor* Dev(ServerContext* ctx, const mumba::host::v1::DevRequest* req,
               mumba::host::v1::DevResponse* resp) override;
  Reactor* Launch(ServerContext* ctx, const mumba::host::v1::LaunchRequest* req,
                  mumba::host::v1::WindowInfo* resp) override;
  Reactor* ListWindows(ServerContext* ctx, const mumba::host::v1::ListWindowsRequest* req,
                       mumba::host::v1::ListWindowsResponse* resp) override;
  Reactor* CloseWindow(ServerContext* ctx, const mumba::host::v1::CloseWindowRequest* req,
                       mumba::host::v1::CloseWindowResponse* resp) override;
  Reactor* GatewaySession(ServerContext* ctx, const mumba::host::v1::AppRef* req,
                          mumba::host::v1::GatewaySessionResponse* resp) override;

 private:
  // Runs `fn` (it fills the response and returns the call's Status) on the work
  // queue, off gRPC's threads, then finishes the call: for work that blocks.
  template <typename Fn>
  Reactor* OnWorkQueue(ServerContext* ctx, Fn fn);
  // The same at once, for work that never blocks.
  template <typename Fn>
  Reactor* AtOnce(ServerContext* ctx, Fn fn);

  Parts parts_;
  std::function<void()> request_stop_;
  WorkQueue work_{4};
};

}  // namespace mumba
