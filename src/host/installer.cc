// SPDX-License-Identifier: Apache-2.0
#include "host/installer.h"

#include <fcntl.h>

#include <algorithm>
#include <optional>

#include <spdlog/spdlog.h>

#include "broker/grants.h"
#include "bundle/bundle.h"
#include "common/files.h"
#include "common/keys.h"
#include "platform/errno_status.h"
#include "platform/unique_fd.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

std::string KeyPart(const std::string& id) { return id.substr(kAddressScheme.size()); }

// An empty file `<app folder>/.installing-<version>` lives from just before a new
// version folder is moved into place until the registry records it.
constexpr std::string_view kInstallingPrefix = ".installing-";

Status CreateEmptyFile(const fs::path& p) {
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return ErrnoStatus(errno, "cannot create " + p.string());
  return Status();
}

void RemoveTree(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", p.string(), ec.message());
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Numbers of any length, without leading zeros (semver forbids them): the longer
// is larger, and equal lengths compare as text.
int CompareNumbers(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
}

// The next '.'-separated part of `s` from `pos`, which moves past it.
std::string_view NextPart(std::string_view s, size_t& pos) {
  size_t end = s.find('.', pos);
  if (end == std::string_view::npos) end = s.size();
  std::string_view part = s.substr(pos, end - pos);
  pos = end + 1;
  return part;
}

// Pre-release identifiers: numeric ones by value and below alphanumeric ones,
// which compare as text; a shorter list that is a prefix of the longer is lower.
int ComparePrerelease(std::string_view a, std::string_view b) {
  size_t pa = 0, pb = 0;
  while (pa <= a.size() && pb <= b.size()) {
    std::string_view x = NextPart(a, pa), y = NextPart(b, pb);
    bool nx = AllDigits(x), ny = AllDigits(y);
    int c = nx && ny ? CompareNumbers(x, y) : nx ? -1 : ny ? 1 : x.compare(y);
    if (c != 0) return c < 0 ? -1 : 1;
  }
  if (pa > a.size() && pb > b.size()) return 0;
  return pa > a.size() ? -1 : 1;
}

}  // namespace

int CompareVersions(std::string_view a, std::string_view b) {
  if (!IsValidSemver(a) || !IsValidSemver(b)) return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
  auto core_end = [](std::string_view v) { return std::min(v.find('-'), v.find('+')); };
  std::string_view ca = a.substr(0, core_end(a)), cb = b.substr(0, core_end(b));
  size_t pa = 0, pb = 0;
  for (int i = 0; i < 3; ++i) {
    if (int c = CompareNumbers(NextPart(ca, pa), NextPart(cb, pb)); c != 0) return c;
  }
  auto prerelease = [](std::string_view v) {
    size_t dash = v.find('-');
    size_t plus = v.find('+');
    if (dash == std::string_view::npos || dash > plus) return std::string_view();
    return v.substr(dash + 1, plus == std::string_view::npos ? std::string_view::npos : plus - dash - 1);
  };
  std::string_view ra = prerelease(a), rb = prerelease(b);
  // A release ranks above its pre-releases.
  if (ra.empty() || rb.empty()) return ra.empty() == rb.empty() ? 0 : ra.empty() ? 1 : -1;
  return ComparePrerelease(ra, rb);
}

Status CheckNotBelowInstalled(const std::string& name, const NetworkOffer& offer, const InstalledLevel& installed) {
  const std::string offered = name + " " + offer.version + " (seq " + std::to_string(offer.seq) + ")";
  if (installed.seq && offer.seq < *installed.seq) {
    return FailedPrecondition("refused: the network offers " + offered + ", older than the seq " +
                              std::to_string(*installed.seq) + " installed here; an app is never installed "
                              "below what is installed");
  }
  if (installed.seq && offer.seq == *installed.seq && offer.info_hash != installed.info_hash) {
    return FailedPrecondition("refused: the network offers " + offered + ", another bundle under the seq " +
                              std::to_string(*installed.seq) + " installed here");
  }
  if (!installed.version.empty() && CompareVersions(offer.version, installed.version) < 0) {
    return FailedPrecondition("refused: the network offers " + offered + ", below the " + name + " " +
                              installed.version + " installed here; an app is never installed below what is "
                              "installed");
  }
  return Status();
}

Installer::Installer(const HomeLayout& layout, InstalledApps& apps, StoreManager& stores,
                     AppRuntime& runtime)
    : layout_(layout), apps_(apps), stores_(stores), runtime_(runtime) {}

void Installer::OnUninstall(std::function<void(const std::string& app_id)> fn) {
  std::lock_guard lock(listeners_mu_);
  on_uninstall_.push_back(std::move(fn));
}

Status Installer::PrepareSql(const Manifest& m, const fs::path& bundle_dir) {
  fs::path setup = bundle_dir / "data" / "setup.sql";
  fs::path migrations = bundle_dir / "data" / "migrations";
  std::error_code ec;
  if (!fs::exists(setup, ec) && !fs::exists(migrations, ec)) return Status();
  std::string db = m.storage.sql.empty() ? "main" : m.storage.sql.front();
  int64_t target = m.storage.schema_version > 0 ? m.storage.schema_version : 1;
  MUMBA_ASSIGN_OR_RETURN(std::shared_ptr<engine::SqlStore> store, stores_.SqlForHost(m.id, db));
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

void Installer::SweepStaging() {
  // Whatever an interrupted install left behind is not installed: remove it.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(layout_.staging_dir(), ec)) RemoveTree(e.path());
  // App folders the registry does not know are leftovers of an interrupted install.
  std::map<std::string, bool> known;
  for (const auto& r : apps_.Recorded()) known[KeyPart(r.id)] = true;
  for (const auto& e : fs::directory_iterator(layout_.apps_dir(), ec)) {
    auto name = e.path().filename().string();
    if (name.starts_with(".")) continue;
    if (!known.count(name)) RemoveTree(e.path());
  }
  // A version folder whose marker outlived its install was moved into place but
  // never recorded: the install was cut short. It is finished when its database
  // steps had begun (the recorded version cannot use that database any more) and
  // removed otherwise (else a rollback would "go back" to a version never installed).
  for (const auto& r : apps_.Recorded()) {
    fs::path app_dir = layout_.apps_dir() / KeyPart(r.id);
    for (const auto& e : fs::directory_iterator(app_dir, ec)) {
      auto name = e.path().filename().string();
      if (!name.starts_with(kInstallingPrefix)) continue;
      auto version = name.substr(kInstallingPrefix.size());
      if (version != r.version && IsValidSemver(version)) {
        if (Status done = FinishInterrupted(r, app_dir / version); !done.ok()) {
          if (done.code() != Code::kCancelled) spdlog::warn("{}: {}", r.name, done.message());
          RemoveTree(app_dir / version);
        }
      }
      RemoveTree(e.path());
    }
  }
}

Status Installer::FinishInterrupted(const AppRecord& recorded, const fs::path& folder) {
  MUMBA_ASSIGN_OR_RETURN(Manifest m, LoadManifest(folder));
  MUMBA_ASSIGN_OR_RETURN(Manifest old, LoadManifest(recorded.install_dir));
  std::error_code ec;
  auto has_sql = [&](const fs::path& dir) {
    return fs::exists(dir / "data" / "setup.sql", ec) || fs::exists(dir / "data" / "migrations", ec);
  };
  if (m.id != recorded.id || !has_sql(folder)) return Status(Code::kCancelled, "nothing was migrated");
  std::string db = m.storage.sql.empty() ? "main" : m.storage.sql.front();
  int64_t old_schema = has_sql(recorded.install_dir) ? std::max<int64_t>(old.storage.schema_version, 1) : 0;
  MUMBA_ASSIGN_OR_RETURN(std::shared_ptr<engine::SqlStore> store, stores_.SqlForHost(m.id, db));
  MUMBA_ASSIGN_OR_RETURN(int64_t current, store->SchemaVersion());
  if (current <= old_schema) return Status(Code::kCancelled, "nothing was migrated");
  MUMBA_TRY(PrepareSql(m, folder));
  AppRecord record = recorded;
  record.version = m.version;
  record.name = m.name;
  record.description = m.description;
  record.install_dir = folder.string();
  record.installed_at_ms = NowMs();
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, LoadInstalledApp(record));
  MUMBA_TRY(apps_.Put(app));
  spdlog::info("finished the interrupted install of {} {}", m.name, m.version);
  return Status();
}

Expected<InstallResult> Installer::Install(const fs::path& source, bool accept_asks) {
  return InstallFrom(source, false, accept_asks);
}

Expected<InstallResult> Installer::InstallStaged(const fs::path& staged, bool accept_asks) {
  if (staged.parent_path().parent_path() != layout_.staging_dir() &&
      staged.parent_path() != layout_.staging_dir()) {
    return InvalidArgument(staged.string() + " is not in the host's staging folder");
  }
  return InstallFrom(staged, true, accept_asks);
}

Expected<InstallResult> Installer::InstallFrom(const fs::path& source, bool owned, bool accept_asks) {
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
  auto lock = runtime_.OpLock(m.id);
  std::lock_guard guard(*lock);

  std::optional<InstalledApp> previous;
  if (auto found = apps_.Get(m.id); found.ok()) previous = std::move(*found);
  if (owned && previous && CompareVersions(m.version, previous->record.version) < 0) {
    RemoveTree(staging);
    return FailedPrecondition("refused: " + m.name + " " + m.version + " is below the " + previous->record.version +
                              " installed; a download never takes an app back (mumba rollback does)");
  }
  // The owner says yes to what an app asks for before it is installed, so that
  // nothing an owner never saw runs with the network or calls other apps.
  const std::vector<std::string> ungranted = UngrantedAsks(m, apps_.GrantsOf(m.id));
  if (!ungranted.empty() && !accept_asks) {
    if (!owned) RemoveTree(staging);
    std::string asks;
    for (const auto& a : ungranted) asks += (asks.empty() ? "" : "; ") + DescribeAsk(a);
    return FailedPrecondition(m.name + " " + m.version + std::string(kAsksFor) + asks +
                              " (say yes to install it: mumba install --yes)");
  }
  bool was_running = false;
  if (previous) {
    was_running = runtime_.Active(m.id);
    if (was_running) (void)runtime_.StopDaemon(m.id);
  }

  fs::path app_dir = layout_.apps_dir() / KeyPart(m.id);
  fs::path final_dir = app_dir / m.version;
  fs::path trash;
  std::error_code ec;
  fs::path marker;
  Status moved;
  fs::create_directories(app_dir, ec);
  if (!ec && fs::exists(final_dir)) {
    trash = layout_.staging_dir() / (RandomSuffix() + ".old");
    fs::rename(final_dir, trash, ec);
  } else if (!ec) {
    marker = app_dir / (std::string(kInstallingPrefix) + m.version);
    moved = CreateEmptyFile(marker);
  }
  if (!ec && moved.ok()) fs::rename(staging, final_dir, ec);
  if (ec && moved.ok()) moved = ErrnoStatus(ec.value(), "cannot move the bundle into place");
  if (!moved.ok()) {
    if (!trash.empty()) fs::rename(trash, final_dir, ec);
    if (!marker.empty()) RemoveTree(marker);
    RemoveTree(staging);
    if (previous && was_running) (void)runtime_.StartLocked(*previous);
    return moved;
  }
  // The database moves to the new schema while no daemon uses it, from the folder
  // already in place: a host killed from here on finishes this install at its next
  // start (SweepStaging) when a step was made. A failed step rolls back, and the
  // previous version goes on as it was.
  if (Status sql = PrepareSql(m, final_dir); !sql.ok()) {
    RemoveTree(final_dir);
    if (!trash.empty()) fs::rename(trash, final_dir, ec);
    if (!marker.empty()) RemoveTree(marker);
    if (!previous) fs::remove(app_dir, ec);
    if (previous && was_running) (void)runtime_.StartLocked(*previous);
    return sql;
  }

  AppRecord record;
  record.id = m.id;
  record.name = m.name;
  record.version = m.version;
  record.description = m.description;
  record.install_dir = final_dir.string();
  record.enabled = previous ? previous->record.enabled : false;
  record.installed_at_ms = NowMs();
  auto loaded = LoadInstalledApp(record);
  if (loaded.ok()) st = apps_.Put(*loaded);
  else st = loaded.status();
  if (!st.ok()) {
    RemoveTree(final_dir);
    if (!trash.empty()) fs::rename(trash, final_dir, ec);
    if (!marker.empty()) RemoveTree(marker);
    if (previous && was_running) (void)runtime_.StartLocked(*previous);
    return st;
  }
  if (!ungranted.empty()) {
    if (Status granted = apps_.SetGrants(m.id, ungranted); !granted.ok()) {
      spdlog::error("{} is installed but what it asks for is not granted: {}", m.name, granted.message());
    }
    if (auto now = apps_.Get(m.id); now.ok()) loaded = std::move(now);
  }
  if (!marker.empty()) RemoveTree(marker);
  if (!trash.empty()) RemoveTree(trash);
  // Keep the previous version's files (a later rollback needs them), drop older ones.
  for (const auto& e : fs::directory_iterator(app_dir, ec)) {
    auto v = e.path().filename().string();
    if (v != m.version && !(previous && v == previous->record.version)) RemoveTree(e.path());
  }
  spdlog::info("installed {} {} ({})", m.name, m.version, m.id);
  InstallResult result;
  result.replaced = previous.has_value();
  if (was_running) {
    Status started = runtime_.StartLocked(*loaded);
    if (!started.ok()) spdlog::error("{} {} does not start: {}", m.name, m.version, started.message());
  }
  result.app = runtime_.ViewOf(*loaded);
  return result;
}

Status Installer::Uninstall(const std::string& ref, bool purge) {
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, apps_.Find(ref));
  const std::string id = app.record.id;
  auto lock = runtime_.OpLock(id);
  std::lock_guard guard(*lock);
  MUMBA_TRY(runtime_.StopDaemon(id));
  MUMBA_TRY(apps_.Remove(id));
  std::vector<std::function<void(const std::string&)>> listeners;
  {
    std::lock_guard l(listeners_mu_);
    listeners = on_uninstall_;
  }
  for (const auto& fn : listeners) fn(id);
  RemoveTree(layout_.apps_dir() / KeyPart(id));
  if (purge) {
    RemoveTree(layout_.data_dir() / KeyPart(id));
    MUMBA_TRY(stores_.Purge(id));
  } else {
    stores_.Close(id);
  }
  spdlog::info("uninstalled {} ({}){}", app.record.name, id, purge ? ", data purged" : "");
  return Status();
}

}  // namespace mumba
