// SPDX-License-Identifier: Apache-2.0
#include "host/ui.h"

#include <cstdlib>

#include <nlohmann/json.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "broker/json_call.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "host/home.h"
#include "mumba/storage/v1/storage.pb.h"
#include "platform/hex.h"

namespace mumba {

namespace fs = std::filesystem;
namespace av1 = mumba::app::v1;

std::string GatewaySecrets::For(const std::string& app_id) {
  std::lock_guard lock(mu_);
  std::string& secret = secrets_[app_id];
  if (secret.empty()) {
    if (sodium_init() < 0) std::abort();  // libsodium cannot work: no secret is better than a weak one.
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    secret = ToHex(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
    sodium_memzero(raw, sizeof raw);
  }
  return secret;
}

void GatewaySecrets::Forget(const std::string& app_id) {
  std::lock_guard lock(mu_);
  secrets_.erase(app_id);
}

Expected<std::unique_ptr<HostGatewayBackend>> HostGatewayBackend::Create(Parts parts) {
  MUMBA_ASSIGN_OR_RETURN(auto storage,
                         Transcoder::FromCompiled({mumba::storage::v1::StoreRef::descriptor()->file()},
                                                  {"mumba.storage.v1.Kv", "mumba.storage.v1.Sql",
                                                   "mumba.storage.v1.Files"}));
  return std::unique_ptr<HostGatewayBackend>(new HostGatewayBackend(parts, std::move(storage)));
}

fs::path DevUiDirs::For(const std::string& app_id) const {
  std::lock_guard lock(mu_);
  auto it = dirs_.find(app_id);
  return it == dirs_.end() ? fs::path() : it->second;
}

void DevUiDirs::Set(const std::string& app_id, const fs::path& dir) {
  std::lock_guard lock(mu_);
  if (dir.empty()) dirs_.erase(app_id);
  else dirs_[app_id] = dir;
}

Expected<GatewayApp> HostGatewayBackend::FindApp(const std::string& label) {
  if (label == kHomeApp && parts_.home) return parts_.home->View();
  auto app = parts_.apps.Find(label);
  if (!app.ok()) return NotFound("no app '" + label + "' is installed here");
  GatewayApp out;
  out.id = app->record.id;
  out.name = app->record.name;
  out.manifest = app->manifest;
  out.ui_dir = fs::path(app->record.install_dir) / "ui";
  if (fs::path dev = parts_.dev_ui.For(app->record.id); !dev.empty()) out.ui_dir = dev;
  out.secret = parts_.secrets.For(app->record.id);
  const std::string& entry = app->manifest->ui_entry;
  if (entry.rfind("ui/", 0) == 0) out.ui_entry = entry.substr(3);
  return out;
}


void HostGatewayBackend::Route(const std::string& app_id, av1::RouteRequest request,
                               std::function<void(Expected<av1::RouteResponse>)> done) {
  if (app_id == kHomeApp && parts_.home) return parts_.home->Route(std::move(request), std::move(done));
  WithRunningApp(parts_.lifecycle, work_, app_id,
                 [this, request = std::move(request), done = std::move(done)](Expected<RunningApp> app) mutable {
                   if (!app.ok()) return done(app.status());
                   parts_.daemons.Route(app->socket, request, [done](grpc::Status s, av1::RouteResponse reply) {
                     if (!s.ok()) return done(FromGrpc(s));
                     done(std::move(reply));
                   });
                 });
}

void HostGatewayBackend::Call(const std::string& app_id, const std::string& method, std::string json,
                              std::function<void(Expected<std::string>)> done) {
  if (app_id == kHomeApp && parts_.home) return parts_.home->Call(method, std::move(json), std::move(done));
  if (method.rfind("mumba.storage.v1.", 0) == 0) {
    // The page's own storage: on the app's host socket, which answers for that app.
    auto socket = parts_.endpoints.Ensure(app_id);
    if (!socket.ok()) return done(socket.status());
    return CallJson(parts_.daemons, socket->string(), storage_, method, json, std::move(done));
  }
  WithRunningApp(parts_.lifecycle, work_, app_id,
                 [this, method, json = std::move(json), done = std::move(done)](Expected<RunningApp> app) mutable {
                   if (!app.ok()) return done(app.status());
                   if (auto md = app->transcoder->FindMethod(method); !md.ok()) {
                     return done(md.status().WithContext(app->name));
                   }
                   CallJson(parts_.daemons, app->socket, app->transcoder, method, json, std::move(done));
                 });
}

void HostGatewayBackend::DaemonChannel(const std::string& app_id,
                                       std::function<void(Expected<std::shared_ptr<grpc::Channel>>)> done) {
  WithRunningApp(parts_.lifecycle, work_, app_id, [this, done = std::move(done)](Expected<RunningApp> app) {
    if (!app.ok()) return done(app.status());
    done(parts_.daemons.ChannelFor(app->socket));
  });
}

Expected<std::unique_ptr<Gateway>> StartGateway(int configured_port, const GatewayLimits& limits,
                                                const fs::path& port_file, GatewayBackend* backend) {
  GatewayOptions o;
  o.backend = backend;
  o.limits = limits;
  o.port = configured_port;
  if (configured_port == 0) {
    if (auto recorded = ReadFile(port_file); recorded.ok()) {
      int port = std::atoi(recorded->c_str());
      if (port > 0 && port < 65536) {
        o.port = port;
        if (auto gw = Gateway::Start(o); gw.ok()) return gw;
        spdlog::warn("gateway: port {} used last time is taken; picking another", port);
      }
    }
    o.port = 0;
  }
  MUMBA_ASSIGN_OR_RETURN(auto gw, Gateway::Start(o));
  if (configured_port == 0) {
    if (Status st = WriteFileAtomic(port_file, std::to_string(gw->port()) + "\n"); !st.ok()) {
      spdlog::warn("gateway: cannot record its port: {}", st.message());
    }
  }
  return gw;
}

grpc::Status EventsService::Emit(grpc::ServerContext* ctx, const mumba::ui::v1::EmitRequest* req,
                                 mumba::ui::v1::EmitResponse* resp) {
  auto app_id = app_of_(*ctx);
  if (!app_id.ok()) return ToGrpc(app_id.status());
  if (req->event().empty() || req->event().size() > 128) {
    return ToGrpc(InvalidArgument("an event needs a name of 1-128 characters"));
  }
  std::string json = req->json().empty() ? "null" : req->json();
  if (!nlohmann::json::accept(json)) {
    return ToGrpc(InvalidArgument("the data of event '" + req->event() + "' is not JSON"));
  }
  auto listeners = events_.Emit(*app_id, req->event(), json);
  if (!listeners.ok()) return ToGrpc(listeners.status());
  resp->set_listeners(*listeners);
  return grpc::Status::OK;
}

Expected<int> PageEvents::Emit(const std::string& app_id, const std::string& event, const std::string& json) {
  Gateway* gw = gateway_;
  if (!gw) return Unavailable("the host runs no gateway");
  int listeners = gw->Listeners(app_id);
  MUMBA_TRY(gw->Emit(app_id, event, json));
  return listeners;
}

}  // namespace mumba
