// SPDX-License-Identifier: Apache-2.0
// One SQLite connection of a SqlStore, set up the way every connection of a store
// is, and the policy that holds app SQL to the store's promises.
//
// App SQL is prepared (PrepareNext) with an authorizer armed that refuses what would
// break those promises: transaction control (each call is already one
// transaction), ATTACH/DETACH (a store is one file in one folder) and PRAGMAs that
// change durability, journaling, locking or foreign keys. The store's own SQL
// (ExecInternal, QueryInt, QueryText) runs with the authorizer disarmed.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "mumba/status.h"

namespace mumba::engine {

// The authorizer's state for one connection. Armed only while app SQL is prepared,
// so the store's own BEGIN, COMMIT and PRAGMAs pass untouched.
struct StatementGuard {
  bool armed = false;
  bool allow_savepoints = false;  // Nesting inside Execute's transaction is fine.
  std::string refusal;            // Why the last prepare was refused, if it was.
};

// One SQLite connection and its authorizer state. Heap-allocated so the guard's
// address, registered with SQLite, stays put; closes the connection when destroyed.
struct SqlConnection {
  sqlite3* db = nullptr;
  StatementGuard guard;

  SqlConnection() = default;
  SqlConnection(const SqlConnection&) = delete;
  SqlConnection& operator=(const SqlConnection&) = delete;
  ~SqlConnection() { sqlite3_close_v2(db); }
};

struct StatementDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

// "<context>: <SQLite's message for db>" (or for `rc` when `db` is null), with
// `rc` mapped onto a canonical code: errors in what the caller sent (syntax,
// constraints, types, sizes, refusals) are INVALID_ARGUMENT, BUSY/LOCKED
// UNAVAILABLE, FULL RESOURCE_EXHAUSTED, CORRUPT/NOTADB DATA_LOSS, READONLY
// FAILED_PRECONDITION, INTERRUPT CANCELLED, PERM/CANTOPEN PERMISSION_DENIED, the
// rest INTERNAL.
Status SqliteError(sqlite3* db, int rc, const std::string& context);

// Opens `file` (creating it unless `read_only`) and applies what every connection
// of a store shares: extended result codes, the busy timeout, defensive mode and
// the authorizer (disarmed). Errors as SqliteError, with "open <file>".
Expected<std::unique_ptr<SqlConnection>> OpenConnection(const std::filesystem::path& file,
                                                        bool read_only);

// Runs SQL of the store's own (no rows wanted). OK, or SqliteError naming `sql`.
Status ExecInternal(sqlite3* db, const char* sql);
// Runs a one-row statement of the store's own and returns its first column as an
// integer or as text. INTERNAL when it returns no row; else errors as SqliteError.
Expected<int64_t> QueryInt(sqlite3* db, const char* sql);
Expected<std::string> QueryText(sqlite3* db, const char* sql);

// OK when `sql` can be handed to SQLite; INVALID_ARGUMENT ("<label>: ...") when it
// holds a NUL byte or is longer than INT_MAX.
Status CheckSqlText(const std::string& sql, const std::string& label);

// Prepares the next statement of app SQL in [*cursor, end) with the guard armed,
// and advances *cursor past it. Yields a null statement at the end of the text
// (only whitespace, comments or ';' left). INVALID_ARGUMENT ("<label>: <why>")
// when the authorizer refused it; else errors as SqliteError.
Expected<StatementPtr> PrepareNext(SqlConnection& conn, const char** cursor, const char* end,
                                   bool allow_savepoints, const std::string& label);

}  // namespace mumba::engine
