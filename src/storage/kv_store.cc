// SPDX-License-Identifier: Apache-2.0
// KvStore on LMDB. The folder holds one environment (data.mdb, lock.mdb) with two
// named databases: "data" for the app's keys and "meta" for the batch sequence
// number and the usage record (what the keys take, for quotas), both updated in
// the transaction of every batch. The app's keys deliberately do not live in LMDB's unnamed database: LMDB
// records every named database as a key of the unnamed one, so keeping app keys
// there would expose "meta" to scans and make it unwritable by the app.
#include "storage/kv_store.h"

#include <sys/statvfs.h>
#include <lmdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <utility>

namespace fs = std::filesystem;

namespace mumba::engine {
namespace {

constexpr const char* kDataDb = "data";
constexpr const char* kMetaDb = "meta";
constexpr std::string_view kSequenceKey = "sequence";
constexpr std::string_view kUsageKey = "usage";  // Bytes, then keys: 8 bytes each.
constexpr unsigned kMaxReaders = 256;
constexpr uint32_t kDefaultScanLimit = 1000;
constexpr uint32_t kMaxScanLimit = 10000;

// LMDB must not open one environment twice in a process: closing either copy drops
// the POSIX locks both rely on. Open() therefore refuses a folder (by device and
// inode) that an open store of this process already uses.
std::mutex g_open_dirs_mu;
std::set<std::pair<dev_t, ino_t>> g_open_dirs;

MDB_val ToVal(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

std::string_view FromVal(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

std::string EncodeSequence(uint64_t seq) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return out;
}

uint64_t DecodeSequence(std::string_view bytes) {
  uint64_t seq = 0;
  for (unsigned char c : bytes) seq = (seq << 8) | c;
  return seq;
}

std::string EncodeUsage(const KvUsage& usage) {
  return EncodeSequence(usage.bytes) + EncodeSequence(usage.keys);
}

// What one key with a value of `value_size` bytes adds to KvUsage::bytes.
uint64_t KeyBytes(size_t key_size, size_t value_size) {
  return key_size + value_size + kKvKeyCost;
}

// Maps an LMDB (or errno) result onto a Status whose message names `what` failed.
Status LmdbError(int rc, const std::string& what) {
  std::string message = what + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
      return ResourceExhausted(message + " (the store reached its size limit)");
    case MDB_READERS_FULL:
      return Unavailable(message + " (more than " + std::to_string(kMaxReaders) +
                         " concurrent reads; retry)");
    case MDB_NOTFOUND:
    case ENOENT:
      return NotFound(message);
    case EACCES:
    case EPERM:
      return PermissionDenied(message);
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
      return Status(Code::kDataLoss, message);
    case EAGAIN:
      return Unavailable(message + " (the store is locked by another process)");
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return ResourceExhausted(message + " (no space left on the disk)");
    default:
      return Internal(message);
  }
}

// LMDB reports the short write of a full disk as EIO: when the store's disk has no
// room left, that is what the owner is told, not an input/output error.
Status CommitError(int rc, const std::string& what, const std::filesystem::path& dir) {
  struct statvfs fs {};
  if (rc == EIO && ::statvfs(dir.c_str(), &fs) == 0 &&
      static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize < (1u << 20)) {
    return ResourceExhausted(what + ": no space left on the disk");
  }
  return LmdbError(rc, what);
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return InvalidArgument("empty key");
  if (key.size() > kKvMaxKey) {
    return InvalidArgument("key of " + std::to_string(key.size()) + " bytes is longer than " +
                           std::to_string(kKvMaxKey));
  }
  return Status();
}

// Holds an LMDB handle and releases it with `Release` when it goes out of scope.
template <typename T, void (*Release)(T*)>
struct LmdbHandle {
  T* handle = nullptr;
  LmdbHandle() = default;
  LmdbHandle(const LmdbHandle&) = delete;
  LmdbHandle& operator=(const LmdbHandle&) = delete;
  ~LmdbHandle() {
    if (handle) Release(handle);
  }
};

// Aborts the transaction it holds when it goes out of scope.
struct TxnGuard : LmdbHandle<MDB_txn, mdb_txn_abort> {
  // Commits and gives up the transaction, which LMDB frees even when commit fails.
  int Commit() { return mdb_txn_commit(std::exchange(handle, nullptr)); }
};

// Closes the cursor it holds when it goes out of scope; declare it after the
// TxnGuard of its transaction so it closes first.
using CursorGuard = LmdbHandle<MDB_cursor, mdb_cursor_close>;

class KvStoreImpl final : public KvStore {
 public:
  KvStoreImpl(MDB_env* env, std::pair<dev_t, ino_t> dir_id, fs::path dir, bool read_only,
              MDB_dbi data, MDB_dbi meta, uint64_t sequence, KvUsage usage)
      : env_(env),
        dir_id_(dir_id),
        dir_(std::move(dir)),
        read_only_(read_only),
        data_(data),
        meta_(meta),
        sequence_(sequence),
        usage_bytes_(usage.bytes),
        usage_keys_(usage.keys) {}

  ~KvStoreImpl() override {
    mdb_env_close(env_);
    std::lock_guard lock(g_open_dirs_mu);
    g_open_dirs.erase(dir_id_);
  }

  Expected<std::optional<std::string>> Get(std::string_view key) const override {
    MUMBA_TRY(ValidateKey(key));
    TxnGuard txn;
    MUMBA_TRY(BeginRead(txn));
    MDB_val k = ToVal(key);
    MDB_val v;
    int rc = mdb_get(txn.handle, data_, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<std::string>();
    if (rc != 0) return LmdbError(rc, "cannot read from " + dir_.string());
    return std::optional<std::string>(std::string(FromVal(v)));
  }

  Expected<uint64_t> Write(const std::vector<KvMutation>& batch) override {
    if (read_only_) return FailedPrecondition(dir_.string() + " is open read-only");
    if (batch.empty()) return InvalidArgument("empty write batch");
    for (size_t i = 0; i < batch.size(); ++i) {
      const KvMutation& m = batch[i];
      Status st = ValidateKey(m.key);
      if (!st.ok()) return st.WithContext("mutation " + std::to_string(i));
      if (m.kind == KvMutation::Kind::kPut && m.value.size() > kKvMaxValue) {
        return InvalidArgument("mutation " + std::to_string(i) + ": value of " +
                               std::to_string(m.value.size()) + " bytes is larger than " +
                               std::to_string(kKvMaxValue));
      }
    }

    std::lock_guard writer(writer_mu_);
    const std::string what = "cannot write to " + dir_.string();
    TxnGuard txn;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn.handle);
    if (rc != 0) return LmdbError(rc, what);
    KvUsage usage{usage_bytes_.load(), usage_keys_.load()};
    for (const KvMutation& m : batch) {
      MDB_val k = ToVal(m.key);
      // The old value, if any, leaves the usage; the lookup sees this batch's
      // earlier mutations, so a key put twice counts once.
      MDB_val old;
      rc = mdb_get(txn.handle, data_, &k, &old);
      if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError(rc, what);
      if (rc == 0) {
        usage.bytes -= KeyBytes(m.key.size(), old.mv_size);
        usage.keys -= 1;
      }
      if (m.kind == KvMutation::Kind::kPut) {
        MDB_val v = ToVal(m.value);
        rc = mdb_put(txn.handle, data_, &k, &v, 0);
        usage.bytes += KeyBytes(m.key.size(), m.value.size());
        usage.keys += 1;
      } else if (rc == 0) {
        rc = mdb_del(txn.handle, data_, &k, nullptr);
      } else {
        rc = 0;  // Deleting an absent key is a no-op.
      }
      if (rc != 0) return LmdbError(rc, what);  // TxnGuard aborts: nothing is written.
    }
    const uint64_t sequence = sequence_ + 1;
    rc = PutMeta(txn.handle, kSequenceKey, EncodeSequence(sequence));
    if (rc == 0) rc = PutMeta(txn.handle, kUsageKey, EncodeUsage(usage));
    if (rc != 0) return LmdbError(rc, what);
    rc = txn.Commit();
    if (rc != 0) return CommitError(rc, what, dir_);
    sequence_ = sequence;
    usage_bytes_.store(usage.bytes);
    usage_keys_.store(usage.keys);

    // Still under the writer lock, so watchers see batches in commit order.
    std::lock_guard watchers(watchers_mu_);
    if (!watchers_.empty()) {
      for (const KvMutation& m : batch) {
        for (const auto& [handle, w] : watchers_) {
          if (m.key.starts_with(w.prefix)) w.fn(m, sequence);
        }
      }
    }
    return sequence;
  }

  Expected<KvScanResult> Scan(const KvScanOptions& options) const override {
    if (options.cursor.size() > kKvMaxKey) return InvalidArgument("bad scan cursor");
    KvScanResult result;
    // No key can start with a prefix longer than any key.
    if (options.prefix.size() > kKvMaxKey) return result;
    uint32_t limit = options.limit == 0 ? kDefaultScanLimit : std::min(options.limit, kMaxScanLimit);

    // Keys must be >= `inclusive` and, when resuming, > the cursor.
    const std::string& inclusive = std::max(options.prefix, options.start);
    const std::string& seek = std::max(inclusive, options.cursor);
    auto before_range = [&](std::string_view key) {
      return key < inclusive || (!options.cursor.empty() && key <= options.cursor);
    };
    auto past_range = [&](std::string_view key) {
      return !key.starts_with(options.prefix) || (!options.end.empty() && key >= options.end);
    };

    const std::string what = "cannot scan " + dir_.string();
    TxnGuard txn;
    MUMBA_TRY(BeginRead(txn));
    CursorGuard cursor;
    int rc = mdb_cursor_open(txn.handle, data_, &cursor.handle);
    if (rc != 0) return LmdbError(rc, what);

    MDB_val k, v;
    if (seek.empty()) {
      rc = mdb_cursor_get(cursor.handle, &k, &v, MDB_FIRST);
    } else {
      // LMDB cannot seek to a key longer than its limit; seeking to its first
      // kKvMaxKey bytes lands at most one key early, which before_range skips.
      k = ToVal(std::string_view(seek).substr(0, kKvMaxKey));
      rc = mdb_cursor_get(cursor.handle, &k, &v, MDB_SET_RANGE);
    }
    while (rc == 0 && before_range(FromVal(k))) {
      rc = mdb_cursor_get(cursor.handle, &k, &v, MDB_NEXT);
    }
    while (rc == 0) {
      std::string_view key = FromVal(k);
      if (past_range(key)) break;
      if (result.entries.size() == limit) {
        // A matching key remains beyond this page.
        result.next_cursor = result.entries.back().key;
        break;
      }
      KvEntry entry;
      entry.key = std::string(key);
      if (!options.keys_only) entry.value = std::string(FromVal(v));
      result.entries.push_back(std::move(entry));
      rc = mdb_cursor_get(cursor.handle, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError(rc, what);
    return result;
  }

  uint64_t Watch(std::string prefix, Watcher watcher) override {
    std::lock_guard lock(watchers_mu_);
    uint64_t handle = next_watch_handle_++;
    watchers_.emplace(handle, WatchEntry{std::move(prefix), std::move(watcher)});
    return handle;
  }

  void Unwatch(uint64_t handle) override {
    std::lock_guard lock(watchers_mu_);
    watchers_.erase(handle);
  }

  uint64_t UsedBytes() const override {
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &stat) != 0) return 0;
    return (static_cast<uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
  }

  KvUsage Usage() const override { return KvUsage{usage_bytes_.load(), usage_keys_.load()}; }

  Status CopyTo(const fs::path& dest) const override {
    std::error_code ec;
    if (fs::exists(dest, ec)) {
      if (!fs::is_directory(dest, ec)) return FailedPrecondition(dest.string() + " is not a folder");
      if (!fs::is_empty(dest, ec)) return FailedPrecondition(dest.string() + " is not empty");
    } else {
      fs::create_directories(dest, ec);
      if (ec) return Internal("cannot create " + dest.string() + ": " + ec.message());
      fs::permissions(dest, fs::perms::owner_all, ec);
    }
    // Page for page, not compacted: two copies of a store that changed a little
    // differ in a few pages, so a share's next snapshot sends only those.
    int rc = mdb_env_copy2(env_, dest.c_str(), 0);
    if (rc != 0) return LmdbError(rc, "cannot copy " + dir_.string() + " to " + dest.string());
    return Status();
  }

 private:
  struct WatchEntry {
    std::string prefix;
    Watcher fn;
  };

  int PutMeta(MDB_txn* txn, std::string_view key, const std::string& value) {
    MDB_val k = ToVal(key);
    MDB_val v = ToVal(value);
    return mdb_put(txn, meta_, &k, &v, 0);
  }

  // Begins a read-only transaction in `txn`. With MDB_NOTLS each one takes a reader
  // slot until the guard aborts it, so no slot outlives the call that used it.
  Status BeginRead(TxnGuard& txn) const {
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn.handle);
    if (rc != 0) {
      txn.handle = nullptr;
      return LmdbError(rc, "cannot read " + dir_.string());
    }
    return Status();
  }

  MDB_env* const env_;
  const std::pair<dev_t, ino_t> dir_id_;
  const fs::path dir_;
  const bool read_only_;
  const MDB_dbi data_;
  const MDB_dbi meta_;

  std::mutex writer_mu_;  // Serializes Write.
  uint64_t sequence_;     // Guarded by writer_mu_.
  // Written under writer_mu_ after each commit; read by Usage without a lock.
  std::atomic<uint64_t> usage_bytes_;
  std::atomic<uint64_t> usage_keys_;

  std::mutex watchers_mu_;
  std::map<uint64_t, WatchEntry> watchers_;  // Guarded by watchers_mu_.
  uint64_t next_watch_handle_ = 1;           // Guarded by watchers_mu_.
};

// Counts the keys of `data` and what they take, for a store written before the
// usage record existed.
int CountUsage(MDB_txn* txn, MDB_dbi data, KvUsage* usage) {
  CursorGuard cursor;
  int rc = mdb_cursor_open(txn, data, &cursor.handle);
  if (rc != 0) return rc;
  MDB_val k, v;
  for (rc = mdb_cursor_get(cursor.handle, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor.handle, &k, &v, MDB_NEXT)) {
    usage->bytes += KeyBytes(k.mv_size, v.mv_size);
    usage->keys += 1;
  }
  return rc == MDB_NOTFOUND ? 0 : rc;
}

// Opens the two databases and reads the sequence number and the usage record (or
// counts and records the usage when there is none), in one transaction that is
// committed so the handles stay valid for the environment's lifetime.
Status OpenDatabases(MDB_env* env, const fs::path& dir, bool read_only, MDB_dbi* data,
                     MDB_dbi* meta, uint64_t* sequence, KvUsage* usage) {
  const std::string what = "cannot open " + dir.string();
  TxnGuard txn;
  int rc = mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn.handle);
  if (rc != 0) {
    txn.handle = nullptr;
    return LmdbError(rc, what);
  }
  unsigned flags = read_only ? 0 : MDB_CREATE;
  rc = mdb_dbi_open(txn.handle, kDataDb, flags, data);
  if (rc == MDB_NOTFOUND) return NotFound(dir.string() + " is not a key-value store");
  if (rc != 0) return LmdbError(rc, what);
  rc = mdb_dbi_open(txn.handle, kMetaDb, flags, meta);
  if (rc == MDB_NOTFOUND) return NotFound(dir.string() + " is not a key-value store");
  if (rc != 0) return LmdbError(rc, what);

  MDB_val k = ToVal(kSequenceKey);
  MDB_val v;
  rc = mdb_get(txn.handle, *meta, &k, &v);
  if (rc == 0 && v.mv_size != 8) {
    return Status(Code::kDataLoss, what + ": bad sequence number record");
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError(rc, what);
  *sequence = rc == 0 ? DecodeSequence(FromVal(v)) : 0;

  k = ToVal(kUsageKey);
  rc = mdb_get(txn.handle, *meta, &k, &v);
  if (rc == 0 && v.mv_size != 16) return Status(Code::kDataLoss, what + ": bad usage record");
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError(rc, what);
  if (rc == 0) {
    usage->bytes = DecodeSequence(FromVal(v).substr(0, 8));
    usage->keys = DecodeSequence(FromVal(v).substr(8));
  } else {
    rc = CountUsage(txn.handle, *data, usage);
    if (rc != 0) return LmdbError(rc, what);
    if (!read_only) {
      std::string encoded = EncodeUsage(*usage);
      MDB_val uv = ToVal(encoded);
      rc = mdb_put(txn.handle, *meta, &k, &uv, 0);
      if (rc != 0) return LmdbError(rc, what);
    }
  }
  rc = txn.Commit();
  if (rc != 0) return LmdbError(rc, what);
  return Status();
}

}  // namespace

Expected<std::unique_ptr<KvStore>> KvStore::Open(const fs::path& dir, bool read_only,
                                                 uint64_t map_size) {
  if (map_size == 0) return InvalidArgument("map size must be positive");
  std::error_code ec;
  if (read_only) {
    if (!fs::exists(dir / "data.mdb", ec)) return NotFound("there is no key-value store in " + dir.string());
  } else if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
    if (ec) return Internal("cannot restrict " + dir.string() + ": " + ec.message());
  }

  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return LmdbError(errno, "cannot open " + dir.string());
  if (!S_ISDIR(st.st_mode)) return FailedPrecondition(dir.string() + " is not a folder");
  const std::pair<dev_t, ino_t> dir_id{st.st_dev, st.st_ino};
  {
    std::lock_guard lock(g_open_dirs_mu);
    if (!g_open_dirs.insert(dir_id).second) {
      return FailedPrecondition(dir.string() + " is already open in this process");
    }
  }
  // Until the store owns it, the folder's registration is undone on every failure.
  auto unregister = [&] {
    std::lock_guard lock(g_open_dirs_mu);
    g_open_dirs.erase(dir_id);
  };

  MDB_env* env = nullptr;
  const std::string what = "cannot open " + dir.string();
  int rc = mdb_env_create(&env);
  if (rc != 0) {
    unregister();
    return LmdbError(rc, what);
  }
  auto fail = [&](Status status) {
    mdb_env_close(env);
    unregister();
    return status;
  };
  if ((rc = mdb_env_set_maxdbs(env, 2)) != 0 || (rc = mdb_env_set_maxreaders(env, kMaxReaders)) != 0 ||
      (rc = mdb_env_set_mapsize(env, map_size)) != 0) {
    return fail(LmdbError(rc, what));
  }
  // Commits are synced (no MDB_NOSYNC or MDB_NOMETASYNC). MDB_NOTLS ties reader
  // slots to transactions rather than threads, so any thread may read.
  unsigned flags = MDB_NOTLS | (read_only ? MDB_RDONLY : 0);
  rc = mdb_env_open(env, dir.c_str(), flags, 0600);
  if (rc != 0) return fail(LmdbError(rc, what));

  MDB_dbi data = 0, meta = 0;
  uint64_t sequence = 0;
  KvUsage usage;
  Status opened = OpenDatabases(env, dir, read_only, &data, &meta, &sequence, &usage);
  if (!opened.ok()) return fail(opened);
  return std::unique_ptr<KvStore>(
      std::make_unique<KvStoreImpl>(env, dir_id, dir, read_only, data, meta, sequence, usage));
}

}  // namespace mumba::engine
