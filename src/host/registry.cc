// SPDX-License-Identifier: Apache-2.0
#include "host/registry.h"

#include <sqlite3.h>

#include <chrono>

#include "common/keys.h"

namespace mumba {
namespace {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Bind(int i, const std::string& s) { sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT); }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  std::string Text(int i) {
    auto* p = sqlite3_column_text(stmt_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

constexpr const char* kColumns =
    "id, name, version, description, install_dir, enabled, installed_at";

AppRecord ReadRow(Stmt& s) {
  AppRecord r;
  r.id = s.Text(0);
  r.name = s.Text(1);
  r.version = s.Text(2);
  r.description = s.Text(3);
  r.install_dir = s.Text(4);
  r.enabled = sqlite3_column_int(s.get(), 5) != 0;
  r.installed_at_ms = sqlite3_column_int64(s.get(), 6);
  return r;
}

}  // namespace

Expected<std::unique_ptr<Registry>> Registry::Open(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Internal("cannot open registry " + file.string() + ": " + msg);
  }
  std::unique_ptr<Registry> reg(new Registry(db));
  sqlite3_busy_timeout(db, 5000);
  MUMBA_TRY(reg->Exec("PRAGMA journal_mode=WAL"));
  MUMBA_TRY(reg->Exec("PRAGMA synchronous=FULL"));
  MUMBA_TRY(reg->Exec(
      "CREATE TABLE IF NOT EXISTS apps ("
      " id TEXT PRIMARY KEY,"
      " name TEXT NOT NULL,"
      " version TEXT NOT NULL,"
      " description TEXT NOT NULL DEFAULT '',"
      " install_dir TEXT NOT NULL,"
      " enabled INTEGER NOT NULL DEFAULT 0,"
      " installed_at INTEGER NOT NULL)"));
  MUMBA_TRY(reg->Exec("CREATE INDEX IF NOT EXISTS apps_by_name ON apps(name)"));
  MUMBA_TRY(reg->Exec(
      "CREATE TABLE IF NOT EXISTS p2p ("
      " id TEXT PRIMARY KEY,"
      " seq INTEGER NOT NULL,"
      " info_hash TEXT NOT NULL,"
      " info_hash_v2 TEXT NOT NULL,"
      " version TEXT NOT NULL,"
      " published INTEGER NOT NULL DEFAULT 0)"));
  // Version 3 brought grants. Apps installed before had what their manifests asked
  // for without a question; the host grants them the same once (GrantsBackfill).
  int64_t version = 0;
  {
    Stmt v(db, "PRAGMA user_version");
    if (sqlite3_step(v.get()) == SQLITE_ROW) version = sqlite3_column_int64(v.get(), 0);
  }
  MUMBA_TRY(reg->Exec(
      "CREATE TABLE IF NOT EXISTS grants ("
      " app TEXT NOT NULL,"
      " ask TEXT NOT NULL,"
      " granted_at INTEGER NOT NULL,"
      " PRIMARY KEY (app, ask))"));
  reg->grants_backfill_ = version < 3 && !reg->List().empty();
  MUMBA_TRY(reg->Exec("PRAGMA user_version=3"));
  return reg;
}

Registry::~Registry() { sqlite3_close(db_); }

Status Registry::Exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Internal("registry: " + msg);
  }
  return Status();
}

Status Registry::Put(const AppRecord& r) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "INSERT INTO apps (id, name, version, description, install_dir, enabled, installed_at) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET name=?2, version=?3, "
         "description=?4, install_dir=?5, enabled=?6, installed_at=?7");
  if (!s.ok()) return Internal(std::string("registry: ") + sqlite3_errmsg(db_));
  s.Bind(1, r.id);
  s.Bind(2, r.name);
  s.Bind(3, r.version);
  s.Bind(4, r.description);
  s.Bind(5, r.install_dir);
  s.Bind(6, static_cast<int64_t>(r.enabled));
  s.Bind(7, r.installed_at_ms);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Internal(std::string("registry: ") + sqlite3_errmsg(db_));
  return Status();
}

Status Registry::Remove(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM apps WHERE id = ?1");
  s.Bind(1, id);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Internal(std::string("registry: ") + sqlite3_errmsg(db_));
  return Status();
}

Status Registry::SetEnabled(const std::string& id, bool enabled) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "UPDATE apps SET enabled = ?2 WHERE id = ?1");
  s.Bind(1, id);
  s.Bind(2, static_cast<int64_t>(enabled));
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Internal(std::string("registry: ") + sqlite3_errmsg(db_));
  if (sqlite3_changes(db_) == 0) return NotFound("no app " + id);
  return Status();
}

Expected<AppRecord> Registry::Get(const std::string& id) const {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM apps WHERE id = ?1").c_str());
  s.Bind(1, id);
  if (sqlite3_step(s.get()) == SQLITE_ROW) return ReadRow(s);
  return NotFound("no app " + id + " is installed");
}

std::vector<AppRecord> Registry::List() const {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM apps ORDER BY name, id").c_str());
  std::vector<AppRecord> out;
  while (sqlite3_step(s.get()) == SQLITE_ROW) out.push_back(ReadRow(s));
  return out;
}

Status Registry::PutP2p(const P2pRecord& r) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "INSERT INTO p2p (id, seq, info_hash, info_hash_v2, version, published) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET seq=?2, info_hash=?3, "
         "info_hash_v2=?4, version=?5, published=?6");
  if (!s.ok()) return Internal(std::string("registry: ") + sqlite3_errmsg(db_));
  s.Bind(1, r.id);
  s.Bind(2, r.seq);
  s.Bind(3, r.info_hash);
  s.Bind(4, r.info_hash_v2);
  s.Bind(5, r.version);
  s.Bind(6, static_cast<int64_t>(r.published));
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Internal(std::string("registry: ") + sqlite3_errmsg(db_));
  return Status();
}

Status Registry::RemoveP2p(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM p2p WHERE id = ?1");
  s.Bind(1, id);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Internal(std::string("registry: ") + sqlite3_errmsg(db_));
  return Status();
}

namespace {
constexpr const char* kP2pColumns = "id, seq, info_hash, info_hash_v2, version, published";

P2pRecord ReadP2pRow(Stmt& s) {
  P2pRecord r;
  r.id = s.Text(0);
  r.seq = sqlite3_column_int64(s.get(), 1);
  r.info_hash = s.Text(2);
  r.info_hash_v2 = s.Text(3);
  r.version = s.Text(4);
  r.published = sqlite3_column_int64(s.get(), 5) != 0;
  return r;
}
}  // namespace

Expected<P2pRecord> Registry::GetP2p(const std::string& id) const {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string("SELECT ") + kP2pColumns + " FROM p2p WHERE id = ?1").c_str());
  s.Bind(1, id);
  if (sqlite3_step(s.get()) == SQLITE_ROW) return ReadP2pRow(s);
  return NotFound(id + " was never published or fetched here");
}

std::vector<P2pRecord> Registry::ListP2p() const {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string("SELECT ") + kP2pColumns + " FROM p2p ORDER BY id").c_str());
  std::vector<P2pRecord> out;
  while (sqlite3_step(s.get()) == SQLITE_ROW) out.push_back(ReadP2pRow(s));
  return out;
}

Expected<AppRecord> Registry::Resolve(const std::string& ref) const {
  if (ref.empty()) return InvalidArgument("no app given");
  if (LooksLikeAddress(ref)) {
    auto address = NormalizeAddress(ref);
    if (!address.ok()) return address.status();
    auto r = Get(*address);
    if (!r.ok()) return NotFound("app " + *address + " is not installed");
    return r;
  }
  std::vector<AppRecord> matches;
  {
    std::lock_guard lock(mu_);
    Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM apps WHERE name = ?1").c_str());
    s.Bind(1, ref);
    while (sqlite3_step(s.get()) == SQLITE_ROW) matches.push_back(ReadRow(s));
  }
  if (matches.empty()) return NotFound("app '" + ref + "' is not installed (see mumba list)");
  if (matches.size() > 1) {
    std::string ids;
    for (const auto& m : matches) ids += " " + m.id;
    return FailedPrecondition("more than one app is named '" + ref + "'; use its id:" + ids);
  }
  return matches.front();
}

std::set<std::string> Registry::Grants(const std::string& id) const {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT ask FROM grants WHERE app = ?1");
  s.Bind(1, id);
  std::set<std::string> out;
  while (sqlite3_step(s.get()) == SQLITE_ROW) out.insert(s.Text(0));
  return out;
}

Status Registry::SetGrants(const std::string& id, const std::vector<std::string>& grant,
                           const std::vector<std::string>& revoke) {
  std::lock_guard lock(mu_);
  auto fail = [&] {
    std::string msg = sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return Internal("registry: " + msg);
  };
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return fail();
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& ask : grant) {
    Stmt s(db_, "INSERT OR IGNORE INTO grants (app, ask, granted_at) VALUES (?1, ?2, ?3)");
    s.Bind(1, id);
    s.Bind(2, ask);
    s.Bind(3, now);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return fail();
  }
  for (const auto& ask : revoke) {
    Stmt s(db_, "DELETE FROM grants WHERE app = ?1 AND ask = ?2");
    s.Bind(1, id);
    s.Bind(2, ask);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return fail();
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail();
  return Status();
}

Status Registry::RemoveGrants(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM grants WHERE app = ?1");
  s.Bind(1, id);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Internal(std::string("registry: ") + sqlite3_errmsg(db_));
  return Status();
}

}  // namespace mumba
