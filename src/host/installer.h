// SPDX-License-Identifier: Apache-2.0
// The installer: a bundle folder becomes an installed app — validated, copied into
// staging, validated again, renamed into place, its SQL set up or migrated and
// recorded — or nothing changes at all. Also uninstalls, and sweeps what an
// interrupted install left behind: a host killed mid-install is, at its next
// start, on the old version or the new one, whole (tests/integration/test_faults.py).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
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

// Semantic-version precedence (semver.org, item 11): negative when `a` comes
// before `b`, 0 when they rank the same (build metadata is ignored), positive
// when `a` comes after. Never fails; text that is not a version (IsValidSemver)
// ranks by its characters.
int CompareVersions(std::string_view a, std::string_view b);

// What the network offers to install over an app: the signed item's sequence
// number, the version it names and the v1 info-hash of its bundle.
struct NetworkOffer {
  int64_t seq = 0;
  std::string version;
  std::string info_hash;
};

// What is installed of that app. `seq` and `info_hash` are those of the item this
// host installed or published (the registry's p2p record), if any; `version` is
// the installed version, empty when the app is not installed.
struct InstalledLevel {
  std::optional<int64_t> seq;
  std::string info_hash;
  std::string version;
};

// The rule of every install from the network: never below what is installed, so
// that DHT nodes serving an older item that is still validly signed cannot roll
// an app back. OK when `offer` has a higher seq than the installed item (or the
// same seq and the same bundle: a reinstall) and a version not below the
// installed one; FAILED_PRECONDITION naming app `name`, what is offered and what
// is installed otherwise.
Status CheckNotBelowInstalled(const std::string& name, const NetworkOffer& offer, const InstalledLevel& installed);

// Thread-safe; one install, start or stop of the same app at a time (the
// runtime's op lock).
class Installer {
 public:
  // Every argument is borrowed and must outlive this object.
  Installer(const HomeLayout& layout, InstalledApps& apps, StoreManager& stores, AppRuntime& runtime);

  // Validates `bundle_dir` (absolute), copies it into a staging folder, validates
  // the copy, renames it into place, migrates its database, then records it. On
  // any error nothing changes: INVALID_ARGUMENT naming the bad field or migration,
  // FAILED_PRECONDITION for a database newer than the bundle, RESOURCE_EXHAUSTED
  // when the disk is full, another errno's code when the files cannot move. A
  // running app being upgraded is restarted on the new version; when the upgrade
  // fails, it goes on running the previous one.
  //
  // An app whose manifest asks for what the owner has not granted (the network,
  // peer calls, apps to call: broker/grants.h) is refused with FAILED_PRECONDITION
  // naming each ask (the message holds kAsksFor) unless `accept_asks`, which
  // grants them once the app is recorded.
  Expected<InstallResult> Install(const std::filesystem::path& bundle_dir, bool accept_asks = false);
  // The same for a bundle the host already owns in its staging folder (a fetched
  // download): it is renamed into place instead of copied. INVALID_ARGUMENT for a
  // folder outside staging; FAILED_PRECONDITION for a version below the one
  // installed (checked under the app's op lock, so no concurrent install slips
  // in between), since a download never takes an app back.
  Expected<InstallResult> InstallStaged(const std::filesystem::path& staged_dir, bool accept_asks = false);

  // Stops the app, forgets it and deletes its bundle; `purge` also deletes its data
  // and stores. Every listener added with OnUninstall is told, with the lock held.
  Status Uninstall(const std::string& ref, bool purge);
  // `fn(app_id)` runs on every uninstall: parts that keep per-app state drop it.
  void OnUninstall(std::function<void(const std::string& app_id)> fn);

  // Removes what an interrupted install left: staging folders, app folders the
  // registry does not know, and version folders moved into place whose install
  // was never recorded (their `.installing-VERSION` marker is still there), unless
  // their database steps had begun: that install is finished instead, so that the
  // app is never its old version on a database migrated for the new one. Call
  // before anything installs.
  void SweepStaging();

 private:
  Expected<InstallResult> InstallFrom(const std::filesystem::path& source, bool owned, bool accept_asks);
  // Runs the bundle's data/setup.sql on a new database, or its migrations up to
  // the manifest's schema version on an existing one.
  Status PrepareSql(const Manifest& m, const std::filesystem::path& bundle_dir);
  // Finishes the install of `folder`, moved into place beside the `recorded`
  // version but never recorded, when its database steps had begun: the remaining
  // steps run and the version is recorded. CANCELLED when nothing was migrated
  // (the folder is then to be removed); the error of a step or record otherwise.
  Status FinishInterrupted(const AppRecord& recorded, const std::filesystem::path& folder);

  const HomeLayout& layout_;
  InstalledApps& apps_;
  StoreManager& stores_;
  AppRuntime& runtime_;
  std::mutex listeners_mu_;
  std::vector<std::function<void(const std::string&)>> on_uninstall_;
};

}  // namespace mumba
