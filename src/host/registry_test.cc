// SPDX-License-Identifier: Apache-2.0
// The registry on a real SQLite file: what the host writes must be there after a
// restart, and lookups by name or address must find the right app.
#include "host/registry.h"
#include "common/temp_dir.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace mumba {
namespace {

constexpr const char* kKeyA = "onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";
constexpr const char* kKeyB = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq";
const std::string kIdA = std::string("mumba://") + kKeyA;
const std::string kIdB = std::string("mumba://") + kKeyB;

AppRecord Record(const std::string& id, const std::string& name, const std::string& version) {
  AppRecord r;
  r.id = id;
  r.name = name;
  r.version = version;
  r.description = "the " + name + " app";
  r.install_dir = "/home/ann/.local/share/mumba/apps/" + id.substr(8) + "/" + version;
  r.enabled = false;
  r.installed_at_ms = 1'764'000'000'123;
  return r;
}

void ExpectSame(const AppRecord& want, const AppRecord& got) {
  EXPECT_EQ(want.id, got.id);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.version, got.version);
  EXPECT_EQ(want.description, got.description);
  EXPECT_EQ(want.install_dir, got.install_dir);
  EXPECT_EQ(want.enabled, got.enabled);
  EXPECT_EQ(want.installed_at_ms, got.installed_at_ms);
}

std::vector<std::string> Ids(const std::vector<AppRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.id);
  return out;
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    reg_.reset();
    auto reg = Registry::Open(file());
    ASSERT_TRUE(reg.ok()) << reg.status().message();
    reg_ = std::move(*reg);
  }

  fs::path file() const { return tmp_.path() / "registry.db"; }
  Registry& reg() { return *reg_; }

  TempDir tmp_;
  std::unique_ptr<Registry> reg_;
};

TEST_F(RegistryTest, StartsEmpty) {
  EXPECT_TRUE(reg().List().empty());
  auto r = reg().Get(kIdA);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_F(RegistryTest, PutThenGetKeepsEveryField) {
  AppRecord a = Record(kIdA, "hello", "0.1.0");
  a.description = "Says \"hello\" — in 'quotes'; DROP TABLE apps; --";
  a.enabled = true;
  ASSERT_TRUE(reg().Put(a).ok());
  auto got = reg().Get(kIdA);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ExpectSame(a, *got);
}

TEST_F(RegistryTest, PutReplacesTheRecordWithTheSameId) {
  ASSERT_TRUE(reg().Put(Record(kIdA, "hello", "0.1.0")).ok());
  AppRecord update = Record(kIdA, "hello2", "0.2.0");
  update.enabled = true;
  update.installed_at_ms = 42;
  ASSERT_TRUE(reg().Put(update).ok());
  auto all = reg().List();
  ASSERT_EQ(all.size(), 1u);
  ExpectSame(update, all[0]);
}

TEST_F(RegistryTest, ListIsOrderedByNameThenId) {
  ASSERT_TRUE(reg().Put(Record(kIdA, "zeta", "1.0.0")).ok());
  ASSERT_TRUE(reg().Put(Record(kIdB, "alpha", "1.0.0")).ok());
  EXPECT_EQ(Ids(reg().List()), (std::vector<std::string>{kIdB, kIdA}));
  ASSERT_TRUE(reg().Put(Record(kIdB, "zeta", "1.0.0")).ok());
  // Same name: by id, and "mumba://aaa..." sorts before "mumba://ony...".
  EXPECT_EQ(Ids(reg().List()), (std::vector<std::string>{kIdB, kIdA}));
}

TEST_F(RegistryTest, RemoveDeletesOnlyThatApp) {
  ASSERT_TRUE(reg().Put(Record(kIdA, "hello", "0.1.0")).ok());
  ASSERT_TRUE(reg().Put(Record(kIdB, "other", "0.1.0")).ok());
  ASSERT_TRUE(reg().Remove(kIdA).ok());
  EXPECT_EQ(Ids(reg().List()), (std::vector<std::string>{kIdB}));
  EXPECT_EQ(reg().Get(kIdA).status().code(), Code::kNotFound);
  EXPECT_TRUE(reg().Get(kIdB).ok());
}

TEST_F(RegistryTest, SetEnabled) {
  ASSERT_TRUE(reg().Put(Record(kIdA, "hello", "0.1.0")).ok());
  ASSERT_TRUE(reg().SetEnabled(kIdA, true).ok());
  EXPECT_TRUE(reg().Get(kIdA)->enabled);
  ASSERT_TRUE(reg().SetEnabled(kIdA, false).ok());
  EXPECT_FALSE(reg().Get(kIdA)->enabled);
  Status missing = reg().SetEnabled(kIdB, true);
  EXPECT_EQ(missing.code(), Code::kNotFound);
  EXPECT_EQ(reg().List().size(), 1u);
}

TEST_F(RegistryTest, SurvivesReopen) {
  AppRecord a = Record(kIdA, "hello", "0.1.0");
  AppRecord b = Record(kIdB, "other", "2.0.0");
  ASSERT_TRUE(reg().Put(a).ok());
  ASSERT_TRUE(reg().Put(b).ok());
  ASSERT_TRUE(reg().SetEnabled(kIdB, true).ok());
  b.enabled = true;
  Reopen();
  auto all = reg().List();
  ASSERT_EQ(all.size(), 2u);
  ExpectSame(a, all[0]);
  ExpectSame(b, all[1]);

  ASSERT_TRUE(reg().Remove(kIdA).ok());
  Reopen();
  EXPECT_EQ(Ids(reg().List()), (std::vector<std::string>{kIdB}));
}

TEST_F(RegistryTest, UsesWriteAheadLogging) {
  ASSERT_TRUE(reg().Put(Record(kIdA, "hello", "0.1.0")).ok());
  // While the registry is open after a write, the log sits beside the database.
  EXPECT_TRUE(fs::exists(file().string() + "-wal"));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  std::string mode = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  // A second reader sees the committed row while the registry still holds it open.
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM apps", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  int rows = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(mode, "wal");
  EXPECT_EQ(rows, 1);
}

TEST_F(RegistryTest, ResolveByNameOrEitherAddressForm) {
  ASSERT_TRUE(reg().Put(Record(kIdA, "hello", "0.1.0")).ok());
  for (const std::string& ref : {std::string("hello"), kIdA, std::string(kKeyA), kIdA + "/"}) {
    auto r = reg().Resolve(ref);
    ASSERT_TRUE(r.ok()) << ref << ": " << r.status().message();
    EXPECT_EQ(r->id, kIdA);
  }
}

TEST_F(RegistryTest, ResolveErrors) {
  ASSERT_TRUE(reg().Put(Record(kIdA, "hello", "0.1.0")).ok());
  EXPECT_EQ(reg().Resolve("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(reg().Resolve("helo").status().code(), Code::kNotFound);
  EXPECT_NE(reg().Resolve("helo").status().message().find("'helo'"), std::string::npos);
  EXPECT_EQ(reg().Resolve(kIdB).status().code(), Code::kNotFound);
  EXPECT_EQ(reg().Resolve("mumba://short").status().code(), Code::kInvalidArgument);
  // Names are matched exactly.
  EXPECT_EQ(reg().Resolve("Hello").status().code(), Code::kNotFound);
}

TEST_F(RegistryTest, ResolveRefusesAnAmbiguousName) {
  ASSERT_TRUE(reg().Put(Record(kIdA, "hello", "0.1.0")).ok());
  ASSERT_TRUE(reg().Put(Record(kIdB, "hello", "0.3.0")).ok());
  auto r = reg().Resolve("hello");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find(kIdA), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(kIdB), std::string::npos) << r.status().message();
  // The address still works.
  auto by_id = reg().Resolve(kIdB);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->version, "0.3.0");
}

TEST_F(RegistryTest, ConcurrentWritersAllLand) {
  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kEach; ++i) {
        // Distinct ids; the registry stores them as given.
        std::string id = "id-" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(reg().Put(Record("mumba://" + id, "app" + std::to_string(t), "1.0.0")).ok());
        (void)reg().List();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(reg().List().size(), static_cast<size_t>(kThreads * kEach));
  Reopen();
  EXPECT_EQ(reg().List().size(), static_cast<size_t>(kThreads * kEach));
}

TEST(RegistryOpenTest, FailsWhenTheFolderIsMissing) {
  auto reg = Registry::Open("/nonexistent-mumba-dir/sub/registry.db");
  ASSERT_FALSE(reg.ok());
  EXPECT_NE(reg.status().message().find("/nonexistent-mumba-dir/sub/registry.db"),
            std::string::npos)
      << reg.status().message();
}

TEST(RegistryOpenTest, FailsOnAFileThatIsNotADatabase) {
  TempDir tmp;
  fs::path file = tmp.path() / "registry.db";
  {
    FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not a SQLite database, it is a text file that is long enough\n", f);
    std::fclose(f);
  }
  auto reg = Registry::Open(file);
  EXPECT_FALSE(reg.ok());
}

}  // namespace
}  // namespace mumba
