// SPDX-License-Identifier: Apache-2.0
// Whose store a caller reaches, and how much an app may store.
//
// How the quota is kept: an app's usage is the sum of what its stores say they
// take now (KvStore::Usage, SqlStore::UsedBytes, FileStore::Usage, each kept by the
// engine as it changes and measured from disk when the store is opened, so it is
// right after a crash) plus kDatabaseCost per database. A write first reserves
// what it may add (QuotaReservation); the check and the reservation are one step
// under the app's own lock, so writes running at once share what is left instead
// of each seeing all of it. The reservation is released when the write has landed
// (its growth is then in the store's count) or failed.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mumba/status.h"
#include "storage/file_store.h"
#include "storage/kv_store.h"
#include "storage/sql_store.h"

namespace mumba {

// What each KV or SQL database costs beside its contents: about what an empty
// LMDB environment or SQLite database (with its lock or WAL index) takes on disk.
inline constexpr uint64_t kDatabaseCost = 64 * 1024;

enum class StoreKind { kKv, kSql, kFiles };
const char* StoreKindName(StoreKind kind);  // "kv", "sql", "files"
// The kind StoreKindName gives `name`; nullopt for any other name.
std::optional<StoreKind> StoreKindNamed(std::string_view name);

// Who is calling, as the host knows it from the socket the call arrived on: an
// app (its own socket) or the owner of the host (the admin socket).
struct StoreCaller {
  std::string app_id;  // Empty for the owner.
  bool owner() const { return app_id.empty(); }
};

// What the manager needs to know about installed apps; the host implements it.
class AppDirectory {
 public:
  virtual ~AppDirectory() = default;
  // The id of the installed app `ref` (a name or an id); NOT_FOUND otherwise.
  virtual Expected<std::string> ResolveApp(const std::string& ref) const = 0;
  // Whether app `owner_id` exports its store (kind, db) read-only to `reader_id`.
  virtual bool ExportsTo(const std::string& owner_id, StoreKind kind, const std::string& db,
                         const std::string& reader_id) const = 0;
  // Bytes app `app_id` may store in total (0 = no limit).
  virtual uint64_t QuotaFor(const std::string& app_id) const = 0;
};

// A replica of someone's share that an app follows (src/host/shares.h): where the
// store manager finds it. Its stores live under AppRoot(store_id): the database
// "replica" of its kind, or the file tree.
struct FollowedReplica {
  std::string store_id;
  StoreKind kind = StoreKind::kSql;
};

// The shares followed on this host, as the store manager asks about them; the
// host's share manager implements it. Both methods may be called with an app's
// store lock held, so they must not call back into the store manager.
class FollowedShares {
 public:
  virtual ~FollowedShares() = default;
  // The replica of the share at `address` that `reader_app_id` follows ("" for the
  // owner's own follows), once its first snapshot arrived; nullopt otherwise.
  virtual std::optional<FollowedReplica> ReplicaOf(const std::string& reader_app_id,
                                                   const std::string& address) const = 0;
  // Bytes of every replica app `app_id` follows, counted against its quota.
  virtual uint64_t ReplicaBytes(const std::string& app_id) const = 0;
};

// A store reached by a caller: which app's it is and whether the caller may write.
template <typename Store>
struct StoreGrant {
  std::shared_ptr<Store> store;
  std::string app_id;
  bool writable = false;
};

class StoreManager;
// One app's open stores and reservations (store_manager.cc).
struct AppStores;

// Bytes an app's write may add to its usage, held against its quota until this
// object is destroyed (then released whether the write landed or failed). Move
// only. Not thread-safe: one write uses it.
class QuotaReservation {
 public:
  QuotaReservation(QuotaReservation&& other) noexcept;
  QuotaReservation& operator=(QuotaReservation&&) = delete;
  ~QuotaReservation();

  // Bytes held now; UINT64_MAX when the app has no quota.
  uint64_t bytes() const { return bytes_; }
  bool unlimited() const { return bytes_ == UINT64_MAX; }
  // Holds `more` bytes as well. RESOURCE_EXHAUSTED (holding what it held) if the
  // app's usage, what every reservation of it holds and `more` would pass its quota.
  Status Grow(uint64_t more);

 private:
  friend class StoreManager;
  QuotaReservation(StoreManager* manager, std::shared_ptr<AppStores> app, std::string app_id,
                   uint64_t bytes);
  StoreManager* manager_;
  std::shared_ptr<AppStores> app_;  // Kept alive past a Close of the app.
  std::string app_id_;
  uint64_t bytes_;
};

// Thread-safe. Stores are opened on first use and stay open until Close. Each
// app's stores have a lock of their own, so measuring or writing one app's stores
// never holds up another app's.
class StoreManager {
 public:
  // Stores live in `root`/<52-char key of the app id>/{kv/<db>,sql/<db>,files}.
  // `apps` is borrowed and must outlive the manager. SQL databases are opened with
  // `sql_options` (the deadline of each call), file trees with `open_files` (by
  // default engine::FileStore::Open; tests put a fake behind it).
  using FileStoreOpener =
      std::function<Expected<std::unique_ptr<engine::FileStore>>(const std::filesystem::path& root)>;
  StoreManager(std::filesystem::path root, const AppDirectory* apps,
               engine::SqlStoreOptions sql_options = {}, FileStoreOpener open_files = nullptr);
  ~StoreManager();

  // Lets callers read the shares they follow (see Kv); `shares` is borrowed and
  // must outlive the manager. Call once, before serving.
  // Setting nullptr (before the shares go) stops it; calls reading a share then
  // find none.
  void SetFollowedShares(const FollowedShares* shares) { shares_ = shares; }

  // `app_ref` empty means the caller's own app (owners must name one). `write` asks
  // for write access. A caller reaches its own stores, the owner every store, and
  // an app another app's store only when exported read-only to it (else
  // PERMISSION_DENIED). A database that does not exist yet is created for a write by
  // its app or the owner, and NOT_FOUND otherwise. INVALID_ARGUMENT for a bad name.
  // A share's address ("mumba://...") in place of `db`, or of `app_ref`, reaches the
  // replica of that share the caller follows (the owner: the owner's follows, or with
  // an app in `app_ref` and the address in `db`, that app's), read-only:
  // PERMISSION_DENIED for a write, NOT_FOUND when not followed or not arrived yet.
  Expected<StoreGrant<engine::KvStore>> Kv(const StoreCaller& caller, const std::string& app_ref,
                                   const std::string& db, bool write);
  Expected<StoreGrant<engine::SqlStore>> Sql(const StoreCaller& caller, const std::string& app_ref,
                                     const std::string& db, bool write);
  Expected<StoreGrant<engine::FileStore>> Files(const StoreCaller& caller, const std::string& app_ref,
                                        bool write);

  // App `app_id`'s SQL database `db`, created if needed, with no access check: for
  // the host itself (setup and migrations at install).
  Expected<std::shared_ptr<engine::SqlStore>> SqlForHost(const std::string& app_id, const std::string& db);

  // The names of an app's databases of `kind` (kv or sql), sorted.
  Expected<std::vector<std::string>> List(const StoreCaller& caller, const std::string& app_ref,
                                          StoreKind kind);

  // Reserves `bytes` of app `app_id`'s quota for a write about to start. On
  // success the reservation holds them (an unlimited one when the app has no
  // quota); RESOURCE_EXHAUSTED, naming usage and quota, if usage plus what is
  // reserved plus `bytes` would pass the quota (never for 0 bytes: a reservation of
  // nothing lets a write that only shrinks run over the quota). The first call for an app opens its
  // databases and walks its file tree (see FileStore::Usage), holding up only that
  // app's stores.
  Expected<QuotaReservation> Reserve(const std::string& app_id, uint64_t bytes);
  // Like Reserve, for a write whose growth is not known before it runs (SQL): holds
  // half of what is left, but at least `at_least` bytes (RESOURCE_EXHAUSTED if that
  // does not fit), so writes beside it keep the other half.
  Expected<QuotaReservation> ReserveShare(const std::string& app_id, uint64_t at_least);
  // What app `app_id` stores now, across all its stores, in bytes counted against
  // its quota (entries and databases at their cost; reservations not included).
  uint64_t UsedBytes(const std::string& app_id);

  // Closes every open store of the app (callers holding one keep it valid).
  void Close(const std::string& app_id);
  // Closes and deletes every store of the app.
  Status Purge(const std::string& app_id);

  std::filesystem::path AppRoot(const std::string& app_id) const;

 private:
  friend class QuotaReservation;
  // The app's entry in open_, made if missing.
  std::shared_ptr<AppStores> App(const std::string& app_id);
  // Opens every store of the app on disk, and measures its files outside `app.mu`
  // (the first time walks them). Then usage can be summed quickly.
  void PrepareUsage(AppStores& app, const std::string& app_id);
  // The app's usage. Requires app.mu and PrepareUsage done.
  uint64_t UsageLocked(AppStores& app) const;
  // Reserves for the app: `bytes`, or with `share` half of the headroom if more.
  // Requires app.mu and PrepareUsage done.
  Expected<uint64_t> ReserveLocked(AppStores& app, const std::string& app_id, uint64_t bytes,
                                   bool share);
  // The open database `db` of kind `kind` of the app, opening (and with `create`,
  // creating) it first; `where` names the app in messages.
  template <typename Store>
  Expected<std::shared_ptr<Store>> OpenDatabase(
      std::map<std::string, std::shared_ptr<Store>> AppStores::*databases, StoreKind kind,
      const std::string& app_id, const std::string& db, bool create, const std::string& where);
  // Checks the caller's access to database `db` and opens it: Kv and Sql.
  template <typename Store>
  Expected<StoreGrant<Store>> GrantDatabase(
      std::map<std::string, std::shared_ptr<Store>> AppStores::*databases, StoreKind kind,
      const StoreCaller& caller, const std::string& app_ref, const std::string& db, bool write);
  // Resolves the app and checks the caller's access; returns the app id.
  Expected<std::string> Authorize(const StoreCaller& caller, const std::string& app_ref,
                                  StoreKind kind, const std::string& db, bool write) const;

  // The replica `db` or `app_ref` names for the caller (see Kv), if either is a
  // followed share's address; nullopt when neither is a share the caller follows
  // and `app_ref` may still be an app. NOT_FOUND / PERMISSION_DENIED as in Kv.
  Expected<std::optional<FollowedReplica>> ReplicaFor(const StoreCaller& caller, const std::string& app_ref,
                                                      const std::string& db, StoreKind kind, bool write) const;

  std::filesystem::path root_;
  const AppDirectory* apps_;
  std::atomic<const FollowedShares*> shares_{nullptr};
  const engine::SqlStoreOptions sql_options_;
  const FileStoreOpener open_files_;
  std::mutex mu_;  // Guards open_ only.
  std::map<std::string, std::shared_ptr<AppStores>> open_;  // By app id.
};

// Whether `name` is a valid database name: [a-z0-9_-], 1-63 characters.
bool IsValidStoreName(const std::string& name);

}  // namespace mumba
