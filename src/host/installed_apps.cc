// SPDX-License-Identifier: Apache-2.0
#include "host/installed_apps.h"

#include <spdlog/spdlog.h>

#include "broker/grants.h"
#include "bundle/bundle.h"
#include "common/keys.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

// The grants that count: those of asks the manifest still makes.
std::set<std::string> Effective(const Manifest& manifest, const std::set<std::string>& granted) {
  std::set<std::string> out;
  for (auto& ask : AsksOf(manifest)) {
    if (granted.contains(ask)) out.insert(std::move(ask));
  }
  return out;
}

}  // namespace

Expected<InstalledApp> LoadInstalledApp(const AppRecord& record) {
  InstalledApp app;
  app.record = record;
  MUMBA_ASSIGN_OR_RETURN(Manifest manifest, LoadManifest(record.install_dir));
  app.manifest = std::make_shared<const Manifest>(std::move(manifest));
  MUMBA_ASSIGN_OR_RETURN(app.transcoder, Transcoder::Load(fs::path(record.install_dir) / kDescriptorSetPath,
                                                          app.manifest->services));
  return app;
}

InstalledApps::InstalledApps(Registry& registry, const HostConfig& config)
    : registry_(registry), config_(config) {
  for (const auto& r : registry_.List()) {
    auto app = LoadInstalledApp(r);
    if (!app.ok()) {
      spdlog::error("installed app {} ({}) cannot be loaded: {}", r.name, r.id, app.status().message());
      continue;
    }
    if (registry_.grants_backfill()) {
      if (Status st = registry_.SetGrants(r.id, AsksOf(*app->manifest)); !st.ok()) {
        spdlog::error("cannot grant {} what it was installed with: {}", r.name, st.message());
      }
    }
    app->granted = Effective(*app->manifest, registry_.Grants(r.id));
    apps_[r.id] = std::move(*app);
  }
}

Expected<InstalledApp> InstalledApps::Find(const std::string& ref) const {
  if (ref.empty()) return InvalidArgument("no app given");
  std::lock_guard lock(mu_);
  if (LooksLikeAddress(ref)) {
    MUMBA_ASSIGN_OR_RETURN(std::string address, NormalizeAddress(ref));
    auto it = apps_.find(address);
    if (it == apps_.end()) return NotFound("app " + address + " is not installed");
    return it->second;
  }
  const InstalledApp* found = nullptr;
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

Expected<InstalledApp> InstalledApps::Get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = apps_.find(id);
  if (it == apps_.end()) return NotFound("app " + id + " is not installed");
  return it->second;
}

std::vector<InstalledApp> InstalledApps::All() const {
  std::lock_guard lock(mu_);
  std::vector<InstalledApp> out;
  for (const auto& [id, app] : apps_) out.push_back(app);
  return out;
}

Status InstalledApps::Put(const InstalledApp& app) {
  MUMBA_TRY(registry_.Put(app.record));
  InstalledApp copy = app;
  copy.granted = Effective(*app.manifest, registry_.Grants(app.record.id));
  std::lock_guard lock(mu_);
  apps_[app.record.id] = std::move(copy);
  return Status();
}

Status InstalledApps::SetGrants(const std::string& id, const std::vector<std::string>& asks,
                                const std::vector<std::string>& revoke) {
  MUMBA_TRY(registry_.SetGrants(id, asks, revoke));
  std::set<std::string> granted = registry_.Grants(id);
  std::lock_guard lock(mu_);
  if (auto it = apps_.find(id); it != apps_.end()) it->second.granted = Effective(*it->second.manifest, granted);
  return Status();
}

Status InstalledApps::Remove(const std::string& id) {
  MUMBA_TRY(registry_.RemoveGrants(id));
  MUMBA_TRY(registry_.Remove(id));
  std::lock_guard lock(mu_);
  apps_.erase(id);
  return Status();
}

Status InstalledApps::SetEnabled(const std::string& id, bool enabled) {
  MUMBA_TRY(registry_.SetEnabled(id, enabled));
  std::lock_guard lock(mu_);
  if (auto it = apps_.find(id); it != apps_.end()) it->second.record.enabled = enabled;
  return Status();
}

Expected<std::string> InstalledApps::ResolveApp(const std::string& ref) const {
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, Find(ref));
  return app.record.id;
}

bool InstalledApps::ExportsTo(const std::string& owner_id, StoreKind kind, const std::string& db,
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

uint64_t InstalledApps::QuotaFor(const std::string& app_id) const {
  std::string name;
  {
    std::lock_guard lock(mu_);
    if (auto it = apps_.find(app_id); it != apps_.end()) name = it->second.record.name;
  }
  return config_.QuotaFor(app_id, name);
}

}  // namespace mumba
