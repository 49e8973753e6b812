// SPDX-License-Identifier: Apache-2.0
// One key-value database of one app: an LMDB environment in a folder of its own, so
// the folder is the whole store and can be snapshotted as a unit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mumba/status.h"

namespace mumba::engine {

inline constexpr size_t kKvMaxKey = 511;           // LMDB's default key limit.
inline constexpr size_t kKvMaxValue = 16u << 20;   // 16 MiB.
// What each key costs in Usage beside its key and value bytes: about what LMDB
// spends on it (a node header, a slot in its page, page slack), so that a million
// keys with empty values are not free.
inline constexpr uint64_t kKvKeyCost = 64;

struct KvMutation {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;  // Empty for kDelete.
};

struct KvEntry {
  std::string key;
  std::string value;  // Empty when scanning keys only.
};

struct KvScanOptions {
  std::string prefix;  // Only keys starting with it.
  std::string start;   // Only keys >= start...
  std::string end;     // ...and < end (empty: no upper bound).
  std::string cursor;  // A previous result's next_cursor: go on after it.
  uint32_t limit = 1000;  // At most this many entries (0 means 1000; capped at 10000).
  bool keys_only = false;
};

// What the app's keys take, for quotas: `bytes` is the sum over keys of the key's
// size, the value's size and kKvKeyCost.
struct KvUsage {
  uint64_t bytes = 0;
  uint64_t keys = 0;
};

struct KvScanResult {
  std::vector<KvEntry> entries;  // In key order (bytewise).
  std::string next_cursor;       // Empty when nothing more matches.
};

// Thread-safe: any number of readers and one writer at a time, as LMDB allows.
class KvStore {
 public:
  virtual ~KvStore() = default;

  // Opens (creating it unless `read_only`) the LMDB environment in folder `dir`.
  // `map_size` is the most the store may ever hold (virtual address space, not RAM).
  // A store written before usage was recorded is counted once, key by key, and the
  // count is recorded (unless read-only), so Open takes time in its number of keys
  // that one time. Errors: NOT_FOUND (read-only and no store), FAILED_PRECONDITION
  // (not a folder, or already open in this process), UNAVAILABLE (locked by another
  // process), DATA_LOSS (a damaged environment or record), INTERNAL otherwise.
  static Expected<std::unique_ptr<KvStore>> Open(const std::filesystem::path& dir,
                                                 bool read_only = false,
                                                 uint64_t map_size = 1ull << 30);

  // The value of `key`, or nullopt if absent. INVALID_ARGUMENT for a bad key.
  virtual Expected<std::optional<std::string>> Get(std::string_view key) const = 0;

  // Applies every mutation in one transaction, durably (synced) before returning:
  // all or nothing. INVALID_ARGUMENT for an empty batch, a key of 0 or more than
  // kKvMaxKey bytes or a value over kKvMaxValue (nothing is written);
  // RESOURCE_EXHAUSTED when the map is full; FAILED_PRECONDITION if read-only.
  // Returns the store's sequence number after this batch (it increases by one per
  // committed batch and survives reopening). The batch's change to Usage is
  // recorded in the same transaction, so the record survives a crash exactly as
  // the keys do; a batch grows Usage().bytes by at most the sum over its puts of
  // key size + value size + kKvKeyCost.
  virtual Expected<uint64_t> Write(const std::vector<KvMutation>& batch) = 0;

  virtual Expected<KvScanResult> Scan(const KvScanOptions& options) const = 0;

  // Calls `watcher` after every committed batch, once per mutation whose key starts
  // with `prefix`, in commit order, on the writing thread (so it must be quick and
  // must not call back into the store). Returns a handle for Unwatch.
  using Watcher = std::function<void(const KvMutation& mutation, uint64_t sequence)>;
  virtual uint64_t Watch(std::string prefix, Watcher watcher) = 0;
  virtual void Unwatch(uint64_t handle) = 0;

  // Bytes of the file the store uses (its pages in use, free ones included).
  virtual uint64_t UsedBytes() const = 0;

  // What the app's keys take now (see KvUsage), as of the last committed batch.
  // Never fails and never blocks on a write: any thread, any time.
  virtual KvUsage Usage() const = 0;

  // A consistent copy of the store into the empty folder `dest` (mdb_env_copy2,
  // page for page: unchanged pages keep their place, free pages are copied too).
  virtual Status CopyTo(const std::filesystem::path& dest) const = 0;
};

}  // namespace mumba::engine
