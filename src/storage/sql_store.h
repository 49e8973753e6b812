// SPDX-License-Identifier: Apache-2.0
// One SQL database of one app: a SQLite file in WAL mode in a folder of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mumba/status.h"

namespace mumba::engine {

struct SqlBlob {
  std::string bytes;
  bool operator==(const SqlBlob&) const = default;
};
// NULL, INTEGER, REAL, TEXT, BLOB: SQLite's storage classes.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string, SqlBlob>;
using SqlRowValues = std::vector<SqlValue>;

struct SqlStatementSpec {
  std::string sql;
  std::vector<SqlValue> params;  // Bound by position; never pasted into the text.
};

struct SqlStatementOutcome {
  std::vector<std::string> columns;
  std::vector<SqlRowValues> rows;
  int64_t changes = 0;
  int64_t last_insert_rowid = 0;
};

// How long one call may run SQL unless the host's config says otherwise.
inline constexpr std::chrono::milliseconds kDefaultSqlCallTimeout{5000};

struct SqlStoreOptions {
  // How long one call of SQL (Execute, Query, Migrate) may run before it is
  // interrupted and fails with DEADLINE_EXCEEDED, its transaction rolled back and
  // the write lock released. Time a Query spends in its batch callback does not
  // count, nor does waiting for another call's write. Zero: no deadline.
  std::chrono::milliseconds call_timeout = kDefaultSqlCallTimeout;
};

// Thread-safe. Writes are serialized; reads run beside them (WAL). Every call's
// SQL is held to the policy of sql_connection.h: a short list of read-only
// PRAGMAs, caps on value and statement sizes, and the call's deadline.
class SqlStore {
 public:
  virtual ~SqlStore() = default;

  // Opens (creating it unless `read_only`) `dir`/db.sqlite with journal_mode=WAL,
  // synchronous=FULL (acknowledged writes survive a crash) and foreign keys on.
  static Expected<std::unique_ptr<SqlStore>> Open(const std::filesystem::path& dir,
                                                  bool read_only = false,
                                                  const SqlStoreOptions& options = {});

  // Runs the statements in one transaction (all commit or none does). A statement
  // without params may contain several SQL statements separated by ';' (their rows
  // are concatenated into its outcome). Errors: INVALID_ARGUMENT with SQLite's
  // message for syntax errors, a wrong number of parameters, constraint
  // violations, refused SQL and values or statements over the caps;
  // FAILED_PRECONDITION for a write on a read-only store; RESOURCE_EXHAUSTED when
  // the result would exceed `max_result_bytes` or the database its size limit;
  // DEADLINE_EXCEEDED past the call's deadline. Nothing is changed on error.
  // With `max_growth`, the database may grow by at most about that many bytes
  // during this call (whole pages; measured and capped under the write lock, so
  // calls beside it cannot widen it); past it RESOURCE_EXHAUSTED. Without it, the
  // cap of LimitSize holds.
  virtual Expected<std::vector<SqlStatementOutcome>> Execute(
      const std::vector<SqlStatementSpec>& statements, uint64_t max_result_bytes = 64u << 20,
      std::optional<uint64_t> max_growth = std::nullopt) = 0;

  // Runs one read-only statement (INVALID_ARGUMENT if it would write) and hands its
  // rows to `on_batch` in batches of about `batch_bytes`; `columns` is the same for
  // every batch. `on_batch` returns false to stop early (the result is then OK).
  // Errors as Execute's.
  using BatchFn = std::function<bool(const std::vector<std::string>& columns,
                                     std::vector<SqlRowValues>&& rows)>;
  virtual Status Query(const SqlStatementSpec& statement, const BatchFn& on_batch,
                       uint64_t batch_bytes = 256u << 10) = 0;

  // PRAGMA user_version: the app's schema version recorded in the database.
  virtual Expected<int64_t> SchemaVersion() = 0;

  // Runs `script` (several statements) and sets the schema version to `version`, in
  // one transaction, under the same policy and deadline as Execute. Errors as
  // Execute's; nothing is changed on error.
  virtual Status Migrate(const std::string& script, int64_t version) = 0;

  // Caps the database's size at about `max_bytes` (0 = no cap) from now on: a write
  // that would grow it further fails with RESOURCE_EXHAUSTED and rolls back. A cap
  // below the current size holds the database at its current size.
  virtual Status LimitSize(uint64_t max_bytes) = 0;

  // Bytes in use (page_count * page_size), for quotas.
  virtual uint64_t UsedBytes() = 0;

  // A consistent copy into the empty folder `dest` (SQLite's backup API).
  virtual Status CopyTo(const std::filesystem::path& dest) = 0;

  // PRAGMA integrity_check: OK, or DATA_LOSS with SQLite's report.
  virtual Status IntegrityCheck() = 0;
};

}  // namespace mumba::engine
