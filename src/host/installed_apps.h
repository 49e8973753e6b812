// SPDX-License-Identifier: Apache-2.0
// The installed apps as the host knows them: each app's registry record with its
// manifest and transcoder loaded once, looked up by name or address. The one cheap
// lookup every request path uses; what the daemon is doing is the lifecycle's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "broker/transcoder.h"
#include "bundle/manifest.h"
#include "host/config.h"
#include "host/registry.h"
#include "mumba/status.h"
#include "storage/store_manager.h"
#include "supervisor/supervisor.h"

namespace mumba {

// An installed app: its record, manifest and the transcoder of its exported API.
struct InstalledApp {
  AppRecord record;
  std::shared_ptr<const Manifest> manifest;
  std::shared_ptr<const Transcoder> transcoder;
  // What the owner granted of what the manifest asks (broker/grants.h): an ask the
  // manifest no longer makes counts for nothing, whatever was granted before.
  std::set<std::string> granted;

  bool Granted(const std::string& ask) const { return granted.contains(ask); }
};

// An installed app as the host sees it right now, daemon and storage included.
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
  std::string sandbox;         // How its daemon is confined (DaemonSandbox::SummaryFor).
  std::set<std::string> granted;  // What the owner granted of what it asks (InstalledApp::granted).
};

// Reads the manifest and descriptor set of the bundle `record` points at.
// The errors of LoadManifest and Transcoder::Load.
Expected<InstalledApp> LoadInstalledApp(const AppRecord& record);

// Thread-safe. Writes go to the registry first, then to memory, so memory never
// shows what the registry would not bring back after a restart.
class InstalledApps final : public AppDirectory {
 public:
  // Loads every app the registry lists; one that cannot be loaded is logged and
  // left out (it stays in the registry). `registry` must outlive this object.
  InstalledApps(Registry& registry, const HostConfig& config);

  // By address (either form) or by name. INVALID_ARGUMENT for an empty ref,
  // NOT_FOUND when none is installed, FAILED_PRECONDITION when two share the name.
  Expected<InstalledApp> Find(const std::string& ref) const;
  // By canonical id; NOT_FOUND otherwise.
  Expected<InstalledApp> Get(const std::string& id) const;
  std::vector<InstalledApp> All() const;
  // Every record of the registry, also those whose bundle cannot be loaded.
  std::vector<AppRecord> Recorded() const { return registry_.List(); }

  // Records `app` in the registry and then here, with the grants the registry
  // holds for it (app.granted is not read). On error nothing changed.
  Status Put(const InstalledApp& app);
  // Forgets the app in the registry and here.
  Status Remove(const std::string& id);
  // Grants `asks` to app `id` and takes back `revoke`, in the registry and then
  // here. On error nothing changed.
  Status SetGrants(const std::string& id, const std::vector<std::string>& asks,
                   const std::vector<std::string>& revoke = {});
  // Every grant the registry holds for app `id`, installed or not.
  std::set<std::string> GrantsOf(const std::string& id) const { return registry_.Grants(id); }
  // Whether the host keeps the app running (and starts it at boot).
  Status SetEnabled(const std::string& id, bool enabled);

  // AppDirectory, for the store manager.
  Expected<std::string> ResolveApp(const std::string& ref) const override;
  bool ExportsTo(const std::string& owner_id, StoreKind kind, const std::string& db,
                 const std::string& reader_id) const override;
  uint64_t QuotaFor(const std::string& app_id) const override;

 private:
  Registry& registry_;
  const HostConfig& config_;
  mutable std::mutex mu_;
  std::map<std::string, InstalledApp> apps_;  // By id.
};

}  // namespace mumba
