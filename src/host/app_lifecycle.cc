// SPDX-License-Identifier: Apache-2.0
#include "host/app_lifecycle.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/keys.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {
std::string KeyPart(const std::string& id) { return id.substr(kAddressScheme.size()); }

// The whole environment of an app's daemon, with paths as the daemon sees them
// (inside its sandbox: /app, /data, /run/mumba/...); README.md documents the list.
// A daemon is started from a fixed environment, never from the host's: whatever the
// shell that started the host held (SSH_AUTH_SOCK, tokens, cloud credentials) must
// not reach code an owner merely installed. It gets what the host says about the app
// (the MUMBA_* variables the SDK reads), a PATH of the system's folders, the host's
// LANG (C.UTF-8 when the host has none) and TZ only when the host has one, so its
// text and times read as the owner's; and HOME is its own data folder, so libraries
// that write under ~ write where the app may write, not into the owner's home.
std::map<std::string, std::string> DaemonEnvironment(const AppRecord& record, const fs::path& app_dir,
                                                     const fs::path& run_dir, const fs::path& data_dir) {
  std::map<std::string, std::string> env = {
      {"MUMBA_APP_ID", record.id},
      {"MUMBA_APP_NAME", record.name},
      {"MUMBA_APP_VERSION", record.version},
      {"MUMBA_APP_SOCKET", (run_dir / "app.sock").string()},
      {"MUMBA_HOST_SOCKET", (run_dir / "host.sock").string()},
      {"MUMBA_BROKER_SOCKET", (run_dir / "broker.sock").string()},
      {"MUMBA_APP_DATA", data_dir.string()},
      {"MUMBA_APP_DIR", app_dir.string()},
      {"PATH", "/usr/local/bin:/usr/bin:/bin"},
      {"HOME", data_dir.string()},
  };
  const char* lang = std::getenv("LANG");
  env["LANG"] = lang && *lang ? lang : "C.UTF-8";
  if (const char* tz = std::getenv("TZ")) env["TZ"] = tz;
  return env;
}
}  // namespace

AppLifecycle::AppLifecycle(const HomeLayout& layout, InstalledApps& apps, Supervisor& supervisor,
                           AppEndpoints& endpoints, AppBroker& broker, StoreManager& stores,
                           const DaemonSandbox& sandbox)
    : layout_(layout),
      apps_(apps),
      supervisor_(supervisor),
      endpoints_(endpoints),
      broker_(broker),
      stores_(stores),
      sandbox_(sandbox) {}

void AppLifecycle::StartEnabledApps() {
  std::vector<InstalledApp> enabled;
  for (auto& app : apps_.All()) {
    if (app.record.enabled) enabled.push_back(std::move(app));
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

fs::path AppLifecycle::DataDir(const std::string& id) const { return layout_.data_dir() / KeyPart(id); }

fs::path AppLifecycle::LogFile(const AppRecord& record) const {
  return layout_.logs_dir() / (record.name + "-" + KeyPart(record.id).substr(0, 8) + ".log");
}

Expected<DaemonSpec> AppLifecycle::SpecFor(const InstalledApp& app) const {
  const AppJail jail{app.record.install_dir, DataDir(app.record.id), endpoints_.RunDir(app.record.id),
                     app.Granted("network")};
  const fs::path dir = sandbox_.AppDirFor(jail);
  DaemonSpec spec;
  spec.id = app.record.id;
  spec.name = app.record.name;
  spec.executable = dir / app.manifest->daemon_command;
  spec.args = app.manifest->daemon_args;
  spec.working_dir = dir;
  spec.socket = endpoints_.ServeSocket(app.record.id);
  spec.claimed_socket = endpoints_.DaemonSocket(app.record.id);
  spec.log_file = LogFile(app.record);
  spec.env = DaemonEnvironment(app.record, dir, sandbox_.RunDirFor(jail), sandbox_.DataDirFor(jail));
  MUMBA_TRY(sandbox_.Apply(jail, spec));
  return spec;
}

AppView AppLifecycle::ViewOf(const InstalledApp& app) const {
  AppView v;
  v.record = app.record;
  v.manifest = app.manifest;
  v.daemon = supervisor_.Get(app.record.id);
  v.socket = endpoints_.DaemonSocket(app.record.id);
  v.data_dir = DataDir(app.record.id);
  v.log_file = LogFile(app.record);
  v.stores_dir = stores_.AppRoot(app.record.id);
  v.storage_bytes = stores_.UsedBytes(app.record.id);
  v.quota_bytes = apps_.QuotaFor(app.record.id);
  v.sandbox = sandbox_.SummaryFor(app.Granted("network"));
  v.granted = app.granted;
  return v;
}

std::shared_ptr<std::mutex> AppLifecycle::OpLock(const std::string& id) {
  std::lock_guard lock(locks_mu_);
  auto& m = op_locks_[id];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

bool AppLifecycle::Active(const std::string& id) const {
  auto d = supervisor_.Get(id);
  return d.state == DaemonState::kRunning || d.state == DaemonState::kStarting ||
         d.state == DaemonState::kBackoff;
}

Status AppLifecycle::StopDaemon(const std::string& id) { return supervisor_.Stop(id); }

Status AppLifecycle::StartLocked(const InstalledApp& app) {
  std::error_code ec;
  fs::create_directories(DataDir(app.record.id), ec);
  MUMBA_ASSIGN_OR_RETURN(DaemonSpec spec, SpecFor(app));
  MUMBA_TRY(endpoints_.Ensure(app.record.id).status());
  MUMBA_TRY(broker_.Serve(app.record.id, endpoints_.RunDir(app.record.id) / "broker.sock"));
  return supervisor_.Start(spec);
}

Expected<AppView> AppLifecycle::Start(const std::string& ref) { return SetEnabled(ref, true); }

Expected<AppView> AppLifecycle::Stop(const std::string& ref) { return SetEnabled(ref, false); }

Expected<AppView> AppLifecycle::SetEnabled(const std::string& ref, bool enabled) {
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, apps_.Find(ref));
  auto lock = OpLock(app.record.id);
  std::lock_guard guard(*lock);
  MUMBA_TRY(apps_.SetEnabled(app.record.id, enabled));
  app.record.enabled = enabled;
  MUMBA_TRY(enabled ? StartLocked(app) : supervisor_.Stop(app.record.id));
  return ViewOf(app);
}

Expected<AppView> AppLifecycle::Restart(const std::string& ref) {
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, apps_.Find(ref));
  {
    auto lock = OpLock(app.record.id);
    std::lock_guard guard(*lock);
    MUMBA_TRY(supervisor_.Stop(app.record.id));
  }
  return Start(ref);
}

Expected<AppView> AppLifecycle::Describe(const std::string& ref) const {
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, apps_.Find(ref));
  return ViewOf(app);
}

std::vector<AppView> AppLifecycle::List() const {
  std::vector<AppView> out;
  for (const auto& a : apps_.All()) out.push_back(ViewOf(a));
  std::sort(out.begin(), out.end(), [](const AppView& a, const AppView& b) {
    return std::tie(a.record.name, a.record.id) < std::tie(b.record.name, b.record.id);
  });
  return out;
}

Expected<RunningApp> AppLifecycle::IfRunning(const std::string& ref) const {
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, apps_.Find(ref));
  auto d = supervisor_.Get(app.record.id);
  if (d.state != DaemonState::kRunning) {
    return FailedPrecondition(app.record.name + " is " + DaemonStateName(d.state));
  }
  return RunningApp{app.record.id, app.record.name, endpoints_.DaemonSocket(app.record.id).string(),
                    app.manifest, app.transcoder};
}

Expected<RunningApp> AppLifecycle::EnsureRunning(const std::string& ref) {
  auto running = IfRunning(ref);
  if (running.ok() || running.status().code() != Code::kFailedPrecondition) return running;
  auto started = Start(ref);
  if (!started.ok()) return started.status();
  return IfRunning(ref);
}

void WithRunningApp(AppLifecycle& apps, WorkQueue& work, const std::string& ref,
                    std::function<void(Expected<RunningApp>)> then) {
  auto running = apps.IfRunning(ref);
  if (running.ok() || running.status().code() != Code::kFailedPrecondition) {
    then(std::move(running));
    return;
  }
  work.Post([&apps, ref, then = std::move(then)] { then(apps.EnsureRunning(ref)); });
}

}  // namespace mumba
