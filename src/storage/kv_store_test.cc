// SPDX-License-Identifier: Apache-2.0
// The LMDB key-value store: round trips, batch atomicity and limits, scans and
// paging, watchers, durability across reopening, read-only use, a full map,
// concurrent readers and copies.
#include "storage/kv_store.h"
#include "common/temp_dir.h"

#include <lmdb.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

namespace fs = std::filesystem;

// Scans name only the options they set, in designated initializers; the rest keep
// their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace mumba::engine {
namespace {

KvMutation Put(std::string key, std::string value) {
  return KvMutation{KvMutation::Kind::kPut, std::move(key), std::move(value)};
}

KvMutation Delete(std::string key) {
  return KvMutation{KvMutation::Kind::kDelete, std::move(key), ""};
}

std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%05d", i);
  return buf;
}

class KvStoreTest : public ::testing::Test {
 protected:
  fs::path dir() const { return tmp_.path() / "db"; }

  std::unique_ptr<KvStore> OpenStore(bool read_only = false, uint64_t map_size = 1ull << 30) {
    auto store = KvStore::Open(dir(), read_only, map_size);
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // The value of `key`, or "<absent>"; fails the test on an error.
  static std::string ValueOf(const KvStore& store, std::string_view key) {
    auto got = store.Get(key);
    EXPECT_TRUE(got.ok()) << got.status().message();
    if (!got.ok()) return "<error>";
    return got->has_value() ? **got : "<absent>";
  }

  static std::vector<std::string> Keys(const KvScanResult& result) {
    std::vector<std::string> keys;
    for (const auto& e : result.entries) keys.push_back(e.key);
    return keys;
  }

  TempDir tmp_;
};

TEST_F(KvStoreTest, PutGetDeleteRoundTrip) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(ValueOf(*store, "a"), "<absent>");

  auto seq = store->Write({Put("a", "1"), Put("b", std::string("x\0y", 3))});
  ASSERT_TRUE(seq.ok()) << seq.status().message();
  EXPECT_EQ(*seq, 1u);
  EXPECT_EQ(ValueOf(*store, "a"), "1");
  EXPECT_EQ(ValueOf(*store, "b"), std::string("x\0y", 3));

  seq = store->Write({Put("a", "2")});
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 2u);
  EXPECT_EQ(ValueOf(*store, "a"), "2");

  seq = store->Write({Delete("a"), Delete("never-there")});
  ASSERT_TRUE(seq.ok()) << seq.status().message();
  EXPECT_EQ(*seq, 3u);
  EXPECT_EQ(ValueOf(*store, "a"), "<absent>");
  EXPECT_EQ(ValueOf(*store, "b"), std::string("x\0y", 3));

  // An empty value is a value, not an absence.
  ASSERT_TRUE(store->Write({Put("empty", "")}).ok());
  EXPECT_EQ(ValueOf(*store, "empty"), "");
}

TEST_F(KvStoreTest, CreatesPrivateFolder) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  struct stat st;
  ASSERT_EQ(::stat(dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(KvStoreTest, BatchIsAppliedInOrder) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Write({Put("k", "1"), Delete("k"), Put("j", "1"), Put("j", "2")}).ok());
  EXPECT_EQ(ValueOf(*store, "k"), "<absent>");
  EXPECT_EQ(ValueOf(*store, "j"), "2");
}

TEST_F(KvStoreTest, BadBatchWritesNothing) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Write({Put("keep", "old")}).ok());

  auto empty = store->Write({});
  EXPECT_EQ(empty.status().code(), Code::kInvalidArgument);

  // The bad mutation comes last, after good ones that must not land.
  auto bad = store->Write({Put("new", "v"), Put("keep", "new"), Put("", "empty key")});
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("mutation 2"), std::string::npos) << bad.status().message();

  auto long_key = store->Write({Put("new", "v"), Put(std::string(kKvMaxKey + 1, 'k'), "v")});
  EXPECT_EQ(long_key.status().code(), Code::kInvalidArgument);

  auto long_delete = store->Write({Put("new", "v"), Delete(std::string(kKvMaxKey + 1, 'k'))});
  EXPECT_EQ(long_delete.status().code(), Code::kInvalidArgument);

  auto big_value = store->Write({Put("new", "v"), Put("big", std::string(kKvMaxValue + 1, 'v'))});
  EXPECT_EQ(big_value.status().code(), Code::kInvalidArgument);

  EXPECT_EQ(ValueOf(*store, "new"), "<absent>");
  EXPECT_EQ(ValueOf(*store, "big"), "<absent>");
  EXPECT_EQ(ValueOf(*store, "keep"), "old");
  auto all = store->Scan({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Keys(*all), std::vector<std::string>{"keep"});

  // Refused batches do not consume sequence numbers.
  auto next = store->Write({Put("x", "y")});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 2u);
}

TEST_F(KvStoreTest, LimitsAreInclusive) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  std::string longest_key(kKvMaxKey, 'k');
  std::string largest_value(kKvMaxValue, 'v');
  auto seq = store->Write({Put(longest_key, "v"), Put("big", largest_value)});
  ASSERT_TRUE(seq.ok()) << seq.status().message();
  EXPECT_EQ(ValueOf(*store, longest_key), "v");
  EXPECT_EQ(ValueOf(*store, "big").size(), kKvMaxValue);
}

TEST_F(KvStoreTest, GetRejectsBadKeys) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Get("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store->Get(std::string(kKvMaxKey + 1, 'k')).status().code(), Code::kInvalidArgument);
}

TEST_F(KvStoreTest, InternalNamesAreOrdinaryKeys) {
  // LMDB names its databases with keys of the unnamed database; none may leak.
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Write({Put("meta", "m"), Put("data", "d"), Put("sequence", "s")}).ok());
  EXPECT_EQ(ValueOf(*store, "meta"), "m");
  auto all = store->Scan({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Keys(*all), (std::vector<std::string>{"data", "meta", "sequence"}));
}

class KvScanTest : public KvStoreTest {
 protected:
  void SetUp() override {
    store_ = OpenStore();
    ASSERT_TRUE(store_);
    std::vector<KvMutation> batch;
    for (const char* k : {"a", "ab", "abc", "abd", "ac", "b", "b/1", "b/2", "c"}) {
      batch.push_back(Put(k, std::string("v:") + k));
    }
    // A key with a high byte sorts after ASCII ones (bytewise, unsigned).
    batch.push_back(Put("\xff", "high"));
    ASSERT_TRUE(store_->Write(batch).ok());
  }

  std::vector<std::string> ScanKeys(KvScanOptions options) {
    auto result = store_->Scan(options);
    EXPECT_TRUE(result.ok()) << result.status().message();
    if (!result.ok()) return {};
    EXPECT_EQ(result->next_cursor, "");
    return Keys(*result);
  }

  std::unique_ptr<KvStore> store_;
};

TEST_F(KvScanTest, AllInOrderWithValues) {
  auto result = store_->Scan({});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(Keys(*result), (std::vector<std::string>{"a", "ab", "abc", "abd", "ac", "b", "b/1",
                                                     "b/2", "c", "\xff"}));
  EXPECT_EQ(result->entries[2].value, "v:abc");
  EXPECT_EQ(result->next_cursor, "");
}

TEST_F(KvScanTest, ByPrefix) {
  EXPECT_EQ(ScanKeys({.prefix = "ab"}), (std::vector<std::string>{"ab", "abc", "abd"}));
  EXPECT_EQ(ScanKeys({.prefix = "b/"}), (std::vector<std::string>{"b/1", "b/2"}));
  EXPECT_EQ(ScanKeys({.prefix = "zz"}), std::vector<std::string>{});
  EXPECT_EQ(ScanKeys({.prefix = std::string(kKvMaxKey + 1, 'a')}), std::vector<std::string>{});
}

TEST_F(KvScanTest, ByRange) {
  EXPECT_EQ(ScanKeys({.start = "abc", .end = "b/2"}),
            (std::vector<std::string>{"abc", "abd", "ac", "b", "b/1"}));
  EXPECT_EQ(ScanKeys({.start = "aa", .end = "ab"}), std::vector<std::string>{});
  EXPECT_EQ(ScanKeys({.start = "b0"}), (std::vector<std::string>{"c", "\xff"}));
  EXPECT_EQ(ScanKeys({.end = "ab"}), std::vector<std::string>{"a"});
  // Prefix and range together: their intersection.
  EXPECT_EQ(ScanKeys({.prefix = "a", .start = "abd", .end = "ac"}), std::vector<std::string>{"abd"});
  EXPECT_EQ(ScanKeys({.prefix = "b", .start = "a"}), (std::vector<std::string>{"b", "b/1", "b/2"}));
  // A start longer than any key still bounds the scan correctly.
  EXPECT_EQ(ScanKeys({.start = std::string(kKvMaxKey + 10, 'b')}), (std::vector<std::string>{"c", "\xff"}));
}

TEST_F(KvScanTest, KeysOnly) {
  auto result = store_->Scan({.prefix = "b", .keys_only = true});
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->entries.size(), 3u);
  for (const auto& e : result->entries) {
    EXPECT_FALSE(e.key.empty());
    EXPECT_EQ(e.value, "") << e.key;
  }
}

TEST_F(KvScanTest, NoCursorWhenPageEndsExactly) {
  auto result = store_->Scan({.prefix = "ab", .limit = 3});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->entries.size(), 3u);
  EXPECT_EQ(result->next_cursor, "");  // Keys remain in the store, but none match.

  result = store_->Scan({.prefix = "ab", .limit = 2});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(Keys(*result), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(result->next_cursor, "abc");
}

TEST_F(KvScanTest, CursorResumesStrictlyAfter) {
  EXPECT_EQ(ScanKeys({.prefix = "ab", .cursor = "abc"}), std::vector<std::string>{"abd"});
  // A cursor before the range does not widen it.
  EXPECT_EQ(ScanKeys({.start = "b", .end = "c", .cursor = "a"}),
            (std::vector<std::string>{"b", "b/1", "b/2"}));
  EXPECT_EQ(store_->Scan({.cursor = std::string(kKvMaxKey + 1, 'a')}).status().code(),
            Code::kInvalidArgument);
}

TEST_F(KvStoreTest, PagingVisitsEveryKeyOnceInOrder) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  constexpr int kKeys = 2500;
  std::vector<KvMutation> batch;
  for (int i = 0; i < kKeys; ++i) batch.push_back(Put(Key(i), std::to_string(i)));
  batch.push_back(Put("j-before", "x"));
  batch.push_back(Put("l-after", "x"));
  ASSERT_TRUE(store->Write(batch).ok());

  for (uint32_t limit : {1u, 7u, 1000u, 2500u}) {
    std::vector<std::string> seen;
    KvScanOptions options{.prefix = "k", .limit = limit};
    int pages = 0;
    while (true) {
      auto page = store->Scan(options);
      ASSERT_TRUE(page.ok()) << page.status().message();
      ASSERT_LE(page->entries.size(), limit);
      for (const auto& e : page->entries) {
        seen.push_back(e.key);
        EXPECT_EQ(e.value, std::to_string(std::stoi(e.key.substr(1))));
      }
      ++pages;
      ASSERT_LE(pages, kKeys) << "paging does not advance";
      if (page->next_cursor.empty()) break;
      EXPECT_EQ(page->entries.size(), limit);
      EXPECT_EQ(page->next_cursor, page->entries.back().key);
      options.cursor = page->next_cursor;
    }
    ASSERT_EQ(seen.size(), static_cast<size_t>(kKeys)) << "limit " << limit;
    for (int i = 0; i < kKeys; ++i) ASSERT_EQ(seen[i], Key(i)) << "limit " << limit;
    EXPECT_EQ(pages, (kKeys + static_cast<int>(limit) - 1) / static_cast<int>(limit));
  }
}

TEST_F(KvStoreTest, ScanLimitDefaultsAndCaps) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  std::vector<KvMutation> batch;
  for (int i = 0; i < 10050; ++i) batch.push_back(Put(Key(i), ""));
  ASSERT_TRUE(store->Write(batch).ok());

  auto page = store->Scan({});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 1000u);
  EXPECT_EQ(page->next_cursor, Key(999));

  page = store->Scan({.limit = 0});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 1000u);

  page = store->Scan({.limit = 1000000});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 10000u);
  EXPECT_EQ(page->next_cursor, Key(9999));
}

TEST_F(KvStoreTest, WatchSeesItsPrefixInOrder) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  struct Event {
    KvMutation::Kind kind;
    std::string key;
    std::string value;
    uint64_t sequence;
  };
  std::vector<Event> events;
  std::vector<std::string> all_keys;
  uint64_t handle = store->Watch("a/", [&](const KvMutation& m, uint64_t seq) {
    events.push_back({m.kind, m.key, m.value, seq});
  });
  uint64_t all = store->Watch("", [&](const KvMutation& m, uint64_t) { all_keys.push_back(m.key); });
  EXPECT_NE(handle, all);

  ASSERT_TRUE(store->Write({Put("a/1", "x"), Put("b/1", "y"), Put("a/2", "z")}).ok());
  ASSERT_TRUE(store->Write({Put("b/2", "y")}).ok());
  ASSERT_TRUE(store->Write({Delete("a/1")}).ok());
  // A refused batch is never reported.
  EXPECT_FALSE(store->Write({Put("a/3", "x"), Put("", "bad")}).ok());

  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, KvMutation::Kind::kPut);
  EXPECT_EQ(events[0].key, "a/1");
  EXPECT_EQ(events[0].value, "x");
  EXPECT_EQ(events[1].key, "a/2");
  EXPECT_EQ(events[1].sequence, events[0].sequence);
  EXPECT_EQ(events[2].kind, KvMutation::Kind::kDelete);
  EXPECT_EQ(events[2].key, "a/1");
  EXPECT_EQ(events[0].sequence, 1u);
  EXPECT_EQ(events[2].sequence, 3u);
  EXPECT_EQ(all_keys, (std::vector<std::string>{"a/1", "b/1", "a/2", "b/2", "a/1"}));

  store->Unwatch(handle);
  ASSERT_TRUE(store->Write({Put("a/4", "x")}).ok());
  EXPECT_EQ(events.size(), 3u);
  EXPECT_EQ(all_keys.size(), 6u);  // The other watcher is unaffected.
  store->Unwatch(all);
  store->Unwatch(all);  // Unwatching twice is harmless.
  ASSERT_TRUE(store->Write({Put("a/5", "x")}).ok());
  EXPECT_EQ(all_keys.size(), 6u);
}

TEST_F(KvStoreTest, DataAndSequenceSurviveReopening) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Write({Put("a", "1")}).ok());
    ASSERT_TRUE(store->Write({Put("b", "2")}).ok());
    auto seq = store->Write({Put("c", "3"), Delete("a")});
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 3u);
  }
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(ValueOf(*store, "a"), "<absent>");
  EXPECT_EQ(ValueOf(*store, "b"), "2");
  EXPECT_EQ(ValueOf(*store, "c"), "3");
  auto seq = store->Write({Put("d", "4")});
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 4u);
}

TEST_F(KvStoreTest, SecondOpenInProcessIsRefused) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto again = KvStore::Open(dir());
  EXPECT_EQ(again.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(KvStore::Open(dir(), /*read_only=*/true).status().code(), Code::kFailedPrecondition);
  store.reset();
  EXPECT_TRUE(KvStore::Open(dir()).ok());
}

TEST_F(KvStoreTest, ReadOnly) {
  auto missing = KvStore::Open(dir(), /*read_only=*/true);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(dir()));  // Looking did not create it.

  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Write({Put("a", "1"), Put("b", "2")}).ok());
  }
  auto store = OpenStore(/*read_only=*/true);
  ASSERT_TRUE(store);
  EXPECT_EQ(ValueOf(*store, "a"), "1");
  auto scan = store->Scan({});
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(Keys(*scan), (std::vector<std::string>{"a", "b"}));
  auto write = store->Write({Put("c", "3")});
  EXPECT_EQ(write.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(ValueOf(*store, "c"), "<absent>");
  EXPECT_GT(store->UsedBytes(), 0u);
  // A read-only store can still be snapshotted.
  Status copied = store->CopyTo(tmp_.path() / "copy");
  ASSERT_TRUE(copied.ok()) << copied.message();
  EXPECT_TRUE(fs::exists(tmp_.path() / "copy" / "data.mdb"));
}

TEST_F(KvStoreTest, FullMapIsResourceExhaustedAndKeepsData) {
  auto store = OpenStore(false, 1u << 20);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Write({Put("first", "kept")}).ok());
  const std::string chunk(64 << 10, 'x');
  uint64_t last_seq = 0;
  int written = 0;
  Status full;
  for (int i = 0; i < 100 && full.ok(); ++i) {
    auto seq = store->Write({Put(Key(i), chunk), Put(Key(i) + "-b", chunk)});
    if (seq.ok()) {
      last_seq = *seq;
      ++written;
    } else {
      full = seq.status();
    }
  }
  ASSERT_EQ(full.code(), Code::kResourceExhausted) << full.message();
  ASSERT_GT(written, 0);
  EXPECT_NE(full.message().find("MDB_MAP_FULL"), std::string::npos) << full.message();
  EXPECT_LE(store->UsedBytes(), 1u << 20);

  // The failed batch left nothing behind; everything before it is intact.
  EXPECT_EQ(ValueOf(*store, Key(written)), "<absent>");
  EXPECT_EQ(ValueOf(*store, Key(written) + "-b"), "<absent>");
  EXPECT_EQ(ValueOf(*store, "first"), "kept");
  for (int i = 0; i < written; ++i) EXPECT_EQ(ValueOf(*store, Key(i)), chunk) << i;

  // Freeing space makes the store writable again, and the sequence did not skip.
  auto seq = store->Write({Delete(Key(0)), Delete(Key(0) + "-b")});
  ASSERT_TRUE(seq.ok()) << seq.status().message();
  EXPECT_EQ(*seq, last_seq + 1);

  store.reset();
  store = OpenStore(false, 1u << 20);
  ASSERT_TRUE(store);
  EXPECT_EQ(ValueOf(*store, "first"), "kept");
  EXPECT_EQ(ValueOf(*store, Key(written - 1)), chunk);
}

TEST_F(KvStoreTest, UsedBytesGrowsWithData) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  uint64_t before = store->UsedBytes();
  EXPECT_GT(before, 0u);
  ASSERT_TRUE(store->Write({Put("big", std::string(1 << 20, 'v'))}).ok());
  EXPECT_GE(store->UsedBytes(), before + (1u << 20));
}

TEST_F(KvStoreTest, UsageCountsKeysAndSurvivesReopening) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    EXPECT_EQ(store->Usage().bytes, 0u);
    // A key put twice in one batch counts once; an absent key's delete is nothing.
    ASSERT_TRUE(store->Write({Put("a", "12345"), Put("b", ""), Put("a", "123"), Delete("zz")}).ok());
    EXPECT_EQ(store->Usage().keys, 2u);
    EXPECT_EQ(store->Usage().bytes, (1 + 3 + kKvKeyCost) + (1 + 0 + kKvKeyCost));
    ASSERT_TRUE(store->Write({Delete("a")}).ok());
    EXPECT_EQ(store->Usage().bytes, 1 + kKvKeyCost);
    // A refused batch changes nothing.
    EXPECT_FALSE(store->Write({Put("c", "x"), Put("", "y")}).ok());
    EXPECT_EQ(store->Usage().keys, 1u);
  }
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Usage().keys, 1u);
  EXPECT_EQ(store->Usage().bytes, 1 + kKvKeyCost);
}

TEST_F(KvStoreTest, UsageOfAStoreWithoutARecordIsCounted) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Write({Put("k1", "v1"), Put("k2", "value2")}).ok());
  }
  // As a store written before usage was recorded: no "usage" key in "meta".
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_set_maxdbs(env, 2), 0);
  ASSERT_EQ(mdb_env_open(env, dir().c_str(), MDB_NOTLS, 0600), 0);
  MDB_txn* txn = nullptr;
  MDB_dbi meta;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  MDB_val key{5, const_cast<char*>("usage")};
  ASSERT_EQ(mdb_del(txn, meta, &key, nullptr), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);

  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Usage().keys, 2u);
  EXPECT_EQ(store->Usage().bytes, (2 + 2 + kKvKeyCost) + (2 + 6 + kKvKeyCost));
}

TEST_F(KvStoreTest, ReadSlotsAreReleasedAfterEachRead) {
  // More reads than reader slots, from more threads than slots: a leaked slot
  // would end in MDB_READERS_FULL.
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Write({Put("a", "1")}).ok());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(ValueOf(*store, "a"), "1");
  for (int round = 0; round < 2; ++round) {
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 200; ++t) {
      threads.emplace_back([&] {
        auto got = store->Get("a");
        if (!got.ok() || !got->has_value()) ++failures;
        if (!store->Scan({}).ok()) ++failures;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
  }
}

TEST_F(KvStoreTest, ConcurrentReadersSeeCommittedBatches) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Write({Put("pair/x", "0"), Put("pair/y", "0")}).ok());

  std::atomic<bool> done{false};
  std::atomic<int> errors{0};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        // Each batch writes both keys with one value; a scan is one snapshot.
        auto scan = store->Scan({.prefix = "pair/"});
        if (!scan.ok() || scan->entries.size() != 2) {
          ++errors;
          continue;
        }
        if (scan->entries[0].value != scan->entries[1].value) ++torn;
        auto got = store->Get("pair/x");
        if (!got.ok() || !got->has_value()) ++errors;
        ++reads;
      }
    });
  }
  constexpr int kBatches = 200;
  for (int i = 1; i <= kBatches; ++i) {
    std::string v = std::to_string(i);
    auto seq = store->Write({Put("pair/x", v), Put(Key(i), v), Put("pair/y", v)});
    ASSERT_TRUE(seq.ok()) << seq.status().message();
    EXPECT_EQ(*seq, static_cast<uint64_t>(i) + 1);
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(ValueOf(*store, "pair/y"), std::to_string(kBatches));
}

TEST_F(KvStoreTest, ConcurrentWritersAreSerialized) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  std::vector<uint64_t> seen;
  store->Watch("", [&](const KvMutation&, uint64_t seq) { seen.push_back(seq); });
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        EXPECT_TRUE(store->Write({Put(Key(t * 100 + i), "v")}).ok());
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(seen.size(), 100u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1);
}

TEST_F(KvStoreTest, CopyToMakesAnOpenableCopy) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  std::vector<KvMutation> batch;
  for (int i = 0; i < 300; ++i) batch.push_back(Put(Key(i), std::string(i * 10, 'a' + i % 26)));
  ASSERT_TRUE(store->Write(batch).ok());
  ASSERT_TRUE(store->Write({Delete(Key(7)), Put("big", std::string(100000, 'b'))}).ok());

  fs::path copy_dir = tmp_.path() / "copy";
  Status copied = store->CopyTo(copy_dir);
  ASSERT_TRUE(copied.ok()) << copied.message();
  // Writes after the copy do not reach it.
  ASSERT_TRUE(store->Write({Put("later", "x")}).ok());

  auto copy = KvStore::Open(copy_dir);
  ASSERT_TRUE(copy.ok()) << copy.status().message();
  auto original = store->Scan({.limit = 10000});
  auto copied_all = (*copy)->Scan({.limit = 10000});
  ASSERT_TRUE(original.ok() && copied_all.ok());
  ASSERT_EQ(copied_all->entries.size() + 1, original->entries.size());
  size_t j = 0;
  for (const auto& e : original->entries) {
    if (e.key == "later") continue;
    ASSERT_LT(j, copied_all->entries.size());
    EXPECT_EQ(copied_all->entries[j].key, e.key);
    EXPECT_EQ(copied_all->entries[j].value, e.value);
    ++j;
  }
  EXPECT_EQ(ValueOf(**copy, Key(7)), "<absent>");
  EXPECT_EQ(ValueOf(**copy, "later"), "<absent>");
  // The copy carries the sequence number at the time of the copy.
  auto seq = (*copy)->Write({Put("in-copy", "x")});
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 3u);

  // The copy is page for page: after a small change, a second copy differs from
  // the first in a few pages only (what lets a share send only what changed).
  fs::path before_dir = tmp_.path() / "before";
  ASSERT_TRUE(store->CopyTo(before_dir).ok());
  ASSERT_TRUE(store->Write({Put(Key(150), "changed")}).ok());
  fs::path after_dir = tmp_.path() / "after";
  ASSERT_TRUE(store->CopyTo(after_dir).ok());
  auto read_all = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  std::string a = read_all(before_dir / "data.mdb");
  std::string b = read_all(after_dir / "data.mdb");
  ASSERT_GT(a.size(), 0u);
  size_t pages = std::max(a.size(), b.size()) / 4096;
  size_t differing = 0;
  for (size_t p = 0; p < pages; ++p) {
    if (a.compare(p * 4096, 4096, b, p * 4096, 4096) != 0) ++differing;
  }
  EXPECT_LE(differing, 6u) << "of " << pages << " pages";

  // Only into an empty folder.
  Status again = store->CopyTo(copy_dir);
  EXPECT_EQ(again.code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace mumba::engine
