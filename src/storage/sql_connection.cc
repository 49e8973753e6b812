// SPDX-License-Identifier: Apache-2.0
// The store's SQLite connections and the authorizer policy; see sql_connection.h.
#include "storage/sql_connection.h"

#include <climits>
#include <utility>

namespace mumba::engine {
namespace {

namespace fs = std::filesystem;

constexpr int kBusyTimeoutMs = 5000;

// Which canonical code each primary SQLite result code maps onto; the rest are
// INTERNAL. Errors in what the caller sent (syntax, constraints, types, sizes)
// are INVALID_ARGUMENT, as the header says.
constexpr std::pair<int, Code> kSqliteCodes[] = {
    {SQLITE_ERROR, Code::kInvalidArgument},   {SQLITE_CONSTRAINT, Code::kInvalidArgument},
    {SQLITE_MISMATCH, Code::kInvalidArgument}, {SQLITE_RANGE, Code::kInvalidArgument},
    {SQLITE_TOOBIG, Code::kInvalidArgument},  {SQLITE_AUTH, Code::kInvalidArgument},
    {SQLITE_BUSY, Code::kUnavailable},        {SQLITE_LOCKED, Code::kUnavailable},
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

// PRAGMAs app SQL may read but not set: they are the store's own configuration.
constexpr const char* kStorePragmas[] = {
    "journal_mode", "synchronous",  "foreign_keys",         "locking_mode",
    "busy_timeout", "query_only",   "writable_schema",      "temp_store_directory",
    "mmap_size",    "data_store_directory",
};

int Authorize(void* context, int action, const char* arg1, const char* arg2,
              const char* /*database*/, const char* /*trigger*/) {
  auto* guard = static_cast<StatementGuard*>(context);
  if (!guard->armed) return SQLITE_OK;
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
      if (arg1 == nullptr || arg2 == nullptr) return SQLITE_OK;  // Reading is fine.
      for (const char* name : kStorePragmas) {
        if (sqlite3_stricmp(arg1, name) == 0) {
          guard->refusal = std::string("PRAGMA ") + name + " is set by the store and cannot be changed";
          return SQLITE_DENY;
        }
      }
      return SQLITE_OK;
    default:
      return SQLITE_OK;
  }
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

Status SqliteError(sqlite3* db, int rc, const std::string& context) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string text = context.empty() ? message : context + ": " + message;
  return Status(CodeFor(rc), std::move(text));
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
  sqlite3_set_authorizer(conn->db, Authorize, &conn->guard);
  return conn;
}

Status CheckSqlText(const std::string& sql, const std::string& label) {
  if (sql.find('\0') != std::string::npos) return InvalidArgument(label + ": SQL text contains a NUL byte");
  if (sql.size() > static_cast<size_t>(INT_MAX)) return InvalidArgument(label + ": SQL text is too long");
  return Status::Ok();
}

Expected<StatementPtr> PrepareNext(SqlConnection& conn, const char** cursor, const char* end,
                                   bool allow_savepoints, const std::string& label) {
  while (*cursor < end) {
    conn.guard.armed = true;
    conn.guard.allow_savepoints = allow_savepoints;
    conn.guard.refusal.clear();
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(conn.db, *cursor, static_cast<int>(end - *cursor), 0, &raw, &tail);
    conn.guard.armed = false;
    StatementPtr stmt(raw);
    if (rc != SQLITE_OK) {
      if (!conn.guard.refusal.empty()) return InvalidArgument(label + ": " + conn.guard.refusal);
      return SqliteError(conn.db, rc, label);
    }
    if (tail == nullptr || tail <= *cursor) tail = end;
    *cursor = tail;
    if (stmt != nullptr) return stmt;
    // Only whitespace, comments or ';' so far: look further.
  }
  return StatementPtr();
}

}  // namespace mumba::engine
