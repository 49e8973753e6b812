// SPDX-License-Identifier: Apache-2.0
// The app's storage, kept by the host: key-value databases (Kv), SQL databases
// (Sql) and a file tree (Files).
//
//   mumba::Kv kv = app.Kv();                      // the app's own "main" database
//   MUMBA_TRY(kv.Put("greeting", "hello"));
//   auto value = kv.Get("greeting");               // Expected<optional<string>>
//
//   mumba::Sql sql = app.Sql();
//   auto r = sql.Execute("SELECT name FROM people WHERE age > ?", {int64_t{30}});
//
// Handles come from mumba::App (App::Kv, App::Sql, App::Files). They are cheap to
// copy, and every copy reaches the same store over the app's one connection to the
// host, which they keep alive (a handle stays usable after its App is destroyed).
// Every method may be called from any thread at the same time, on one handle or
// on copies of it.
//
// Every call is a request to the host; nothing is cached. Errors come back as the
// host's Status: INVALID_ARGUMENT for a bad key, path or database name (and for
// SQL that does not compile or breaks a constraint), NOT_FOUND for a database,
// file or folder that does not exist, PERMISSION_DENIED for another app's store
// that is not exported to this app, or for a write to one exported read-only,
// RESOURCE_EXHAUSTED past the app's storage quota, UNAVAILABLE when the host
// cannot be reached (an app started by hand, without `mumba start`, gets this from
// every call), and DEADLINE_EXCEEDED when a single request (not a stream) takes
// more than 60 seconds, or when one SQL call runs longer than the host allows (5 s
// unless the owner set `[storage] sql_timeout_ms`; the call is then rolled back).
//
// Another app's store is reached by naming that app (its name or its id,
// "mumba://...") when getting the handle; it is read-only, and only there when
// that app's manifest exports it to this app with [[exports.stores]].
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mumba/status.h"

namespace mumba {

class App;  // app.h: hands out the handles.

namespace sdk_internal {
struct HostConnection;  // The app's channel to the host (src/sdk).
}

// The storage types live in an inline namespace: app code names them mumba::Kv,
// mumba::SqlValue and so on, while their linker names stay apart from the host's
// internal storage types of the same names, should one program link both.
inline namespace storage_v1 {

// ---------------------------------- Kv ----------------------------------

struct KvPair {
  std::string key;
  std::string value;  // Empty when scanned with keys_only.
};

// Which keys a Scan returns, in bytewise key order.
struct KvScanOptions {
  std::string prefix;      // Only keys starting with it ("" = every key).
  std::string start;       // Only keys >= start...
  std::string end;         // ...and < end ("" = no upper bound).
  std::string cursor;      // A previous page's next_cursor: go on after it.
  uint32_t limit = 0;      // At most this many pairs per page (0 = 1000; capped at 10000).
  bool keys_only = false;  // Leave values empty.
};

struct KvPage {
  std::vector<KvPair> entries;
  std::string next_cursor;  // Empty when the scan is complete; else pass it as cursor.
};

// One committed change seen by a watch.
struct KvChange {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;      // The new value of a kPut; empty for kDelete.
  uint64_t sequence = 0;  // Grows with every committed write of the database.
};

// Puts and deletes that Kv::Write commits together or not at all, in order (a
// later operation on the same key wins). A plain value; not thread-safe.
class KvBatch {
 public:
  KvBatch& Put(std::string key, std::string value);
  KvBatch& Delete(std::string key);
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  void Clear() { ops_.clear(); }

 private:
  friend class Kv;
  struct Op {
    bool is_delete = false;
    std::string key;
    std::string value;
  };
  std::vector<Op> ops_;
};

// A running watch, made by Kv::Watch. Destroying it stops the watch: when the
// destructor returns, the callback is not running and will not be called again.
// Do not destroy a KvWatch from inside its own callback.
class KvWatch {
 public:
  ~KvWatch();
  KvWatch(const KvWatch&) = delete;
  KvWatch& operator=(const KvWatch&) = delete;

  // OK while changes are being delivered. Once the host has ended the watch (it
  // stopped, or this watcher fell more than 10000 changes behind, which is
  // RESOURCE_EXHAUSTED: watch again and rescan), the reason; no calls follow.
  // Thread-safe.
  Status status() const;

 private:
  friend class Kv;
  struct Impl;
  explicit KvWatch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A key-value database (LMDB on the host). Keys are 1-511 bytes, values up to
// 16 MiB; both are arbitrary bytes.
class Kv {
 public:
  // An empty handle: every call returns FAILED_PRECONDITION. Get real ones from
  // App::Kv.
  Kv();

  // The value of `key`, or nullopt when it is absent. The app's own database is
  // created by its first write; before that it reads as empty. Another app's
  // database that does not exist yet is NOT_FOUND.
  Expected<std::optional<std::string>> Get(std::string_view key) const;
  // Sets `key` to `value`, creating the database if needed.
  Status Put(std::string_view key, std::string_view value) const;
  // Removes `key`; OK when it was absent.
  Status Delete(std::string_view key) const;
  // Commits every operation of `batch` atomically: all or none. An empty batch
  // is OK and changes nothing.
  Status Write(const KvBatch& batch) const;
  // One page of pairs in key order; see KvScanOptions. Like Get, the app's own
  // database reads as empty before its first write.
  Expected<KvPage> Scan(const KvScanOptions& options = {}) const;

  // Calls `on_change` for every change committed to keys starting with `prefix`
  // after this returns, in commit order, one at a time, on a thread of the watch's
  // own (so it may block, or call the SDK). Returns only once the host has the
  // watch in place, so a write made after it returns is always seen. Errors
  // (PERMISSION_DENIED, UNAVAILABLE, ...) are returned here when the host refuses
  // the watch, including NOT_FOUND for a database not created yet (write to it
  // first); later ones end it and show in KvWatch::status(). The watch holds
  // `on_change` until it is destroyed; an exception thrown by it ends the watch
  // (INTERNAL).
  Expected<std::unique_ptr<KvWatch>> Watch(std::string_view prefix,
                                           std::function<void(const KvChange&)> on_change) const;

  const std::string& db() const { return db_; }
  // The app whose database this is as given to App::Kv; "" for the app's own.
  const std::string& app() const { return app_; }

 private:
  friend class mumba::App;
  Kv(std::shared_ptr<const sdk_internal::HostConnection> host, std::string db, std::string app);
  std::shared_ptr<const sdk_internal::HostConnection> host_;
  std::string db_;
  std::string app_;
};

// ---------------------------------- Sql ----------------------------------

struct SqlBlob {
  std::string bytes;
  bool operator==(const SqlBlob&) const = default;
};

// NULL, INTEGER, REAL, TEXT or BLOB: SQLite's storage classes. Literals convert as
// expected: nullptr, 42 (int64_t), 1.5 (double), "text" (std::string).
using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string, SqlBlob>;
using SqlRow = std::vector<SqlValue>;

// One SQL statement and its parameters, bound by position (?, ?1, ?2...) and never
// pasted into the text. A statement without parameters may hold several, split by
// ';', whose rows are concatenated.
struct SqlStatement {
  std::string sql;
  std::vector<SqlValue> params;
};

struct SqlResult {
  std::vector<std::string> columns;
  std::vector<SqlRow> rows;
  int64_t changes = 0;            // Rows inserted, updated or deleted.
  int64_t last_insert_rowid = 0;
};

// A SQL database (SQLite in WAL mode on the host).
class Sql {
 public:
  // An empty handle: every call returns FAILED_PRECONDITION. Get real ones from
  // App::Sql.
  Sql();

  // Runs one statement in a transaction of its own and returns its whole result
  // (at most 64 MiB of rows: RESOURCE_EXHAUSTED past that; use Query). Creates
  // the database if needed. INVALID_ARGUMENT carries SQLite's message for SQL that
  // does not compile, a wrong number of parameters or a constraint violation.
  Expected<SqlResult> Execute(std::string sql, std::vector<SqlValue> params = {}) const;
  // Runs `statements` in one transaction: all commit or, at the first error, none
  // does. One result per statement.
  Expected<std::vector<SqlResult>> Transaction(std::vector<SqlStatement> statements) const;
  // Runs one read-only statement (INVALID_ARGUMENT if it would write) and calls
  // `on_row` with each row as it streams in, on the calling thread. `on_row`
  // returns false to stop early, which is still OK. Memory stays bounded however
  // many rows there are. There is no deadline: the query runs as long as the
  // rows keep coming.
  Status Query(std::string sql, std::vector<SqlValue> params,
               const std::function<bool(const SqlRow&)>& on_row) const;

  const std::string& db() const { return db_; }
  const std::string& app() const { return app_; }

 private:
  friend class mumba::App;
  Sql(std::shared_ptr<const sdk_internal::HostConnection> host, std::string db, std::string app);
  std::shared_ptr<const sdk_internal::HostConnection> host_;
  std::string db_;
  std::string app_;
};

// ---------------------------------- Files ----------------------------------

struct FileInfo {
  std::string path;  // Relative to the tree's top, '/'-separated.
  bool is_dir = false;
  uint64_t size = 0;
  int64_t modified_ms = 0;  // Unix time in milliseconds.
};

// The app's file tree. Paths are relative and '/'-separated ("notes/a.txt");
// absolute paths, "..", backslashes and names starting with ".mumba" are
// INVALID_ARGUMENT. A file written appears whole, replacing any old one, or not at
// all: readers never see part of it. Folders are made as needed. Streaming calls
// (PutFile, GetFile, Get) have no deadline.
class Files {
 public:
  // An empty handle: every call returns FAILED_PRECONDITION. Get real ones from
  // App::Files.
  Files();

  // Writes `data` to `path`.
  Status Put(std::string_view path, std::string_view data) const;
  // Copies the local file `local` to `path`, streaming it in chunks (never whole
  // in memory). NOT_FOUND/PERMISSION_DENIED if `local` cannot be opened; if it
  // cannot be read to the end, the upload is abandoned and `path` left as it was.
  Status PutFile(std::string_view path, const std::filesystem::path& local) const;
  // The whole content of `path`, in memory (use GetFile for big files).
  Expected<std::string> Get(std::string_view path) const;
  // Copies `path` to the local file `local`, streaming it into a temporary file
  // beside `local` that is renamed over it at the end, so `local` is either the
  // old file or the whole new one. `local`'s folder must exist.
  Status GetFile(std::string_view path, const std::filesystem::path& local) const;
  // The entries of folder `dir` ("" = the top), not recursive, sorted by name.
  Expected<std::vector<FileInfo>> List(std::string_view dir = "") const;
  Expected<FileInfo> Stat(std::string_view path) const;
  // Removes a file or an empty folder; NOT_FOUND if absent.
  Status Delete(std::string_view path) const;
  // Renames a file or folder, replacing a file at `to`.
  Status Move(std::string_view from, std::string_view to) const;

  // The app whose tree this is as given to App::Files; "" for the app's own.
  const std::string& app() const { return app_; }

 private:
  friend class mumba::App;
  Files(std::shared_ptr<const sdk_internal::HostConnection> host, std::string app);
  std::shared_ptr<const sdk_internal::HostConnection> host_;
  std::string app_;
};

}  // namespace storage_v1
}  // namespace mumba
