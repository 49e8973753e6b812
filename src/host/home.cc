// SPDX-License-Identifier: Apache-2.0
#include "host/home.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <string_view>

#include <nlohmann/json.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "broker/json_call.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "gateway/static_files.h"
#include "host/distribution.h"
#include "host/registry.h"
#include "host/ui.h"
#include "platform/hex.h"
#include "mumba/host/v1/control.pb.h"
#include "mumba/host/v1/distribution.pb.h"

namespace mumba {

namespace fs = std::filesystem;
namespace av1 = mumba::app::v1;
using json = nlohmann::json;

namespace {

// What home's page may call on host.sock, each for a button or a view of it. Left
// out on purpose: GatewaySession (other apps' secrets), Call, Route and Connect
// (acting on an app's daemon with the owner's rights: a flaw in home would become
// one in every app), Install (names a folder on this machine), Publish (signs with
// the owner's keys), StopHost (ends home itself), Restart, Status and Rollback
// (no button uses them), and Fetch and Update, which the page reaches only through
// home's own routes.
constexpr std::array<std::string_view, 9> kHomeMethods = {
    "mumba.host.v1.Control/HostStatus",   // The header line.
    "mumba.host.v1.Control/List",         // The apps, their storage and permissions.
    "mumba.host.v1.Control/Start",        // Start.
    "mumba.host.v1.Control/Stop",         // Stop.
    "mumba.host.v1.Control/Launch",       // Open.
    "mumba.host.v1.Control/Uninstall",    // Uninstall (its data is kept).
    "mumba.host.v1.Control/Permissions",  // Revoke and grant.
    "mumba.host.v1.Control/ListWindows",  // Which apps have a window open.
    "mumba.host.v1.Distribution/Resolve", // The preview before an install.
};

// How often the page's visits may start a network check (DHT lookups).
constexpr int64_t kCheckEveryMs = 15'000;
constexpr auto kPeerLookup = std::chrono::seconds(3);
constexpr auto kUpdateLookup = std::chrono::seconds(10);
// An icon larger than this is not shown: it would be sent to the page whole.
constexpr uintmax_t kMaxIconBytes = 256 * 1024;

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

// The image type of an icon file by its name; empty for one home does not show.
std::string IconType(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".webp") return "image/webp";
  if (ext == ".gif") return "image/gif";
  return {};
}

std::string Base64(const std::string& bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // The terminating NUL.
  return out;
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
  // Home's page has no use for another app's secret or daemon; keeping them out
  // of its reach keeps them out of whatever a flaw in that page could do.
  if (std::find(kHomeMethods.begin(), kHomeMethods.end(), method) == kHomeMethods.end()) {
    return done(PermissionDenied("home's page may not call " + method));
  }
  CallJson(parts_.daemons, parts_.control_socket.string(), transcoder_, method, body, std::move(done));
}

void HomeApp::Route(av1::RouteRequest request, std::function<void(Expected<av1::RouteResponse>)> done) {
  if (request.path() == "/api/logs" && request.method() == "GET") return done(Logs(request));
  if (request.path() == "/api/install" && request.method() == "POST") return done(Install(request));
  if (request.path() == "/api/update" && request.method() == "POST") return done(Update(request));
  if (request.path() == "/api/apps" && request.method() == "GET") return done(Apps());
  if (request.path() == "/api/icon" && request.method() == "GET") return done(Icon(request));
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

av1::RouteResponse HomeApp::Update(const av1::RouteRequest& request) {
  auto app = parts_.lifecycle.Describe(QueryParam(request.query(), "app"));
  if (!app.ok()) return Reply(404, {{"error", app.status().message()}});
  // As with installs: a version that asks for more comes back as a failed
  // "update" event listing it, and the page asks before it sends accept=1.
  const bool accept = QueryParam(request.query(), "accept") == "1";
  const std::string id = app->record.id, name = app->record.name;
  installs_.Post([this, id, name, accept] {
    auto emit = [this, id, name](json e) {
      e["app"] = id;
      if (!e.contains("name")) e["name"] = name;
      (void)parts_.events.Emit(kHomeApp, "update", e.dump());
    };
    auto updated = parts_.distribution.Update(id, [&](const DistributionEvent& e) {
      json j{{"phase", PhaseName(e.phase)}, {"done", e.progress.done}, {"total", e.progress.total},
             {"peers", e.progress.peers}, {"rate", e.progress.rate}};
      if (!e.item.name.empty()) {
        j["name"] = e.item.name;
        j["version"] = e.item.version;
      }
      emit(j);
      return !parts_.stopping;
    }, accept);
    if (!updated.ok()) {
      emit({{"phase", "failed"}, {"error", updated.status().message()}});
      return;
    }
    std::lock_guard lock(mu_);
    facts_[id].update.clear();
  });
  return Reply(202, {{"started", id}});
}

av1::RouteResponse HomeApp::Apps() {
  // What Control/List does not say: how each app travels over BitTorrent. Read
  // from the registry and the node as they are; the DHT is asked off this thread.
  std::vector<std::string> seeding = parts_.distribution.SeedingHashes();
  std::vector<AppView> views = parts_.lifecycle.List();
  json apps = json::object();
  bool check = false;
  {
    std::lock_guard lock(mu_);
    const int64_t now = NowMs();
    if (!checking_ && now - checked_ms_ >= kCheckEveryMs) {
      checking_ = true;
      checked_ms_ = now;
      check = true;
    }
    for (const auto& view : views) {
      const std::string& id = view.record.id;
      json a{{"icon", view.manifest && !view.manifest->icon.empty()}, {"network", false}};
      if (auto p2p = parts_.registry.GetP2p(id); p2p.ok()) {
        a["network"] = true;
        a["published"] = p2p->published;
        a["seq"] = p2p->seq;
        a["seeded"] = std::find(seeding.begin(), seeding.end(), p2p->info_hash) != seeding.end();
        auto f = facts_.find(id);
        a["peers"] = f == facts_.end() ? -1 : f->second.peers;
        if (f != facts_.end() && !f->second.update.empty() && f->second.update_seq > p2p->seq) {
          a["update"] = {{"version", f->second.update}, {"seq", f->second.update_seq},
                         {"size", f->second.update_size}};
        }
      }
      apps[id] = std::move(a);
    }
  }
  if (check) checks_.Post([this] { CheckNetwork(); });
  return Reply(200, {{"apps", apps}});
}

void HomeApp::CheckNetwork() {
  // Only apps that already travel: asking about the others would start the
  // BitTorrent node of a host that never used it.
  for (const auto& r : parts_.registry.ListP2p()) {
    if (parts_.stopping) break;
    NetworkFacts facts;
    ResolvedApp bundle;
    bundle.info_hash = r.info_hash;
    if (auto peers = parts_.distribution.CountSeeders(bundle, kPeerLookup); peers.ok()) facts.peers = *peers;
    // A publisher's own address points at what it published last.
    if (!r.published) {
      if (auto item = parts_.distribution.Resolve(r.id, kUpdateLookup); item.ok() && item->seq > r.seq) {
        facts.update = item->version;
        facts.update_seq = item->seq;
        facts.update_size = item->size;
      }
    }
    std::lock_guard lock(mu_);
    facts_[r.id] = facts;
  }
  std::lock_guard lock(mu_);
  checking_ = false;
}

av1::RouteResponse HomeApp::Icon(const av1::RouteRequest& request) {
  // Sent as data for an <img>, never served as a page of home's origin: an SVG
  // opened as a page would run its scripts with home's powers.
  auto app = parts_.lifecycle.Describe(QueryParam(request.query(), "app"));
  if (!app.ok()) return Reply(404, {{"error", app.status().message()}});
  if (!app->manifest || app->manifest->icon.empty()) return Reply(404, {{"error", "no icon"}});
  std::error_code ec;
  const fs::path root = fs::canonical(app->record.install_dir, ec);
  if (ec) return Reply(404, {{"error", "the app's bundle is missing"}});
  // Resolved first, so that no symlink can take it outside the bundle.
  const fs::path file = fs::canonical(root / app->manifest->icon, ec);
  const std::string type = IconType(file);
  auto rel = file.lexically_relative(root);
  if (ec || type.empty() || rel.empty() || *rel.begin() == ".." || !fs::is_regular_file(file, ec) ||
      fs::file_size(file, ec) > kMaxIconBytes) {
    return Reply(404, {{"error", "the icon is missing, too large or of a type home does not show"}});
  }
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return Reply(200, {{"src", "data:" + type + ";base64," + Base64(bytes)}});
}

}  // namespace mumba
