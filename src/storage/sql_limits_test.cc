// SPDX-License-Identifier: Apache-2.0
// App SQL from a hostile app, on real SQLite files: PRAGMAs outside a short
// read-only list are refused (also in an earlier statement of one call, also
// through a pragma table-valued function), values and statements over the caps fail
// with INVALID_ARGUMENT instead of allocating, and a call that runs too long is
// interrupted with DEADLINE_EXCEEDED, rolled back, and frees the write lock.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/sql_connection.h"
#include "storage/sql_store.h"

namespace mumba::engine {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// A recursive CTE without end: it never returns a row and never finishes.
constexpr const char* kRunaway =
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";

class SqlLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sql_limits_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<SqlStore> OpenStore(const std::string& name, SqlStoreOptions options = {}) {
    auto store = SqlStore::Open(root_ / name, false, options);
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static Status Run(SqlStore& store, const std::string& sql, std::vector<SqlValue> params = {}) {
    return store.Execute({{sql, std::move(params)}}).status();
  }

  static Status QueryStatus(SqlStore& store, const std::string& sql) {
    return store.Query({sql, {}}, [](const std::vector<std::string>&, std::vector<SqlRowValues>&&) { return true; });
  }

  fs::path root_;
};

// Checks that `st` is INVALID_ARGUMENT mentioning `needle`.
void ExpectRefused(const Status& st, const std::string& needle, const std::string& what) {
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << what << ": " << st.message();
  EXPECT_NE(st.message().find(needle), std::string::npos) << what << ": " << st.message();
}

TEST_F(SqlLimitsTest, PragmasThatChangeTheWholeProcessAreRefused) {
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  const sqlite3_int64 hard_before = sqlite3_hard_heap_limit64(-1);
  const sqlite3_int64 soft_before = sqlite3_soft_heap_limit64(-1);
  for (const char* sql : {"PRAGMA hard_heap_limit=12345678", "PRAGMA soft_heap_limit=12345678"}) {
    ExpectRefused(Run(*store, sql), "is not allowed", sql);
    // A read connection too: the limit took effect at prepare time.
    ExpectRefused(QueryStatus(*store, sql), "is not allowed", sql);
  }
  EXPECT_EQ(sqlite3_hard_heap_limit64(-1), hard_before);
  EXPECT_EQ(sqlite3_soft_heap_limit64(-1), soft_before);
  // Put them back, so a failure here does not fail every later test.
  sqlite3_hard_heap_limit64(hard_before);
  sqlite3_soft_heap_limit64(soft_before);
}

TEST_F(SqlLimitsTest, EveryPragmaOutsideTheListIsRefused) {
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  for (const char* sql :
       {"PRAGMA max_page_count=4294967294", "PRAGMA wal_autocheckpoint=0", "PRAGMA cache_size=-100000000",
        "PRAGMA mmap_size=1000000000", "PRAGMA recursive_triggers=ON", "PRAGMA trusted_schema=ON",
        "PRAGMA writable_schema=ON", "PRAGMA journal_size_limit=-1", "PRAGMA threads=8", "PRAGMA wal_checkpoint",
        "PRAGMA optimize", "PRAGMA shrink_memory", "PRAGMA incremental_vacuum", "PRAGMA cache_size",
        "PRAGMA compile_options", "PRAGMA schema_version=7", "PRAGMA user_version=7", "PRAGMA synchronous=OFF",
        "PRAGMA journal_mode=DELETE", "PRAGMA foreign_keys=OFF", "PRAGMA main.page_size=512",
        "PRAGMA case_sensitive_like=ON", "PRAGMA no_such_pragma"}) {
    ExpectRefused(Run(*store, sql), "PRAGMA", sql);
  }
}

TEST_F(SqlLimitsTest, QuotaPragmaInAnEarlierStatementOfOneCallIsRefused) {
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Run(*store, "CREATE TABLE t(v BLOB)").ok());
  const uint64_t cap = store->UsedBytes() + 100000;
  ASSERT_TRUE(store->LimitSize(cap).ok());
  const std::string fill =
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
      "INSERT INTO t SELECT randomblob(10000) FROM n";
  // Without the PRAGMA the cap holds...
  EXPECT_EQ(Run(*store, fill).code(), Code::kResourceExhausted);
  // ...and with it in front, in the same SQL text or as an earlier statement.
  ExpectRefused(Run(*store, "PRAGMA max_page_count=4294967294; " + fill), "max_page_count", "one text");
  auto two = store->Execute({{"PRAGMA max_page_count=4294967294", {}}, {fill, {}}});
  ExpectRefused(two.status(), "max_page_count", "two statements");
  ExpectRefused(Run(*store, "PRAGMA wal_autocheckpoint=0; " + fill), "wal_autocheckpoint", "wal");
  EXPECT_LE(store->UsedBytes(), cap);
}

TEST_F(SqlLimitsTest, ReadOnlyPragmasOnTheListWork) {
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Run(*store,
                  "CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(id INTEGER, p REFERENCES p(id));"
                  "CREATE INDEX c_p ON c(p)")
                  .ok());
  for (const char* sql :
       {"PRAGMA table_info(c)", "PRAGMA table_xinfo(c)", "PRAGMA table_list", "PRAGMA index_list(c)",
        "PRAGMA index_info(c_p)", "PRAGMA index_xinfo(c_p)", "PRAGMA foreign_key_list(c)", "PRAGMA foreign_key_check",
        "PRAGMA integrity_check", "PRAGMA quick_check", "PRAGMA user_version", "PRAGMA main.user_version",
        "PRAGMA journal_mode", "PRAGMA synchronous", "PRAGMA foreign_keys", "PRAGMA page_count", "PRAGMA page_size",
        "SELECT name FROM pragma_table_info('c')"}) {
    auto out = store->Execute({{sql, {}}});
    EXPECT_TRUE(out.ok()) << sql << ": " << out.status().message();
    // SQLite does not count reading the journal mode as a read-only statement.
    if (std::string(sql) == "PRAGMA journal_mode") continue;
    Status st = QueryStatus(*store, sql);
    EXPECT_TRUE(st.ok()) << sql << ": " << st.message();
  }
  auto out = store->Execute({{"SELECT name FROM pragma_table_info('c') ORDER BY cid", {}}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->at(0).rows, (std::vector<SqlRowValues>{{std::string("id")}, {std::string("p")}}));
}

TEST_F(SqlLimitsTest, PragmaTableValuedFunctionsAreHeldToTheSameList) {
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  // The function prepares "PRAGMA optimize" when it is stepped, not when the
  // SELECT is prepared.
  for (const char* sql : {"SELECT * FROM pragma_optimize", "SELECT count(*) FROM pragma_hard_heap_limit",
                          "SELECT * FROM pragma_compile_options"}) {
    ExpectRefused(Run(*store, sql), "is not allowed", sql);
    ExpectRefused(QueryStatus(*store, sql), "is not allowed", sql);
  }
}

TEST_F(SqlLimitsTest, Fts3TokenizerPointersAreRefused) {
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  // The one-argument form hands out a function pointer of the host...
  ExpectRefused(Run(*store, "SELECT fts3_tokenizer('simple')"), "fts3_tokenizer", "read");
  // ...and the two-argument form installs any pointer, even with the feature off
  // when the pointer comes as a bound parameter.
  ExpectRefused(Run(*store, "SELECT fts3_tokenizer('evil', ?)", {SqlBlob{std::string(8, '\x41')}}),
                "fts3_tokenizer", "install");
}

TEST_F(SqlLimitsTest, FullTextAndRtreeStillWork) {
  // They run PRAGMAs of their own (page_size, data_version) while app SQL steps.
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  for (const char* module : {"fts4", "fts5"}) {
    std::string table = std::string("f_") + module;
    Status st = Run(*store, "CREATE VIRTUAL TABLE " + table + " USING " + module + "(body); INSERT INTO " + table +
                                " VALUES ('hello world'), ('goodbye')");
    ASSERT_TRUE(st.ok()) << module << ": " << st.message();
    auto rows = store->Execute({{"SELECT body FROM " + table + " WHERE " + table + " MATCH 'hello'", {}}});
    ASSERT_TRUE(rows.ok()) << module << ": " << rows.status().message();
    EXPECT_EQ(rows->at(0).rows, (std::vector<SqlRowValues>{{std::string("hello world")}})) << module;
    EXPECT_TRUE(QueryStatus(*store, "SELECT body FROM " + table + " WHERE " + table + " MATCH 'goodbye'").ok());
  }
  ASSERT_TRUE(Run(*store, "CREATE VIRTUAL TABLE r USING rtree(id, x0, x1); INSERT INTO r VALUES (1, 0, 10)").ok());
  auto rows = store->Execute({{"SELECT id FROM r WHERE x0 <= 5 AND x1 >= 5", {}}});
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(rows->at(0).rows, (std::vector<SqlRowValues>{{int64_t{1}}}));
}

TEST_F(SqlLimitsTest, SchemaChangesStillWork) {
  // ALTER TABLE and triggers run SQL of SQLite's own while app SQL steps.
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  Status st = Run(*store,
                  "CREATE TABLE t(a, b); CREATE TABLE log(v); INSERT INTO t VALUES (1, 2);"
                  "ALTER TABLE t ADD COLUMN c DEFAULT 3; ALTER TABLE t RENAME COLUMN b TO bb;"
                  "ALTER TABLE t DROP COLUMN a; ALTER TABLE t RENAME TO u;"
                  "CREATE TRIGGER u_log AFTER INSERT ON u BEGIN INSERT INTO log VALUES (new.bb); END;"
                  "INSERT INTO u (bb) VALUES (7)");
  ASSERT_TRUE(st.ok()) << st.message();
  auto rows = store->Execute({{"SELECT bb, c FROM u ORDER BY bb; SELECT v FROM log", {}}});
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(rows->at(0).rows, (std::vector<SqlRowValues>{{int64_t{2}, int64_t{3}}, {int64_t{7}, int64_t{3}}, {int64_t{7}}}));
}

TEST_F(SqlLimitsTest, HugeValuesFailInsteadOfAllocating) {
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  for (const char* sql : {"SELECT length(randomblob(999999999))", "SELECT length(zeroblob(999999999))",
                          "SELECT length(replace(hex(zeroblob(10000000)), '0', 'xx'))"}) {
    ExpectRefused(Run(*store, sql), "too big", sql);
    ExpectRefused(QueryStatus(*store, sql), "too big", sql);
  }
  ASSERT_TRUE(Run(*store, "CREATE TABLE t(v BLOB)").ok());
  ExpectRefused(Run(*store, "INSERT INTO t VALUES(?)", {SqlBlob{std::string(kMaxSqlValueBytes + 1, 'x')}}),
                "too big", "bound blob");
  // A value at the cap is fine.
  EXPECT_TRUE(Run(*store, "INSERT INTO t VALUES(randomblob(?))", {int64_t{kMaxSqlValueBytes - 100}}).ok());
}

TEST_F(SqlLimitsTest, DeepOrLongStatementsAreRefused) {
  auto store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  std::string deep = "SELECT 1";
  for (int i = 0; i < 800; ++i) deep += "+1";
  ExpectRefused(Run(*store, deep), "too large", "expression depth");
  std::string compound = "SELECT 1";
  for (int i = 0; i < 300; ++i) compound += " UNION ALL SELECT 1";
  ExpectRefused(Run(*store, compound), "too many terms", "compound select");
  ExpectRefused(Run(*store, "SELECT ?40000"), "variable number", "variable number");
  std::string like = "SELECT 'x' LIKE '" + std::string(5000, '%') + "'";
  ExpectRefused(Run(*store, like), "too complex", "like pattern");
  // One statement over the length cap is refused; many short ones in one text pass.
  std::string long_text = "SELECT '" + std::string(kMaxSqlStatementBytes, 'a') + "'";
  ExpectRefused(Run(*store, long_text), "too big", "statement length");
  std::string many;
  while (many.size() < 2 * static_cast<size_t>(kMaxSqlStatementBytes)) {
    many += "SELECT '" + std::string(100000, 'a') + "';";
  }
  EXPECT_TRUE(Run(*store, many).ok());
}

// Views that double at each level: `leaf` is the first, and each next one is two
// copies of the one before, so the last expands into 2^levels copies of `leaf`.
std::string DoublingViews(const std::string& leaf, int levels) {
  std::string views = "CREATE VIEW v0 AS " + leaf + ";";
  for (int i = 1; i <= levels; ++i) {
    views += "CREATE VIEW v" + std::to_string(i) + " AS SELECT x FROM v" + std::to_string(i - 1) +
             " UNION ALL SELECT x FROM v" + std::to_string(i - 1) + ";";
  }
  return views;
}

TEST_F(SqlLimitsTest, StatementsThatExpandIntoHugeProgramsAreRefused) {
  // A generous deadline, so that only the program's size can stop it.
  auto store = OpenStore("db", {std::chrono::seconds(120)});
  ASSERT_NE(store, nullptr);
  std::string leaf = "SELECT random()";
  for (int i = 0; i < 300; ++i) leaf += "+random()";
  ASSERT_TRUE(Run(*store, DoublingViews(leaf + " AS x", 12)).ok());
  // 2.5 million instructions without the cap.
  ExpectRefused(Run(*store, "SELECT count(*) FROM v12"), "too large or complex", "view explosion");
}

TEST_F(SqlLimitsTest, DeadlineAlsoStopsALongPrepare) {
  auto store = OpenStore("db", {milliseconds(300)});
  ASSERT_NE(store, nullptr);
  // Identical constant expressions are compared with each other while the program
  // is generated: preparing this takes SQLite about a minute, during which no
  // progress handler runs; the authorizer, called for each SELECT coded, stops it
  // (though not at once: some of the work falls between two of its calls).
  std::string leaf = "SELECT 1";
  for (int i = 0; i < 300; ++i) leaf += "+1";
  ASSERT_TRUE(Run(*store, DoublingViews(leaf + " AS x", 13)).ok());
  // Without the check it would finish, after its minute, with a count: the code
  // says the deadline ended it. (How soon is the benchmark's business, not a test's:
  // a loaded machine stretches it.)
  Status st = Run(*store, "SELECT count(*) FROM v13");
  EXPECT_EQ(st.code(), Code::kDeadlineExceeded) << st.message();
}

TEST_F(SqlLimitsTest, RunawayCallEndsAtTheDefaultDeadlineAndFreesTheWriter) {
  auto store = std::shared_ptr<SqlStore>(OpenStore("db"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Run(*store, "CREATE TABLE t(v)").ok());
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  const auto start = SteadyClock::now();
  std::thread([store, done] { done->set_value(Run(*store, kRunaway)); }).detach();
  if (result.wait_for(kDefaultSqlCallTimeout + std::chrono::seconds(10)) != std::future_status::ready) {
    // The thread still runs: leave the store to it rather than close it under it.
    new std::shared_ptr<SqlStore>(store);
    FAIL() << "the runaway call did not end";
  }
  Status st = result.get();
  EXPECT_EQ(st.code(), Code::kDeadlineExceeded) << st.message();
  EXPECT_NE(st.message().find("5000 ms"), std::string::npos) << st.message();
  EXPECT_GE(SteadyClock::now() - start, kDefaultSqlCallTimeout);
  // The writer is free again at once.
  EXPECT_TRUE(Run(*store, "INSERT INTO t VALUES(1)").ok());
}

TEST_F(SqlLimitsTest, DeadlineRollsBackAndOthersKeepAnswering) {
  // A deadline long enough that, on any machine, the others' calls below end
  // while the runaway still runs if nothing makes them wait for it.
  auto store = OpenStore("db", {milliseconds(3000)});
  auto other = OpenStore("other", {milliseconds(3000)});
  ASSERT_NE(store, nullptr);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(Run(*store, "CREATE TABLE t(v)").ok());
  ASSERT_TRUE(Run(*other, "CREATE TABLE t(v)").ok());
  auto runaway = std::async(std::launch::async, [&] {
    return store->Execute({{"INSERT INTO t VALUES('lost')", {}}, {kRunaway, {}}}).status();
  });
  // Meanwhile reads of the same store and writes of another answer.
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_TRUE(QueryStatus(*store, "SELECT count(*) FROM t").ok());
  EXPECT_TRUE(Run(*other, "INSERT INTO t VALUES(1)").ok());
  EXPECT_NE(runaway.wait_for(milliseconds(0)), std::future_status::ready) << "the others waited for the runaway";
  Status st = runaway.get();
  EXPECT_EQ(st.code(), Code::kDeadlineExceeded) << st.message();
  EXPECT_NE(st.message().find("statement 2"), std::string::npos) << st.message();
  // Rolled back, and the writer is free.
  auto rows = store->Execute({{"SELECT count(*) FROM t", {}}});
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(rows->at(0).rows, (std::vector<SqlRowValues>{{int64_t{0}}}));
  // Query and Migrate have the same deadline.
  EXPECT_EQ(QueryStatus(*store, kRunaway).code(), Code::kDeadlineExceeded);
  EXPECT_EQ(store->Migrate(std::string("INSERT INTO t VALUES(2);") + kRunaway, 1).code(), Code::kDeadlineExceeded);
  auto version = store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, 0);
}

TEST_F(SqlLimitsTest, QueryDeadlineDoesNotCountTheReadersPace) {
  auto store = OpenStore("db", {milliseconds(200)});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Run(*store,
                  "CREATE TABLE t(v); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
                  "INSERT INTO t SELECT printf('%0100d', i) FROM n")
                  .ok());
  int batches = 0;
  Status st = store->Query(
      {"SELECT v FROM t", {}},
      [&](const std::vector<std::string>&, std::vector<SqlRowValues>&&) {
        ++batches;
        std::this_thread::sleep_for(milliseconds(100));
        return true;
      },
      /*batch_bytes=*/50000);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_GT(batches, 3);
}

TEST_F(SqlLimitsTest, ZeroTimeoutMeansNoDeadline) {
  auto store = OpenStore("db", {milliseconds(0)});
  ASSERT_NE(store, nullptr);
  // Long enough to pass a short deadline, short enough to finish.
  EXPECT_TRUE(Run(*store,
                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
                  "SELECT count(*) FROM n")
                  .ok());
}

}  // namespace
}  // namespace mumba::engine
