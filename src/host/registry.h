// SPDX-License-Identifier: Apache-2.0
// The registry of installed apps: one SQLite database (WAL) in MUMBA_HOME.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "mumba/status.h"

struct sqlite3;

namespace mumba {

struct AppRecord {
  std::string id;  // Canonical address.
  std::string name;
  std::string version;
  std::string description;
  std::string install_dir;  // Absolute path of the installed bundle.
  bool enabled = false;     // The host keeps it running and starts it at boot.
  int64_t installed_at_ms = 0;
};

// How an app travels over BitTorrent: the newest mutable item this host knows of
// for it and the bundle it points at.
struct P2pRecord {
  std::string id;
  int64_t seq = 0;            // Never goes down.
  std::string info_hash;      // v1, hex.
  std::string info_hash_v2;   // hex.
  std::string version;        // The version that item points at.
  bool published = false;     // This host published it (it holds the key).
};

// Thread-safe; every write is one durable transaction.
class Registry {
 public:
  static Expected<std::unique_ptr<Registry>> Open(const std::filesystem::path& file);
  ~Registry();

  // Inserts the record, or replaces the one with the same id.
  Status Put(const AppRecord& record);
  Status Remove(const std::string& id);
  Status SetEnabled(const std::string& id, bool enabled);
  Expected<AppRecord> Get(const std::string& id) const;
  std::vector<AppRecord> List() const;

  Status PutP2p(const P2pRecord& record);
  Status RemoveP2p(const std::string& id);
  // NOT_FOUND when the app never travelled over BitTorrent here.
  Expected<P2pRecord> GetP2p(const std::string& id) const;
  std::vector<P2pRecord> ListP2p() const;

  // The asks (see broker/grants.h) the owner granted app `id`; empty if none.
  std::set<std::string> Grants(const std::string& id) const;
  // Adds `grant` and removes `revoke` from app `id`'s grants, in one transaction.
  Status SetGrants(const std::string& id, const std::vector<std::string>& grant,
                   const std::vector<std::string>& revoke = {});
  // Forgets every grant of app `id` (it is uninstalled).
  Status RemoveGrants(const std::string& id);
  // True once, for a registry written before grants existed that lists apps: they
  // were installed when a manifest's asks were granted without a question.
  bool grants_backfill() const { return grants_backfill_; }

  // By address (either form) or by name. NOT_FOUND if none; FAILED_PRECONDITION
  // if two apps share the name (the message lists their ids).
  Expected<AppRecord> Resolve(const std::string& name_or_id) const;

 private:
  explicit Registry(sqlite3* db) : db_(db) {}
  Status Exec(const std::string& sql) const;

  mutable std::mutex mu_;
  sqlite3* db_;
  bool grants_backfill_ = false;
};

}  // namespace mumba
