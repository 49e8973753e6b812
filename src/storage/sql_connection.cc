// SPDX-License-Identifier: Apache-2.0
// The store's SQLite connections: their settings and caps, the authorizer policy
// and the call deadline; see sql_connection.h.
#include "storage/sql_connection.h"

#include <climits>
#include <utility>

namespace mumba::engine {
namespace {

namespace fs = std::filesystem;

constexpr int kBusyTimeoutMs = 5000;
// The progress handler runs every this many virtual machine steps: often enough to
// stop within a millisecond or so, rarely enough that reading the clock costs
// nothing measurable.
constexpr int kProgressSteps = 1000;

// sqlite3_limit on every connection; src/storage/README.md says why each value.
constexpr std::pair<int, int> kLimits[] = {
    {SQLITE_LIMIT_LENGTH, kMaxSqlValueBytes},
    {SQLITE_LIMIT_SQL_LENGTH, kMaxSqlStatementBytes},
    {SQLITE_LIMIT_COLUMN, 1000},
    {SQLITE_LIMIT_EXPR_DEPTH, 500},
    {SQLITE_LIMIT_COMPOUND_SELECT, 200},
    {SQLITE_LIMIT_VDBE_OP, 1000000},
    {SQLITE_LIMIT_FUNCTION_ARG, 100},
    {SQLITE_LIMIT_ATTACHED, 0},
    {SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000},
    {SQLITE_LIMIT_VARIABLE_NUMBER, 32766},
    {SQLITE_LIMIT_TRIGGER_DEPTH, 100},
    {SQLITE_LIMIT_WORKER_THREADS, 0},
};

// Which canonical code each primary SQLite result code maps onto; the rest are
// INTERNAL. Errors in what the caller sent (syntax, constraints, types, sizes)
// are INVALID_ARGUMENT, as the header says. SCHEMA (the schema changed while a
// statement was prepared, even after SQLite's own retry) is ABORTED: the call may
// simply be tried again, and it is no fault of the host's.
constexpr std::pair<int, Code> kSqliteCodes[] = {
    {SQLITE_ERROR, Code::kInvalidArgument},   {SQLITE_CONSTRAINT, Code::kInvalidArgument},
    {SQLITE_MISMATCH, Code::kInvalidArgument}, {SQLITE_RANGE, Code::kInvalidArgument},
    {SQLITE_TOOBIG, Code::kInvalidArgument},  {SQLITE_AUTH, Code::kInvalidArgument},
    {SQLITE_BUSY, Code::kUnavailable},        {SQLITE_LOCKED, Code::kUnavailable},
    {SQLITE_SCHEMA, Code::kAborted},
    {SQLITE_FULL, Code::kResourceExhausted},  {SQLITE_CORRUPT, Code::kDataLoss},
    {SQLITE_NOTADB, Code::kDataLoss},         {SQLITE_READONLY, Code::kFailedPrecondition},
    {SQLITE_INTERRUPT, Code::kCancelled},     {SQLITE_PERM, Code::kPermissionDenied},
    {SQLITE_CANTOPEN, Code::kPermissionDenied},
};

Code CodeFor(int rc) {
  for (const auto& [sqlite_code, code] : kSqliteCodes) {
    if ((rc & 0xff) == sqlite_code) return code;
  }
  return Code::kInternal;
}

// The only PRAGMAs app SQL may run; every other is refused, so a PRAGMA added to
// SQLite later is refused too. None changes anything: `with_argument` ones only
// read the schema or check rows (their argument names a table or index, or caps
// the errors reported), the others may only be read (no argument, no '=').
// src/storage/README.md says why each is safe.
struct AllowedPragma {
  const char* name;
  bool with_argument;
};
constexpr AllowedPragma kAllowedPragmas[] = {
    {"table_info", true},      {"table_xinfo", true},     {"table_list", true},
    {"index_list", true},      {"index_info", true},      {"index_xinfo", true},
    {"foreign_key_list", true}, {"foreign_key_check", true}, {"integrity_check", true},
    {"quick_check", true},     {"user_version", false},   {"journal_mode", false},
    {"synchronous", false},    {"foreign_keys", false},   {"page_count", false},
    {"page_size", false},      {"data_version", false},
};

std::string AllowedPragmaNames() {
  std::string names;
  for (const auto& pragma : kAllowedPragmas) names += (names.empty() ? "" : ", ") + std::string(pragma.name);
  return names;
}

int AuthorizePragma(StatementGuard* guard, const char* name, const char* argument) {
  if (name == nullptr) return SQLITE_DENY;
  for (const auto& pragma : kAllowedPragmas) {
    if (sqlite3_stricmp(name, pragma.name) != 0) continue;
    if (argument == nullptr || pragma.with_argument) return SQLITE_OK;
    guard->refusal = std::string("PRAGMA ") + pragma.name + " can only be read, not set, by app SQL";
    return SQLITE_DENY;
  }
  guard->refusal = std::string("PRAGMA ") + name + " is not allowed (app SQL may use only " + AllowedPragmaNames() + ")";
  return SQLITE_DENY;
}

int Authorize(void* context, int action, const char* arg1, const char* arg2,
              const char* /*database*/, const char* /*trigger*/) {
  auto* conn = static_cast<SqlConnection*>(context);
  StatementGuard* guard = &conn->guard;
  if (!guard->armed) return SQLITE_OK;
  // Preparing can take long too (views that expand exponentially), and no
  // progress handler runs then; but the authorizer does, for every SELECT coded.
  if (conn->deadline != Clock::time_point::max() && Clock::Real().Now() >= conn->deadline) {
    conn->deadline_passed = true;
    return SQLITE_DENY;
  }
  switch (action) {
    case SQLITE_TRANSACTION:
      guard->refusal = std::string(arg1 != nullptr ? arg1 : "BEGIN") +
                       " is not allowed: each call already runs as one transaction";
      return SQLITE_DENY;
    case SQLITE_SAVEPOINT:
      if (guard->allow_savepoints) return SQLITE_OK;
      guard->refusal = "SAVEPOINT and RELEASE are not allowed in a read-only query";
      return SQLITE_DENY;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
      guard->refusal = "ATTACH and DETACH are not allowed: a store holds one database";
      return SQLITE_DENY;
    case SQLITE_PRAGMA:
      return AuthorizePragma(guard, arg1, arg2);
    case SQLITE_FUNCTION:
      // fts3_tokenizer(name) returns a function pointer and fts3_tokenizer(name,
      // pointer) installs one (a bound blob passes even with the feature turned
      // off): a way to run any code in the host.
      if (arg2 != nullptr && sqlite3_stricmp(arg2, "fts3_tokenizer") == 0) {
        guard->refusal = "fts3_tokenizer() is not allowed";
        return SQLITE_DENY;
      }
      return SQLITE_OK;
    default:
      return SQLITE_OK;
  }
}

// The progress handler: nonzero interrupts the statement running on the connection.
int CheckDeadline(void* context) {
  auto* conn = static_cast<SqlConnection*>(context);
  if (conn->deadline == Clock::time_point::max() || Clock::Real().Now() < conn->deadline) return 0;
  conn->deadline_passed = true;
  return 1;
}

// Runs a one-row statement of the store's own and leaves it on that row.
Expected<StatementPtr> StepOneRow(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql, -1, 0, &raw, nullptr);
  StatementPtr stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db, rc, sql);
  rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) {
    if (rc == SQLITE_DONE) return Internal(std::string(sql) + ": returned no row");
    return SqliteError(db, rc, sql);
  }
  return stmt;
}

}  // namespace

AppSqlScope::AppSqlScope(SqlConnection& conn, bool allow_savepoints) : conn_(conn) {
  conn_.guard.armed = true;
  conn_.guard.allow_savepoints = allow_savepoints;
  conn_.guard.refusal.clear();
}

AppSqlScope::~AppSqlScope() {
  conn_.guard.armed = false;
  conn_.guard.refusal.clear();
}

CallDeadline::CallDeadline(SqlConnection& conn, std::chrono::milliseconds timeout) : conn_(conn) {
  conn_.deadline_passed = false;
  conn_.timeout = timeout;
  const Clock::time_point now = Clock::Real().Now();
  // A timeout too long to add to the clock is no deadline at all.
  const bool fits = timeout < std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now);
  conn_.deadline = timeout.count() > 0 && fits ? now + timeout : Clock::time_point::max();
}

CallDeadline::~CallDeadline() {
  conn_.deadline = Clock::time_point::max();
  conn_.deadline_passed = false;  // So a later error on the connection is not blamed on it.
}

void CallDeadline::Extend(Clock::duration d) {
  if (conn_.deadline != Clock::time_point::max()) conn_.deadline += d;
}

Status SqliteError(sqlite3* db, int rc, const std::string& context) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string text = context.empty() ? message : context + ": " + message;
  return Status(CodeFor(rc), std::move(text));
}

Status AppSqlError(const SqlConnection& conn, int rc, const std::string& label) {
  // Interrupted by the progress handler, or refused by the authorizer at prepare.
  if (conn.deadline_passed) {
    return Status(Code::kDeadlineExceeded, label + ": stopped after " + std::to_string(conn.timeout.count()) +
                                               " ms, the most one SQL call may run");
  }
  if (!conn.guard.refusal.empty()) return InvalidArgument(label + ": " + conn.guard.refusal);
  // A statement whose program outgrows SQLITE_LIMIT_VDBE_OP fails as out of memory.
  if ((rc & 0xff) == SQLITE_NOMEM) return InvalidArgument(label + ": the statement is too large or complex to run");
  return SqliteError(conn.db, rc, label);
}

Status ExecInternal(sqlite3* db, const char* sql) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, sql);
  return Status::Ok();
}

Expected<int64_t> QueryInt(sqlite3* db, const char* sql) {
  MUMBA_ASSIGN_OR_RETURN(StatementPtr stmt, StepOneRow(db, sql));
  return static_cast<int64_t>(sqlite3_column_int64(stmt.get(), 0));
}

Expected<std::string> QueryText(sqlite3* db, const char* sql) {
  MUMBA_ASSIGN_OR_RETURN(StatementPtr stmt, StepOneRow(db, sql));
  const unsigned char* text = sqlite3_column_text(stmt.get(), 0);
  return std::string(text != nullptr ? reinterpret_cast<const char*>(text) : "");
}

Expected<std::unique_ptr<SqlConnection>> OpenConnection(const fs::path& file, bool read_only) {
  auto conn = std::make_unique<SqlConnection>();
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
              (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(file.c_str(), &conn->db, flags, nullptr);
  if (rc != SQLITE_OK) return SqliteError(conn->db, rc, "open " + file.string());
  sqlite3_extended_result_codes(conn->db, 1);
  sqlite3_busy_timeout(conn->db, kBusyTimeoutMs);
  // Defensive mode stops ordinary SQL from deliberately corrupting the file.
  sqlite3_db_config(conn->db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  // Debian's SQLite is built with both; neither has a use in a store.
  sqlite3_db_config(conn->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  sqlite3_db_config(conn->db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, nullptr);
  for (const auto& [limit, value] : kLimits) sqlite3_limit(conn->db, limit, value);
  MUMBA_ASSIGN_OR_RETURN(conn->functions, SqlFunctions::Install(conn->db));
  sqlite3_progress_handler(conn->db, kProgressSteps, CheckDeadline, conn.get());
  sqlite3_set_authorizer(conn->db, Authorize, conn.get());
  return conn;
}

Status CheckSqlText(const std::string& sql, const std::string& label) {
  if (sql.find('\0') != std::string::npos) return InvalidArgument(label + ": SQL text contains a NUL byte");
  if (sql.size() > static_cast<size_t>(INT_MAX)) return InvalidArgument(label + ": SQL text is too long");
  return Status::Ok();
}

Expected<StatementPtr> PrepareNext(SqlConnection& conn, const char** cursor, const char* end,
                                   const std::string& label) {
  while (*cursor < end) {
    conn.guard.refusal.clear();
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    // Length -1 (the text is NUL-terminated at `end`): SQLite then applies
    // SQLITE_LIMIT_SQL_LENGTH to this statement alone, and does not copy the whole
    // rest of the text for every statement, as it would given a length.
    int rc = sqlite3_prepare_v3(conn.db, *cursor, -1, 0, &raw, &tail);
    StatementPtr stmt(raw);
    if (rc != SQLITE_OK) return AppSqlError(conn, rc, label);
    if (tail == nullptr || tail <= *cursor) tail = end;
    *cursor = tail;
    if (stmt != nullptr) return stmt;
    // Only whitespace, comments or ';' so far: look further.
  }
  return StatementPtr();
}

}  // namespace mumba::engine
