// SPDX-License-Identifier: Apache-2.0
#include "host/home.h"

#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "broker/json_call.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "gateway/static_files.h"
#include "host/distribution.h"
#include "host/ui.h"
#include "platform/hex.h"
#include "mumba/host/v1/control.pb.h"
#include "mumba/host/v1/distribution.pb.h"

namespace mumba {

namespace fs = std::filesystem;
namespace av1 = mumba::app::v1;
using json = nlohmann::json;

namespace {


av1::RouteResponse Reply(int status, const json& body) {
  av1::RouteResponse r;
  r.set_status(status);
  auto* h = r.add_headers();
  h->set_name("Content-Type");
  h->set_value("application/json");
  r.set_body(body.dump());
  return r;
}


const char* PhaseName(DistributionEvent::Phase p) {
  switch (p) {
    case DistributionEvent::Phase::kResolving: return "resolving";
    case DistributionEvent::Phase::kResolved: return "resolved";
    case DistributionEvent::Phase::kDownloading: return "downloading";
    case DistributionEvent::Phase::kInstalling: return "installing";
    case DistributionEvent::Phase::kDone: return "done";
    case DistributionEvent::Phase::kUpToDate: return "up-to-date";
  }
  return "?";
}

}  // namespace

fs::path HomeUiDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path().parent_path() / "share" / "mumba" / "home";
}

Expected<std::unique_ptr<HomeApp>> HomeApp::Create(Parts parts) {
  // A new secret at every start: one that leaked earlier opens nothing now.
  const fs::path file = parts.home_dir / "home.token";
  char raw[32];
  randombytes_buf(raw, sizeof raw);
  const std::string token = ToHex(std::string_view(raw, sizeof raw));
  MUMBA_TRY(WriteFileAtomic(file, token + "\n", 0600));
  MUMBA_ASSIGN_OR_RETURN(
      auto transcoder,
      Transcoder::FromCompiled({mumba::host::v1::HostStatusRequest::descriptor()->file(),
                                mumba::host::v1::ResolveRequest::descriptor()->file()},
                               {"mumba.host.v1.Control", "mumba.host.v1.Distribution"}));
  return std::unique_ptr<HomeApp>(new HomeApp(parts, token, HomeUiDir(), std::move(transcoder)));
}

GatewayApp HomeApp::View() const {
  GatewayApp app;
  app.id = kHomeApp;
  app.name = kHomeApp;
  app.ui_dir = ui_dir_;
  app.ui_entry = "index.html";
  app.secret = token_;
  app.secret_guards_ui = true;
  app.route_prefix = "/api/";
  return app;
}

void HomeApp::Call(const std::string& method, std::string body, std::function<void(Expected<std::string>)> done) {
  // Home's page has no use for another app's secret; keeping them out of it keeps
  // them out of whatever a flaw in that page could leak.
  if (method == "mumba.host.v1.Control/GatewaySession") {
    return done(PermissionDenied("home's page cannot read an app's gateway secret"));
  }
  CallJson(parts_.daemons, parts_.control_socket.string(), transcoder_, method, body, std::move(done));
}

void HomeApp::Route(av1::RouteRequest request, std::function<void(Expected<av1::RouteResponse>)> done) {
  if (request.path() == "/api/logs" && request.method() == "GET") return done(Logs(request));
  if (request.path() == "/api/install" && request.method() == "POST") return done(Install(request));
  done(NotFound("home has no route " + request.method() + " " + request.path()));
}

av1::RouteResponse HomeApp::Logs(const av1::RouteRequest& request) {
  auto app = parts_.lifecycle.Describe(QueryParam(request.query(), "app"));
  if (!app.ok()) return Reply(404, {{"error", app.status().message()}});
  int lines = std::atoi(QueryParam(request.query(), "lines").c_str());
  if (lines <= 0 || lines > 5000) lines = 200;
  std::ifstream in(app->log_file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  size_t start = text.size();
  for (int n = 0; n <= lines && start > 0;) {
    --start;
    if (text[start] == '\n' && ++n > lines) {
      ++start;
      break;
    }
  }
  return Reply(200, {{"app", app->record.name}, {"log", text.substr(start)}});
}

av1::RouteResponse HomeApp::Install(const av1::RouteRequest& request) {
  const std::string address = QueryParam(request.query(), "address");
  if (address.empty()) return Reply(400, {{"error", "install needs ?address=mumba://..."}});
  // The page follows it through "install" events (mumba.on("install", ...)).
  // The page asks the owner before it sends accept=1 (what the app asks for
  // arrives in the failed event's error when it was not accepted).
  const bool accept = QueryParam(request.query(), "accept") == "1";
  installs_.Post([this, address, accept] {
    auto emit = [this, address](json e) {
      e["address"] = address;
      (void)parts_.events.Emit(kHomeApp, "install", e.dump());
    };
    auto app = parts_.distribution.Fetch(address, std::chrono::minutes(30), 0, [&](const DistributionEvent& e) {
      json j{{"phase", PhaseName(e.phase)}, {"done", e.progress.done}, {"total", e.progress.total},
             {"peers", e.progress.peers}, {"rate", e.progress.rate}};
      if (!e.item.name.empty()) {
        j["name"] = e.item.name;
        j["version"] = e.item.version;
      }
      emit(j);
      return !parts_.stopping;
    }, /*accept_wider=*/true, accept);
    if (!app.ok()) emit({{"phase", "failed"}, {"error", app.status().message()}});
  });
  return Reply(202, {{"started", address}});
}

}  // namespace mumba
