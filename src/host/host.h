// SPDX-License-Identifier: Apache-2.0
// The host's core: what `mumba install/start/stop/call/route` do, independent of
// how requests arrive.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/daemon_client.h"
#include "broker/transcoder.h"
#include "bundle/manifest.h"
#include "common/paths.h"
#include "common/work_queue.h"
#include "host/config.h"
#include "host/registry.h"
#include "mumba/status.h"
#include "storage/storage_service.h"
#include "storage/store_manager.h"
#include "supervisor/supervisor.h"

namespace grpc {
class Server;
}

namespace mumba {
class Distribution;
class AutomationService;
class EventsService;
class Windows;
struct WindowView;
class Gateway;
class HomeApp;
class HostGatewayBackend;
}

namespace mumba {

struct HostOptions {
  std::filesystem::path home;
  SupervisorOptions supervisor;
  // Override config.toml's [p2p] listen and bootstrap when set.
  std::optional<std::string> p2p_listen;
  std::optional<std::vector<std::string>> p2p_bootstrap;
};

// An installed app as the host sees it right now.
struct AppView {
  AppRecord record;
  std::shared_ptr<const Manifest> manifest;
  DaemonStatus daemon;
  std::filesystem::path socket;
  std::filesystem::path data_dir;
  std::filesystem::path log_file;
  std::filesystem::path stores_dir;
  uint64_t storage_bytes = 0;  // Used by the app's stores now.
  uint64_t quota_bytes = 0;    // 0 = no limit.
};

// An installed app's record and manifest only.
struct InstalledApp {
  AppRecord record;
  std::shared_ptr<const Manifest> manifest;
};

// What a call or route needs to reach a running daemon.
struct RunningApp {
  std::string id;
  std::string name;
  std::string socket;
  std::shared_ptr<const Manifest> manifest;
  std::shared_ptr<const Transcoder> transcoder;
};

struct InstallResult {
  AppView app;
  bool replaced = false;
};

// Thread-safe. Methods that start or stop daemons block until that is done.
class Host final : public AppDirectory {
 public:
  // Reads config.toml, opens the registry and loads every installed app; starts no
  // daemon yet.
  static Expected<std::unique_ptr<Host>> Create(HostOptions options);
  ~Host();

  // Starts, in parallel, every app that was running when the host last stopped.
  void StartEnabledApps();

  // Validates `bundle_dir`, copies it into a staging folder, validates the copy
  // and renames it into place, then records it. On any error nothing changes. A
  // running app being upgraded is restarted on the new version.
  Expected<InstallResult> Install(const std::filesystem::path& bundle_dir);
  // The same for a bundle the host already owns in its staging folder (a fetched
  // download): it is renamed into place instead of copied.
  Expected<InstallResult> InstallStaged(const std::filesystem::path& staged_dir);
  Status Uninstall(const std::string& ref, bool purge);

  Expected<AppView> Start(const std::string& ref);
  Expected<AppView> Stop(const std::string& ref);
  Expected<AppView> Restart(const std::string& ref);
  Expected<AppView> Describe(const std::string& ref) const;
  // The same without the daemon's state and the storage use, which Describe
  // measures on disk: for lookups made on every request, such as the gateway's.
  Expected<InstalledApp> Lookup(const std::string& ref) const;
  std::vector<AppView> List() const;

  // The app's daemon if it is running now; FAILED_PRECONDITION otherwise. Never blocks.
  Expected<RunningApp> IfRunning(const std::string& ref) const;
  // The app's daemon, starting it first if needed (blocks while it starts).
  Expected<RunningApp> EnsureRunning(const std::string& ref);

  // Serves every app's pages on the gateway (config.toml [gateway] port).
  Status StartGateway();
  // The socket the app's daemon reaches the host on (made if needed): its storage,
  // events and automation, scoped to that app.
  Expected<std::filesystem::path> AppHostSocket(const std::string& id) { return EnsureEndpoint(id); }

  // The gateway, or nullptr before StartGateway.
  Gateway* gateway() const { return gateway_.get(); }
  // "http://<name>.localhost:<port>": where the app's pages live. FAILED_PRECONDITION
  // without a gateway.
  Expected<std::string> OriginOf(const std::string& ref) const;

  // The id windows of app `ref` are filed under: the app's id, or "home" for the
  // host's home app.
  Expected<std::string> WindowOwner(const std::string& ref) const;

  // Opens `path` of the app in a new window of its Chromium. Headless when
  // `force_headless` or when the host has no display.
  Expected<WindowView> Launch(const std::string& ref, const std::string& path, bool force_headless);
  Windows& windows() { return *windows_; }
  // The host's home app, or nullptr before StartGateway.
  HomeApp* home() const { return home_.get(); }
  // True once Shutdown began: long-running calls (event streams) end.
  bool stopping() const { return stopping_; }

  DaemonClient& daemons() { return daemons_; }
  StoreManager& stores() { return *stores_; }
  Registry& registry() { return *registry_; }
  Distribution& distribution() { return *distribution_; }
  const HostConfig& config() const { return config_; }
  const HomeLayout& layout() const { return layout_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // Stops every daemon, keeping the record of which ones should run at boot, and
  // the BitTorrent node.
  void Shutdown();

  // AppDirectory, for the store manager.
  Expected<std::string> ResolveApp(const std::string& ref) const override;
  bool ExportsTo(const std::string& owner_id, StoreKind kind, const std::string& db,
                 const std::string& reader_id) const override;
  uint64_t QuotaFor(const std::string& app_id) const override;

 private:
  struct Loaded {
    AppRecord record;
    std::shared_ptr<const Manifest> manifest;
    std::shared_ptr<const Transcoder> transcoder;
  };

  // The socket an app's daemon reaches the host on: the host knows every call
  // arriving there comes from that app.
  struct AppEndpoint {
    std::filesystem::path socket;
    std::unique_ptr<StorageServices> storage;
    std::unique_ptr<EventsService> events;
    std::unique_ptr<AutomationService> automation;
    std::unique_ptr<grpc::Server> server;
    ~AppEndpoint();
  };

  Host(HostOptions options, HostConfig config, std::unique_ptr<Registry> registry);
  Expected<std::filesystem::path> EnsureEndpoint(const std::string& id);
  void DropEndpoint(const std::string& id);
  // Runs the bundle's data/setup.sql on a new database, or its migrations up to the
  // manifest's schema version on an existing one.
  Status PrepareSql(const Manifest& m, const std::filesystem::path& bundle_dir);
  Status LoadAll();
  Expected<Loaded> Load(const AppRecord& record) const;
  Expected<Loaded> Find(const std::string& ref) const;
  DaemonSpec SpecFor(const Loaded& app) const;
  AppView ViewOf(const Loaded& app) const;
  std::filesystem::path SocketFor(const std::string& id) const;
  std::filesystem::path HostSocketFor(const std::string& id) const;
  std::shared_ptr<std::mutex> OpLock(const std::string& id);
  Status StartLocked(const Loaded& app);
  Expected<InstallResult> InstallFrom(const std::filesystem::path& source, bool owned);
  void SweepStaging();

  HostOptions options_;
  HostConfig config_;
  HomeLayout layout_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<Supervisor> supervisor_;
  DaemonClient daemons_;
  std::unique_ptr<StoreManager> stores_;
  std::unique_ptr<Distribution> distribution_;
  std::unique_ptr<HostGatewayBackend> gateway_backend_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<Windows> windows_;
  std::unique_ptr<HomeApp> home_;
  std::atomic<bool> stopping_{false};
  std::chrono::steady_clock::time_point started_;

  mutable std::mutex mu_;
  std::map<std::string, Loaded> apps_;                        // By id.
  std::map<std::string, std::shared_ptr<std::mutex>> op_locks_;  // By id.

  std::mutex endpoints_mu_;
  std::map<std::string, std::unique_ptr<AppEndpoint>> endpoints_;  // By id.
};

// Runs `then` with the running app `ref`: at once on this thread when it runs
// already (the fast path), or on `work` after starting it (starting blocks).
void WithRunningApp(Host* host, WorkQueue& work, const std::string& ref,
                    std::function<void(Expected<RunningApp>)> then);

}  // namespace mumba
