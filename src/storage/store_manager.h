// SPDX-License-Identifier: Apache-2.0
// Whose store a caller reaches, and how much an app may store.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mumba/status.h"
#include "storage/file_store.h"
#include "storage/kv_store.h"
#include "storage/sql_store.h"

namespace mumba {

enum class StoreKind { kKv, kSql, kFiles };
const char* StoreKindName(StoreKind kind);  // "kv", "sql", "files"

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

// A store reached by a caller: which app's it is and whether the caller may write.
template <typename Store>
struct StoreGrant {
  std::shared_ptr<Store> store;
  std::string app_id;
  bool writable = false;
};

// Thread-safe. Stores are opened on first use and stay open until Close.
class StoreManager {
 public:
  // Stores live in `root`/<52-char key of the app id>/{kv/<db>,sql/<db>,files}.
  // `apps` is borrowed and must outlive the manager. SQL databases are opened with
  // `sql_options` (the deadline of each call).
  StoreManager(std::filesystem::path root, const AppDirectory* apps,
               engine::SqlStoreOptions sql_options = {});
  ~StoreManager();

  // `app_ref` empty means the caller's own app (owners must name one). `write` asks
  // for write access. A caller reaches its own stores, the owner every store, and
  // an app another app's store only when exported read-only to it (else
  // PERMISSION_DENIED). A database that does not exist yet is created for a write by
  // its app or the owner, and NOT_FOUND otherwise. INVALID_ARGUMENT for a bad name.
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

  // RESOURCE_EXHAUSTED if app `app_id` storing `extra` more bytes would go over its
  // quota. Quotas are checked before a write, so a refused write changes nothing.
  Status CheckQuota(const std::string& app_id, uint64_t extra);
  // Bytes app `app_id` stores now, across all its stores.
  uint64_t UsedBytes(const std::string& app_id);
  // Bytes the app may still write before it reaches its quota (UINT64_MAX if none).
  uint64_t Headroom(const std::string& app_id);
  // Tells the manager the app's files changed, so their size is measured again.
  void FilesChanged(const std::string& app_id);

  // Closes every open store of the app (callers holding one keep it valid).
  void Close(const std::string& app_id);
  // Closes and deletes every store of the app.
  Status Purge(const std::string& app_id);

  std::filesystem::path AppRoot(const std::string& app_id) const;

 private:
  struct AppStores {
    std::map<std::string, std::shared_ptr<engine::KvStore>> kv;
    std::map<std::string, std::shared_ptr<engine::SqlStore>> sql;
    std::shared_ptr<engine::FileStore> files;
    int64_t files_bytes = -1;  // Cached; -1 = measure again.
  };
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

  std::filesystem::path root_;
  const AppDirectory* apps_;
  const engine::SqlStoreOptions sql_options_;
  std::mutex mu_;
  std::map<std::string, AppStores> open_;  // By app id.
};

// Whether `name` is a valid database name: [a-z0-9_-], 1-63 characters.
bool IsValidStoreName(const std::string& name);

}  // namespace mumba
