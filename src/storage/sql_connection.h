// SPDX-License-Identifier: Apache-2.0
// One SQLite connection of a SqlStore, set up the way every connection of a store
// is, and the policy that holds app SQL to the store's promises. App SQL comes from
// an app that may be hostile, and every app's SQL runs in the host's one process,
// so nothing it does may reach past its own database or its own call.
//
// App SQL runs inside an AppSqlScope, which arms an authorizer (at prepare and at
// step, where a pragma table-valued function prepares its PRAGMA) that refuses:
// transaction control (each call is already one transaction), ATTACH/DETACH (a
// store is one file in one folder), every PRAGMA but a short list of read-only ones
// (kAllowedPragmas in sql_connection.cc; src/storage/README.md says why each is
// safe), and fts3_tokenizer() (it hands out and accepts raw function pointers).
// Every connection also carries sqlite3_limit caps on lengths, depths and counts
// (OpenConnection), bounded versions of the built-in functions one call of which
// could outlast any deadline (sql_functions.h), and a progress handler that
// interrupts a call past its deadline (CallDeadline). The store's own SQL (ExecInternal, QueryInt, QueryText) runs with
// the authorizer disarmed and no deadline.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "mumba/status.h"
#include "platform/clock.h"
#include "storage/sql_functions.h"

namespace mumba::engine {

// The caps every connection of a store puts on the SQL it runs (sqlite3_limit).
// Values past them fail the statement with INVALID_ARGUMENT instead of allocating
// or recursing without bound; src/storage/README.md gives the reason for each.
inline constexpr int kMaxSqlValueBytes = 16 << 20;   // SQLITE_LIMIT_LENGTH: a string, blob or row.
inline constexpr int kMaxSqlStatementBytes = 1 << 20;  // SQLITE_LIMIT_SQL_LENGTH: one statement's text.

// The authorizer's state for one connection. Armed only while app SQL is prepared
// or stepped, so the store's own BEGIN, COMMIT and PRAGMAs pass untouched.
struct StatementGuard {
  bool armed = false;
  bool allow_savepoints = false;  // Nesting inside Execute's transaction is fine.
  std::string refusal;            // Why the last refusal happened, if one did.
};

// One SQLite connection, its authorizer state and the deadline of the call running
// on it. Heap-allocated so its address, registered with SQLite, stays put; closes
// the connection when destroyed.
struct SqlConnection {
  sqlite3* db = nullptr;
  StatementGuard guard;
  // The progress handler interrupts SQL once Now() passes `deadline`;
  // time_point::max() when no call is timed. Set by CallDeadline.
  Clock::time_point deadline = Clock::time_point::max();
  std::chrono::milliseconds timeout{0};  // The deadline's length, for messages.
  bool deadline_passed = false;          // The handler interrupted the call.
  // The bounded instr, replace, trim, like, glob and printf registered on `db`.
  std::unique_ptr<SqlFunctions> functions;

  SqlConnection() = default;
  SqlConnection(const SqlConnection&) = delete;
  SqlConnection& operator=(const SqlConnection&) = delete;
  ~SqlConnection() { sqlite3_close_v2(db); }
};

struct StatementDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

// While alive, `conn` runs app SQL: the authorizer is armed, with or without
// SAVEPOINT/RELEASE. The store's own SQL must not run on `conn` meanwhile.
class AppSqlScope {
 public:
  AppSqlScope(SqlConnection& conn, bool allow_savepoints);
  ~AppSqlScope();
  AppSqlScope(const AppSqlScope&) = delete;
  AppSqlScope& operator=(const AppSqlScope&) = delete;

 private:
  SqlConnection& conn_;
};

// While alive, SQL on `conn` is interrupted once `timeout` has passed since the
// scope began (plus whatever Extend added); a zero timeout sets no deadline. The
// interrupted call then fails with DEADLINE_EXCEEDED (AppSqlError). End the scope
// before COMMIT or ROLLBACK, which must never be interrupted.
class CallDeadline {
 public:
  CallDeadline(SqlConnection& conn, std::chrono::milliseconds timeout);
  ~CallDeadline();
  CallDeadline(const CallDeadline&) = delete;
  CallDeadline& operator=(const CallDeadline&) = delete;

  // Moves the deadline `d` later: for time spent outside SQL, such as a Query
  // handing rows to a slow reader.
  void Extend(Clock::duration d);

 private:
  SqlConnection& conn_;
};

// "<context>: <SQLite's message for db>" (or for `rc` when `db` is null), with
// `rc` mapped onto a canonical code: errors in what the caller sent (syntax,
// constraints, types, sizes, refusals) are INVALID_ARGUMENT, BUSY/LOCKED
// UNAVAILABLE, SCHEMA (changed under the statement) ABORTED, FULL RESOURCE_EXHAUSTED, CORRUPT/NOTADB DATA_LOSS, READONLY
// FAILED_PRECONDITION, INTERRUPT CANCELLED, PERM/CANTOPEN PERMISSION_DENIED, the
// rest INTERNAL.
Status SqliteError(sqlite3* db, int rc, const std::string& context);

// The error of app SQL that failed on `conn` with `rc`: DEADLINE_EXCEEDED when its
// CallDeadline interrupted it, INVALID_ARGUMENT ("<label>: <why>") when the
// authorizer refused something (also at step), else as SqliteError.
Status AppSqlError(const SqlConnection& conn, int rc, const std::string& label);

// Opens `file` (creating it unless `read_only`) and applies what every connection
// of a store shares: extended result codes, the busy timeout, defensive mode, the
// sqlite3_limit caps, the bounded functions, no extension loading or fts3_tokenizer pointers, the progress
// handler (no deadline set) and the authorizer (disarmed). Errors as SqliteError,
// with "open <file>".
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

// Prepares the next statement of app SQL in [*cursor, end), inside an AppSqlScope,
// and advances *cursor past it. `end` must be the end of a NUL-terminated text
// that CheckSqlText accepted. Yields a null statement at the end of the text (only
// whitespace, comments or ';' left). Errors as AppSqlError.
Expected<StatementPtr> PrepareNext(SqlConnection& conn, const char** cursor, const char* end,
                                   const std::string& label);

}  // namespace mumba::engine
