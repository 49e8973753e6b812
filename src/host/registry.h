// SPDX-License-Identifier: Apache-2.0
// The registry of installed apps: one SQLite database (WAL) in MUMBA_HOME.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
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

  // By address (either form) or by name. NOT_FOUND if none; FAILED_PRECONDITION
  // if two apps share the name (the message lists their ids).
  Expected<AppRecord> Resolve(const std::string& name_or_id) const;

 private:
  explicit Registry(sqlite3* db) : db_(db) {}
  Status Exec(const std::string& sql) const;

  mutable std::mutex mu_;
  sqlite3* db_;
};

}  // namespace mumba
