// SPDX-License-Identifier: Apache-2.0
// Fuzzes the policy on app SQL (src/storage/sql_connection.h): the input is SQL an
// app sends, run with SqlStore::Execute and SqlStore::Query on one store with a
// size cap and a short call deadline. Beyond not crashing, no SQL may reach past
// its own database or its own call:
//  - the process-wide heap limits stay unset (they would fail every later
//    allocation of every app and of the host);
//  - the database stays within its cap (the quota cannot be lifted);
//  - no file appears outside the store's folder (ATTACH, VACUUM INTO), checked in
//    the working directory, which is an empty folder of the fuzzer's;
//  - every call ends within a few deadlines.
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "storage/sql_store.h"

namespace fs = std::filesystem;
using mumba::engine::SqlStore;

namespace {

constexpr uint64_t kCapBytes = 256 * 1024;
constexpr std::chrono::milliseconds kCallTimeout{200};
// A call may overrun its deadline by the time between two progress checks and the
// commit or rollback after it; far more than that means the deadline did not hold.
constexpr std::chrono::milliseconds kCallBound{3000};

struct World {
  fs::path store_dir;
  fs::path scratch;  // The working directory: stays empty.
  std::unique_ptr<SqlStore> store;

  void Reopen() {
    store.reset();
    std::error_code ec;
    fs::remove_all(store_dir, ec);
    fs::create_directories(store_dir);
    mumba::engine::SqlStoreOptions options;
    options.call_timeout = kCallTimeout;
    auto opened = SqlStore::Open(store_dir, false, options);
    FUZZ_CHECK(opened.ok());
    store = std::move(*opened);
    FUZZ_CHECK(store->LimitSize(kCapBytes).ok());
    FUZZ_CHECK(store->Execute({{"CREATE TABLE t(a, b); INSERT INTO t VALUES (1, 'x'), (2, zeroblob(100))", {}}}).ok());
  }
};

World& TheWorld() {
  static World* world = [] {
    auto* w = new World();
    std::string tmpl = (fs::temp_directory_path() / "mumba-fuzz-sql-XXXXXX").string();
    FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    w->store_dir = fs::path(tmpl) / "store";
    w->scratch = fs::path(tmpl) / "cwd";
    fs::create_directories(w->scratch);
    FUZZ_CHECK(::chdir(w->scratch.c_str()) == 0);
    w->Reopen();
    return w;
  }();
  return *world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  World& w = TheWorld();
  const std::string sql(reinterpret_cast<const char*>(data), size);
  using Clock = std::chrono::steady_clock;

  auto start = Clock::now();
  auto executed = w.store->Execute({{sql, {}}}, 1u << 20);
  FUZZ_CHECK(Clock::now() - start < kCallBound);
  if (!executed.ok()) {
    FUZZ_CHECK_SAYING(executed.status().code() != mumba::Code::kInternal, executed.status().message().c_str());
  }

  start = Clock::now();
  size_t rows = 0;
  mumba::Status queried = w.store->Query({sql, {}}, [&](const auto&, auto&& batch) {
    rows += batch.size();
    return rows < 10000;
  });
  FUZZ_CHECK(Clock::now() - start < kCallBound);

  FUZZ_CHECK(sqlite3_hard_heap_limit64(-1) == 0);
  FUZZ_CHECK(sqlite3_soft_heap_limit64(-1) == 0);
  FUZZ_CHECK(w.store->UsedBytes() <= kCapBytes);
  FUZZ_CHECK(fs::is_empty(w.scratch));
  for (const auto& entry : fs::directory_iterator(w.store_dir)) {
    const std::string name = entry.path().filename().string();
    FUZZ_CHECK(name.starts_with("db.sqlite"));
  }
  if (w.store->UsedBytes() > kCapBytes / 2) w.Reopen();
  return 0;
}
