// SPDX-License-Identifier: Apache-2.0
// The installer: a bundle folder becomes an installed app — validated, copied into
// staging, validated again, its SQL set up or migrated, renamed into place and
// recorded — or nothing changes at all. Also uninstalls, and sweeps what an
// interrupted install left behind.
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/paths.h"
#include "host/app_lifecycle.h"
#include "host/installed_apps.h"
#include "mumba/status.h"
#include "storage/store_manager.h"

namespace mumba {

struct InstallResult {
  AppView app;
  bool replaced = false;
};

// Thread-safe; one install, start or stop of the same app at a time (the
// runtime's op lock).
class Installer {
 public:
  // Every argument is borrowed and must outlive this object.
  Installer(const HomeLayout& layout, InstalledApps& apps, StoreManager& stores, AppRuntime& runtime);

  // Validates `bundle_dir` (absolute), copies it into a staging folder, validates
  // the copy and renames it into place, then records it. On any error nothing
  // changes: INVALID_ARGUMENT naming the bad field or migration, FAILED_PRECONDITION
  // for a database newer than the bundle, INTERNAL when the files cannot move. A
  // running app being upgraded is restarted on the new version; when the upgrade
  // fails, it goes on running the previous one.
  Expected<InstallResult> Install(const std::filesystem::path& bundle_dir);
  // The same for a bundle the host already owns in its staging folder (a fetched
  // download): it is renamed into place instead of copied. INVALID_ARGUMENT for a
  // folder outside staging.
  Expected<InstallResult> InstallStaged(const std::filesystem::path& staged_dir);

  // Stops the app, forgets it and deletes its bundle; `purge` also deletes its data
  // and stores. Every listener added with OnUninstall is told, with the lock held.
  Status Uninstall(const std::string& ref, bool purge);
  // `fn(app_id)` runs on every uninstall: parts that keep per-app state drop it.
  void OnUninstall(std::function<void(const std::string& app_id)> fn);

  // Removes what an interrupted install left: staging folders and app folders the
  // registry does not know. Call before anything installs.
  void SweepStaging();

 private:
  Expected<InstallResult> InstallFrom(const std::filesystem::path& source, bool owned);
  // Runs the bundle's data/setup.sql on a new database, or its migrations up to
  // the manifest's schema version on an existing one.
  Status PrepareSql(const Manifest& m, const std::filesystem::path& bundle_dir);

  const HomeLayout& layout_;
  InstalledApps& apps_;
  StoreManager& stores_;
  AppRuntime& runtime_;
  std::mutex listeners_mu_;
  std::vector<std::function<void(const std::string&)>> on_uninstall_;
};

}  // namespace mumba
