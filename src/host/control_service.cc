// SPDX-License-Identifier: Apache-2.0
#include "host/control_service.h"

#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "broker/grants.h"
#include "broker/json_call.h"
#include "broker/route_url.h"
#include "common/grpc_status.h"
#include "host/distribution.h"
#include "host/distribution_service.h"
#include "host/peer_services.h"
#include "gateway/gateway.h"
#include "host/windows.h"

namespace mumba {

namespace hv1 = mumba::host::v1;
namespace av1 = mumba::app::v1;

void FillAppInfo(const AppView& v, hv1::AppInfo* out) {
  out->set_id(v.record.id);
  out->set_name(v.record.name);
  out->set_version(v.record.version);
  out->set_description(v.record.description);
  out->set_state(DaemonStateName(v.daemon.state));
  out->set_enabled(v.record.enabled);
  out->set_pid(v.daemon.pid);
  out->set_restarts(v.daemon.restarts);
  out->set_last_exit(v.daemon.last_exit);
  out->set_sandbox(v.sandbox);
  out->set_socket(v.socket.string());
  out->set_install_dir(v.record.install_dir);
  out->set_data_dir(v.data_dir.string());
  out->set_log_file(v.log_file.string());
  out->set_installed_at_ms(v.record.installed_at_ms);
  out->set_started_at_ms(v.daemon.started_at_ms);
  out->set_error(v.daemon.error);
  out->set_stores_dir(v.stores_dir.string());
  out->set_storage_bytes(v.storage_bytes);
  out->set_quota_bytes(v.quota_bytes);
  if (v.manifest) {
    for (const auto& ask : AsksOf(*v.manifest)) {
      auto* p = out->add_permissions();
      p->set_ask(ask);
      p->set_description(DescribeAsk(ask));
      p->set_granted(v.granted.contains(ask));
    }
    for (const auto& s : v.manifest->services) out->add_services(s);
    for (const auto& r : v.manifest->routes) {
      std::string methods;
      for (const auto& m : r.methods) methods += (methods.empty() ? "" : ",") + m;
      out->add_routes((methods.empty() ? "*" : methods) + " " + r.path);
    }
  }
}

ControlService::ControlService(Parts parts, std::function<void()> request_stop)
    : parts_(std::move(parts)), request_stop_(std::move(request_stop)) {}

template <typename Fn>
ControlService::Reactor* ControlService::OnWorkQueue(ServerContext* ctx, Fn fn) {
  auto* r = ctx->DefaultReactor();
  work_.Post([r, fn = std::move(fn)]() mutable { r->Finish(ToGrpc(fn())); });
  return r;
}

template <typename Fn>
ControlService::Reactor* ControlService::AtOnce(ServerContext* ctx, Fn fn) {
  auto* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(fn()));
  return r;
}

namespace {

// Fills `resp` with the app, or returns why there is none.
mumba::Status AppInfoOf(Expected<AppView> view, hv1::AppInfo* resp) {
  if (!view.ok()) return view.status();
  FillAppInfo(*view, resp);
  return {};
}

}  // namespace

ControlService::Reactor* ControlService::HostStatus(ServerContext* ctx,
                                                    const hv1::HostStatusRequest*,
                                                    hv1::HostStatusResponse* resp) {
  auto apps = parts_.lifecycle.List();
  resp->set_pid(::getpid());
  resp->set_version(MUMBA_VERSION);
  resp->set_home(parts_.layout.home.string());
  resp->set_uptime_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - parts_.started)
                          .count());
  resp->set_apps_installed(static_cast<int>(apps.size()));
  int running = 0;
  for (const auto& a : apps) running += a.daemon.state == DaemonState::kRunning;
  resp->set_apps_running(running);
  P2pStatus p2p = parts_.distribution.NodeStatus();
  resp->set_p2p_listen(p2p.listen);
  resp->set_dht_nodes(p2p.dht_nodes);
  resp->set_torrents(p2p.torrents);
  resp->set_upload_rate(p2p.upload_rate);
  resp->set_download_rate(p2p.download_rate);
  if (int port = parts_.app_windows.gateway_port()) resp->set_gateway_port(port);
  resp->set_sandbox(parts_.lifecycle.SandboxSummary());
  if (PeerNetwork* peers = parts_.peers()) {
    resp->set_node_id(peers->node_id());
    resp->set_peer_listen(peers->listen());
  }
  auto* r = ctx->DefaultReactor();
  r->Finish(grpc::Status::OK);
  return r;
}

ControlService::Reactor* ControlService::StopHost(ServerContext* ctx, const hv1::StopHostRequest*,
                                                  hv1::StopHostResponse*) {
  auto* r = ctx->DefaultReactor();
  r->Finish(grpc::Status::OK);
  request_stop_();
  return r;
}

ControlService::Reactor* ControlService::Install(ServerContext* ctx, const hv1::InstallRequest* req,
                                                 hv1::InstallResponse* resp) {
  return OnWorkQueue(ctx, [this, req, resp]() -> mumba::Status {
    MUMBA_ASSIGN_OR_RETURN(auto result, parts_.installer.Install(req->bundle_dir(), req->accept_asks()));
    FillAppInfo(result.app, resp->mutable_app());
    resp->set_replaced(result.replaced);
    return {};
  });
}

ControlService::Reactor* ControlService::Uninstall(ServerContext* ctx,
                                                   const hv1::UninstallRequest* req,
                                                   hv1::UninstallResponse*) {
  return OnWorkQueue(ctx, [this, req] { return parts_.installer.Uninstall(req->app(), req->purge()); });
}

ControlService::Reactor* ControlService::List(ServerContext* ctx, const hv1::ListRequest* req,
                                              hv1::ListResponse* resp) {
  for (const auto& v : parts_.lifecycle.List()) {
    if (!req->implements().empty()) {
      const auto& services = v.manifest ? v.manifest->services : std::vector<std::string>{};
      if (std::find(services.begin(), services.end(), req->implements()) == services.end()) continue;
    }
    FillAppInfo(v, resp->add_apps());
  }
  return AtOnce(ctx, [] { return mumba::Status(); });
}

ControlService::Reactor* ControlService::Permissions(ServerContext* ctx, const hv1::PermissionsRequest* req,
                                                     hv1::PermissionsResponse* resp) {
  return OnWorkQueue(ctx, [this, req, resp]() -> mumba::Status {
    MUMBA_ASSIGN_OR_RETURN(InstalledApp app, parts_.apps.Find(req->app()));
    const std::vector<std::string> asks = AsksOf(*app.manifest);
    std::vector<std::string> grant(req->grant().begin(), req->grant().end());
    std::vector<std::string> revoke(req->revoke().begin(), req->revoke().end());
    for (const auto* list : {&grant, &revoke}) {
      for (const auto& ask : *list) {
        if (std::find(asks.begin(), asks.end(), ask) == asks.end()) {
          return InvalidArgument(app.record.name + " does not ask for '" + ask + "' (mumba permissions " +
                                 app.record.name + " lists what it asks for)");
        }
      }
    }
    if (!grant.empty() || !revoke.empty()) {
      MUMBA_TRY(parts_.apps.SetGrants(app.record.id, grant, revoke));
      // Channels already open under a revoked grant close now.
      int closed = parts_.broker.Recheck(app.record.id);
      if (closed > 0) spdlog::info("closed {} connection(s) of {} after a revoke", closed, app.record.name);
      // The network is given when the daemon's sandbox is made: a change takes a restart.
      bool network_changed = std::find(grant.begin(), grant.end(), "network") != grant.end() ||
                             std::find(revoke.begin(), revoke.end(), "network") != revoke.end();
      if (network_changed && parts_.lifecycle.Active(app.record.id)) {
        MUMBA_TRY(parts_.lifecycle.Restart(app.record.id).status());
      }
      MUMBA_ASSIGN_OR_RETURN(app, parts_.apps.Get(app.record.id));
    }
    resp->set_app(app.record.id);
    for (const auto& ask : asks) {
      auto* p = resp->add_permissions();
      p->set_ask(ask);
      p->set_description(DescribeAsk(ask));
      p->set_granted(app.Granted(ask));
    }
    return {};
  });
}

ControlService::Reactor* ControlService::Dev(ServerContext* ctx, const hv1::DevRequest* req,
                                             hv1::DevResponse* resp) {
  return OnWorkQueue(ctx, [this, req, resp]() -> mumba::Status {
    MUMBA_ASSIGN_OR_RETURN(InstalledApp app, parts_.apps.Find(req->app()));
    if (req->set_ui_dir()) {
      std::filesystem::path dir = req->ui_dir();
      std::error_code ec;
      if (!dir.empty() && (!dir.is_absolute() || !std::filesystem::is_directory(dir, ec))) {
        return InvalidArgument(req->ui_dir() + " is not an absolute path of a folder");
      }
      parts_.dev_ui.Set(app.record.id, dir);
    }
    if (req->reload()) {
      for (const auto& w : parts_.windows.List(app.record.id)) {
        if (parts_.windows.Reload(w.id, app.record.id).ok()) resp->set_reloaded(resp->reloaded() + 1);
      }
    }
    return {};
  });
}

ControlService::Reactor* ControlService::Status(ServerContext* ctx, const hv1::AppRef* req,
                                                hv1::AppInfo* resp) {
  return AtOnce(ctx, [&] { return AppInfoOf(parts_.lifecycle.Describe(req->app()), resp); });
}

ControlService::Reactor* ControlService::Start(ServerContext* ctx, const hv1::AppRef* req,
                                               hv1::AppInfo* resp) {
  return OnWorkQueue(ctx, [this, req, resp] { return AppInfoOf(parts_.lifecycle.Start(req->app()), resp); });
}

ControlService::Reactor* ControlService::Stop(ServerContext* ctx, const hv1::AppRef* req,
                                              hv1::AppInfo* resp) {
  return OnWorkQueue(ctx, [this, req, resp] { return AppInfoOf(parts_.lifecycle.Stop(req->app()), resp); });
}

ControlService::Reactor* ControlService::Restart(ServerContext* ctx, const hv1::AppRef* req,
                                                 hv1::AppInfo* resp) {
  return OnWorkQueue(ctx, [this, req, resp] { return AppInfoOf(parts_.lifecycle.Restart(req->app()), resp); });
}


ControlService::Reactor* ControlService::Call(ServerContext* ctx, const hv1::CallRequest* req,
                                              hv1::CallResponse* resp) {
  auto* r = ctx->DefaultReactor();
  WithRunningApp(parts_.lifecycle, work_, req->app(), [this, r, req, resp](Expected<RunningApp> app) {
    if (!app.ok()) return r->Finish(ToGrpc(app.status()));
    if (auto method = app->transcoder->FindMethod(req->method()); !method.ok()) {
      return r->Finish(ToGrpc(method.status().WithContext(app->name)));
    }
    CallJson(parts_.daemons, app->socket, app->transcoder, req->method(), req->json(),
             [r, resp](Expected<std::string> reply) {
               if (!reply.ok()) return r->Finish(ToGrpc(reply.status()));
               resp->set_json(std::move(*reply));
               r->Finish(grpc::Status::OK);
             });
  });
  return r;
}

ControlService::Reactor* ControlService::Route(ServerContext* ctx, const hv1::RouteCallRequest* req,
                                               av1::RouteResponse* resp) {
  auto* r = ctx->DefaultReactor();
  auto url = ParseRouteUrl(req->url());
  if (!url.ok()) {
    r->Finish(ToGrpc(url.status()));
    return r;
  }
  WithRunningApp(parts_.lifecycle, work_, url->app, [this, r, req, resp, url = *url](Expected<RunningApp> app) {
    if (!app.ok()) return r->Finish(ToGrpc(app.status()));
    av1::RouteRequest route = req->request();
    if (route.method().empty()) route.set_method("GET");
    route.set_path(url.path);
    route.set_query(url.query);
    if (!app->manifest->FindRoute(route.method(), route.path())) {
      std::string declared;
      for (const auto& d : app->manifest->routes) declared += (declared.empty() ? "" : ", ") + d.path;
      return r->Finish(ToGrpc(NotFound(app->name + " has no route " + route.method() + " " +
                                       route.path() +
                                       (declared.empty() ? " (it declares none)" : " (declared: " + declared + ")"))));
    }
    parts_.daemons.Route(app->socket, route, [r, resp](grpc::Status s, av1::RouteResponse reply) {
      if (!s.ok()) return r->Finish(s);
      *resp = std::move(reply);
      r->Finish(grpc::Status::OK);
    });
  });
  return r;
}

ControlService::Reactor* ControlService::Connect(ServerContext* ctx, const hv1::AppRef* req,
                                                 hv1::ConnectResponse* resp) {
  auto* r = ctx->DefaultReactor();
  WithRunningApp(parts_.lifecycle, work_, req->app(), [this, r, resp](Expected<RunningApp> app) {
    if (!app.ok()) return r->Finish(ToGrpc(app.status()));
    resp->set_socket(app->socket);
    auto view = parts_.lifecycle.Describe(app->id);
    if (view.ok()) FillAppInfo(*view, resp->mutable_app());
    r->Finish(grpc::Status::OK);
  });
  return r;
}

namespace {

void FillWindowInfo(const WindowView& v, hv1::WindowInfo* out) {
  out->set_id(v.id);
  out->set_app_id(v.app_id);
  out->set_app_name(v.app_name);
  out->set_url(v.url);
  out->set_title(v.title);
  out->set_headless(v.headless);
  out->set_browser_pid(v.browser_pid);
  out->set_first_paint_ms(v.first_paint.count());
}

}  // namespace

ControlService::Reactor* ControlService::Launch(ServerContext* ctx, const hv1::LaunchRequest* req,
                                                hv1::WindowInfo* resp) {
  return OnWorkQueue(ctx, [this, req, resp]() -> mumba::Status {
    MUMBA_ASSIGN_OR_RETURN(WindowView v, parts_.app_windows.Launch(req->app(), req->path(), req->headless()));
    FillWindowInfo(v, resp);
    return {};
  });
}

ControlService::Reactor* ControlService::ListWindows(ServerContext* ctx, const hv1::ListWindowsRequest* req,
                                                     hv1::ListWindowsResponse* resp) {
  return AtOnce(ctx, [&]() -> mumba::Status {
    std::string app_id;
    if (!req->app().empty()) {
      MUMBA_ASSIGN_OR_RETURN(app_id, parts_.app_windows.WindowOwner(req->app()));
    }
    for (const auto& w : parts_.windows.List(app_id)) FillWindowInfo(w, resp->add_windows());
    return {};
  });
}

ControlService::Reactor* ControlService::CloseWindow(ServerContext* ctx, const hv1::CloseWindowRequest* req,
                                                     hv1::CloseWindowResponse* resp) {
  return OnWorkQueue(ctx, [this, req, resp]() -> mumba::Status {
    // A window id, or an app whose windows all close.
    if (auto st = parts_.windows.Close(req->window()); st.ok()) {
      resp->set_closed(1);
      return {};
    } else if (st.code() != Code::kNotFound) {
      return st;
    }
    auto id = parts_.app_windows.WindowOwner(req->window());
    if (!id.ok()) return NotFound("no window or app '" + req->window() + "'");
    resp->set_closed(parts_.windows.CloseApp(*id));
    return {};
  });
}

ControlService::Reactor* ControlService::GatewaySession(ServerContext* ctx, const hv1::AppRef* req,
                                                        hv1::GatewaySessionResponse* resp) {
  return AtOnce(ctx, [&]() -> mumba::Status {
    MUMBA_ASSIGN_OR_RETURN(mumba::GatewaySession session, parts_.app_windows.SessionOf(req->app()));
    resp->set_origin(session.origin);
    resp->set_cookie_name(session.cookie.name);
    resp->set_secret(session.cookie.value);
    return {};
  });
}

ControlService::Reactor* ControlService::Peers(ServerContext* ctx, const hv1::AppRef* req,
                                               av1::ListPeersResponse* resp) {
  return AtOnce(ctx, [&]() -> mumba::Status {
    MUMBA_ASSIGN_OR_RETURN(InstalledApp app, parts_.apps.Find(req->app()));
    if (PeerNetwork* peers = parts_.peers()) {
      for (const auto& p : peers->PeersOf(app.record.id)) ToProto(p, resp->add_peers());
    }
    return {};
  });
}

}  // namespace mumba
