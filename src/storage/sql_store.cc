// SPDX-License-Identifier: Apache-2.0
// SqlStore on SQLite in WAL mode: one write connection behind a mutex, and a small
// pool of read-only connections so Query, SchemaVersion, UsedBytes, CopyTo and
// IntegrityCheck read a committed snapshot beside a running write.
//
// App SQL is prepared on connections set up by sql_connection.h, whose authorizer
// refuses what would break the store's promises; this file binds parameters, reads
// rows, and runs transactions, queries, migrations and backups.
#include "storage/sql_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <string_view>
#include <system_error>
#include <utility>

#include "storage/sql_connection.h"

namespace mumba::engine {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDatabaseFileName = "db.sqlite";
// Idle read connections kept open; more are opened while many reads run at once.
constexpr size_t kMaxIdleReaders = 4;
// SQLite's own ceiling of max_page_count: no cap.
constexpr uint64_t kNoPageLimit = 4294967294ull;

// Approximate in-memory size of a value, for max_result_bytes and batch_bytes.
uint64_t ApproximateBytes(const SqlValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return 8 + text->size();
  if (const auto* blob = std::get_if<SqlBlob>(&value)) return 8 + blob->bytes.size();
  return 8;
}

uint64_t ApproximateBytes(const SqlRowValues& row) {
  uint64_t bytes = 16;
  for (const SqlValue& value : row) bytes += ApproximateBytes(value);
  return bytes;
}

SqlValue ColumnValue(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
      return static_cast<int64_t>(sqlite3_column_int64(stmt, column));
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, column);
    case SQLITE_TEXT: {
      // Fetch the pointer before the size: the conversion may change the size.
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
      int size = sqlite3_column_bytes(stmt, column);
      return text != nullptr ? std::string(text, size) : std::string();
    }
    case SQLITE_BLOB: {
      const auto* blob = static_cast<const char*>(sqlite3_column_blob(stmt, column));
      int size = sqlite3_column_bytes(stmt, column);
      return SqlBlob{blob != nullptr ? std::string(blob, size) : std::string()};
    }
    default:
      return std::monostate{};
  }
}

SqlRowValues ReadRow(sqlite3_stmt* stmt) {
  int count = sqlite3_column_count(stmt);
  SqlRowValues row;
  row.reserve(count);
  for (int i = 0; i < count; ++i) row.push_back(ColumnValue(stmt, i));
  return row;
}

std::vector<std::string> ColumnNames(sqlite3_stmt* stmt) {
  int count = sqlite3_column_count(stmt);
  std::vector<std::string> names;
  names.reserve(count);
  for (int i = 0; i < count; ++i) {
    const char* name = sqlite3_column_name(stmt, i);
    names.emplace_back(name != nullptr ? name : "");
  }
  return names;
}

// Binds `params` by position after checking their number. Text and blobs are bound
// without copying: the caller keeps `params` alive until the statement is done.
Status BindParams(sqlite3* db, sqlite3_stmt* stmt, const std::vector<SqlValue>& params,
                  const std::string& label) {
  int expected = sqlite3_bind_parameter_count(stmt);
  if (static_cast<size_t>(expected) != params.size()) {
    return InvalidArgument(label + " expects " + std::to_string(expected) + " parameters, got " +
                           std::to_string(params.size()));
  }
  for (int i = 0; i < expected; ++i) {
    const SqlValue& value = params[i];
    int position = i + 1;
    int rc = SQLITE_OK;
    if (const auto* integer = std::get_if<int64_t>(&value)) {
      rc = sqlite3_bind_int64(stmt, position, *integer);
    } else if (const auto* real = std::get_if<double>(&value)) {
      rc = sqlite3_bind_double(stmt, position, *real);
    } else if (const auto* text = std::get_if<std::string>(&value)) {
      rc = sqlite3_bind_text64(stmt, position, text->data(), text->size(), SQLITE_STATIC, SQLITE_UTF8);
    } else if (const auto* blob = std::get_if<SqlBlob>(&value)) {
      rc = blob->bytes.empty()
               ? sqlite3_bind_zeroblob(stmt, position, 0)
               : sqlite3_bind_blob64(stmt, position, blob->bytes.data(), blob->bytes.size(), SQLITE_STATIC);
    } else {
      rc = sqlite3_bind_null(stmt, position);
    }
    if (rc != SQLITE_OK) {
      return SqliteError(db, rc, label + ", parameter " + std::to_string(position));
    }
  }
  return Status::Ok();
}

// Moves the rows of a step loop somewhere: into an outcome or a batch callback.
// Returns false to stop stepping (not an error).
using RowSink = std::function<Expected<bool>(SqlRowValues&& row)>;

// Steps `stmt` of app SQL on `conn` to the end, handing each row to `sink`.
Status StepAll(const SqlConnection& conn, sqlite3_stmt* stmt, const std::string& label, const RowSink& sink) {
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return Status::Ok();
    if (rc != SQLITE_ROW) return AppSqlError(conn, rc, label);
    MUMBA_ASSIGN_OR_RETURN(bool more, sink(ReadRow(stmt)));
    if (!more) return Status::Ok();
  }
}

class SqlStoreImpl;

// A read connection borrowed from the pool; returns it when destroyed.
class ReaderLease {
 public:
  ReaderLease(SqlStoreImpl* store, std::unique_ptr<SqlConnection> conn)
      : store_(store), conn_(std::move(conn)) {}
  ReaderLease(ReaderLease&& other) noexcept = default;
  ReaderLease& operator=(ReaderLease&&) = delete;
  ~ReaderLease();

  SqlConnection& operator*() const { return *conn_; }
  SqlConnection* operator->() const { return conn_.get(); }

 private:
  SqlStoreImpl* store_;
  std::unique_ptr<SqlConnection> conn_;
};

class SqlStoreImpl final : public SqlStore {
 public:
  SqlStoreImpl(fs::path file, bool read_only, SqlStoreOptions options)
      : file_(std::move(file)), read_only_(read_only), options_(options) {}

  ~SqlStoreImpl() override {
    // Readers first, so the writer's close can checkpoint and remove the WAL.
    idle_readers_.clear();
    writer_.reset();
  }

  Status Init() {
    MUMBA_ASSIGN_OR_RETURN(writer_, OpenConnection(file_, read_only_));
    sqlite3* db = writer_->db;
    if (!read_only_) {
      MUMBA_ASSIGN_OR_RETURN(std::string mode, QueryText(db, "PRAGMA journal_mode=WAL"));
      if (sqlite3_stricmp(mode.c_str(), "wal") != 0) {
        return FailedPrecondition(file_.string() + ": cannot use WAL mode (journal mode is " + mode + ")");
      }
      MUMBA_TRY(ExecInternal(db, "PRAGMA synchronous=FULL"));
    }
    MUMBA_TRY(ExecInternal(db, "PRAGMA foreign_keys=ON"));
    MUMBA_ASSIGN_OR_RETURN(int64_t page_size, QueryInt(db, "PRAGMA page_size"));
    page_size_ = static_cast<uint64_t>(std::max<int64_t>(page_size, 512));
    // Reads the schema, so a file that is not a database fails here and not later.
    MUMBA_TRY(QueryInt(db, "SELECT count(*) FROM sqlite_schema").status().WithContext(file_.string()));
    // One reader up front, so a store whose reads cannot work fails to open.
    MUMBA_ASSIGN_OR_RETURN(ReaderLease reader, LeaseReader());
    return Status::Ok();
  }

  Expected<std::vector<SqlStatementOutcome>> Execute(const std::vector<SqlStatementSpec>& statements,
                                                     uint64_t max_result_bytes,
                                                     std::optional<uint64_t> max_growth) override {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (max_growth && !read_only_) {
      MUMBA_ASSIGN_OR_RETURN(int64_t pages, QueryInt(writer_->db, "PRAGMA page_count"));
      MUMBA_TRY(SetMaxPages(static_cast<uint64_t>(pages) + *max_growth / page_size_));
    }
    auto outcomes = ExecuteLocked(statements, max_result_bytes);
    // The call's cap must not outlive it: back to what LimitSize set.
    if (max_growth && !read_only_) MUMBA_TRY(SetMaxPages(limit_pages_));
    return outcomes;
  }

  // Execute, under write_mu_.
  Expected<std::vector<SqlStatementOutcome>> ExecuteLocked(const std::vector<SqlStatementSpec>& statements,
                                                           uint64_t max_result_bytes) {
    std::vector<SqlStatementOutcome> outcomes;
    outcomes.reserve(statements.size());
    uint64_t result_bytes = 0;
    Status st = InTransaction([&]() -> Status {
      for (size_t i = 0; i < statements.size(); ++i) {
        SqlStatementOutcome outcome;
        MUMBA_TRY(RunSpec(statements[i], "statement " + std::to_string(i + 1), &outcome, &result_bytes,
                          max_result_bytes));
        outcomes.push_back(std::move(outcome));
      }
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return outcomes;
  }

  Status Query(const SqlStatementSpec& statement, const BatchFn& on_batch, uint64_t batch_bytes) override {
    if (!on_batch) return InvalidArgument("Query needs a batch callback");
    const std::string label = "query";
    MUMBA_TRY(CheckSqlText(statement.sql, label));
    MUMBA_ASSIGN_OR_RETURN(ReaderLease reader, LeaseReader());
    AppSqlScope app_sql(*reader, /*allow_savepoints=*/false);
    CallDeadline deadline(*reader, options_.call_timeout);
    const char* cursor = statement.sql.c_str();
    const char* end = cursor + statement.sql.size();
    MUMBA_ASSIGN_OR_RETURN(StatementPtr stmt, PrepareNext(*reader, &cursor, end, label));
    if (stmt == nullptr) return InvalidArgument("query: no SQL statement to run");
    MUMBA_ASSIGN_OR_RETURN(StatementPtr next, PrepareNext(*reader, &cursor, end, label));
    if (next != nullptr) return InvalidArgument("query: Query runs one SQL statement at a time");
    if (!sqlite3_stmt_readonly(stmt.get())) {
      return InvalidArgument("Query runs read-only statements; use Execute");
    }
    MUMBA_TRY(BindParams(reader->db, stmt.get(), statement.params, label));

    const std::vector<std::string> columns = ColumnNames(stmt.get());
    std::vector<SqlRowValues> batch;
    uint64_t bytes = 0;
    bool delivered = false;
    bool stopped = false;
    MUMBA_TRY(StepAll(*reader, stmt.get(), label, [&](SqlRowValues&& row) -> Expected<bool> {
      bytes += ApproximateBytes(row);
      batch.push_back(std::move(row));
      if (bytes < batch_bytes) return true;
      delivered = true;
      // The reader's pace is not the SQL's: the deadline waits for it.
      const Clock::time_point handed = Clock::Real().Now();
      bool more = on_batch(columns, std::move(batch));
      deadline.Extend(Clock::Real().Now() - handed);
      batch.clear();
      bytes = 0;
      stopped = !more;
      return more;
    }));
    // The rest, or the one (empty) batch an empty result still gets.
    if (!stopped && (!batch.empty() || !delivered)) on_batch(columns, std::move(batch));
    return Status::Ok();
  }

  Expected<int64_t> SchemaVersion() override {
    MUMBA_ASSIGN_OR_RETURN(ReaderLease reader, LeaseReader());
    return QueryInt(reader->db, "PRAGMA user_version");
  }

  Status Migrate(const std::string& script, int64_t version) override {
    // PRAGMA user_version is a signed 32-bit field of the database header.
    if (version < INT32_MIN || version > INT32_MAX) {
      return InvalidArgument("schema version " + std::to_string(version) + " does not fit in 32 bits");
    }
    std::lock_guard<std::mutex> lock(write_mu_);
    if (read_only_) return FailedPrecondition("the SQL store is open read-only");
    return InTransaction([&]() -> Status {
      SqlStatementSpec spec{script, {}};
      MUMBA_TRY(RunSpec(spec, "migration to version " + std::to_string(version), nullptr, nullptr, 0));
      std::string set_version = "PRAGMA user_version = " + std::to_string(version);
      return ExecInternal(writer_->db, set_version.c_str());
    });
  }

  Status LimitSize(uint64_t max_bytes) override {
    if (read_only_) return Status::Ok();
    std::lock_guard<std::mutex> lock(write_mu_);
    limit_pages_ = max_bytes == 0 ? kNoPageLimit : std::max<uint64_t>(1, max_bytes / page_size_);
    return SetMaxPages(limit_pages_);
  }

  // Sets PRAGMA max_page_count on the writer (SQLite keeps it at least the current
  // page count). Requires write_mu_.
  Status SetMaxPages(uint64_t pages) {
    std::string pragma = "PRAGMA max_page_count = " + std::to_string(std::min(pages, kNoPageLimit));
    return QueryInt(writer_->db, pragma.c_str()).status();
  }

  uint64_t UsedBytes() override {
    auto reader = LeaseReader();
    if (!reader.ok()) return 0;
    auto pages = QueryInt((*reader)->db, "PRAGMA page_count");
    auto page_size = QueryInt((*reader)->db, "PRAGMA page_size");
    if (!pages.ok() || !page_size.ok()) return 0;
    return static_cast<uint64_t>(*pages) * static_cast<uint64_t>(*page_size);
  }

  Status CopyTo(const fs::path& dest) override {
    std::error_code ec;
    if (fs::exists(dest, ec)) {
      if (!fs::is_directory(dest, ec)) return FailedPrecondition(dest.string() + " is not a directory");
      if (!fs::is_empty(dest, ec)) return FailedPrecondition(dest.string() + " is not empty");
    } else {
      MUMBA_TRY(MakePrivateDirectory(dest));
    }
    const fs::path dest_file = dest / kDatabaseFileName;
    Status st = Backup(dest_file);
    if (!st.ok()) {
      // Leave the folder empty again rather than holding half a copy.
      for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
        fs::remove(dest_file.string() + suffix, ec);
      }
    }
    return st;
  }

  Status IntegrityCheck() override {
    MUMBA_ASSIGN_OR_RETURN(ReaderLease reader, LeaseReader());
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(reader->db, "PRAGMA integrity_check", -1, 0, &raw, nullptr);
    StatementPtr stmt(raw);
    if (rc != SQLITE_OK) return SqliteError(reader->db, rc, "integrity check");
    std::string report;
    Status st = StepAll(*reader, stmt.get(), "integrity check", [&](SqlRowValues&& row) -> Expected<bool> {
      const auto* line = row.empty() ? nullptr : std::get_if<std::string>(&row[0]);
      if (!report.empty()) report += "; ";
      report += line != nullptr ? *line : "?";
      return true;
    });
    // A check that cannot even read the file (SQLITE_CORRUPT) maps to DATA_LOSS too.
    if (!st.ok()) return st;
    if (report == "ok") return Status::Ok();
    for (char& c : report) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return Status(Code::kDataLoss, "integrity check failed: " + report);
  }

  static Status MakePrivateDirectory(const fs::path& dir) {
    std::error_code ec;
    if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
    if (ec) return Status(Code::kPermissionDenied, "create " + dir.parent_path().string() + ": " + ec.message());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status(Code::kPermissionDenied, "create " + dir.string() + ": " + std::strerror(errno));
    }
    if (!fs::is_directory(dir, ec)) return FailedPrecondition(dir.string() + " is not a directory");
    return Status::Ok();
  }

 private:
  friend class ReaderLease;

  Expected<ReaderLease> LeaseReader() {
    {
      std::lock_guard<std::mutex> lock(readers_mu_);
      if (!idle_readers_.empty()) {
        std::unique_ptr<SqlConnection> conn = std::move(idle_readers_.back());
        idle_readers_.pop_back();
        return ReaderLease(this, std::move(conn));
      }
    }
    MUMBA_ASSIGN_OR_RETURN(std::unique_ptr<SqlConnection> conn, OpenConnection(file_, /*read_only=*/true));
    return ReaderLease(this, std::move(conn));
  }

  void ReturnReader(std::unique_ptr<SqlConnection> conn) {
    // A reader left inside a transaction would pin an old snapshot: drop it.
    if (conn == nullptr || !sqlite3_get_autocommit(conn->db)) return;
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(conn));
  }

  // Runs `body` between BEGIN and COMMIT on the writer, under the call's deadline,
  // rolling back when it or the COMMIT fails. Requires write_mu_.
  Status InTransaction(const std::function<Status()>& body) {
    sqlite3* db = writer_->db;
    // A read-only store cannot take the write lock; a deferred BEGIN reads.
    MUMBA_TRY(ExecInternal(db, read_only_ ? "BEGIN" : "BEGIN IMMEDIATE"));
    Status st;
    {
      // Only the body is timed: COMMIT and ROLLBACK must never be interrupted.
      CallDeadline deadline(*writer_, options_.call_timeout);
      st = body();
    }
    if (st.ok()) st = ExecInternal(db, "COMMIT");
    // SQLite may already have rolled back (e.g. INSERT OR ROLLBACK, disk full).
    if (!st.ok() && !sqlite3_get_autocommit(db)) {
      Status rolled_back = ExecInternal(db, "ROLLBACK");
      (void)rolled_back;  // The first error is the one worth reporting.
    }
    return st;
  }

  // Runs every SQL statement in `spec` on the writer, inside the open transaction.
  // With `outcome` null the rows are dropped (a migration script).
  Status RunSpec(const SqlStatementSpec& spec, const std::string& label, SqlStatementOutcome* outcome,
                 uint64_t* result_bytes, uint64_t max_result_bytes) {
    MUMBA_TRY(CheckSqlText(spec.sql, label));
    SqlConnection& conn = *writer_;
    sqlite3* db = conn.db;
    if (outcome != nullptr) sqlite3_set_last_insert_rowid(db, 0);
    AppSqlScope app_sql(conn, /*allow_savepoints=*/true);
    const char* cursor = spec.sql.c_str();
    const char* end = cursor + spec.sql.size();
    bool ran_any = false;
    for (;;) {
      MUMBA_ASSIGN_OR_RETURN(StatementPtr stmt, PrepareNext(conn, &cursor, end, label));
      if (stmt == nullptr) break;
      ran_any = true;
      if (!spec.params.empty()) {
        // Parameters belong to one statement; more would make their positions ambiguous.
        MUMBA_ASSIGN_OR_RETURN(StatementPtr next, PrepareNext(conn, &cursor, end, label));
        if (next != nullptr) {
          return InvalidArgument(label + " has parameters, so it must hold a single SQL statement");
        }
      }
      if (read_only_ && !sqlite3_stmt_readonly(stmt.get())) {
        return FailedPrecondition(label + ": the SQL store is open read-only");
      }
      MUMBA_TRY(BindParams(db, stmt.get(), spec.params, label));

      if (outcome != nullptr && outcome->columns.empty()) outcome->columns = ColumnNames(stmt.get());
      const int64_t total_before = sqlite3_total_changes64(db);
      MUMBA_TRY(StepAll(conn, stmt.get(), label, [&](SqlRowValues&& row) -> Expected<bool> {
        if (outcome == nullptr) return true;
        *result_bytes += ApproximateBytes(row);
        if (*result_bytes > max_result_bytes) {
          return ResourceExhausted(label + ": the result is larger than " + std::to_string(max_result_bytes) +
                                   " bytes");
        }
        outcome->rows.push_back(std::move(row));
        return true;
      }));
      // sqlite3_changes64 keeps the count of the last INSERT/UPDATE/DELETE, so it
      // only counts when this statement changed something.
      if (outcome != nullptr && sqlite3_total_changes64(db) != total_before) {
        outcome->changes += sqlite3_changes64(db);
      }
    }
    if (!ran_any && !spec.params.empty()) {
      return InvalidArgument(label + " expects 0 parameters, got " + std::to_string(spec.params.size()));
    }
    if (outcome != nullptr) outcome->last_insert_rowid = sqlite3_last_insert_rowid(db);
    return Status::Ok();
  }

  // Copies a snapshot of the database into the new file `dest_file` in one backup
  // step, from a reader so writes go on meanwhile.
  Status Backup(const fs::path& dest_file) {
    MUMBA_ASSIGN_OR_RETURN(ReaderLease reader, LeaseReader());
    MUMBA_ASSIGN_OR_RETURN(std::unique_ptr<SqlConnection> dest, OpenConnection(dest_file, /*read_only=*/false));
    MUMBA_TRY(ExecInternal(dest->db, "PRAGMA synchronous=FULL"));
    sqlite3_backup* backup = sqlite3_backup_init(dest->db, "main", reader->db, "main");
    if (backup == nullptr) return SqliteError(dest->db, sqlite3_errcode(dest->db), "backup");
    int rc = sqlite3_backup_step(backup, -1);
    int finish_rc = sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) return SqliteError(nullptr, rc, "backup to " + dest_file.string());
    if (finish_rc != SQLITE_OK) return SqliteError(dest->db, finish_rc, "backup to " + dest_file.string());
    // The copy is a store of its own, so it uses the same journal mode.
    MUMBA_ASSIGN_OR_RETURN(std::string mode, QueryText(dest->db, "PRAGMA journal_mode=WAL"));
    if (sqlite3_stricmp(mode.c_str(), "wal") != 0) {
      return FailedPrecondition(dest_file.string() + ": cannot use WAL mode (journal mode is " + mode + ")");
    }
    return Status::Ok();
  }

  const fs::path file_;
  const bool read_only_;
  const SqlStoreOptions options_;

  std::mutex write_mu_;  // Guards the use of writer_.
  uint64_t page_size_ = 4096;            // Read at open.
  uint64_t limit_pages_ = kNoPageLimit;  // LimitSize's cap; guarded by write_mu_.
  std::unique_ptr<SqlConnection> writer_;

  std::mutex readers_mu_;  // Guards idle_readers_.
  std::vector<std::unique_ptr<SqlConnection>> idle_readers_;
};

ReaderLease::~ReaderLease() {
  if (conn_ != nullptr) store_->ReturnReader(std::move(conn_));
}

}  // namespace

Expected<std::unique_ptr<SqlStore>> SqlStore::Open(const std::filesystem::path& dir, bool read_only,
                                                   const SqlStoreOptions& options) {
  if (sqlite3_threadsafe() == 0) return Internal("SQLite was built without thread support");
  const fs::path file = dir / kDatabaseFileName;
  if (read_only) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return NotFound("no SQL database at " + file.string());
  } else {
    MUMBA_TRY(SqlStoreImpl::MakePrivateDirectory(dir));
  }
  auto store = std::make_unique<SqlStoreImpl>(file, read_only, options);
  MUMBA_TRY(store->Init());
  return std::unique_ptr<SqlStore>(std::move(store));
}

}  // namespace mumba::engine
