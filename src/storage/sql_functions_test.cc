// SPDX-License-Identifier: Apache-2.0
// The bounded built-in functions (sql_functions.h): the same answers as SQLite's own
// on everything small, checked side by side against a connection without them, and
// an error instead of minutes or hours of one call on what is large.
#include "storage/sql_functions.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "storage/sql_connection.h"
#include "storage/sql_store.h"

namespace mumba::engine {
namespace {

namespace fs = std::filesystem;

// A value as a statement returned it, or the error it failed with.
struct Outcome {
  int type = SQLITE_NULL;
  std::string bytes;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{type " << o.type << ", '" << o.bytes.substr(0, 60) << "', error '" << o.error << "'}";
}

Outcome Eval(sqlite3* db, const std::string& expr, const std::vector<std::string>& blobs = {}) {
  sqlite3_stmt* stmt = nullptr;
  Outcome o;
  if (sqlite3_prepare_v2(db, ("SELECT " + expr).c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    o.error = sqlite3_errmsg(db);
    return o;
  }
  for (size_t i = 0; i < blobs.size(); ++i) {
    sqlite3_bind_blob(stmt, static_cast<int>(i + 1), blobs[i].data(), static_cast<int>(blobs[i].size()),
                      SQLITE_TRANSIENT);
  }
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    o.type = sqlite3_column_type(stmt, 0);
    const void* data = sqlite3_column_blob(stmt, 0);
    o.bytes.assign(static_cast<const char*>(data != nullptr ? data : ""),
                   static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
  } else {
    o.error = sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  return o;
}

class SqlFunctionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sql_functions_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    auto conn = OpenConnection(root_ / "db", false);
    ASSERT_TRUE(conn.ok()) << conn.status().message();
    bounded_ = std::move(conn).value();
    ASSERT_EQ(sqlite3_open(":memory:", &builtin_), SQLITE_OK);
    sqlite3_limit(builtin_, SQLITE_LIMIT_LENGTH, kMaxSqlValueBytes);
    sqlite3_limit(builtin_, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000);
  }
  void TearDown() override {
    bounded_.reset();
    sqlite3_close(builtin_);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Checks that `expr` gives the same on both connections.
  void ExpectSame(const std::string& expr, const std::vector<std::string>& blobs = {}) {
    EXPECT_EQ(Eval(bounded_->db, expr, blobs), Eval(builtin_, expr, blobs)) << expr;
  }

  std::unique_ptr<SqlStore> OpenStore() {
    auto store = SqlStore::Open(root_ / "store", false, {});
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  fs::path root_;
  std::unique_ptr<SqlConnection> bounded_;
  sqlite3* builtin_ = nullptr;
};

TEST_F(SqlFunctionsTest, InstrAndReplaceAnswerAsTheBuiltinsDo) {
  for (const char* expr :
       {"instr('hello', 'l')", "instr('hello', 'z')", "instr('hello', '')", "instr('', '')", "instr('', 'a')",
        "instr(NULL, 'a')", "instr('a', NULL)", "instr('héllo wörld', 'wö')", "instr('ééé', 'é')",
        "instr(x'00610062', x'0062')", "instr(x'e9e9', x'e9')", "instr(123456, 45)", "instr(12.5, '.')",
        "instr('abc', x'62')", "instr(x'616263', 'c')", "instr('ééé', CAST(x'a9' AS TEXT))",
        "instr(CAST(x'a9a9' AS TEXT), CAST(x'a9' AS TEXT))", "instr('aaab', 'aab')",
        "replace('hello', 'l', 'L')", "replace('hello', 'l', '')", "replace('hello', '', 'x')",
        "replace('aaaa', 'aa', 'b')", "replace('aaa', 'aa', 'aaa')", "replace(NULL, 'a', 'b')",
        "replace('a', NULL, 'b')", "replace('a', 'a', NULL)", "replace(x'610062', x'00', 'z')",
        "typeof(replace(x'6161', 'a', 'b'))", "typeof(replace(5, '', 'x'))", "replace(5, '', 'x')",
        "replace(12345, 3, 'x')", "replace('héllo', 'é', 'e')", "replace('abc', 'abcd', 'x')",
        "replace('abc', CAST(x'0062' AS TEXT), 'x')"}) {
    ExpectSame(expr);
  }
}

TEST_F(SqlFunctionsTest, TrimWithASetAnswersAsTheBuiltinDoes) {
  for (const char* expr :
       {"trim('xxhixx', 'x')", "ltrim('xxhixx', 'x')", "rtrim('xxhixx', 'x')", "trim('abcba', 'ab')",
        "trim('  hi  ', '')", "trim(NULL, 'x')", "trim('x', NULL)", "trim('ééhiéé', 'é')", "trim('ééhiéé', 'éé')",
        "trim(12300, '0')", "typeof(trim(x'6161', 'b'))", "trim('abc', 'abc')",
        "trim(CAST(x'c38080c3' AS TEXT), CAST(x'c380' AS TEXT))", "rtrim(CAST(x'41c3a9a9' AS TEXT), CAST(x'a9' AS TEXT))",
        "ltrim(CAST(x'a9a941' AS TEXT), CAST(x'a9c3' AS TEXT))", "trim('xyx', 'yx')"}) {
    ExpectSame(expr);
  }
}

TEST_F(SqlFunctionsTest, LikeAndGlobAnswerAsTheBuiltinsDo) {
  for (const char* expr :
       {"'Hello' LIKE 'h%'", "'Hello' LIKE 'H_llo'", "'Hello' LIKE '%LL%'", "'a%b' LIKE 'a\\%b' ESCAPE '\\'",
        "'axb' LIKE 'a\\%b' ESCAPE '\\'", "'a%b' LIKE 'a%%b' ESCAPE '%'", "'axb' LIKE 'a%%b' ESCAPE '%'",
        "'a_b' LIKE 'a__b' ESCAPE '_'", "'ab' LIKE 'a%' ESCAPE 'ab'", "'ab' LIKE 'a%' ESCAPE ''",
        "'ab' LIKE 'a%' ESCAPE NULL", "NULL LIKE 'a'", "'a' LIKE NULL", "'ÉCOLE' LIKE 'é%'", "'école' LIKE '_cole'",
        "like('a%', 'abc')", "like('a%', 'abc', '!')", "'Hello' GLOB 'H*'", "'Hello' GLOB 'h*'",
        "'Hello' GLOB 'H[a-f]llo'", "'Hello' GLOB 'H?llo'", "'a*b' GLOB 'a[*]b'", "glob('*x*', 'axb')",
        "'abc' NOT LIKE 'a%'", "5 LIKE 5", "x'61' LIKE 'a'"}) {
    ExpectSame(expr);
  }
  ExpectSame("'x' LIKE ?1", {std::string(1001, '%')});
  ExpectSame("'x' LIKE CAST(?1 AS TEXT)", {std::string(1001, '%')});
}

TEST_F(SqlFunctionsTest, PrintfAnswersAsTheBuiltinDoes) {
  for (const char* expr :
       {"printf('%d %s %5.2f %x %c %q %Q %w', 42, 'a''b', 3.14159, 255, 'xyz', 'it''s', NULL, 'x\"y')",
        "printf('%.*c', 5, 'é')", "printf('%*c|%-*c|', 4, 'a', 4, 'b')", "printf('%.3c%.2c', 'a', 'b')",
        "printf('%,d %!.3g %#x %+d % d %05d', 1234567, 1.5, 255, 1, 2, 3)", "printf('%lld %llu', 5, 6)",
        "printf('%z %n %%', 'a')", "printf('%T %d', 1, 2)", "printf('%y %d', 1)", "printf('%')", "printf(NULL)",
        "printf('%s')", "printf('%.*s', -3, 'abcdef')", "printf('%*.*c', -3, -2, 'q')", "format('%s-%s', 1, 2)",
        "printf('%.*c', 4294967298, 'x')", "printf('%p %r %o %X %e %E %G %i %u', 1, 2, 8, 255, 1.5, 1.5, 1.5, 4, 5)"}) {
    ExpectSame(expr);
  }
}

// Random short inputs from an alphabet of ASCII, two-byte characters, bare
// continuation bytes and NULs: both connections agree on every one.
TEST_F(SqlFunctionsTest, RandomInputsAnswerAsTheBuiltinsDo) {
  std::mt19937 rng(1234);
  const std::vector<std::string> pieces = {"a", "b", "%", "_", "*", "?", "[", "]", "\xc3\xa9", "\xc3", "\xa9", "A",
                                           std::string(1, '\0')};
  auto random_text = [&](int max) {
    std::string s;
    for (int n = static_cast<int>(rng() % static_cast<unsigned>(max + 1)); n > 0; --n) s += pieces[rng() % pieces.size()];
    return s;
  };
  const char* exprs[] = {"instr(CAST(?1 AS TEXT), CAST(?2 AS TEXT))", "instr(?1, ?2)",
                         "replace(CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS TEXT))",
                         "trim(CAST(?1 AS TEXT), CAST(?2 AS TEXT))", "ltrim(CAST(?1 AS TEXT), CAST(?2 AS TEXT))",
                         "rtrim(CAST(?1 AS TEXT), CAST(?2 AS TEXT))", "CAST(?1 AS TEXT) LIKE CAST(?2 AS TEXT)",
                         "CAST(?1 AS TEXT) GLOB CAST(?2 AS TEXT)",
                         "CAST(?1 AS TEXT) LIKE CAST(?2 AS TEXT) ESCAPE CAST(?3 AS TEXT)"};
  for (int i = 0; i < 20000; ++i) {
    const char* expr = exprs[i % std::size(exprs)];
    ExpectSame(expr, {random_text(8), random_text(3), random_text(2)});
    if (HasFailure()) return;
  }
}

// With values capped at 2000 bytes, random formats with random widths and
// precisions: where the bounded printf refuses, the built-in's result was too long
// (it gives NULL); everywhere else the two agree.
TEST_F(SqlFunctionsTest, PrintfRefusesOnlyWhatCouldNotFit) {
  sqlite3_limit(bounded_->db, SQLITE_LIMIT_LENGTH, 2000);
  sqlite3_limit(builtin_, SQLITE_LIMIT_LENGTH, 2000);
  std::mt19937 rng(99);
  const std::vector<std::string> pieces = {"%", "c", "s", "d", "*", ".", "-", "!", "0", "1", "5", "9", "l", "q",
                                           "%c", "%.*c", "%*c", "%.900c", "x", "T", ",", " "};
  int refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string format;
    for (int n = 1 + static_cast<int>(rng() % 10); n > 0; --n) format += pieces[rng() % pieces.size()];
    std::string expr = "printf('" + format + "'";
    for (int n = static_cast<int>(rng() % 5); n > 0; --n) {
      expr += rng() % 2 ? ", " + std::to_string(static_cast<int>(rng() % 3000) - 500) : std::string(", 'é'");
    }
    expr += ")";
    const Outcome mine = Eval(bounded_->db, expr);
    const Outcome theirs = Eval(builtin_, expr);
    if (mine.error == "string or blob too big") {
      ++refused;
      EXPECT_EQ(theirs.type, SQLITE_NULL) << expr << " " << theirs;
    } else {
      EXPECT_EQ(mine, theirs) << expr;
    }
    if (HasFailure()) return;
  }
  EXPECT_GT(refused, 0);
}

// Before: 16 MiB searched for an 8 MiB pattern compared bytes for about an hour
// and a half in one call, which no deadline stops. Now both answer at once.
TEST_F(SqlFunctionsTest, LongSearchesAnswerInOneShortCall) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string haystack = "printf('%.*c', 16000000, 'a')";
  const std::string needle = "(printf('%.*c', 8000000, 'a') || 'b')";
  const std::string sql = "SELECT instr(" + haystack + ", " + needle + "), length(replace(" + haystack + ", " +
                          needle + ", 'x')), instr(" + haystack + " || 'b', " + needle + ")";
  std::vector<SqlRowValues> rows;
  Status st = store->Query({sql, {}}, [&](const std::vector<std::string>&, std::vector<SqlRowValues>&& batch) {
    for (auto& r : batch) rows.push_back(std::move(r));
    return true;
  });
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(rows[0][0]), 0);
  EXPECT_EQ(std::get<int64_t>(rows[0][1]), 16000000);
  EXPECT_EQ(std::get<int64_t>(rows[0][2]), 16000000 - 8000000 + 1);
}

// Replacing into more than a value may hold is refused, as by the built-in, but
// before anything is built.
TEST_F(SqlFunctionsTest, AReplaceTooLongIsRefused) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Status st = store->Query({"SELECT replace(printf('%.*c', 9000000, 'a'), 'a', 'bb')", {}},
                           [](const std::vector<std::string>&, std::vector<SqlRowValues>&&) { return true; });
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.message();
  EXPECT_NE(st.message().find("too big"), std::string::npos) << st.message();
}

Status QueryStatus(SqlStore& store, const std::string& sql) {
  return store.Query({sql, {}}, [](const std::vector<std::string>&, std::vector<SqlRowValues>&&) { return true; });
}

// Before: a LIKE of a 16 MiB value against '%' and 998 more bytes ran for about a
// minute in one call. Now it is refused before matching; short patterns still match.
TEST_F(SqlFunctionsTest, ALikeTooCostlyIsRefused) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string value = "printf('%.*c', 16000000, 'a')";
  for (const std::string& sql :
       {"SELECT " + value + " LIKE ('%' || printf('%.*c', 998, 'a') || 'b')",
        "SELECT " + value + " GLOB ('*' || printf('%.*c', 998, 'a') || 'b')",
        "SELECT like('%' || printf('%.*c', 998, 'a') || 'b', " + value + ", '!')"}) {
    Status st = QueryStatus(*store, sql);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << sql << ": " << st.message();
    EXPECT_NE(st.message().find("too much work"), std::string::npos) << st.message();
  }
  EXPECT_TRUE(QueryStatus(*store, "SELECT " + value + " LIKE '%ab'").ok());
}

// Before: trim of 16 MiB against a set of 100 000 characters compared for hours.
// Now it stops with an error after kMaxTrimComparisons comparisons.
TEST_F(SqlFunctionsTest, ATrimTooCostlyIsRefused) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  // 100 000 distinct three-byte characters, then the one the value is made of.
  const std::string sql =
      "WITH RECURSIVE n(i) AS (SELECT 0x4e00 UNION ALL SELECT i + 1 FROM n WHERE i < 0x4e00 + 99999) "
      "SELECT length(trim(printf('%.*c', 16000000, 'a'), (SELECT group_concat(char(i), '') FROM n) || 'a'))";
  Status st = QueryStatus(*store, sql);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.message();
  EXPECT_NE(st.message().find("too much work"), std::string::npos) << st.message();
  // A set repeated many times is as short as its distinct characters.
  EXPECT_TRUE(QueryStatus(*store, "SELECT trim(printf('%.*c', 16000000, 'a'), printf('%.*c', 8000000, 'b') || 'a')")
                  .ok());
}

// Before: printf('%.*c', 2000000000, 'x') appended for about 45 s in one call and
// then gave NULL. Now it is refused at once as too big.
TEST_F(SqlFunctionsTest, APrintfRepeatTooLongIsRefused) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (const char* sql : {"SELECT printf('%.*c', 2000000000, 'x')", "SELECT format('%.2000000000c', 'x')",
                          "SELECT printf('%.*c%.*c', 9000000, 'x', 9000000, 'y')"}) {
    Status st = QueryStatus(*store, sql);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << sql << ": " << st.message();
    EXPECT_NE(st.message().find("too big"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace mumba::engine
