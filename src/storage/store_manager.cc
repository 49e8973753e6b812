// SPDX-License-Identifier: Apache-2.0
#include "storage/store_manager.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#include "common/keys.h"

namespace fs = std::filesystem;

namespace mumba {

const char* StoreKindName(StoreKind kind) {
  switch (kind) {
    case StoreKind::kKv: return "kv";
    case StoreKind::kSql: return "sql";
    case StoreKind::kFiles: return "files";
  }
  return "?";
}

bool IsValidStoreName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

StoreManager::StoreManager(fs::path root, const AppDirectory* apps, engine::SqlStoreOptions sql_options)
    : root_(std::move(root)), apps_(apps), sql_options_(sql_options) {}

StoreManager::~StoreManager() = default;

fs::path StoreManager::AppRoot(const std::string& app_id) const {
  std::string key = app_id.starts_with(kAddressScheme) ? app_id.substr(kAddressScheme.size()) : app_id;
  return root_ / key;
}

Expected<std::string> StoreManager::Authorize(const StoreCaller& caller, const std::string& app_ref,
                                              StoreKind kind, const std::string& db,
                                              bool write) const {
  if (kind != StoreKind::kFiles && !IsValidStoreName(db)) {
    return InvalidArgument("bad database name '" + db + "': use 1-63 of a-z, 0-9, '_' and '-'");
  }
  if (app_ref.empty()) {
    if (caller.owner()) return InvalidArgument("name the app whose store to use");
    return caller.app_id;
  }
  MUMBA_ASSIGN_OR_RETURN(std::string id, apps_->ResolveApp(app_ref));
  if (caller.owner() || id == caller.app_id) return id;
  std::string what = kind == StoreKind::kFiles
                         ? "file tree of " + app_ref
                         : std::string(StoreKindName(kind)) + " database '" + db + "' of " + app_ref;
  if (!apps_->ExportsTo(id, kind, db, caller.app_id)) {
    return PermissionDenied("the " + what + " is not exported to this app");
  }
  if (write) return PermissionDenied("the " + what + " is exported read-only");
  return id;
}

namespace {

// The store in `slot`, opening it from `dir` first if needed (a SQL database with
// `sql_options`).
template <typename Store>
Expected<std::shared_ptr<Store>> OpenIn(std::shared_ptr<Store>& slot, const fs::path& dir,
                                        bool create, const std::string& what,
                                        const engine::SqlStoreOptions& sql_options) {
  if (slot) return slot;
  std::error_code ec;
  if (!create && !fs::exists(dir, ec)) return NotFound("there is no " + what);
  if (create) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) return Internal("cannot create " + dir.parent_path().string() + ": " + ec.message());
  }
  Expected<std::unique_ptr<Store>> opened = [&] {
    if constexpr (std::is_same_v<Store, engine::SqlStore>) {
      return Store::Open(dir, /*read_only=*/false, sql_options);
    } else {
      return Store::Open(dir);
    }
  }();
  if (!opened.ok()) return opened.status();
  slot = std::shared_ptr<Store>(std::move(*opened));
  return slot;
}

}  // namespace

template <typename Store>
Expected<std::shared_ptr<Store>> StoreManager::OpenDatabase(
    std::map<std::string, std::shared_ptr<Store>> AppStores::*databases, StoreKind kind,
    const std::string& app_id, const std::string& db, bool create, const std::string& where) {
  std::lock_guard lock(mu_);
  auto& open = open_[app_id].*databases;
  auto store = OpenIn(open[db], AppRoot(app_id) / StoreKindName(kind) / db, create,
                      std::string(StoreKindName(kind)) + " database '" + db + "' in " + where, sql_options_);
  if (!store.ok()) open.erase(db);
  return store;
}

template <typename Store>
Expected<StoreGrant<Store>> StoreManager::GrantDatabase(
    std::map<std::string, std::shared_ptr<Store>> AppStores::*databases, StoreKind kind,
    const StoreCaller& caller, const std::string& app_ref, const std::string& db, bool write) {
  MUMBA_ASSIGN_OR_RETURN(std::string id, Authorize(caller, app_ref, kind, db, write));
  MUMBA_ASSIGN_OR_RETURN(auto store, OpenDatabase(databases, kind, id, db, write,
                                                  app_ref.empty() ? "this app" : app_ref));
  return StoreGrant<Store>{store, id, write};
}

Expected<StoreGrant<engine::KvStore>> StoreManager::Kv(const StoreCaller& caller, const std::string& app_ref,
                                                       const std::string& db, bool write) {
  return GrantDatabase(&AppStores::kv, StoreKind::kKv, caller, app_ref, db, write);
}

Expected<StoreGrant<engine::SqlStore>> StoreManager::Sql(const StoreCaller& caller, const std::string& app_ref,
                                                         const std::string& db, bool write) {
  return GrantDatabase(&AppStores::sql, StoreKind::kSql, caller, app_ref, db, write);
}

Expected<std::shared_ptr<engine::SqlStore>> StoreManager::SqlForHost(const std::string& app_id,
                                                             const std::string& db) {
  if (!IsValidStoreName(db)) return InvalidArgument("bad database name '" + db + "'");
  return OpenDatabase(&AppStores::sql, StoreKind::kSql, app_id, db, true, app_id);
}

Expected<StoreGrant<engine::FileStore>> StoreManager::Files(const StoreCaller& caller,
                                                    const std::string& app_ref, bool write) {
  MUMBA_ASSIGN_OR_RETURN(std::string id, Authorize(caller, app_ref, StoreKind::kFiles, "", write));
  std::lock_guard lock(mu_);
  // Every app has a file tree, even an empty one.
  MUMBA_ASSIGN_OR_RETURN(auto store, OpenIn(open_[id].files, AppRoot(id) / "files", true, "file tree", sql_options_));
  return StoreGrant<engine::FileStore>{store, id, write};
}

Expected<std::vector<std::string>> StoreManager::List(const StoreCaller& caller,
                                                      const std::string& app_ref, StoreKind kind) {
  MUMBA_ASSIGN_OR_RETURN(std::string id, Authorize(caller, app_ref, kind, "main", false));
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(AppRoot(id) / StoreKindName(kind), ec)) {
    std::string name = e.path().filename().string();
    if (e.is_directory() && IsValidStoreName(name)) {
      // Another app sees only what is exported to it.
      if (caller.owner() || id == caller.app_id || apps_->ExportsTo(id, kind, name, caller.app_id)) {
        names.push_back(name);
      }
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

uint64_t StoreManager::UsedBytes(const std::string& app_id) {
  fs::path root = AppRoot(app_id);
  std::error_code ec;
  if (!fs::exists(root, ec)) return 0;
  // Open every database on disk so its size counts, not just the ones in use.
  std::vector<std::string> kv_names, sql_names;
  for (const auto& e : fs::directory_iterator(root / "kv", ec)) kv_names.push_back(e.path().filename());
  for (const auto& e : fs::directory_iterator(root / "sql", ec)) sql_names.push_back(e.path().filename());
  std::lock_guard lock(mu_);
  AppStores& app = open_[app_id];
  uint64_t total = 0;
  for (const auto& n : kv_names) {
    auto s = OpenIn(app.kv[n], root / "kv" / n, false, n, sql_options_);
    if (s.ok()) total += (*s)->UsedBytes(); else app.kv.erase(n);
  }
  for (const auto& n : sql_names) {
    auto s = OpenIn(app.sql[n], root / "sql" / n, false, n, sql_options_);
    if (s.ok()) total += (*s)->UsedBytes(); else app.sql.erase(n);
  }
  if (app.files_bytes < 0) {
    auto f = OpenIn(app.files, root / "files", true, "file tree", sql_options_);
    app.files_bytes = f.ok() ? static_cast<int64_t>((*f)->UsedBytes()) : 0;
  }
  return total + static_cast<uint64_t>(app.files_bytes);
}

uint64_t StoreManager::Headroom(const std::string& app_id) {
  uint64_t quota = apps_->QuotaFor(app_id);
  if (quota == 0) return std::numeric_limits<uint64_t>::max();
  uint64_t used = UsedBytes(app_id);
  return used >= quota ? 0 : quota - used;
}

Status StoreManager::CheckQuota(const std::string& app_id, uint64_t extra) {
  uint64_t quota = apps_->QuotaFor(app_id);
  if (quota == 0) return Status();
  uint64_t used = UsedBytes(app_id);
  if (used + extra > quota) {
    return ResourceExhausted("over the storage quota: " + std::to_string(used) + " of " +
                             std::to_string(quota) + " bytes used, " + std::to_string(extra) +
                             " more asked");
  }
  return Status();
}

void StoreManager::FilesChanged(const std::string& app_id) {
  std::lock_guard lock(mu_);
  auto it = open_.find(app_id);
  if (it != open_.end()) it->second.files_bytes = -1;
}

void StoreManager::Close(const std::string& app_id) {
  std::lock_guard lock(mu_);
  open_.erase(app_id);
}

Status StoreManager::Purge(const std::string& app_id) {
  Close(app_id);
  std::error_code ec;
  fs::remove_all(AppRoot(app_id), ec);
  if (ec) return Internal("cannot delete the stores of " + app_id + ": " + ec.message());
  return Status();
}

}  // namespace mumba
