// SPDX-License-Identifier: Apache-2.0
#include "storage/store_manager.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "common/keys.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {
// The one database of a replica of a shared KV or SQL store.
constexpr const char* kReplicaDb = "replica";
// Where the store ids of replicas start (src/host/shares.cc makes them).
constexpr std::string_view kReplicaPrefix = "replicas/";
}  // namespace

// One app's open stores, and what its live reservations hold.
struct AppStores {
  std::mutex mu;  // Guards everything below; never taken while holding mu_.
  std::map<std::string, std::shared_ptr<engine::KvStore>> kv;
  std::map<std::string, std::shared_ptr<engine::SqlStore>> sql;
  std::shared_ptr<engine::FileStore> files;
  std::string id;         // The app's id (or a replica's store id).
  bool all_open = false;  // Every database found on disk is in kv or sql.
  uint64_t reserved = 0;
};

const char* StoreKindName(StoreKind kind) {
  switch (kind) {
    case StoreKind::kKv: return "kv";
    case StoreKind::kSql: return "sql";
    case StoreKind::kFiles: return "files";
  }
  return "?";
}

std::optional<StoreKind> StoreKindNamed(std::string_view name) {
  for (StoreKind kind : {StoreKind::kKv, StoreKind::kSql, StoreKind::kFiles}) {
    if (name == StoreKindName(kind)) return kind;
  }
  return std::nullopt;
}

bool IsValidStoreName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

StoreManager::StoreManager(fs::path root, const AppDirectory* apps, engine::SqlStoreOptions sql_options,
                           FileStoreOpener open_files)
    : root_(std::move(root)),
      apps_(apps),
      sql_options_(sql_options),
      open_files_(open_files ? std::move(open_files) : [](const fs::path& dir) {
        return engine::FileStore::Open(dir);
      }) {}

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
// `sql_options`, a file tree with `open_files`).
template <typename Store>
Expected<std::shared_ptr<Store>> OpenIn(std::shared_ptr<Store>& slot, const fs::path& dir,
                                        bool create, const std::string& what,
                                        const engine::SqlStoreOptions& sql_options,
                                        const StoreManager::FileStoreOpener& open_files, bool read_only = false) {
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
    } else if constexpr (std::is_same_v<Store, engine::FileStore>) {
      return open_files(dir);
    } else {
      return Store::Open(dir, read_only);
    }
  }();
  if (!opened.ok()) return opened.status();
  slot = std::shared_ptr<Store>(std::move(*opened));
  return slot;
}

}  // namespace

std::shared_ptr<AppStores> StoreManager::App(const std::string& app_id) {
  std::lock_guard lock(mu_);
  auto& app = open_[app_id];
  if (!app) {
    app = std::make_shared<AppStores>();
    app->id = app_id;
  }
  return app;
}

template <typename Store>
Expected<std::shared_ptr<Store>> StoreManager::OpenDatabase(
    std::map<std::string, std::shared_ptr<Store>> AppStores::*databases, StoreKind kind,
    const std::string& app_id, const std::string& db, bool create, const std::string& where) {
  std::shared_ptr<AppStores> app = App(app_id);
  const fs::path dir = AppRoot(app_id) / StoreKindName(kind) / db;
  std::unique_lock lock(app->mu);
  auto& open = (*app).*databases;
  if (auto it = open.find(db); it != open.end()) return it->second;
  std::error_code ec;
  if (create && !fs::exists(dir, ec) && apps_->QuotaFor(app_id) != 0) {
    // A new database costs kDatabaseCost: it must fit, checked under the same lock
    // as its creation so that two new databases cannot share the last room.
    lock.unlock();
    PrepareUsage(*app, app_id);
    lock.lock();
    if (auto it = open.find(db); it != open.end()) return it->second;
    MUMBA_ASSIGN_OR_RETURN(uint64_t held, ReserveLocked(*app, app_id, kDatabaseCost, false));
    // Counted as a database from the moment it is in the map, under this lock.
    if (held != UINT64_MAX) app->reserved -= held;
  }
  // A replica of someone's share is never written: a key-value one is opened
  // read-only, so LMDB never walks its free pages (the publisher wrote them).
  const bool replica = app_id.starts_with(kReplicaPrefix);
  auto store = OpenIn(open[db], dir, create && !replica,
                      std::string(StoreKindName(kind)) + " database '" + db + "' in " + where, sql_options_, open_files_,
                      replica);
  if (!store.ok()) open.erase(db);
  return store;
}

Expected<std::optional<FollowedReplica>> StoreManager::ReplicaFor(const StoreCaller& caller,
                                                                 const std::string& app_ref, const std::string& db,
                                                                 StoreKind kind, bool write) const {
  const bool db_is_share = db.starts_with(kAddressScheme);
  const bool ref_may_be_share = app_ref.starts_with(kAddressScheme);
  if (!db_is_share && !ref_may_be_share) return std::optional<FollowedReplica>();
  std::string reader = caller.app_id;
  std::string address = db_is_share ? db : app_ref;
  if (db_is_share && !app_ref.empty()) {
    // Only the owner reads another app's follows.
    if (!caller.owner()) return PermissionDenied("an app reads only the shares it follows itself");
    MUMBA_ASSIGN_OR_RETURN(reader, apps_->ResolveApp(app_ref));
  }
  std::optional<FollowedReplica> replica;
  if (const FollowedShares* shares = shares_.load()) replica = shares->ReplicaOf(reader, address);
  if (!replica) {
    // An address in `app_ref` may be an installed app's.
    if (!db_is_share) return std::optional<FollowedReplica>();
    return NotFound((reader.empty() ? std::string("the owner does not follow ") : "this app does not follow ") +
                    address + ", or its first snapshot has not arrived (mumba follows)");
  }
  if (replica->kind != kind) {
    return NotFound(address + " is a shared " + StoreKindName(replica->kind) + " store, not a " +
                    StoreKindName(kind) + " one");
  }
  if (write) return PermissionDenied(address + " is a followed share: read-only");
  return replica;
}

template <typename Store>
Expected<StoreGrant<Store>> StoreManager::GrantDatabase(
    std::map<std::string, std::shared_ptr<Store>> AppStores::*databases, StoreKind kind,
    const StoreCaller& caller, const std::string& app_ref, const std::string& db, bool write) {
  MUMBA_ASSIGN_OR_RETURN(std::optional<FollowedReplica> replica, ReplicaFor(caller, app_ref, db, kind, write));
  if (replica) {
    MUMBA_ASSIGN_OR_RETURN(auto store, OpenDatabase(databases, kind, replica->store_id, kReplicaDb, false,
                                                    "the replica of " + (db.starts_with(kAddressScheme) ? db : app_ref)));
    return StoreGrant<Store>{store, replica->store_id, false};
  }
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
  MUMBA_ASSIGN_OR_RETURN(std::optional<FollowedReplica> replica,
                         ReplicaFor(caller, app_ref, "", StoreKind::kFiles, write));
  if (replica) {
    std::shared_ptr<AppStores> app = App(replica->store_id);
    std::lock_guard lock(app->mu);
    MUMBA_ASSIGN_OR_RETURN(auto store, OpenIn(app->files, AppRoot(replica->store_id) / "files", false,
                                              "replica of " + app_ref, sql_options_, open_files_));
    return StoreGrant<engine::FileStore>{store, replica->store_id, false};
  }
  MUMBA_ASSIGN_OR_RETURN(std::string id, Authorize(caller, app_ref, StoreKind::kFiles, "", write));
  std::shared_ptr<AppStores> app = App(id);
  std::lock_guard lock(app->mu);
  // Every app has a file tree, even an empty one.
  MUMBA_ASSIGN_OR_RETURN(auto store, OpenIn(app->files, AppRoot(id) / "files", true, "file tree", sql_options_,
                                            open_files_));
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

void StoreManager::PrepareUsage(AppStores& app, const std::string& app_id) {
  const fs::path root = AppRoot(app_id);
  std::shared_ptr<engine::FileStore> files;
  {
    std::lock_guard lock(app.mu);
    if (!app.all_open) {
      // Every database on disk counts, not just the ones in use.
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(root / "kv", ec)) {
        std::string n = e.path().filename();
        if (!OpenIn(app.kv[n], root / "kv" / n, false, n, sql_options_, open_files_).ok()) app.kv.erase(n);
      }
      for (const auto& e : fs::directory_iterator(root / "sql", ec)) {
        std::string n = e.path().filename();
        if (!OpenIn(app.sql[n], root / "sql" / n, false, n, sql_options_, open_files_).ok()) app.sql.erase(n);
      }
      app.all_open = true;
    }
    auto opened = OpenIn(app.files, root / "files", false, "file tree", sql_options_, open_files_);
    if (opened.ok()) files = *opened;
  }
  // Outside the app's lock: the first call walks the whole tree.
  if (files) files->Usage();
}

uint64_t StoreManager::UsageLocked(AppStores& app) const {
  uint64_t total = 0;
  for (const auto& [name, store] : app.kv) total += store->Usage().bytes + kDatabaseCost;
  for (const auto& [name, store] : app.sql) total += store->UsedBytes() + kDatabaseCost;
  if (app.files) total += app.files->Usage().charged();
  // Replicas of shares the app follows count too; they are kept by the share
  // manager, which knows their size.
  if (const FollowedShares* shares = shares_.load()) total += shares->ReplicaBytes(app.id);
  return total;
}

Expected<uint64_t> StoreManager::ReserveLocked(AppStores& app, const std::string& app_id,
                                               uint64_t bytes, bool share) {
  const uint64_t quota = apps_->QuotaFor(app_id);
  if (quota == 0) return UINT64_MAX;
  // Holding nothing always fits, even over the quota: such a write may only shrink.
  if (bytes == 0 && !share) return 0;
  const uint64_t used = UsageLocked(app);
  const uint64_t taken = used + app.reserved;
  if (taken > quota || bytes > quota - taken) {
    return ResourceExhausted("over the storage quota: " + std::to_string(used) + " of " +
                             std::to_string(quota) + " bytes used, " + std::to_string(app.reserved) +
                             " held by writes in progress, " + std::to_string(bytes) + " more asked");
  }
  const uint64_t held = share ? std::max(bytes, (quota - taken) / 2) : bytes;
  app.reserved += held;
  return held;
}

Expected<QuotaReservation> StoreManager::Reserve(const std::string& app_id, uint64_t bytes) {
  std::shared_ptr<AppStores> app = App(app_id);
  if (apps_->QuotaFor(app_id) == 0) return QuotaReservation(this, app, app_id, UINT64_MAX);
  PrepareUsage(*app, app_id);
  std::lock_guard lock(app->mu);
  MUMBA_ASSIGN_OR_RETURN(uint64_t held, ReserveLocked(*app, app_id, bytes, false));
  return QuotaReservation(this, app, app_id, held);
}

Expected<QuotaReservation> StoreManager::ReserveShare(const std::string& app_id, uint64_t at_least) {
  std::shared_ptr<AppStores> app = App(app_id);
  if (apps_->QuotaFor(app_id) == 0) return QuotaReservation(this, app, app_id, UINT64_MAX);
  PrepareUsage(*app, app_id);
  std::lock_guard lock(app->mu);
  MUMBA_ASSIGN_OR_RETURN(uint64_t held, ReserveLocked(*app, app_id, at_least, true));
  return QuotaReservation(this, app, app_id, held);
}

uint64_t StoreManager::UsedBytes(const std::string& app_id) {
  std::error_code ec;
  if (!fs::exists(AppRoot(app_id), ec)) return 0;
  std::shared_ptr<AppStores> app = App(app_id);
  PrepareUsage(*app, app_id);
  std::lock_guard lock(app->mu);
  return UsageLocked(*app);
}

QuotaReservation::QuotaReservation(StoreManager* manager, std::shared_ptr<AppStores> app,
                                   std::string app_id, uint64_t bytes)
    : manager_(manager), app_(std::move(app)), app_id_(std::move(app_id)), bytes_(bytes) {}

QuotaReservation::QuotaReservation(QuotaReservation&& other) noexcept
    : manager_(other.manager_),
      app_(std::move(other.app_)),
      app_id_(std::move(other.app_id_)),
      bytes_(std::exchange(other.bytes_, 0)) {}

QuotaReservation::~QuotaReservation() {
  if (!app_ || unlimited() || bytes_ == 0) return;
  std::lock_guard lock(app_->mu);
  app_->reserved -= bytes_;
}

Status QuotaReservation::Grow(uint64_t more) {
  if (unlimited() || more == 0) return Status();
  std::lock_guard lock(app_->mu);
  MUMBA_ASSIGN_OR_RETURN(uint64_t held, manager_->ReserveLocked(*app_, app_id_, more, false));
  // The quota was lifted since the reservation began: nothing is held for it.
  if (held == UINT64_MAX) return Status();
  bytes_ += held;
  return Status();
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
