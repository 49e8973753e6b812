// SPDX-License-Identifier: Apache-2.0
// The SDK's storage handles against the host's storage API served in-process
// (test_host.h). Like an app, this file includes only the public SDK headers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "mumba/app.h"
#include "test_host.h"

namespace mumba {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kSelf[] = "mumba://self";
constexpr char kOther[] = "mumba://other";        // Exports nothing to us.
constexpr char kExporter[] = "mumba://exporter";  // Exports its kv "main" to us.

// Polls `done` until it holds or `timeout` passes.
template <typename F>
bool WaitFor(F done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::string RandomBytes(size_t n) {
  std::mt19937_64 gen(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

std::string ReadLocal(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sdkt-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    host_ = sdk_test::TestHost::Start(root_, {kSelf, kOther, kExporter}, {kExporter});
    ASSERT_TRUE(host_);
    app_ = AppOf(kSelf);
  }

  // An App as `id` under the host, as `mumba start` would run it.
  std::unique_ptr<App> AppOf(const std::string& id) {
    ::setenv("MUMBA_HOST_SOCKET", host_->socket(id).c_str(), 1);
    char arg0[] = "storage_test";
    char* argv[] = {arg0, nullptr};
    auto app = std::make_unique<App>(1, argv);
    ::unsetenv("MUMBA_HOST_SOCKET");
    return app;
  }

  void TearDown() override {
    app_.reset();
    host_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  fs::path root_;
  std::unique_ptr<sdk_test::TestHost> host_;
  std::unique_ptr<App> app_;
};

TEST_F(StorageTest, KvRoundTripBatchAndScan) {
  Kv kv = app_->Kv();
  // Before the first write the app's own database reads as empty.
  auto missing = kv.Get("a");
  ASSERT_TRUE(missing.ok()) << missing.status().message();
  EXPECT_FALSE(missing->has_value());
  auto empty = kv.Scan();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->entries.empty());

  ASSERT_TRUE(kv.Put("a", std::string("v\0a", 3)).ok());
  auto got = kv.Get("a");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, std::string("v\0a", 3));

  KvBatch batch;
  for (int i = 0; i < 30; ++i) batch.Put("p/" + std::to_string(100 + i), std::to_string(i));
  batch.Delete("a");
  ASSERT_TRUE(kv.Write(batch).ok());
  EXPECT_FALSE(kv.Get("a")->has_value());
  ASSERT_TRUE(kv.Write(KvBatch()).ok());  // Empty: nothing to do.

  KvScanOptions o;
  o.prefix = "p/";
  o.limit = 12;
  std::vector<std::string> keys;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = kv.Scan(o);
    ASSERT_TRUE(page.ok()) << page.status().message();
    for (auto& e : page->entries) keys.push_back(e.key);
    if (page->next_cursor.empty()) break;
    o.cursor = page->next_cursor;
  }
  ASSERT_EQ(keys.size(), 30u);
  EXPECT_EQ(keys.front(), "p/100");
  EXPECT_EQ(keys.back(), "p/129");

  // A bad key is refused and the batch that holds it changes nothing.
  KvBatch bad;
  bad.Put("p/new", "x").Put("", "empty key");
  EXPECT_EQ(kv.Write(bad).code(), Code::kInvalidArgument);
  EXPECT_FALSE(kv.Get("p/new")->has_value());
  EXPECT_EQ(app_->Kv("Bad Name").Put("k", "v").code(), Code::kInvalidArgument);
}

TEST_F(StorageTest, OtherAppsStoresNeedAnExport) {
  auto exporter = AppOf(kExporter);
  ASSERT_TRUE(exporter->Kv().Put("shared", "yes").ok());

  auto read = app_->Kv("main", kExporter).Get("shared");
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->value_or(""), "yes");
  EXPECT_EQ(app_->Kv("main", kExporter).Put("shared", "no").code(), Code::kPermissionDenied);
  EXPECT_EQ(exporter->Kv().Get("shared")->value_or(""), "yes");

  EXPECT_EQ(app_->Kv("main", kOther).Get("k").status().code(), Code::kPermissionDenied);
  EXPECT_EQ(app_->Sql("main", kOther).Execute("SELECT 1").status().code(), Code::kPermissionDenied);
  EXPECT_EQ(app_->Files(kOther).List().status().code(), Code::kPermissionDenied);
  EXPECT_EQ(app_->Kv("main", "mumba://nobody").Get("k").status().code(), Code::kNotFound);
}

TEST_F(StorageTest, WatchDeliversInOrderFromTheMomentItReturns) {
  Kv kv = app_->Kv();
  ASSERT_TRUE(kv.Put("setup", "1").ok());  // The database exists before the watch.
  std::mutex mu;
  std::vector<KvChange> seen;
  auto watch = kv.Watch("w/", [&](const KvChange& c) {
    std::lock_guard lock(mu);
    seen.push_back(c);
  });
  ASSERT_TRUE(watch.ok()) << watch.status().message();
  // Written right after Watch returns: must be seen.
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(kv.Put("w/" + std::to_string(i), std::to_string(i)).ok());
  ASSERT_TRUE(kv.Put("x/ignored", "-").ok());
  ASSERT_TRUE(kv.Delete("w/0").ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return seen.size() >= 51;
  }));
  EXPECT_TRUE((*watch)->status().ok());
  watch->reset();
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 51u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(seen[i].kind, KvChange::Kind::kPut);
    EXPECT_EQ(seen[i].key, "w/" + std::to_string(i));
    if (i > 0) {
      EXPECT_GT(seen[i].sequence, seen[i - 1].sequence);
    }
  }
  EXPECT_EQ(seen[50].kind, KvChange::Kind::kDelete);
  EXPECT_EQ(seen[50].key, "w/0");
}

TEST_F(StorageTest, WatchRefusalsComeBackFromWatch) {
  auto start = std::chrono::steady_clock::now();
  auto denied = app_->Kv("main", kOther).Watch("", [](const KvChange&) {});
  EXPECT_EQ(denied.status().code(), Code::kPermissionDenied);
  // A database that was never written does not exist yet.
  auto missing = app_->Kv("never").Watch("", [](const KvChange&) {});
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(app_->Kv().Watch("", nullptr).status().code(), Code::kInvalidArgument);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(StorageTest, DestroyingAWatchWaitsForItsCallback) {
  Kv kv = app_->Kv();
  ASSERT_TRUE(kv.Put("setup", "1").ok());
  std::atomic<int> calls{0};
  std::atomic<bool> inside{false};
  auto watch = kv.Watch("", [&](const KvChange&) {
    inside = true;
    std::this_thread::sleep_for(200ms);
    ++calls;
    inside = false;
  });
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(kv.Put("a", "1").ok());
  ASSERT_TRUE(kv.Put("b", "2").ok());
  ASSERT_TRUE(WaitFor([&] { return inside.load(); }));
  watch->reset();
  EXPECT_FALSE(inside.load());  // The running callback finished before the destructor returned.
  int after = calls.load();
  // A second watch sees "c" once the host has sent it to every watcher: by then the
  // destroyed one would have had it too.
  std::atomic<bool> seen{false};
  auto witness = kv.Watch("", [&](const KvChange& c) {
    if (c.key == "c") seen = true;
  });
  ASSERT_TRUE(witness.ok());
  ASSERT_TRUE(kv.Put("c", "3").ok());
  ASSERT_TRUE(WaitFor([&] { return seen.load(); }));
  EXPECT_EQ(calls.load(), after);
}

TEST_F(StorageTest, WatchEndsWhenTheHostGoesAway) {
  Kv kv = app_->Kv();
  ASSERT_TRUE(kv.Put("setup", "1").ok());
  auto watch = kv.Watch("", [](const KvChange&) {});
  ASSERT_TRUE(watch.ok());
  host_->Stop(100);
  ASSERT_TRUE(WaitFor([&] { return !(*watch)->status().ok(); }));
  EXPECT_EQ(kv.Put("k", "v").code(), Code::kUnavailable);
}

TEST_F(StorageTest, SqlTypedValuesTransactionsAndQuery) {
  Sql sql = app_->Sql();
  ASSERT_TRUE(sql.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v)").ok());
  // Literals pick the intended type: 42 is an integer, 1.5 a real, "text" text.
  auto ins = sql.Execute("INSERT INTO t(v) VALUES (?), (?), (?), (?), (?)",
                         {nullptr, 42, 1.5, "text", SqlBlob{std::string("\0\xff", 2)}});
  ASSERT_TRUE(ins.ok()) << ins.status().message();
  EXPECT_EQ(ins->changes, 5);
  EXPECT_EQ(ins->last_insert_rowid, 5);

  auto rows = sql.Execute("SELECT v, typeof(v) FROM t ORDER BY id");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->columns, (std::vector<std::string>{"v", "typeof(v)"}));
  ASSERT_EQ(rows->rows.size(), 5u);
  EXPECT_EQ(rows->rows[0][0], SqlValue(nullptr));
  EXPECT_EQ(rows->rows[1][0], SqlValue(int64_t{42}));
  EXPECT_EQ(rows->rows[2][0], SqlValue(1.5));
  EXPECT_EQ(rows->rows[3][0], SqlValue(std::string("text")));
  EXPECT_EQ(rows->rows[4][0], SqlValue(SqlBlob{std::string("\0\xff", 2)}));
  EXPECT_EQ(rows->rows[4][1], SqlValue(std::string("blob")));

  // All or nothing.
  auto tx = sql.Transaction({{"INSERT INTO t(id, v) VALUES (100, 'x')", {}},
                             {"INSERT INTO t(id, v) VALUES (?, 'dup')", {int64_t{1}}}});
  EXPECT_EQ(tx.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(sql.Execute("SELECT * FROM t WHERE id = 100")->rows.empty());
  auto ok = sql.Transaction({{"INSERT INTO t(id, v) VALUES (100, 'x')", {}}, {"SELECT count(*) FROM t", {}}});
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].rows[0][0], SqlValue(int64_t{6}));

  std::vector<SqlRow> streamed;
  ASSERT_TRUE(sql.Query("SELECT id FROM t WHERE id > ? ORDER BY id", {int64_t{2}}, [&](const SqlRow& r) {
                   streamed.push_back(r);
                   return streamed.size() < 2;
                 }).ok());
  ASSERT_EQ(streamed.size(), 2u);  // Stopped early, still OK.
  EXPECT_EQ(streamed[0][0], SqlValue(int64_t{3}));
  EXPECT_EQ(sql.Query("DELETE FROM t", {}, [](const SqlRow&) { return true; }).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(sql.Execute("SELEKT").status().code(), Code::kInvalidArgument);
}

TEST_F(StorageTest, FilesStreamBothWays) {
  Files files = app_->Files();
  fs::path local = root_ / "local";
  fs::create_directories(local);
  std::string data = RandomBytes(3 << 20);
  {
    std::ofstream out(local / "in.bin", std::ios::binary);
    out << data;
  }
  ASSERT_TRUE(files.PutFile("dir/blob.bin", local / "in.bin").ok());
  auto info = files.Stat("dir/blob.bin");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, data.size());
  EXPECT_FALSE(info->is_dir);
  ASSERT_TRUE(files.GetFile("dir/blob.bin", local / "out.bin").ok());
  EXPECT_EQ(ReadLocal(local / "out.bin"), data);
  auto whole = files.Get("dir/blob.bin");
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, data);

  // Empty files exist too.
  ASSERT_TRUE(files.Put("dir/empty", "").ok());
  EXPECT_EQ(files.Stat("dir/empty")->size, 0u);
  {
    std::ofstream out(local / "empty.bin", std::ios::binary);
  }
  ASSERT_TRUE(files.PutFile("dir/empty2", local / "empty.bin").ok());
  auto empty = files.Get("dir/empty2");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");

  auto list = files.List("dir");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].path, "dir/blob.bin");
  ASSERT_TRUE(files.Move("dir/empty", "moved/e").ok());
  EXPECT_EQ(files.Stat("dir/empty").status().code(), Code::kNotFound);
  ASSERT_TRUE(files.Delete("moved/e").ok());

  // Failures leave things as they were: no remote file from a missing local one,
  // and the local file untouched (and no temporary beside it) by a failed get.
  EXPECT_EQ(files.PutFile("never", local / "missing.bin").code(), Code::kNotFound);
  EXPECT_EQ(files.Stat("never").status().code(), Code::kNotFound);
  EXPECT_EQ(files.GetFile("absent", local / "out.bin").code(), Code::kNotFound);
  EXPECT_EQ(ReadLocal(local / "out.bin"), data);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(local)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"empty.bin", "in.bin", "out.bin"}));
  EXPECT_EQ(files.Put("../escape", "x").code(), Code::kInvalidArgument);
}

TEST_F(StorageTest, HandlesAreCopiesOfOneConnectionAndOutliveTheApp) {
  Kv kv = app_->Kv("copies");
  Kv copy = kv;
  ASSERT_TRUE(kv.Put("k", "v").ok());
  EXPECT_EQ(copy.Get("k")->value_or(""), "v");
  EXPECT_EQ(copy.db(), "copies");
  app_.reset();
  EXPECT_EQ(copy.Get("k")->value_or(""), "v");
}

TEST(StorageWithoutHost, EveryCallSaysUnavailable) {
  ::unsetenv("MUMBA_HOST_SOCKET");
  char arg0[] = "by-hand";
  char* argv[] = {arg0, nullptr};
  App app(1, argv);
  const std::string message = "storage needs the host: run this app with `mumba start`";
  for (const Status& st : {app.Kv().Put("k", "v"), app.Kv().Get("k").status(),
                           app.Kv().Watch("", [](const KvChange&) {}).status(),
                           app.Sql().Execute("SELECT 1").status(),
                           app.Files().PutFile("a", "/etc/hostname"), app.Files().Get("a").status()}) {
    EXPECT_EQ(st.code(), Code::kUnavailable);
    EXPECT_EQ(st.message(), message);
  }
}

TEST(StorageWithoutHost, EmptyHandlesSaySo) {
  EXPECT_EQ(Kv().Get("k").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(Sql().Execute("SELECT 1").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(Files().List().status().code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace mumba
