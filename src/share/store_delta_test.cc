// SPDX-License-Identifier: Apache-2.0
// The promise shares are built for: a 1 % change of a store, snapshotted again the
// way the host snapshots it (SQLite's online backup, LMDB's mdb_env_copy2 without
// compaction), makes few new chunks. Real engines, ~20 MB stores, default 64 KiB
// chunks; each test prints the figure it measured.
//
// What a 1 % change costs is the chunks holding the changed pages (about 1 % of
// the store) plus a few chunks of scattered pages that every commit touches too:
// page 1, the b-trees' interior and rightmost pages, LMDB's meta and branch pages.
// Measured: 0 to 7 such chunks. The tests allow 1 % plus 10 chunks (640 KiB), which
// is within the 2 % for every store of 66 MB or more; at 20 MB the fixed
// part alone is 3 %, so "2 % of the total" is not what these sizes can show (see
// README.md for the figures at 110 MB, all under 1.5 %).
#include <lmdb.h>
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "common/temp_dir.h"
#include "share/chunked_tree.h"

namespace mumba::share {
namespace {

namespace fs = std::filesystem;

constexpr int kRows = 100000;     // ~20 MB of rows or keys.
constexpr int kChanged = kRows / 100;
constexpr size_t kBodyBytes = 180;

// Text of `kBodyBytes` that differs with `n` and `version`.
std::string Body(int n, int version) {
  std::string out;
  uint32_t x = static_cast<uint32_t>(n) * 2654435761u + static_cast<uint32_t>(version) * 40503u + 1;
  while (out.size() < kBodyBytes) {
    x = x * 1664525u + 1013904223u;
    out.push_back(static_cast<char>('a' + (x >> 24) % 26));
  }
  return out;
}

constexpr uint64_t kScatteredChunks = 10;

// Prints what share of `next` a holder of `prev` lacks, and checks it against
// 1 % of the store plus kScatteredChunks chunks.
void ExpectFewNewChunks(const ChunkedIndex& prev, const ChunkedIndex& next, const char* what) {
  const uint64_t fresh = NewChunkBytes(prev, next);
  std::printf("%s: %.2f %% of %.1f MB new (%llu of %llu bytes)\n", what,
              100.0 * static_cast<double>(fresh) / static_cast<double>(next.total_bytes),
              static_cast<double>(next.total_bytes) / 1e6, static_cast<unsigned long long>(fresh),
              static_cast<unsigned long long>(next.total_bytes));
  EXPECT_LE(fresh, next.total_bytes / 100 + kScatteredChunks * next.chunk_bytes) << what;
}

class SqliteDb {
 public:
  explicit SqliteDb(const fs::path& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;");
  }
  ~SqliteDb() { sqlite3_close(db_); }

  void Exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
    sqlite3_free(error);
  }
  // Runs `sql` (two parameters: an id and a body) for ids [first, last).
  void ForIds(const std::string& sql, int first, int last, int version) {
    Exec("BEGIN");
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    for (int id = first; id < last; ++id) {
      const std::string body = Body(id, version);
      sqlite3_bind_int(stmt, 1, id);
      sqlite3_bind_text(stmt, 2, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
      ASSERT_EQ(sqlite3_step(stmt), SQLITE_DONE);
      sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    Exec("COMMIT");
  }
  // A consistent copy at `dest` through the online backup API, as the host takes it.
  void Snapshot(const fs::path& dest) {
    sqlite3* out = nullptr;
    ASSERT_EQ(sqlite3_open(dest.c_str(), &out), SQLITE_OK);
    sqlite3_backup* backup = sqlite3_backup_init(out, "main", db_, "main");
    ASSERT_NE(backup, nullptr);
    EXPECT_EQ(sqlite3_backup_step(backup, -1), SQLITE_DONE);
    EXPECT_EQ(sqlite3_backup_finish(backup), SQLITE_OK);
    sqlite3_close(out);
  }

 private:
  sqlite3* db_ = nullptr;
};

class StoreDeltaTest : public ::testing::Test {
 protected:
  // A feed-like table: posts by id, with an index on their time.
  void MakeSqlite() {
    db_ = std::make_unique<SqliteDb>(tmp_.path() / "live.db");
    db_->Exec("CREATE TABLE posts(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, body TEXT NOT NULL);"
              "CREATE INDEX posts_at ON posts(at);");
    db_->ForIds("INSERT INTO posts(id, at, body) VALUES (?1, ?1 * 1000, ?2)", 0, kRows, 0);
    db_->Snapshot(tmp_.path() / "snap1.db");
    auto v1 = WriteChunked(tmp_.path() / "snap1.db", tmp_.path() / "v1", "sql");
    ASSERT_TRUE(v1.ok()) << v1.status().message();
    v1_ = *v1;
    EXPECT_GT(v1_.total_bytes, 20u << 20);
  }
  ChunkedIndex Republish() {
    db_->Snapshot(tmp_.path() / "snap2.db");
    auto v2 = WriteChunked(tmp_.path() / "snap2.db", tmp_.path() / "v2", "sql");
    EXPECT_TRUE(v2.ok()) << v2.status().message();
    return v2.ok() ? *v2 : ChunkedIndex{};
  }

  TempDir tmp_{"mumba-share-delta"};
  std::unique_ptr<SqliteDb> db_;
  ChunkedIndex v1_;
};

TEST_F(StoreDeltaTest, UpdatingOnePercentOfSqliteRowsMakesFewNewChunks) {
  ASSERT_NO_FATAL_FAILURE(MakeSqlite());
  db_->ForIds("UPDATE posts SET body = ?2 WHERE id = ?1", kRows / 2, kRows / 2 + kChanged, 1);
  ChunkedIndex v2 = Republish();
  ExpectFewNewChunks(v1_, v2, "sqlite, 1 % of rows updated");
}

TEST_F(StoreDeltaTest, AppendingOnePercentSqliteRowsMakesFewNewChunks) {
  ASSERT_NO_FATAL_FAILURE(MakeSqlite());
  db_->ForIds("INSERT INTO posts(id, at, body) VALUES (?1, ?1 * 1000, ?2)", kRows, kRows + kChanged, 1);
  ChunkedIndex v2 = Republish();
  ExpectFewNewChunks(v1_, v2, "sqlite, 1 % rows appended");
}

// An LMDB environment with one unnamed database.
class LmdbEnv {
 public:
  explicit LmdbEnv(const fs::path& dir) {
    fs::create_directories(dir);
    EXPECT_EQ(mdb_env_create(&env_), 0);
    EXPECT_EQ(mdb_env_set_mapsize(env_, size_t{256} << 20), 0);
    EXPECT_EQ(mdb_env_open(env_, dir.c_str(), MDB_NOSYNC, 0644), 0);
  }
  ~LmdbEnv() { mdb_env_close(env_); }

  // Puts keys [first, last) with values of `version` in one transaction.
  void Put(int first, int last, int version) {
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env_, nullptr, 0, &txn), 0);
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
    for (int n = first; n < last; ++n) {
      char key[16];
      std::snprintf(key, sizeof key, "k%08d", n);
      std::string value = Body(n, version);
      MDB_val k{8 + 1, key};
      MDB_val v{value.size(), value.data()};
      ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    ASSERT_EQ(mdb_txn_commit(txn), 0);
  }
  // A copy of the environment in the empty folder `dest`, page for page.
  void Snapshot(const fs::path& dest) {
    fs::create_directories(dest);
    ASSERT_EQ(mdb_env_copy2(env_, dest.c_str(), 0), 0);
  }

 private:
  MDB_env* env_ = nullptr;
};

TEST_F(StoreDeltaTest, UpdatingOnePercentOfLmdbKeysMakesFewNewChunks) {
  LmdbEnv env(tmp_.path() / "live");
  // Loaded in batches, as an app writes, rather than in one transaction.
  for (int first = 0; first < kRows; first += kChanged) env.Put(first, first + kChanged, 0);
  env.Snapshot(tmp_.path() / "snap1");
  auto v1 = WriteChunked(tmp_.path() / "snap1" / "data.mdb", tmp_.path() / "v1", "kv");
  ASSERT_TRUE(v1.ok()) << v1.status().message();
  EXPECT_GT(v1->total_bytes, 20u << 20);

  env.Put(kRows / 2, kRows / 2 + kChanged, 1);
  env.Snapshot(tmp_.path() / "snap2");
  auto v2 = WriteChunked(tmp_.path() / "snap2" / "data.mdb", tmp_.path() / "v2", "kv");
  ASSERT_TRUE(v2.ok()) << v2.status().message();
  ExpectFewNewChunks(*v1, *v2, "lmdb, 1 % of keys updated");
}

}  // namespace
}  // namespace mumba::share
