// SPDX-License-Identifier: Apache-2.0
// mumba-storage-bench: the storage API (mumba.storage.v1) of a real host, each
// figure printed beside the same work done on the engines directly, in process.
//
// In one run it makes a throw-away MUMBA_HOME under /tmp, starts a host there with
// `mumba --home H host start`, installs the hello bundle so an app owns the stores,
// and on the owner's admin socket (H/host.sock, store.app = "hello") measures
//   (a) KV puts, one per Write (each a synced LMDB commit) and 1000 per Write,
//       against KvStore (src/storage, Mumba's LMDB settings) and raw LMDB opened
//       with the same flags, each on a folder of the bench's own;
//   (b) KV point gets: unary Get in a loop, GetStream pipelined (a writer and a
//       reader thread on one bidi stream), and both with several clients, against
//       KvStore::Get and mdb_get;
//   (c) SQL: 1000 parameterized INSERTs per Execute (one transaction), and a point
//       SELECT by an indexed column (Query, and Execute), against SqlStore;
//   (d) Files: Put and Get of one large file streamed in chunks, against a plain
//       read/write copy (with and without fsync, as FileStore syncs) and a read;
//   (e) what bounds the API path: an empty unary call (grpc.health.v1 Check) on the
//       same socket, protobuf encode+decode time, and the CPU the host and the
//       bench used in each API figure (the machine's cores are the ceiling).
// The table goes to stdout, progress to stderr.
//
// Whatever happens (error, SIGINT, SIGTERM, SIGHUP) the bench stops the host it
// started (`mumba host stop`, then by PID), kills a daemon of the app that outlived
// it (by PID, only if it runs a program under the home) and removes the home.
// Exit status: 0 when the bench ran, whatever the targets say; 1 when it could not
// run; 128 + the signal when stopped by one.
//
// Errors are exceptions (BenchError, bench_util.h), caught in main.
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "mumba/host/v1/control.grpc.pb.h"
#include "mumba/storage/v1/storage.grpc.pb.h"
#include "storage/kv_store.h"
#include "storage/sql_store.h"

namespace {

using namespace mumba::bench;
namespace sv1 = mumba::storage::v1;
namespace hv1 = mumba::host::v1;
using namespace std::chrono_literals;

constexpr char kApp[] = "hello";
constexpr char kDb[] = "bench";           // The KV and SQL database the API figures use.
constexpr size_t kValueBytes = 100;       // Every KV value and SQL body.
constexpr int kBatch = 1000;              // Puts per Write, INSERTs per Execute.
constexpr uint64_t kGetKeys = 100000;     // Gets read keys 0..kGetKeys-1 of every store.
constexpr uint64_t kSinglePutBase = 1ull << 40;  // Single puts use keys of their own.
constexpr int kStreamWindow = 128;        // Gets in flight on one pipelined stream.
constexpr double kWarmup = 0.25;          // Unmeasured seconds before each figure.

// Hyperbee on this machine, as measured by the lead (the comparison asked for).
constexpr double kHyperbeeBatchedPuts = 5500;  // 5-6k/s.
constexpr double kHyperbeeGets = 2500;

struct Options {
  double seconds = 2.0;    // Measured time of each rate figure.
  int file_mib = 200;      // Size of the file of (d).
  int clients = 8;         // Most concurrent clients of (b); 4 is measured too.
  fs::path bundle = MUMBA_HELLO_BUNDLE;
};

std::string Describe(const grpc::Status& s) {
  return "code " + std::to_string(s.error_code()) + ": " + s.error_message();
}

void Check(const grpc::Status& s, const char* what) {
  if (!s.ok()) Fail(std::string(what) + " failed: " + Describe(s));
}

void Check(const mumba::Status& s, const char* what) {
  if (!s.ok()) Fail(std::string(what) + " failed: " + s.message());
}

// ---- Processes the bench is responsible for. ----

// Everything that must be undone at the end, shared by main and the signal thread:
// the host (through the CLI) and the throw-away home.
struct Session {
  std::mutex mu;            // Guards home.
  ChildRegistry children;   // The CLI command in progress and the app's daemon.
  CliHost host;             // On the home; the CLI writes its output there too.
  fs::path home;            // The throw-away MUMBA_HOME, removed at the end. Set once, first.
};
Session g_session;

// Stops the host (`mumba host stop`, or SIGTERM when `from_signal`; SIGKILL if it
// has not ended 10 s later), kills what it left behind, and removes the home.
// Idempotent; safe from the signal thread.
void Cleanup(bool from_signal) {
  g_session.children.CleanUpOnce([from_signal] {
    std::lock_guard lock(g_session.mu);
    g_session.host.StopHost(from_signal);
    // The host stops its daemons; anything left is killed, but only if the PID
    // still names a program installed under our home (PIDs are reused).
    g_session.children.KillStrayDaemons(g_session.home);
    g_session.children.EndAll(2s, 2s);
    if (!g_session.home.empty()) {
      std::error_code ec;
      fs::remove_all(g_session.home, ec);
      if (ec) Progress("cannot remove %s: %s", g_session.home.c_str(), ec.message().c_str());
    }
  });
}

// CPU seconds (user + system) process `pid` has used so far; -1 if unknown.
double CpuSeconds(pid_t pid) {
  std::vector<std::string> fields = StatFields(pid);
  if (fields.size() < 13) return -1;
  unsigned long utime = std::stoul(fields[11]), stime = std::stoul(fields[12]);
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// ---- Data. ----

uint64_t Mix(uint64_t x) {  // splitmix64: keys in an order unrelated to their index.
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Key `i`: 16 hex digits, so puts land in random places of the B-tree.
std::string Key(uint64_t i) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(Mix(i)));
  return std::string(buf, 16);
}

// Key `i` in index order ("s" and 15 digits): every put lands at the end of the
// B-tree, LMDB's best case, and after every random key.
std::string SequentialKey(uint64_t i) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "s%015llu", static_cast<unsigned long long>(i));
  return std::string(buf, 16);
}

const std::string& Value() {
  static const std::string value = [] {
    std::string v(kValueBytes, 'v');
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>('a' + (Mix(i) % 26));
    return v;
  }();
  return value;
}

// A small, fast, per-thread random source.
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(Mix(seed) | 1) {}
  uint64_t Next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
};

// ---- Clients. ----

grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  // A connection of its own per channel, as separate client processes would have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(32 << 20);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  return args;
}

std::shared_ptr<grpc::Channel> HostChannel() {
  return grpc::CreateCustomChannel("unix:" + (g_session.home / "host.sock").string(),
                                   grpc::InsecureChannelCredentials(), ChannelArgs());
}

void SetStore(sv1::StoreRef* ref) {
  ref->set_app(kApp);
  ref->set_db(kDb);
}

// ---- Measuring. ----

struct Figure {
  double rate = 0;          // Units per second.
  double host_cores = -1;   // CPU the host used meanwhile, in cores (-1: not measured).
  double bench_cores = -1;  // CPU this process used meanwhile, in cores.
};

// Samples the host's and our CPU time around a measured window.
class CpuMeter {
 public:
  explicit CpuMeter(pid_t host) : host_(host) {}
  void Start() {
    start_ = Clock::now();
    host0_ = host_ > 0 ? CpuSeconds(host_) : -1;
    self0_ = CpuSeconds(::getpid());
  }
  void Stop(Figure* f) {
    double wall = Seconds(Clock::now() - start_);
    if (host_ > 0 && host0_ >= 0) f->host_cores = (CpuSeconds(host_) - host0_) / wall;
    f->bench_cores = (CpuSeconds(::getpid()) - self0_) / wall;
  }

 private:
  pid_t host_;
  Clock::time_point start_;
  double host0_ = -1, self0_ = -1;
};

// Runs `ops.size()` threads, thread i calling ops[i] (which returns the units it
// did) for kWarmup seconds unmeasured and then `seconds` measured. `host` > 0 has
// its CPU measured too.
Figure Load(std::vector<std::function<uint64_t()>> ops, double seconds, pid_t host) {
  const int n = static_cast<int>(ops.size());
  auto start = Clock::now() + 20ms;  // Every thread starts at once.
  auto measure_from = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kWarmup));
  auto until = measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<uint64_t> counted(n, 0);
  std::vector<Clock::time_point> ended(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      try {
        std::this_thread::sleep_until(start);
        while (Clock::now() < measure_from) ops[i]();
        uint64_t units = 0;
        Clock::time_point now;
        do {
          units += ops[i]();
          now = Clock::now();
        } while (now < until);
        counted[i] = units;
        ended[i] = now;
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  CpuMeter cpu(host);
  std::this_thread::sleep_until(measure_from);
  cpu.Start();
  for (auto& t : threads) t.join();
  Figure f;
  cpu.Stop(&f);
  for (const auto& e : errors) {
    if (!e.empty()) Fail(e);
  }
  uint64_t total = 0;
  auto last = measure_from;
  for (int i = 0; i < n; ++i) {
    total += counted[i];
    last = std::max(last, ended[i]);
  }
  f.rate = static_cast<double>(total) / Seconds(last - measure_from);
  return f;
}

Figure Load1(std::function<uint64_t()> op, double seconds, pid_t host) {
  std::vector<std::function<uint64_t()>> ops;
  ops.push_back(std::move(op));
  return Load(std::move(ops), seconds, host);
}

// Times one call of `work` (which returns the units it did).
Figure TimeOnce(const std::function<uint64_t()>& work, pid_t host) {
  CpuMeter cpu(host);
  cpu.Start();
  auto t0 = Clock::now();
  uint64_t units = work();
  double s = Seconds(Clock::now() - t0);
  Figure f;
  cpu.Stop(&f);
  f.rate = static_cast<double>(units) / s;
  return f;
}

// The faster of two timed calls of `work`: one-shot figures vary with the disk.
Figure Once(const std::function<uint64_t()>& work, pid_t host) {
  Figure a = TimeOnce(work, host);
  Figure b = TimeOnce(work, host);
  return a.rate >= b.rate ? a : b;
}

// ---- The table. ----

struct Row {
  std::string name;
  Figure api;
  double direct = -1;  // Same work on the engine in process (-1: none).
  double raw = -1;     // On raw LMDB (-1: none).
  std::string unit;    // "/s" or "MB/s".
  std::string target;  // "" when the figure has none.
  int met = -1;        // 1 met, 0 missed, -1 no target.
};

std::string Rate(double r, const std::string& unit) {
  if (r >= 0 && unit == "MB/s") return Fmt("%.0f MB/s", r);
  return PerSecond(r);
}

std::string Cores(double c) {
  if (c < 0) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f", c);
  return buf;
}

void PrintRows(const std::vector<Row>& rows) {
  std::printf("%-40s %11s %11s %11s %9s %-22s %-6s %5s %5s\n", "figure", "mumba API", "direct",
              "raw LMDB", "API/dir", "target", "", "host", "bench");
  std::printf("%s\n", std::string(125, '-').c_str());
  for (const auto& r : rows) {
    char ratio[16] = "-";
    if (r.direct > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", r.api.rate / r.direct);
    const char* verdict = r.met == 1 ? "met" : r.met == 0 ? "MISSED" : "";
    std::printf("%-40s %11s %11s %11s %9s %-22s %-6s %5s %5s\n", r.name.c_str(),
                Rate(r.api.rate, r.unit).c_str(), Rate(r.direct, r.unit).c_str(),
                Rate(r.raw, r.unit).c_str(), ratio, r.target.empty() ? "-" : r.target.c_str(), verdict,
                Cores(r.api.host_cores).c_str(), Cores(r.api.bench_cores).c_str());
  }
}

// ---- Raw LMDB, opened as KvStore opens its environment. ----

class RawLmdb {
 public:
  explicit RawLmdb(const fs::path& dir) {
    fs::create_directories(dir);
    int rc = mdb_env_create(&env_);
    if (rc == 0) rc = mdb_env_set_maxdbs(env_, 2);
    if (rc == 0) rc = mdb_env_set_maxreaders(env_, 256);
    if (rc == 0) rc = mdb_env_set_mapsize(env_, 1ull << 30);
    // Synced commits, reader slots per transaction: KvStore's flags.
    if (rc == 0) rc = mdb_env_open(env_, dir.c_str(), MDB_NOTLS, 0600);
    MDB_txn* txn = nullptr;
    if (rc == 0) rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc == 0) rc = mdb_dbi_open(txn, "data", MDB_CREATE, &dbi_);
    if (rc == 0) rc = mdb_txn_commit(txn);
    if (rc != 0) Fail(std::string("raw LMDB: ") + mdb_strerror(rc));
  }
  ~RawLmdb() { mdb_env_close(env_); }

  void Put(const std::vector<std::string>& keys, const std::string& value) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) Fail(std::string("raw LMDB begin: ") + mdb_strerror(rc));
    for (const auto& k : keys) {
      MDB_val kv{k.size(), const_cast<char*>(k.data())};
      MDB_val vv{value.size(), const_cast<char*>(value.data())};
      rc = mdb_put(txn, dbi_, &kv, &vv, 0);
      if (rc != 0) {
        mdb_txn_abort(txn);
        Fail(std::string("raw LMDB put: ") + mdb_strerror(rc));
      }
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) Fail(std::string("raw LMDB commit: ") + mdb_strerror(rc));
  }

  // Copies the value out, as KvStore::Get does.
  bool Get(const std::string& key, std::string* value) const {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) Fail(std::string("raw LMDB begin: ") + mdb_strerror(rc));
    MDB_val kv{key.size(), const_cast<char*>(key.data())};
    MDB_val vv;
    rc = mdb_get(txn, dbi_, &kv, &vv);
    if (rc == 0) value->assign(static_cast<const char*>(vv.mv_data), vv.mv_size);
    mdb_txn_abort(txn);
    return rc == 0;
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

// ---- (a) and (b): key-value. ----

struct KvResults {
  std::vector<Row> rows;
  double unary_get_us = 0;   // One unary Get, 1 client.
  double empty_call_us = 0;  // One Health.Check, 1 client.
  double rejected_get_us = 0;  // One Kv.Get refused before any store work, 1 client.
  double stream_get = 0;     // GetStream, 1 client.
  double direct_get = 0;     // KvStore::Get, 1 thread.
  double best_get = 0;
  std::string best_get_mode;
  std::vector<std::string> modes_at_target;  // Get modes that reach 25k/s.
  double batched_api = 0;
  double write_batch_ms = 0;  // One 1000-put Write through the API.
};

// Writes batches of kBatch puts with keys from `*next` on, through `write`, until
// at least kGetKeys keys exist (the batched figure usually wrote more already).
void TopUp(uint64_t* next, const std::function<void(const std::vector<std::string>&)>& write) {
  std::vector<std::string> keys(kBatch);
  while (*next < kGetKeys) {
    for (auto& k : keys) k = Key((*next)++);
    write(keys);
  }
}

KvResults BenchKv(const Options& o, pid_t host) {
  KvResults out;
  auto channel = HostChannel();
  auto kv = sv1::Kv::NewStub(channel);
  const fs::path direct_dir = g_session.home / "direct";
  auto opened = mumba::engine::KvStore::Open(direct_dir / "kv");
  if (!opened.ok()) Fail("KvStore::Open: " + opened.status().message());
  std::unique_ptr<mumba::engine::KvStore> store = std::move(*opened);
  RawLmdb raw(direct_dir / "raw");

  // Single puts: every one a synced commit.
  Progress("kv: single puts");
  Row single{"kv put, 1 per Write (synced commit)", {}, -1, -1, "/s", "", -1};
  {
    sv1::KvWriteRequest req;
    SetStore(req.mutable_store());
    auto* op = req.add_ops();
    op->set_value(Value());
    uint64_t next = kSinglePutBase;
    single.api = Load1([&] {
      op->set_key(Key(next++));
      grpc::ClientContext ctx;
      sv1::KvWriteResponse resp;
      Check(kv->Write(&ctx, req, &resp), "Kv.Write");
      return uint64_t{1};
    }, o.seconds, host);
  }
  {
    std::vector<mumba::engine::KvMutation> batch(1);
    batch[0].value = Value();
    uint64_t next = kSinglePutBase;
    single.direct = Load1([&] {
      batch[0].key = Key(next++);
      Check(store->Write(batch).status(), "KvStore::Write");
      return uint64_t{1};
    }, o.seconds, 0).rate;
  }
  {
    std::vector<std::string> keys(1);
    uint64_t next = kSinglePutBase;
    single.raw = Load1([&] {
      keys[0] = Key(next++);
      raw.Put(keys, Value());
      return uint64_t{1};
    }, o.seconds, 0).rate;
  }
  out.rows.push_back(single);

  // Batched puts, keys 0, 1, 2... in every store, so the gets find kGetKeys of them.
  Progress("kv: batched puts");
  Row batched{"kv put, 1000 per Write", {}, -1, -1, "/s", ">=0.5x direct, >=60k/s", -1};
  uint64_t next_api = 0, next_direct = 0, next_raw = 0;
  sv1::KvWriteRequest batch_req;
  SetStore(batch_req.mutable_store());
  for (int i = 0; i < kBatch; ++i) batch_req.add_ops()->set_value(Value());
  auto api_write = [&](const std::vector<std::string>* keys) {
    for (int i = 0; i < kBatch; ++i) {
      batch_req.mutable_ops(i)->set_key(keys ? (*keys)[i] : Key(next_api++));
    }
    grpc::ClientContext ctx;
    sv1::KvWriteResponse resp;
    Check(kv->Write(&ctx, batch_req, &resp), "Kv.Write");
  };
  batched.api = Load1([&] {
    api_write(nullptr);
    return uint64_t{kBatch};
  }, o.seconds, host);
  std::vector<mumba::engine::KvMutation> batch(kBatch);
  for (auto& m : batch) m.value = Value();
  auto direct_write = [&](const std::vector<std::string>* keys) {
    for (int i = 0; i < kBatch; ++i) batch[i].key = keys ? (*keys)[i] : Key(next_direct++);
    Check(store->Write(batch).status(), "KvStore::Write");
  };
  batched.direct = Load1([&] {
    direct_write(nullptr);
    return uint64_t{kBatch};
  }, o.seconds, 0).rate;
  std::vector<std::string> raw_keys(kBatch);
  batched.raw = Load1([&] {
    for (auto& k : raw_keys) k = Key(next_raw++);
    raw.Put(raw_keys, Value());
    return uint64_t{kBatch};
  }, o.seconds, 0).rate;
  batched.met = batched.api.rate >= 0.5 * batched.direct && batched.api.rate >= 60000;
  out.batched_api = batched.api.rate;
  out.write_batch_ms = 1000.0 * kBatch / batched.api.rate;
  out.rows.push_back(batched);
  TopUp(&next_api, [&](const std::vector<std::string>& keys) { api_write(&keys); });
  TopUp(&next_direct, [&](const std::vector<std::string>& keys) { direct_write(&keys); });
  TopUp(&next_raw, [&](const std::vector<std::string>& keys) { raw.Put(keys, Value()); });

  // The same in key order: what is left when the B-tree only grows at its end.
  Progress("kv: batched puts in key order");
  Row ordered{"kv put, 1000 per Write, keys in order", {}, -1, -1, "/s", ">=0.5x direct, >=60k/s", -1};
  uint64_t seq_api = 0, seq_direct = 0, seq_raw = 0;
  std::vector<std::string> seq_keys(kBatch);
  ordered.api = Load1([&] {
    for (auto& k : seq_keys) k = SequentialKey(seq_api++);
    api_write(&seq_keys);
    return uint64_t{kBatch};
  }, o.seconds, host);
  ordered.direct = Load1([&] {
    for (auto& k : seq_keys) k = SequentialKey(seq_direct++);
    direct_write(&seq_keys);
    return uint64_t{kBatch};
  }, o.seconds, 0).rate;
  ordered.raw = Load1([&] {
    for (auto& k : seq_keys) k = SequentialKey(seq_raw++);
    raw.Put(seq_keys, Value());
    return uint64_t{kBatch};
  }, o.seconds, 0).rate;
  ordered.met = ordered.api.rate >= 0.5 * ordered.direct && ordered.api.rate >= 60000;
  out.rows.push_back(ordered);

  // Gets of random existing keys.
  Progress("kv: gets");
  double direct_get = Load1([&, rng = Rng(1)]() mutable {
    auto v = store->Get(Key(rng.Next() % kGetKeys));
    if (!v.ok() || !v->has_value()) Fail("KvStore::Get missed a key");
    return uint64_t{1};
  }, o.seconds / 2, 0).rate;
  out.direct_get = direct_get;
  double raw_get = Load1([&, rng = Rng(2), value = std::string()]() mutable {
    if (!raw.Get(Key(rng.Next() % kGetKeys), &value)) Fail("raw LMDB get missed a key");
    return uint64_t{1};
  }, o.seconds / 2, 0).rate;

  // Unary Get with `clients` threads, each on a channel (connection) of its own.
  auto unary_gets = [&](int clients) {
    std::vector<std::function<uint64_t()>> ops;
    for (int c = 0; c < clients; ++c) {
      auto stub = std::shared_ptr<sv1::Kv::Stub>(sv1::Kv::NewStub(HostChannel()));
      auto req = std::make_shared<sv1::KvGetRequest>();
      SetStore(req->mutable_store());
      ops.push_back([stub, req, rng = Rng(100 + c)]() mutable {
        req->set_key(Key(rng.Next() % kGetKeys));
        grpc::ClientContext ctx;
        sv1::KvGetResponse resp;
        Check(stub->Get(&ctx, *req, &resp), "Kv.Get");
        if (!resp.found()) Fail("Kv.Get missed a key");
        return uint64_t{1};
      });
    }
    return Load(std::move(ops), o.seconds, host);
  };

  // `streams` GetStreams, each on a connection of its own with a writer thread and
  // a reader thread, at most kStreamWindow gets in flight; counts the responses
  // that arrive in the measured window.
  auto streamed_gets = [&](int streams) {
    auto start = Clock::now() + 50ms;
    auto measure_from = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kWarmup));
    auto until = measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    std::atomic<uint64_t> counted{0}, misses{0};
    std::vector<std::string> errors(streams);
    std::vector<std::thread> threads;
    for (int s = 0; s < streams; ++s) {
      threads.emplace_back([&, s] {
        auto stub = sv1::Kv::NewStub(HostChannel());
        grpc::ClientContext ctx;
        std::this_thread::sleep_until(start);
        auto stream = stub->GetStream(&ctx);
        std::counting_semaphore<kStreamWindow> window(kStreamWindow);
        std::atomic<bool> reader_done{false};
        std::thread reader([&] {
          sv1::KvGetResponse resp;
          uint64_t mine = 0;
          while (stream->Read(&resp)) {
            window.release();
            if (!resp.found()) misses++;
            auto now = Clock::now();
            if (now >= measure_from && now < until) ++mine;
          }
          counted += mine;
          reader_done = true;
        });
        sv1::KvGetRequest req;
        SetStore(req.mutable_store());
        Rng rng(200 + s);
        while (Clock::now() < until) {
          // The reader ends early only on an error; the writer must not wait for it.
          while (!window.try_acquire_for(100ms)) {
            if (reader_done) break;
          }
          if (reader_done) break;
          req.set_key(Key(rng.Next() % kGetKeys));
          if (!stream->Write(req)) break;
        }
        stream->WritesDone();
        reader.join();
        grpc::Status st = stream->Finish();
        if (!st.ok()) errors[s] = "Kv.GetStream failed: " + Describe(st);
      });
    }
    CpuMeter cpu(host);
    std::this_thread::sleep_until(measure_from);
    cpu.Start();
    std::this_thread::sleep_until(until);
    Figure f;
    cpu.Stop(&f);
    for (auto& t : threads) t.join();
    for (const auto& e : errors) {
      if (!e.empty()) Fail(e);
    }
    if (misses > 0) Fail("Kv.GetStream missed keys");
    f.rate = static_cast<double>(counted) / o.seconds;
    return f;
  };

  auto get_row = [&](const std::string& name, Figure f) {
    Row r{name, f, direct_get, raw_get, "/s", ">=25k/s", f.rate >= 25000};
    if (f.rate >= 25000) out.modes_at_target.push_back(name.substr(std::string("kv get, ").size()));
    if (f.rate > out.best_get) {
      out.best_get = f.rate;
      out.best_get_mode = name;
    }
    out.rows.push_back(r);
    return f;
  };
  Figure unary1 = get_row("kv get, unary Get, 1 client", unary_gets(1));
  out.unary_get_us = 1e6 / unary1.rate;
  out.stream_get = get_row("kv get, GetStream pipelined, 1 client", streamed_gets(1)).rate;
  get_row("kv get, unary Get, 4 clients", unary_gets(4));
  if (o.clients != 4) get_row("kv get, unary Get, " + std::to_string(o.clients) + " clients", unary_gets(o.clients));
  get_row("kv get, GetStream pipelined, 4 clients", streamed_gets(4));

  // The floor of any unary call on this socket: the health check does no work.
  Progress("kv: empty unary calls");
  {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::health::v1::HealthCheckRequest req;
    Figure f = Load1([&] {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckResponse resp;
      Check(health->Check(&ctx, req, &resp), "Health.Check");
      return uint64_t{1};
    }, o.seconds / 2, host);
    out.empty_call_us = 1e6 / f.rate;
  }
  // A Kv.Get the sync service refuses at once (no app named: INVALID_ARGUMENT),
  // before any store work: the floor of a call to the storage service.
  {
    sv1::KvGetRequest req;
    req.mutable_store()->set_db(kDb);
    req.set_key("k");
    Figure f = Load1([&] {
      grpc::ClientContext ctx;
      sv1::KvGetResponse resp;
      grpc::Status st = kv->Get(&ctx, req, &resp);
      if (st.error_code() != grpc::StatusCode::INVALID_ARGUMENT) Fail("Kv.Get without an app: " + Describe(st));
      return uint64_t{1};
    }, o.seconds / 2, host);
    out.rejected_get_us = 1e6 / f.rate;
  }
  return out;
}

// ---- (c): SQL. ----

constexpr char kInsert[] = "INSERT INTO items(name, score, body) VALUES (?1, ?2, ?3)";
constexpr char kSelect[] = "SELECT id, score, body FROM items WHERE name = ?1";
constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "score INTEGER NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS items_by_name ON items(name)";

std::string Name(uint64_t i) { return "n" + Key(i); }

struct SqlResults {
  std::vector<Row> rows;
  double insert_batch_ms = 0;
};

SqlResults BenchSql(const Options& o, pid_t host) {
  SqlResults out;
  auto sql = sv1::Sql::NewStub(HostChannel());
  auto opened = mumba::engine::SqlStore::Open(g_session.home / "direct" / "sql");
  if (!opened.ok()) Fail("SqlStore::Open: " + opened.status().message());
  std::unique_ptr<mumba::engine::SqlStore> store = std::move(*opened);
  {
    sv1::SqlExecuteRequest req;
    SetStore(req.mutable_store());
    req.add_statements()->set_sql(kSchema);
    grpc::ClientContext ctx;
    sv1::SqlExecuteResponse resp;
    Check(sql->Execute(&ctx, req, &resp), "Sql.Execute (schema)");
    Check(store->Execute({{kSchema, {}}}).status(), "SqlStore::Execute (schema)");
  }

  Progress("sql: batched inserts");
  Row insert{"sql insert, 1000 per Execute (1 txn)", {}, -1, -1, "/s", "", -1};
  uint64_t next_api = 0, next_direct = 0;
  {
    sv1::SqlExecuteRequest req;
    SetStore(req.mutable_store());
    for (int i = 0; i < kBatch; ++i) {
      auto* s = req.add_statements();
      s->set_sql(kInsert);
      s->add_params();
      s->add_params();
      s->add_params()->set_text(Value());
    }
    insert.api = Load1([&] {
      for (int i = 0; i < kBatch; ++i) {
        auto* s = req.mutable_statements(i);
        uint64_t n = next_api++;
        s->mutable_params(0)->set_text(Name(n));
        s->mutable_params(1)->set_integer(static_cast<int64_t>(n));
      }
      grpc::ClientContext ctx;
      sv1::SqlExecuteResponse resp;
      Check(sql->Execute(&ctx, req, &resp), "Sql.Execute");
      return uint64_t{kBatch};
    }, o.seconds, host);
  }
  {
    std::vector<mumba::engine::SqlStatementSpec> specs(kBatch);
    for (auto& s : specs) s = {kInsert, {std::monostate{}, int64_t{0}, Value()}};
    insert.direct = Load1([&] {
      for (auto& s : specs) {
        uint64_t n = next_direct++;
        s.params[0] = Name(n);
        s.params[1] = static_cast<int64_t>(n);
      }
      Check(store->Execute(specs).status(), "SqlStore::Execute");
      return uint64_t{kBatch};
    }, o.seconds, 0).rate;
  }
  out.insert_batch_ms = 1000.0 * kBatch / insert.api.rate;
  out.rows.push_back(insert);

  Progress("sql: indexed selects");
  double direct_select = Load1([&, rng = Rng(3)]() mutable {
    uint64_t n = rng.Next() % next_direct;
    size_t rows = 0;
    Check(store->Query({kSelect, {Name(n)}},
                       [&](const std::vector<std::string>&, std::vector<mumba::engine::SqlRowValues>&& batch) {
                         rows += batch.size();
                         return true;
                       }),
          "SqlStore::Query");
    if (rows != 1) Fail("SqlStore::Query found " + std::to_string(rows) + " rows, not 1");
    return uint64_t{1};
  }, o.seconds / 2, 0).rate;

  Row query{"sql indexed select, Query (stream)", {}, direct_select, -1, "/s", "", -1};
  {
    sv1::SqlQueryRequest req;
    SetStore(req.mutable_store());
    req.mutable_statement()->set_sql(kSelect);
    req.mutable_statement()->add_params();
    query.api = Load1([&, rng = Rng(4)]() mutable {
      req.mutable_statement()->mutable_params(0)->set_text(Name(rng.Next() % next_api));
      grpc::ClientContext ctx;
      auto reader = sql->Query(&ctx, req);
      sv1::SqlQueryBatch batch;
      int rows = 0;
      while (reader->Read(&batch)) rows += batch.rows_size();
      Check(reader->Finish(), "Sql.Query");
      if (rows != 1) Fail("Sql.Query found " + std::to_string(rows) + " rows, not 1");
      return uint64_t{1};
    }, o.seconds, host);
  }
  out.rows.push_back(query);

  Row exec{"sql indexed select, Execute (unary)", {}, direct_select, -1, "/s", "", -1};
  {
    sv1::SqlExecuteRequest req;
    SetStore(req.mutable_store());
    auto* s = req.add_statements();
    s->set_sql(kSelect);
    s->add_params();
    exec.api = Load1([&, rng = Rng(5)]() mutable {
      s->mutable_params(0)->set_text(Name(rng.Next() % next_api));
      grpc::ClientContext ctx;
      sv1::SqlExecuteResponse resp;
      Check(sql->Execute(&ctx, req, &resp), "Sql.Execute (select)");
      if (resp.results_size() != 1 || resp.results(0).rows_size() != 1) Fail("Sql.Execute select: not 1 row");
      return uint64_t{1};
    }, o.seconds, host);
  }
  out.rows.push_back(exec);
  return out;
}

// ---- (d): files. ----

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Fd OpenOrFail(const fs::path& p, int flags) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) Fail("open " + p.string() + ": " + std::strerror(errno));
  return Fd(fd);
}

size_t ReadSome(int fd, char* buf, size_t n) {
  for (;;) {
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) Fail(std::string("read: ") + std::strerror(errno));
  }
}

void WriteAll(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      Fail(std::string("write: ") + std::strerror(errno));
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
}

// Copies `from` to `to` with read/write of `chunk` bytes; fsyncs the copy when
// `sync`. Returns the bytes copied.
uint64_t PlainCopy(const fs::path& from, const fs::path& to, size_t chunk, bool sync) {
  Fd in = OpenOrFail(from, O_RDONLY);
  Fd out = OpenOrFail(to, O_WRONLY | O_CREAT | O_TRUNC);
  std::vector<char> buf(chunk);
  uint64_t total = 0;
  for (size_t n; (n = ReadSome(in.get(), buf.data(), chunk)) > 0; total += n) WriteAll(out.get(), buf.data(), n);
  if (sync && ::fsync(out.get()) != 0) Fail(std::string("fsync: ") + std::strerror(errno));
  return total;
}

std::vector<Row> BenchFiles(const Options& o, pid_t host) {
  std::vector<Row> rows;
  auto files = sv1::Files::NewStub(HostChannel());
  const uint64_t size = static_cast<uint64_t>(o.file_mib) << 20;
  const fs::path src = g_session.home / "direct" / "source.bin";
  Progress("files: writing a %d MiB source file", o.file_mib);
  {
    Fd out = OpenOrFail(src, O_WRONLY | O_CREAT | O_TRUNC);
    std::string block(1 << 20, '\0');
    for (uint64_t mib = 0; mib < static_cast<uint64_t>(o.file_mib); ++mib) {
      for (size_t i = 0; i < block.size(); i += 8) {
        uint64_t x = Mix(mib * block.size() + i);
        std::memcpy(block.data() + i, &x, 8);
      }
      WriteAll(out.get(), block.data(), block.size());
    }
    if (::fsync(out.get()) != 0) Fail(std::string("fsync: ") + std::strerror(errno));
  }

  auto put = [&](size_t chunk) {
    return Once([&] {
      grpc::ClientContext ctx;
      sv1::FileInfo info;
      auto writer = files->Put(&ctx, &info);
      Fd in = OpenOrFail(src, O_RDONLY);
      std::string buf(chunk, '\0');
      sv1::FilePutChunk msg;
      SetStore(msg.mutable_store());
      msg.set_path("bench/big.bin");
      bool first = true;
      for (size_t n; (n = ReadSome(in.get(), buf.data(), chunk)) > 0;) {
        msg.set_data(buf.data(), n);
        if (!writer->Write(msg)) break;
        if (first) {
          msg.clear_store();
          msg.clear_path();
          first = false;
        }
      }
      writer->WritesDone();
      Check(writer->Finish(), "Files.Put");
      if (info.size() != size) Fail("Files.Put stored " + std::to_string(info.size()) + " bytes");
      return size;
    }, host);
  };
  Progress("files: put");
  // A new file each time, as FileStore writes one and renames it over the old.
  const fs::path copy = src.string() + ".copy";
  Figure copy_sync = Once([&] {
    fs::remove(copy);
    return PlainCopy(src, copy, 256 << 10, true);
  }, 0);
  Figure copy_nosync = Once([&] {
    fs::remove(copy);
    return PlainCopy(src, copy, 256 << 10, false);
  }, 0);
  fs::remove(copy);
  Row put64{"files put 200MB, 64 KiB chunks", put(64 << 10), copy_sync.rate, -1, "MB/s", "", -1};
  Row put256{"files put 200MB, 256 KiB chunks", put(256 << 10), copy_sync.rate, -1, "MB/s", "", -1};
  Row nosync{"  (plain copy without fsync)", {copy_nosync.rate, -1, -1}, -1, -1, "MB/s", "", -1};

  Progress("files: get");
  Figure get = Once([&] {
    grpc::ClientContext ctx;
    sv1::FilePathRequest req;
    SetStore(req.mutable_store());
    req.set_path("bench/big.bin");
    auto reader = files->Get(&ctx, req);
    sv1::FileChunk chunk;
    uint64_t got = 0;
    while (reader->Read(&chunk)) got += chunk.data().size();
    Check(reader->Finish(), "Files.Get");
    if (got != size) Fail("Files.Get returned " + std::to_string(got) + " bytes");
    return got;
  }, host);
  Figure plain_read = Once([&] {
    Fd in = OpenOrFail(src, O_RDONLY);
    std::vector<char> buf(256 << 10);
    uint64_t total = 0;
    for (size_t n; (n = ReadSome(in.get(), buf.data(), buf.size())) > 0;) total += n;
    return total;
  }, 0);
  Row getrow{"files get 200MB (server sends 1 MiB)", get, plain_read.rate, -1, "MB/s", "", -1};
  std::string label = std::to_string(o.file_mib) + "MB";
  for (Row* r : {&put64, &put256, &nosync, &getrow}) {
    // Rates were in bytes per second.
    r->api.rate /= 1e6;
    if (r->direct > 0) r->direct /= 1e6;
    if (auto at = r->name.find("200MB"); at != std::string::npos) r->name.replace(at, 5, label);
  }
  rows = {put64, put256, nosync, getrow};
  return rows;
}

// ---- (e): protobuf cost, in process. ----

struct ProtoCost {
  double get_us = 0;          // Encode + decode of one Get request and response.
  double write_batch_us = 0;  // Of one 1000-put KvWriteRequest.
  double sql_batch_us = 0;    // Of one 1000-INSERT SqlExecuteRequest.
};

// Microseconds per call of `round`, run for about `seconds`.
double PerCallMicros(const std::function<void()>& round, double seconds) {
  auto t0 = Clock::now();
  uint64_t n = 0;
  do {
    round();
    ++n;
  } while (Seconds(Clock::now() - t0) < seconds);
  return Seconds(Clock::now() - t0) * 1e6 / static_cast<double>(n);
}

ProtoCost MeasureProtobuf() {
  ProtoCost c;
  std::string wire;
  {
    sv1::KvGetRequest req, req2;
    SetStore(req.mutable_store());
    sv1::KvGetResponse resp, resp2;
    resp.set_found(true);
    resp.set_value(Value());
    Rng rng(7);
    c.get_us = PerCallMicros([&] {
      req.set_key(Key(rng.Next() % kGetKeys));
      req.SerializeToString(&wire);
      req2.ParseFromString(wire);
      resp.SerializeToString(&wire);
      resp2.ParseFromString(wire);
    }, 0.2);
  }
  {
    sv1::KvWriteRequest req, req2;
    SetStore(req.mutable_store());
    for (int i = 0; i < kBatch; ++i) {
      auto* op = req.add_ops();
      op->set_key(Key(i));
      op->set_value(Value());
    }
    c.write_batch_us = PerCallMicros([&] {
      req.SerializeToString(&wire);
      req2.ParseFromString(wire);
    }, 0.2);
  }
  {
    sv1::SqlExecuteRequest req, req2;
    SetStore(req.mutable_store());
    for (int i = 0; i < kBatch; ++i) {
      auto* s = req.add_statements();
      s->set_sql(kInsert);
      s->add_params()->set_text(Name(i));
      s->add_params()->set_integer(i);
      s->add_params()->set_text(Value());
    }
    c.sql_batch_us = PerCallMicros([&] {
      req.SerializeToString(&wire);
      req2.ParseFromString(wire);
    }, 0.2);
  }
  return c;
}

// ---- Setup. ----

pid_t StartHost() {
  Progress("starting a host on %s", g_session.home.c_str());
  return g_session.host.Start(60s);
}

// Remembers a running daemon of the app, so a cleanup can make sure it ended.
void NoteDaemon() {
  auto control = hv1::Control::NewStub(HostChannel());
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(10s));
  hv1::AppRef ref;
  ref.set_app(kApp);
  hv1::AppInfo info;
  if (control->Status(&ctx, ref, &info).ok()) g_session.children.NoteDaemon(info.pid());
}

void PrintReport(const Options& o, const KvResults& kv, const SqlResults& sql,
                 const std::vector<Row>& file_rows, const ProtoCost& proto, double seconds_total,
                 const std::string& load_before, const std::string& load_after) {
  unsigned cores = std::thread::hardware_concurrency();
  std::printf("\nmumba-storage-bench: the storage API on the owner's admin socket (unix socket, sync gRPC)\n");
  std::printf("machine: %u cores; load average %s before, %s after; home on the disk of /tmp\n", cores,
              load_before.c_str(), load_after.c_str());
  std::printf("%.1f s per rate figure after %.2f s warm-up; file figures are the best of 2 runs\n",
              o.seconds, kWarmup);
  std::printf("kv: 16-byte keys in random order (unless said), %zu-byte values; gets of %llu existing keys at random\n",
              kValueBytes, static_cast<unsigned long long>(kGetKeys));
  std::printf("direct = the same work in this process: KvStore / SqlStore of src/storage on a folder of our\n"
              "own (Mumba's settings), a read/write copy (fsynced, as FileStore syncs) or a plain read.\n"
              "raw LMDB = mdb_* with KvStore's flags (synced, MDB_NOTLS), without its checks and sequence record.\n"
              "host, bench = CPU used during the API figure, in cores (this machine has %u).\n\n",
              cores);
  std::vector<Row> rows = kv.rows;
  rows.insert(rows.end(), sql.rows.begin(), sql.rows.end());
  rows.insert(rows.end(), file_rows.begin(), file_rows.end());
  PrintRows(rows);

  std::printf("\nagainst Hyperbee on this machine (5-6k batched puts/s, ~2.5k gets/s):\n");
  std::printf("  batched puts: %s through the API = %.1fx Hyperbee's %.1fk/s\n",
              Rate(kv.batched_api, "/s").c_str(), kv.batched_api / kHyperbeeBatchedPuts,
              kHyperbeeBatchedPuts / 1e3);
  std::printf("  single gets:  %s unary (1 client) = %.1fx; best mode %s = %.1fx Hyperbee's 2.5k/s\n",
              Rate(1e6 / kv.unary_get_us, "/s").c_str(), 1e6 / kv.unary_get_us / kHyperbeeGets,
              Rate(kv.best_get, "/s").c_str(), kv.best_get / kHyperbeeGets);
  std::string modes;
  for (const auto& m : kv.modes_at_target) modes += (modes.empty() ? "" : "; ") + m;
  std::printf("  the 25k/s single-get target is %s\n",
              modes.empty() ? "NOT reached by any mode" : ("reached by: " + modes).c_str());

  std::printf("\nwhat bounds the API path:\n");
  std::printf("  one call, 1 client, same socket:\n"
              "    grpc.health.v1.Health/Check (callback service, no work)      %6.1f us = %s\n"
              "    Kv.Get refused before any store work (sync service)          %6.1f us = %s\n"
              "    Kv.Get of an existing key                                    %6.1f us = %s\n"
              "    KvStore::Get in process                                      %6.1f us\n",
              kv.empty_call_us, Rate(1e6 / kv.empty_call_us, "/s").c_str(), kv.rejected_get_us,
              Rate(1e6 / kv.rejected_get_us, "/s").c_str(), kv.unary_get_us,
              Rate(1e6 / kv.unary_get_us, "/s").c_str(), 1e6 / kv.direct_get);
  std::printf("  GetStream carries %.1fx the gets of unary calls on one client: per-call overhead, not the\n"
              "    store, bounds single gets\n",
              kv.stream_get * kv.unary_get_us / 1e6);
  std::printf("  protobuf encode+decode (each once; client and server together do it about twice):\n"
              "    Get request+response %.2f us (%.0f%% of a unary get);\n"
              "    1000-put KvWriteRequest %.0f us (%.0f%% of one batched Write, %.1f ms);\n"
              "    1000-INSERT SqlExecuteRequest %.0f us (%.0f%% of one batched Execute, %.1f ms)\n",
              proto.get_us, 100.0 * 2 * proto.get_us / kv.unary_get_us, proto.write_batch_us,
              100.0 * 2 * proto.write_batch_us / (kv.write_batch_ms * 1e3), kv.write_batch_ms,
              proto.sql_batch_us, 100.0 * 2 * proto.sql_batch_us / (sql.insert_batch_ms * 1e3),
              sql.insert_batch_ms);
  std::printf("  the API figures' host+bench CPU against the %u cores (columns host, bench) shows which\n"
              "    are CPU-bound: near %u means the machine is saturated, well below means waiting (fsync)\n",
              cores, cores);
  std::printf("\ntotal run time %.1f s\n", seconds_total);
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  Flags flags(Fmt("usage: mumba-storage-bench [--seconds S] [--file-mib N] [--clients N] [--bundle DIR]\n"
                  "  --seconds S    measured seconds of each rate figure (default 2)\n"
                  "  --file-mib N   size of the file put and got (default 200)\n"
                  "  --clients N    most concurrent get clients (default 8; 4 is measured too)\n"
                  "  --bundle DIR   the hello bundle (default %s)\n",
                  MUMBA_HELLO_BUNDLE));
  flags.Add("--seconds", &o.seconds).Add("--file-mib", &o.file_mib).Add("--clients", &o.clients);
  flags.Add("--bundle", &o.bundle);
  flags.Parse(argc, argv);
  if (o.seconds <= 0 || o.file_mib <= 0 || o.clients <= 0) Fail("options must be positive");
  return o;
}

int Run(int argc, char** argv) {
  auto t0 = Clock::now();
  Options o = ParseOptions(argc, argv);
  const std::string load_before = LoadAverage();
  const fs::path cli = BinDir() / "mumba";
  if (!fs::exists(cli)) Fail("no mumba CLI beside the bench at " + cli.string());
  if (!fs::exists(o.bundle / "mumba.toml")) {
    Fail("no hello bundle at " + o.bundle.string() +
         " (build it: ctest --test-dir build -R build_hello_bundle, or pass --bundle)");
  }
  {
    std::lock_guard lock(g_session.mu);
    g_session.home = MakeTempDir("/tmp/msb-");
    g_session.host.Configure(cli, g_session.home, g_session.home, &g_session.children);
  }
  fs::create_directories(g_session.home / "direct");

  pid_t host = StartHost();
  Progress("installing %s", o.bundle.c_str());
  (void)g_session.host.Run({"install", o.bundle.string()}, 120s);
  NoteDaemon();

  KvResults kv = BenchKv(o, host);
  SqlResults sql = BenchSql(o, host);
  std::vector<Row> file_rows = BenchFiles(o, host);
  ProtoCost proto = MeasureProtobuf();
  NoteDaemon();
  Progress("stopping the host");
  Cleanup(false);
  PrintReport(o, kv, sql, file_rows, proto, Seconds(Clock::now() - t0), load_before, LoadAverage());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  SetProgramName("mumba-storage-bench");
  HandleStopSignals([] { Cleanup(true); });

  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    Progress("error: %s", e.what());
    Cleanup(false);
    return 1;
  }
}
