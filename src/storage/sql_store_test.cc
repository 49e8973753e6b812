// SPDX-License-Identifier: Apache-2.0
#include "storage/sql_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mumba::engine {
namespace {

namespace fs = std::filesystem;

class SqlStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sql_store_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<SqlStore> OpenStore(const fs::path& dir, bool read_only = false) {
    auto store = SqlStore::Open(dir, read_only);
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Runs statements that must succeed.
  std::vector<SqlStatementOutcome> MustExecute(SqlStore& store, const std::vector<SqlStatementSpec>& specs) {
    auto result = store.Execute(specs);
    EXPECT_TRUE(result.ok()) << result.status().message();
    return result.ok() ? std::move(result).value() : std::vector<SqlStatementOutcome>{};
  }

  // All rows of a read-only query, gathered from its batches.
  std::vector<SqlRowValues> QueryAll(SqlStore& store, const std::string& sql) {
    std::vector<SqlRowValues> all;
    Status st = store.Query({sql, {}}, [&](const std::vector<std::string>&, std::vector<SqlRowValues>&& rows) {
      for (auto& row : rows) all.push_back(std::move(row));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return all;
  }

  int64_t Count(SqlStore& store, const std::string& table) {
    auto rows = QueryAll(store, "SELECT count(*) FROM " + table);
    if (rows.size() != 1 || rows[0].size() != 1) return -1;
    const auto* n = std::get_if<int64_t>(&rows[0][0]);
    return n != nullptr ? *n : -1;
  }

  fs::path root_;
};

TEST_F(SqlStoreTest, CreatesPrivateFolderAndFile) {
  fs::path dir = root_ / "a" / "store";
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(fs::exists(dir / "db.sqlite"));
  struct stat info {};
  ASSERT_EQ(stat(dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
}

TEST_F(SqlStoreTest, BoundParamsRoundTripAllFiveTypes) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  const std::string injection = "x'); DROP TABLE t;--";
  const std::string quoted = "it's \"quoted\"";
  const SqlBlob blob{std::string("\x00\x01\xff'", 4)};
  auto out = MustExecute(*store, {
      {"CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)", {}},
      {"INSERT INTO t(i, r, s, b, n) VALUES(?, ?, ?, ?, ?)",
       {int64_t{INT64_MAX}, 3.25, injection, blob, std::monostate{}}},
      {"INSERT INTO t(i, r, s, b, n) VALUES(?, ?, ?, ?, ?)",
       {int64_t{-7}, -0.5, quoted, SqlBlob{}, std::string()}},
      {"SELECT i, r, s, b, n FROM t ORDER BY id", {}},
  });
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1].changes, 1);
  EXPECT_EQ(out[1].last_insert_rowid, 1);
  EXPECT_EQ(out[2].last_insert_rowid, 2);
  EXPECT_EQ(out[3].changes, 0);
  EXPECT_EQ(out[3].last_insert_rowid, 0);  // The SELECT inserted nothing.
  EXPECT_EQ(out[3].columns, (std::vector<std::string>{"i", "r", "s", "b", "n"}));
  ASSERT_EQ(out[3].rows.size(), 2u);
  EXPECT_EQ(out[3].rows[0], (SqlRowValues{int64_t{INT64_MAX}, 3.25, injection, blob, std::monostate{}}));
  EXPECT_EQ(out[3].rows[1], (SqlRowValues{int64_t{-7}, -0.5, quoted, SqlBlob{}, std::string()}));
  // The injection attempt was stored as text, so the table is still there.
  EXPECT_EQ(Count(*store, "t"), 2);
}

TEST_F(SqlStoreTest, StatementsOfOneCallCommitTogether) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  MustExecute(*store, {{"CREATE TABLE t(k TEXT PRIMARY KEY)", {}}});
  auto out = MustExecute(*store, {{"INSERT INTO t VALUES('a')", {}}, {"INSERT INTO t VALUES('b')", {}}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Count(*store, "t"), 2);
}

TEST_F(SqlStoreTest, FailingStatementRollsBackTheEarlierOnes) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  MustExecute(*store, {{"CREATE TABLE t(k TEXT PRIMARY KEY)", {}}, {"INSERT INTO t VALUES('a')", {}}});

  auto result = store->Execute({{"INSERT INTO t VALUES('b')", {}}, {"INSERT INTO t VALUES('a')", {}}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  EXPECT_NE(result.status().message().find("UNIQUE constraint failed"), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find("statement 2"), std::string::npos) << result.status().message();

  // Same within one string of several statements.
  result = store->Execute({{"INSERT INTO t VALUES('c'); INSERT INTO t VALUES('a');", {}}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(Count(*store, "t"), 1);
  // The writer is usable afterwards: no transaction was left open.
  MustExecute(*store, {{"INSERT INTO t VALUES('d')", {}}});
  EXPECT_EQ(Count(*store, "t"), 2);
}

TEST_F(SqlStoreTest, SeveralStatementsInOneStringConcatenateRows) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  auto out = MustExecute(*store, {{"CREATE TABLE t(v INTEGER);"
                                   "INSERT INTO t VALUES(1), (2), (3);"
                                   "SELECT v FROM t WHERE v < 3;"
                                   "UPDATE t SET v = v + 10 WHERE v > 1;"
                                   "SELECT v FROM t WHERE v > 10 ORDER BY v;  -- done\n",
                                   {}}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].columns, std::vector<std::string>{"v"});
  EXPECT_EQ(out[0].rows, (std::vector<SqlRowValues>{{int64_t{1}}, {int64_t{2}}, {int64_t{12}}, {int64_t{13}}}));
  EXPECT_EQ(out[0].changes, 5);  // 3 inserted + 2 updated.
  EXPECT_EQ(out[0].last_insert_rowid, 3);
}

TEST_F(SqlStoreTest, SyntaxErrorCarriesSqliteMessage) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  auto result = store->Execute({{"SELEC 1", {}}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  EXPECT_NE(result.status().message().find("near \"SELEC\": syntax error"), std::string::npos)
      << result.status().message();
  EXPECT_EQ(result.status().message().find('\n'), std::string::npos);
}

TEST_F(SqlStoreTest, WrongParameterCountIsRefused) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  MustExecute(*store, {{"CREATE TABLE t(a, b)", {}}});

  auto result = store->Execute({{"INSERT INTO t VALUES(?, ?)", {int64_t{1}}}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  EXPECT_NE(result.status().message().find("expects 2 parameters, got 1"), std::string::npos)
      << result.status().message();

  result = store->Execute({{"INSERT INTO t VALUES(1, 2)", {int64_t{1}}}});
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);

  // Parameters only go with a single statement.
  result = store->Execute({{"INSERT INTO t VALUES(?, 1); INSERT INTO t VALUES(2, 2)", {int64_t{1}}}});
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Count(*store, "t"), 0);
}

TEST_F(SqlStoreTest, TransactionControlIsRefused) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  MustExecute(*store, {{"CREATE TABLE t(v)", {}}});
  for (const char* sql : {"BEGIN", "begin immediate", "COMMIT", "END", "/* x */ ROLLBACK",
                          "INSERT INTO t VALUES(1); COMMIT; BEGIN"}) {
    auto result = store->Execute({{sql, {}}});
    ASSERT_FALSE(result.ok()) << sql;
    EXPECT_EQ(result.status().code(), Code::kInvalidArgument) << sql;
    EXPECT_NE(result.status().message().find("one transaction"), std::string::npos) << result.status().message();
  }
  EXPECT_EQ(Count(*store, "t"), 0);
  // Savepoints nest inside the call's transaction and are allowed.
  MustExecute(*store, {{"SAVEPOINT s; INSERT INTO t VALUES(1); ROLLBACK TO s; RELEASE s; INSERT INTO t VALUES(2)", {}}});
  EXPECT_EQ(QueryAll(*store, "SELECT v FROM t"), (std::vector<SqlRowValues>{{int64_t{2}}}));
}

TEST_F(SqlStoreTest, AttachAndStorePragmasAreRefused) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  const std::string other = (root_ / "other.sqlite").string();
  auto result = store->Execute({{"ATTACH ? AS other", {other}}});
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  Status st = store->Query({"ATTACH '" + other + "' AS other", {}},
                           [](const std::vector<std::string>&, std::vector<SqlRowValues>&&) { return true; });
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(other));

  result = store->Execute({{"PRAGMA synchronous=OFF", {}}});
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  result = store->Execute({{"PRAGMA foreign_keys=OFF", {}}});
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  // Reading them is fine, and they hold the store's settings.
  auto out = MustExecute(*store, {{"PRAGMA journal_mode", {}}, {"PRAGMA synchronous", {}}, {"PRAGMA foreign_keys", {}}});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].rows, (std::vector<SqlRowValues>{{std::string("wal")}}));
  EXPECT_EQ(out[1].rows, (std::vector<SqlRowValues>{{int64_t{2}}}));  // FULL.
  EXPECT_EQ(out[2].rows, (std::vector<SqlRowValues>{{int64_t{1}}}));
}

TEST_F(SqlStoreTest, ForeignKeysAreEnforced) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  MustExecute(*store, {{"CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(p INTEGER REFERENCES p(id))", {}}});
  auto result = store->Execute({{"INSERT INTO c VALUES(42)", {}}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  EXPECT_NE(result.status().message().find("FOREIGN KEY"), std::string::npos) << result.status().message();
}

TEST_F(SqlStoreTest, ResultLargerThanLimitIsRefusedAndRolledBack) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  MustExecute(*store, {{"CREATE TABLE t(v TEXT)", {}}});
  auto result = store->Execute(
      {{"INSERT INTO t VALUES('kept?')", {}},
       {"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
        "SELECT printf('%0100d', i) FROM n",
        {}}},
      /*max_result_bytes=*/10000);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(Count(*store, "t"), 0);
}

class QueryTest : public SqlStoreTest {
 protected:
  void SetUp() override {
    SqlStoreTest::SetUp();
    store_ = OpenStore(root_ / "db");
    ASSERT_NE(store_, nullptr);
    MustExecute(*store_, {{"CREATE TABLE t(id INTEGER PRIMARY KEY, label TEXT);"
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) "
                           "INSERT INTO t SELECT i, 'row ' || i FROM n",
                           {}}});
  }
  std::unique_ptr<SqlStore> store_;
};

TEST_F(QueryTest, StreamsRowsInBatches) {
  int batches = 0;
  int64_t next_id = 1;
  std::vector<std::string> expected_columns{"id", "label"};
  Status st = store_->Query(
      {"SELECT id, label FROM t WHERE id >= ? ORDER BY id", {int64_t{1}}},
      [&](const std::vector<std::string>& columns, std::vector<SqlRowValues>&& rows) {
        ++batches;
        EXPECT_EQ(columns, expected_columns);
        EXPECT_FALSE(rows.empty());
        for (const SqlRowValues& row : rows) {
          EXPECT_EQ(row, (SqlRowValues{next_id, "row " + std::to_string(next_id)}));
          ++next_id;
        }
        return true;
      },
      /*batch_bytes=*/4096);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(next_id, 10001);
  EXPECT_GT(batches, 10);
  EXPECT_LT(batches, 10000);
}

TEST_F(QueryTest, StopsWhenTheCallbackSaysSo) {
  int batches = 0;
  size_t rows_seen = 0;
  Status st = store_->Query(
      {"SELECT id FROM t", {}},
      [&](const std::vector<std::string>&, std::vector<SqlRowValues>&& rows) {
        ++batches;
        rows_seen += rows.size();
        return false;
      },
      /*batch_bytes=*/1024);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(batches, 1);
  EXPECT_GT(rows_seen, 0u);
  EXPECT_LT(rows_seen, 10000u);
}

TEST_F(QueryTest, EmptyResultStillDeliversColumnsOnce) {
  int batches = 0;
  Status st = store_->Query({"SELECT id, label AS name FROM t WHERE id < 0", {}},
                            [&](const std::vector<std::string>& columns, std::vector<SqlRowValues>&& rows) {
                              ++batches;
                              EXPECT_EQ(columns, (std::vector<std::string>{"id", "name"}));
                              EXPECT_TRUE(rows.empty());
                              return true;
                            });
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(batches, 1);
}

TEST_F(QueryTest, RefusesWritesAndTransactionControl) {
  auto never = [](const std::vector<std::string>&, std::vector<SqlRowValues>&&) {
    ADD_FAILURE() << "no batch expected";
    return true;
  };
  Status st = store_->Query({"INSERT INTO t(label) VALUES('sneaky')", {}}, never);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("use Execute"), std::string::npos) << st.message();
  st = store_->Query({"DELETE FROM t", {}}, never);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  st = store_->Query({"BEGIN", {}}, never);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  st = store_->Query({"SELECT 1; SELECT 2", {}}, never);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  st = store_->Query({"SELECT ?", {}}, never);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(Count(*store_, "t"), 10000);
}

TEST_F(QueryTest, SeesTablesCreatedAfterTheReaderOpened) {
  EXPECT_EQ(Count(*store_, "t"), 10000);  // Warms up a pooled reader.
  MustExecute(*store_, {{"CREATE TABLE later(v); INSERT INTO later VALUES(1)", {}}});
  EXPECT_EQ(Count(*store_, "later"), 1);
}

TEST_F(SqlStoreTest, ReadOnlyStoreRefusesWrites) {
  {
    auto store = OpenStore(root_ / "db");
    ASSERT_NE(store, nullptr);
    MustExecute(*store, {{"CREATE TABLE t(v); INSERT INTO t VALUES('a')", {}}});
  }
  auto store = OpenStore(root_ / "db", /*read_only=*/true);
  ASSERT_NE(store, nullptr);
  auto result = store->Execute({{"INSERT INTO t VALUES('b')", {}}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kFailedPrecondition);
  result = store->Execute({{"CREATE TABLE u(v)", {}}});
  EXPECT_EQ(result.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store->Migrate("CREATE TABLE u(v)", 1).code(), Code::kFailedPrecondition);
  // Reads still work, through Execute and Query.
  auto out = MustExecute(*store, {{"SELECT v FROM t", {}}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rows, (std::vector<SqlRowValues>{{std::string("a")}}));
  EXPECT_EQ(Count(*store, "t"), 1);
  EXPECT_TRUE(store->IntegrityCheck().ok());
}

TEST_F(SqlStoreTest, ReadOnlyOpenOfMissingDatabaseIsNotFound) {
  auto store = SqlStore::Open(root_ / "missing", /*read_only=*/true);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(root_ / "missing"));
}

TEST_F(SqlStoreTest, OpeningSomethingElseFails) {
  fs::create_directories(root_ / "junk");
  std::ofstream(root_ / "junk" / "db.sqlite") << std::string(8192, 'j');
  auto store = SqlStore::Open(root_ / "junk");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kDataLoss) << store.status().message();
}

TEST_F(SqlStoreTest, DataSurvivesCloseAndReopen) {
  {
    auto store = OpenStore(root_ / "db");
    ASSERT_NE(store, nullptr);
    MustExecute(*store, {{"CREATE TABLE t(v TEXT)", {}}, {"INSERT INTO t VALUES(?)", {std::string("kept")}}});
    ASSERT_TRUE(store->Migrate("", 3).ok());
  }
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryAll(*store, "SELECT v FROM t"), (std::vector<SqlRowValues>{{std::string("kept")}}));
  auto version = store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, 3);
}

TEST_F(SqlStoreTest, MigrateSetsVersionAndFailureChangesNothing) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  auto version = store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, 0);

  Status st = store->Migrate("CREATE TABLE t(v); INSERT INTO t VALUES(1);", 1);
  ASSERT_TRUE(st.ok()) << st.message();
  version = store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, 1);

  st = store->Migrate("CREATE TABLE u(v); INSERT INTO t VALUES(2); ALTER TABLE nope ADD COLUMN x;", 2);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("no such table: nope"), std::string::npos) << st.message();
  version = store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, 1);
  EXPECT_EQ(QueryAll(*store, "SELECT v FROM t"), (std::vector<SqlRowValues>{{int64_t{1}}}));
  EXPECT_EQ(QueryAll(*store, "SELECT name FROM sqlite_schema WHERE name = 'u'").size(), 0u);

  EXPECT_EQ(store->Migrate("BEGIN", 3).code(), Code::kInvalidArgument);
  EXPECT_EQ(store->Migrate("", int64_t{1} << 40).code(), Code::kInvalidArgument);
}

TEST_F(SqlStoreTest, QueriesRunBesideWrites) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  MustExecute(*store, {{"CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)", {}}});

  constexpr int kWrites = 150;
  std::atomic<bool> writing{true};
  std::atomic<int> errors{0};
  std::atomic<int> queries{0};
  std::mutex first_error_mu;
  std::string first_error;
  auto record = [&](const std::string& message) {
    ++errors;
    std::lock_guard<std::mutex> lock(first_error_mu);
    if (first_error.empty()) first_error = message;
  };

  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      int64_t last_count = 0;
      do {
        int64_t count = -1;
        Status st = store->Query({"SELECT count(*), coalesce(sum(v), 0) FROM t", {}},
                                 [&](const std::vector<std::string>&, std::vector<SqlRowValues>&& rows) {
                                   count = std::get<int64_t>(rows.at(0).at(0));
                                   // Each write adds v = 1 and v = -1 together: sums stay 0.
                                   if (std::get<int64_t>(rows.at(0).at(1)) != 0) record("torn read");
                                   return true;
                                 });
        if (!st.ok()) record(st.message());
        if (count < last_count) record("count went backwards");
        last_count = count;
        ++queries;
      } while (writing.load());
    });
  }
  for (int i = 0; i < kWrites; ++i) {
    auto result = store->Execute({{"INSERT INTO t(v) VALUES(?)", {int64_t{1}}},
                                  {"INSERT INTO t(v) VALUES(?)", {int64_t{-1}}}});
    if (!result.ok()) record(result.status().message());
  }
  writing = false;
  for (auto& t : readers) t.join();

  EXPECT_EQ(errors.load(), 0) << first_error;
  EXPECT_GT(queries.load(), 4);
  EXPECT_EQ(Count(*store, "t"), 2 * kWrites);
}

TEST_F(SqlStoreTest, CopyToGivesAnEqualDatabase) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);"
                             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
                             "INSERT INTO t SELECT i, randomblob(64) FROM n",
                             7)
                  .ok());
  ASSERT_TRUE(store->CopyTo(root_ / "copy").ok());

  auto copy = OpenStore(root_ / "copy");
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(QueryAll(*copy, "SELECT id, v FROM t ORDER BY id"), QueryAll(*store, "SELECT id, v FROM t ORDER BY id"));
  EXPECT_EQ(QueryAll(*copy, "SELECT sql FROM sqlite_schema"), QueryAll(*store, "SELECT sql FROM sqlite_schema"));
  auto version = copy->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, 7);
  EXPECT_TRUE(copy->IntegrityCheck().ok());
  auto mode = MustExecute(*copy, {{"PRAGMA journal_mode", {}}});
  ASSERT_EQ(mode.size(), 1u);
  EXPECT_EQ(mode[0].rows, (std::vector<SqlRowValues>{{std::string("wal")}}));

  // The copy is independent of the original.
  MustExecute(*copy, {{"DELETE FROM t", {}}});
  EXPECT_EQ(Count(*store, "t"), 2000);

  // Only into an empty folder.
  Status st = store->CopyTo(root_ / "copy");
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
}

TEST_F(SqlStoreTest, ExecuteGrowsOnlyAsFarAsItMay) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  MustExecute(*store, {{"CREATE TABLE t(v BLOB)", {}}});
  const uint64_t before = store->UsedBytes();
  auto refused = store->Execute({{"INSERT INTO t VALUES(randomblob(200000))", {}}}, 1 << 20, 100000);
  EXPECT_EQ(refused.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(store->UsedBytes(), before);
  ASSERT_TRUE(store->Execute({{"INSERT INTO t VALUES(randomblob(50000))", {}}}, 1 << 20, 100000).ok());
  EXPECT_LE(store->UsedBytes(), before + 100000);
  // The cap was the call's own: the next call without one may grow.
  MustExecute(*store, {{"INSERT INTO t VALUES(randomblob(200000))", {}}});
  EXPECT_GE(store->UsedBytes(), before + 250000);
}

TEST_F(SqlStoreTest, UsedBytesGrowsWithData) {
  auto store = OpenStore(root_ / "db");
  ASSERT_NE(store, nullptr);
  uint64_t before = store->UsedBytes();
  EXPECT_GT(before, 0u);
  MustExecute(*store, {{"CREATE TABLE t(v BLOB)", {}}, {"INSERT INTO t VALUES(zeroblob(200000))", {}}});
  EXPECT_GE(store->UsedBytes(), before + 200000);
}

TEST_F(SqlStoreTest, IntegrityCheckPassesThenReportsDamage) {
  fs::path dir = root_ / "db";
  {
    auto store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    MustExecute(*store, {{"CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX tv ON t(v);"
                          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                          "INSERT INTO t SELECT i, printf('value %d', i) FROM n",
                          {}}});
    Status st = store->IntegrityCheck();
    EXPECT_TRUE(st.ok()) << st.message();
  }
  // Scribble over a page in the middle of the file (page 1, the schema, survives).
  {
    std::fstream file(dir / "db.sqlite", std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.is_open());
    file.seekp(static_cast<std::streamoff>(fs::file_size(dir / "db.sqlite") / 2));
    std::string junk(4096, '\x5a');
    file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  Status st = store->IntegrityCheck();
  EXPECT_EQ(st.code(), Code::kDataLoss) << st.message();
}

}  // namespace
}  // namespace mumba::engine
