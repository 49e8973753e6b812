// SPDX-License-Identifier: Apache-2.0
#include "host/host.h"

#include <future>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "bundle/bundle.h"
#include "host/distribution.h"
#include "host/automation_service.h"
#include "host/home.h"
#include "host/ui.h"
#include "host/windows.h"
#include "shell/chromium.h"
#include "common/files.h"
#include "common/keys.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

std::string KeyPart(const std::string& id) { return id.substr(kAddressScheme.size()); }

void RemoveTree(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", p.string(), ec.message());
}

}  // namespace

Expected<std::unique_ptr<Host>> Host::Create(HostOptions options) {
  HomeLayout layout(options.home);
  for (const auto& dir : {layout.apps_dir(), layout.staging_dir(), layout.data_dir(),
                          layout.logs_dir(), layout.run_dir()}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  }
  // sockaddr_un holds 108 bytes; daemon sockets are run/<16 chars>.sock.
  if ((layout.run_dir() / "0123456789abcdef.sock").string().size() >= 100) {
    return InvalidArgument("MUMBA_HOME " + options.home.string() +
                           " is too long a path for unix sockets (keep it under 70 characters)");
  }
  MUMBA_ASSIGN_OR_RETURN(HostConfig config, HostConfig::Load(layout.config()));
  if (options.p2p_listen) config.p2p.listen = *options.p2p_listen;
  if (options.p2p_bootstrap) config.p2p.bootstrap = *options.p2p_bootstrap;
  if (options.p2p_listen || options.p2p_bootstrap) config.p2p.start_with_host = true;
  MUMBA_ASSIGN_OR_RETURN(auto registry, Registry::Open(layout.registry()));
  std::unique_ptr<Host> host(new Host(std::move(options), std::move(config), std::move(registry)));
  host->SweepStaging();
  MUMBA_TRY(host->LoadAll());
  return host;
}

Host::Host(HostOptions options, HostConfig config, std::unique_ptr<Registry> registry)
    : options_(std::move(options)),
      config_(std::move(config)),
      layout_(options_.home),
      registry_(std::move(registry)),
      supervisor_(Supervisor::Create(options_.supervisor)),
      stores_(std::make_unique<StoreManager>(layout_.stores_dir(), this)),
      distribution_(std::make_unique<Distribution>(this, config_.p2p, layout_.home / "p2p",
                                                   layout_.keys_dir(), layout_.staging_dir())),
      windows_(std::make_unique<Windows>(layout_.home / "profiles", layout_.logs_dir())),
      started_(std::chrono::steady_clock::now()) {}

Host::~Host() { Shutdown(); }

void Host::Shutdown() {
  stopping_ = true;
  // The gateway object stays until the host goes: events may still arrive.
  if (gateway_) gateway_->Stop();
  if (windows_) windows_->CloseAll();
  distribution_.reset();
  if (supervisor_) supervisor_->StopAll();
  std::map<std::string, std::unique_ptr<AppEndpoint>> endpoints;
  {
    std::lock_guard lock(endpoints_mu_);
    endpoints.swap(endpoints_);
  }
}

Host::AppEndpoint::~AppEndpoint() {
  if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  std::error_code ec;
  fs::remove(socket, ec);
}

Expected<fs::path> Host::EnsureEndpoint(const std::string& id) {
  std::lock_guard lock(endpoints_mu_);
  auto& ep = endpoints_[id];
  if (ep) return ep->socket;
  auto fresh = std::make_unique<AppEndpoint>();
  fresh->socket = HostSocketFor(id);
  std::error_code ec;
  fs::remove(fresh->socket, ec);
  fresh->storage = std::make_unique<StorageServices>(stores_.get(), StoreCaller{id});
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + fresh->socket.string(), grpc::InsecureServerCredentials());
  builder.RegisterService(&fresh->storage->kv);
  builder.RegisterService(&fresh->storage->sql);
  builder.RegisterService(&fresh->storage->files);
  fresh->events = std::make_unique<EventsService>(this, id);
  builder.RegisterService(fresh->events.get());
  fresh->automation = std::make_unique<AutomationService>(this, id);
  builder.RegisterService(fresh->automation.get());
  builder.SetMaxReceiveMessageSize(32 << 20);
  builder.SetMaxSendMessageSize(32 << 20);
  fresh->server = builder.BuildAndStart();
  if (!fresh->server) {
    endpoints_.erase(id);
    return Unavailable("cannot listen on " + fresh->socket.string());
  }
  ep = std::move(fresh);
  return ep->socket;
}

void Host::DropEndpoint(const std::string& id) {
  std::unique_ptr<AppEndpoint> ep;
  {
    std::lock_guard lock(endpoints_mu_);
    auto it = endpoints_.find(id);
    if (it == endpoints_.end()) return;
    ep = std::move(it->second);
    endpoints_.erase(it);
  }
}

void WithRunningApp(Host* host, WorkQueue& work, const std::string& ref,
                    std::function<void(Expected<RunningApp>)> then) {
  auto running = host->IfRunning(ref);
  if (running.ok() || running.status().code() != Code::kFailedPrecondition) {
    then(std::move(running));
    return;
  }
  work.Post([host, ref, then = std::move(then)] { then(host->EnsureRunning(ref)); });
}

Status Host::StartGateway() {
  if (gateway_) return {};
  MUMBA_ASSIGN_OR_RETURN(home_, HomeApp::Create(this));
  MUMBA_ASSIGN_OR_RETURN(gateway_backend_, HostGatewayBackend::Create(this));
  MUMBA_ASSIGN_OR_RETURN(gateway_, mumba::StartGateway(config_.gateway_port, layout_.home / "gateway.port",
                                                       gateway_backend_.get()));
  spdlog::info("gateway on http://<app>.localhost:{}/", gateway_->port());
  return {};
}

Expected<std::string> Host::OriginOf(const std::string& ref) const {
  if (!gateway_) return FailedPrecondition("the host runs no gateway");
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  return "http://" + app.record.name + ".localhost:" + std::to_string(gateway_->port());
}

Expected<std::string> Host::WindowOwner(const std::string& ref) const {
  if (ref == kHomeApp) return std::string(kHomeApp);
  return ResolveApp(ref);
}

Expected<WindowView> Host::Launch(const std::string& ref, const std::string& path, bool force_headless) {
  const bool headless = force_headless || shell::ShouldRunHeadless();
  if (ref == kHomeApp && home_ && gateway_) {
    // The window logs in with the secret, then shows the page asked for (Open
    // reports where it ended up, without the secret).
    return windows_->Open(kHomeApp, kHomeApp, "http://home.localhost:" + std::to_string(gateway_->port()),
                          home_->LoginPath(path.empty() ? "/" : path), headless);
  }
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  if (app.manifest->ui_entry.empty()) return FailedPrecondition(app.record.name + " has no UI (its manifest has no [ui])");
  MUMBA_ASSIGN_OR_RETURN(std::string origin, OriginOf(app.record.id));
  return windows_->Open(app.record.id, app.record.name, origin, path, headless);
}

Expected<std::string> Host::ResolveApp(const std::string& ref) const {
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  return app.record.id;
}

bool Host::ExportsTo(const std::string& owner_id, StoreKind kind, const std::string& db,
                     const std::string& reader_id) const {
  std::lock_guard lock(mu_);
  auto it = apps_.find(owner_id);
  if (it == apps_.end()) return false;
  for (const auto& e : it->second.manifest->store_exports) {
    if (e.kind != StoreKindName(kind)) continue;
    if (kind != StoreKind::kFiles && e.db != db) continue;
    for (const auto& r : e.readers) {
      if (r == reader_id) return true;
    }
  }
  return false;
}

uint64_t Host::QuotaFor(const std::string& app_id) const {
  std::string name;
  {
    std::lock_guard lock(mu_);
    if (auto it = apps_.find(app_id); it != apps_.end()) name = it->second.record.name;
  }
  return config_.QuotaFor(app_id, name);
}

Status Host::PrepareSql(const Manifest& m, const fs::path& bundle_dir) {
  fs::path setup = bundle_dir / "data" / "setup.sql";
  fs::path migrations = bundle_dir / "data" / "migrations";
  std::error_code ec;
  if (!fs::exists(setup, ec) && !fs::exists(migrations, ec)) return Status();
  std::string db = m.storage.sql.empty() ? "main" : m.storage.sql.front();
  int64_t target = m.storage.schema_version > 0 ? m.storage.schema_version : 1;
  MUMBA_ASSIGN_OR_RETURN(std::shared_ptr<engine::SqlStore> store, stores_->SqlForHost(m.id, db));
  MUMBA_ASSIGN_OR_RETURN(int64_t current, store->SchemaVersion());
  if (current == 0) {
    if (!fs::exists(setup, ec)) return Status();
    MUMBA_ASSIGN_OR_RETURN(std::string script, ReadFile(setup));
    Status st = store->Migrate(script, target);
    if (!st.ok()) return InvalidArgument("data/setup.sql: " + st.message());
    spdlog::info("{}: sql database '{}' set up at schema version {}", m.name, db, target);
    return Status();
  }
  if (current > target) {
    return FailedPrecondition("the sql database '" + db + "' is at schema version " +
                              std::to_string(current) + ", newer than this bundle's " +
                              std::to_string(target));
  }
  for (int64_t v = current + 1; v <= target; ++v) {
    fs::path step = migrations / (std::to_string(v) + ".sql");
    if (!fs::exists(step, ec)) {
      return InvalidArgument("no data/migrations/" + std::to_string(v) + ".sql to bring the sql database '" +
                             db + "' from schema version " + std::to_string(v - 1));
    }
    MUMBA_ASSIGN_OR_RETURN(std::string script, ReadFile(step));
    Status st = store->Migrate(script, v);
    if (!st.ok()) return InvalidArgument("data/migrations/" + std::to_string(v) + ".sql: " + st.message());
    spdlog::info("{}: sql database '{}' migrated to schema version {}", m.name, db, v);
  }
  return Status();
}

void Host::SweepStaging() {
  // Whatever an interrupted install left behind is not installed: remove it.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(layout_.staging_dir(), ec)) RemoveTree(e.path());
  // App folders the registry does not know are leftovers of an interrupted install.
  std::map<std::string, bool> known;
  for (const auto& r : registry_->List()) known[KeyPart(r.id)] = true;
  for (const auto& e : fs::directory_iterator(layout_.apps_dir(), ec)) {
    auto name = e.path().filename().string();
    if (name.starts_with(".")) continue;
    if (!known.count(name)) RemoveTree(e.path());
  }
}

Expected<Host::Loaded> Host::Load(const AppRecord& record) const {
  Loaded app;
  app.record = record;
  auto manifest = LoadManifest(record.install_dir);
  if (!manifest.ok()) return manifest.status();
  app.manifest = std::make_shared<const Manifest>(std::move(*manifest));
  auto transcoder =
      Transcoder::Load(fs::path(record.install_dir) / kDescriptorSetPath, app.manifest->services);
  if (!transcoder.ok()) return transcoder.status();
  app.transcoder = *transcoder;
  return app;
}

Status Host::LoadAll() {
  std::lock_guard lock(mu_);
  for (const auto& r : registry_->List()) {
    auto app = Load(r);
    if (!app.ok()) {
      spdlog::error("installed app {} ({}) cannot be loaded: {}", r.name, r.id, app.status().message());
      continue;
    }
    apps_[r.id] = std::move(*app);
  }
  return Status();
}

void Host::StartEnabledApps() {
  std::vector<Loaded> enabled;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, app] : apps_) {
      if (app.record.enabled) enabled.push_back(app);
    }
  }
  std::vector<std::thread> starters;
  for (const auto& app : enabled) {
    starters.emplace_back([this, app] {
      auto lock = OpLock(app.record.id);
      std::lock_guard guard(*lock);
      Status st = StartLocked(app);
      if (!st.ok()) spdlog::error("cannot start {}: {}", app.record.name, st.message());
    });
  }
  for (auto& t : starters) t.join();
}

fs::path Host::SocketFor(const std::string& id) const {
  return layout_.run_dir() / (KeyPart(id).substr(0, 16) + ".sock");
}

fs::path Host::HostSocketFor(const std::string& id) const {
  return layout_.run_dir() / (KeyPart(id).substr(0, 16) + ".host.sock");
}

DaemonSpec Host::SpecFor(const Loaded& app) const {
  DaemonSpec spec;
  spec.id = app.record.id;
  spec.name = app.record.name;
  fs::path dir = app.record.install_dir;
  spec.executable = dir / app.manifest->daemon_command;
  spec.args = app.manifest->daemon_args;
  spec.working_dir = dir;
  spec.socket = SocketFor(app.record.id);
  spec.log_file = layout_.logs_dir() / (app.record.name + "-" + KeyPart(app.record.id).substr(0, 8) + ".log");
  fs::path data = layout_.data_dir() / KeyPart(app.record.id);
  spec.env = {
      {"MUMBA_APP_ID", app.record.id},
      {"MUMBA_APP_NAME", app.record.name},
      {"MUMBA_APP_VERSION", app.record.version},
      {"MUMBA_APP_SOCKET", spec.socket.string()},
      {"MUMBA_HOST_SOCKET", HostSocketFor(app.record.id).string()},
      {"MUMBA_APP_DATA", data.string()},
      {"MUMBA_APP_DIR", dir.string()},
  };
  return spec;
}

AppView Host::ViewOf(const Loaded& app) const {
  AppView v;
  v.record = app.record;
  v.manifest = app.manifest;
  v.daemon = supervisor_->Get(app.record.id);
  v.socket = SocketFor(app.record.id);
  v.data_dir = layout_.data_dir() / KeyPart(app.record.id);
  v.log_file = SpecFor(app).log_file;
  v.stores_dir = stores_->AppRoot(app.record.id);
  v.storage_bytes = stores_->UsedBytes(app.record.id);
  v.quota_bytes = QuotaFor(app.record.id);
  return v;
}

std::shared_ptr<std::mutex> Host::OpLock(const std::string& id) {
  std::lock_guard lock(mu_);
  auto& m = op_locks_[id];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Expected<Host::Loaded> Host::Find(const std::string& ref) const {
  if (ref.empty()) return InvalidArgument("no app given");
  std::lock_guard lock(mu_);
  if (LooksLikeAddress(ref)) {
    auto address = NormalizeAddress(ref);
    if (!address.ok()) return address.status();
    auto it = apps_.find(*address);
    if (it == apps_.end()) return NotFound("app " + *address + " is not installed");
    return it->second;
  }
  const Loaded* found = nullptr;
  std::string ids;
  for (const auto& [id, app] : apps_) {
    if (app.record.name != ref) continue;
    ids += " " + id;
    if (found) {
      return FailedPrecondition("more than one app is named '" + ref + "'; use its id:" + ids);
    }
    found = &app;
  }
  if (!found) return NotFound("app '" + ref + "' is not installed (see mumba list)");
  return *found;
}

Expected<InstallResult> Host::Install(const fs::path& source) { return InstallFrom(source, false); }

Expected<InstallResult> Host::InstallStaged(const fs::path& staged) {
  if (staged.parent_path().parent_path() != layout_.staging_dir() &&
      staged.parent_path() != layout_.staging_dir()) {
    return InvalidArgument(staged.string() + " is not in the host's staging folder");
  }
  return InstallFrom(staged, true);
}

Expected<InstallResult> Host::InstallFrom(const fs::path& source, bool owned) {
  if (!source.is_absolute()) return InvalidArgument("bundle path must be absolute: " + source.string());
  auto checked = ValidateBundle(source);
  if (!checked.ok()) return checked.status();
  fs::path staging = owned ? source : layout_.staging_dir() / RandomSuffix();
  Status st = owned ? Status() : CopyBundleTree(source, staging);
  if (st.ok() && !owned) {
    auto again = ValidateBundle(staging);  // The source may have changed under us.
    if (!again.ok()) st = again.status();
    else if (again->id != checked->id) st = InvalidArgument("bundle changed while being installed");
  }
  if (!st.ok()) {
    RemoveTree(staging);
    return st;
  }
  const Manifest& m = *checked;
  auto lock = OpLock(m.id);
  std::lock_guard guard(*lock);

  std::optional<Loaded> previous;
  {
    std::lock_guard l(mu_);
    if (auto it = apps_.find(m.id); it != apps_.end()) previous = it->second;
  }
  bool was_running = false;
  if (previous) {
    auto d = supervisor_->Get(m.id);
    was_running = d.state == DaemonState::kRunning || d.state == DaemonState::kStarting ||
                  d.state == DaemonState::kBackoff;
    if (was_running) (void)supervisor_->Stop(m.id);
  }

  // The database moves to the new schema while no daemon uses it; a failed step
  // rolls back, and the previous version goes on as it was.
  if (Status sql = PrepareSql(m, staging); !sql.ok()) {
    RemoveTree(staging);
    if (previous && was_running) (void)StartLocked(*previous);
    return sql;
  }

  fs::path app_dir = layout_.apps_dir() / KeyPart(m.id);
  fs::path final_dir = app_dir / m.version;
  fs::path trash;
  std::error_code ec;
  fs::create_directories(app_dir, ec);
  if (fs::exists(final_dir)) {
    trash = layout_.staging_dir() / (RandomSuffix() + ".old");
    fs::rename(final_dir, trash, ec);
  }
  if (!ec) fs::rename(staging, final_dir, ec);
  if (ec) {
    if (!trash.empty()) fs::rename(trash, final_dir, ec);
    RemoveTree(staging);
    return Internal("cannot move the bundle into place: " + ec.message());
  }

  AppRecord record;
  record.id = m.id;
  record.name = m.name;
  record.version = m.version;
  record.description = m.description;
  record.install_dir = final_dir.string();
  record.enabled = previous ? previous->record.enabled : false;
  record.installed_at_ms = NowMs();
  auto loaded = Load(record);
  if (loaded.ok()) st = registry_->Put(record);
  else st = loaded.status();
  if (!st.ok()) {
    RemoveTree(final_dir);
    if (!trash.empty()) fs::rename(trash, final_dir, ec);
    if (previous && was_running) (void)StartLocked(*previous);
    return st;
  }
  if (!trash.empty()) RemoveTree(trash);
  // Keep the previous version's files (a later rollback needs them), drop older ones.
  for (const auto& e : fs::directory_iterator(app_dir, ec)) {
    auto v = e.path().filename().string();
    if (v != m.version && !(previous && v == previous->record.version)) RemoveTree(e.path());
  }
  {
    std::lock_guard l(mu_);
    apps_[m.id] = *loaded;
  }
  spdlog::info("installed {} {} ({})", m.name, m.version, m.id);
  InstallResult result;
  result.replaced = previous.has_value();
  if (was_running) {
    Status started = StartLocked(*loaded);
    if (!started.ok()) spdlog::error("{} {} does not start: {}", m.name, m.version, started.message());
  }
  result.app = ViewOf(*loaded);
  return result;
}

Status Host::Uninstall(const std::string& ref, bool purge) {
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  auto lock = OpLock(app.record.id);
  std::lock_guard guard(*lock);
  MUMBA_TRY(supervisor_->Stop(app.record.id));
  MUMBA_TRY(registry_->Remove(app.record.id));
  {
    std::lock_guard l(mu_);
    apps_.erase(app.record.id);
  }
  daemons_.Forget(SocketFor(app.record.id).string());
  DropEndpoint(app.record.id);
  windows_->CloseApp(app.record.id);
  if (distribution_) distribution_->Forget(app.record.id);
  RemoveTree(layout_.apps_dir() / KeyPart(app.record.id));
  if (purge) {
    RemoveTree(layout_.data_dir() / KeyPart(app.record.id));
    MUMBA_TRY(stores_->Purge(app.record.id));
  } else {
    stores_->Close(app.record.id);
  }
  spdlog::info("uninstalled {} ({}){}", app.record.name, app.record.id, purge ? ", data purged" : "");
  return Status();
}

Status Host::StartLocked(const Loaded& app) {
  std::error_code ec;
  fs::create_directories(layout_.data_dir() / KeyPart(app.record.id), ec);
  MUMBA_TRY(EnsureEndpoint(app.record.id).status());
  return supervisor_->Start(SpecFor(app));
}

Expected<AppView> Host::Start(const std::string& ref) {
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  auto lock = OpLock(app.record.id);
  std::lock_guard guard(*lock);
  MUMBA_TRY(registry_->SetEnabled(app.record.id, true));
  {
    std::lock_guard l(mu_);
    if (auto it = apps_.find(app.record.id); it != apps_.end()) it->second.record.enabled = true;
  }
  app.record.enabled = true;
  MUMBA_TRY(StartLocked(app));
  return ViewOf(app);
}

Expected<AppView> Host::Stop(const std::string& ref) {
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  auto lock = OpLock(app.record.id);
  std::lock_guard guard(*lock);
  MUMBA_TRY(registry_->SetEnabled(app.record.id, false));
  {
    std::lock_guard l(mu_);
    if (auto it = apps_.find(app.record.id); it != apps_.end()) it->second.record.enabled = false;
  }
  app.record.enabled = false;
  MUMBA_TRY(supervisor_->Stop(app.record.id));
  return ViewOf(app);
}

Expected<AppView> Host::Restart(const std::string& ref) {
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  {
    auto lock = OpLock(app.record.id);
    std::lock_guard guard(*lock);
    MUMBA_TRY(supervisor_->Stop(app.record.id));
  }
  return Start(ref);
}

Expected<InstalledApp> Host::Lookup(const std::string& ref) const {
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  return InstalledApp{app.record, app.manifest};
}

Expected<AppView> Host::Describe(const std::string& ref) const {
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  return ViewOf(app);
}

std::vector<AppView> Host::List() const {
  std::vector<Loaded> apps;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, app] : apps_) apps.push_back(app);
  }
  std::vector<AppView> out;
  for (const auto& a : apps) out.push_back(ViewOf(a));
  std::sort(out.begin(), out.end(), [](const AppView& a, const AppView& b) {
    return std::tie(a.record.name, a.record.id) < std::tie(b.record.name, b.record.id);
  });
  return out;
}

Expected<RunningApp> Host::IfRunning(const std::string& ref) const {
  MUMBA_ASSIGN_OR_RETURN(Loaded app, Find(ref));
  auto d = supervisor_->Get(app.record.id);
  if (d.state != DaemonState::kRunning) {
    return FailedPrecondition(app.record.name + " is " + DaemonStateName(d.state));
  }
  return RunningApp{app.record.id, app.record.name, SocketFor(app.record.id).string(),
                    app.manifest, app.transcoder};
}

Expected<RunningApp> Host::EnsureRunning(const std::string& ref) {
  auto running = IfRunning(ref);
  if (running.ok() || running.status().code() != Code::kFailedPrecondition) return running;
  auto started = Start(ref);
  if (!started.ok()) return started.status();
  return IfRunning(ref);
}

}  // namespace mumba
