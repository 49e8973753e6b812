// SPDX-License-Identifier: Apache-2.0
// mumba-shares-bench: what a follower of a shared store receives (issue 14). A
// store is published as a folder of content-addressed chunk files plus an index;
// a follower that holds version N fetches N+1 reusing it
// (FetchLimits::reuse_from), so only the chunks it lacks may travel.
//
// In one run, with in-process P2pNodes on 127.0.0.1 and no host: a seeder, a
// follower, and a third node only so that the private DHT has someone to store
// the seeder's announce (with two nodes, each one's lookup asks only the other,
// which stores nothing for its own torrents). Figures:
//   1. first follow: a --mb MiB store of --chunk-kib KiB chunk files of random
//      bytes, fetched whole; baseline, the same bytes as one file (what an app
//      install fetches), fetched whole by the same node;
//   2. a --changed-percent % update (that share of the chunk files replaced by new
//      ones under new names, the index rewritten) republished and fetched reusing
//      the first version: payload bytes received against the store's size
//      (target <= 2 %), and how long the fetch took.
// Every wait is bounded; the table goes to stdout, progress to stderr. Exit
// status: 0 when the bench ran, whatever the targets say; 1 when it could not.
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "p2p/p2p_node.h"

namespace {

using namespace mumba::bench;
using namespace std::chrono_literals;

constexpr auto kFormTimeout = 15s;
constexpr auto kFetchTimeout = std::chrono::milliseconds(120000);

struct Options {
  int mb = 100;
  int chunk_kib = 64;
  double changed_percent = 1;
};

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, std::min<size_t>(8, n - i));
  }
  return s;
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out.flush()) Fail("cannot write " + path.string());
}

// "chunks/<64 hex digits>", unique per seed (the store names chunks by their
// SHA-256; nothing here depends on the name being that hash).
std::string ChunkName(uint64_t seed) {
  return Fmt("chunks/%016llx%016llx%016llx%016llx", static_cast<unsigned long long>(seed), 0x6d756d6261ull,
             0x73746f7265ull, static_cast<unsigned long long>(seed * 0x9e3779b97f4a7c15ull));
}

// Writes version 1 as chunk files with an index, and the same bytes as one file.
void MakeStore(const fs::path& v1, const fs::path& single, int chunks, size_t chunk_bytes) {
  std::string index;
  fs::create_directories(single);
  std::ofstream whole(single / "store.bin", std::ios::binary);
  for (int i = 0; i < chunks; ++i) {
    std::string bytes = RandomBytes(chunk_bytes, static_cast<uint64_t>(i));
    WriteFile(v1 / ChunkName(i), bytes);
    whole << bytes;
    index += ChunkName(i) + "\n";
  }
  WriteFile(v1 / "index", index);
  if (!whole.flush()) Fail("cannot write " + (single / "store.bin").string());
}

// Version 2: v1 with chunks 0..changed-1 replaced by new chunks under new names,
// and the index rewritten. Returns the bytes v2 holds that v1 does not.
uint64_t MakeUpdate(const fs::path& v1, const fs::path& v2, int chunks, int changed, size_t chunk_bytes) {
  fs::copy(v1, v2, fs::copy_options::recursive);
  std::string index;
  for (int i = 0; i < chunks; ++i) {
    uint64_t seed = static_cast<uint64_t>(i < changed ? 1000000 + i : i);
    if (i < changed) {
      fs::remove(v2 / ChunkName(static_cast<uint64_t>(i)));
      WriteFile(v2 / ChunkName(seed), RandomBytes(chunk_bytes, seed));
    }
    index += ChunkName(seed) + "\n";
  }
  WriteFile(v2 / "index", index);
  return static_cast<uint64_t>(changed) * chunk_bytes + index.size();
}

struct Fetched {
  double seconds = 0;
  mumba::FetchProgress last;
};

Fetched FetchAt(mumba::P2pNode& node, const mumba::TorrentRef& ref, const fs::path& dest,
                const fs::path& reuse_from) {
  mumba::FetchLimits limits;
  limits.reuse_from = reuse_from;
  Fetched f;
  auto start = Clock::now();
  auto got = node.Fetch(ref.info_hash_v1, ref.info_hash_v2, dest, kFetchTimeout, limits,
                        [&](const mumba::FetchProgress& p) {
                          f.last = p;
                          return true;
                        });
  f.seconds = Seconds(Clock::now() - start);
  if (!got.ok()) Fail("fetching " + ref.name + ": " + got.status().message());
  return f;
}

mumba::TorrentRef SeedAt(mumba::P2pNode& node, const fs::path& dir, const std::string& name, double* ms) {
  auto start = Clock::now();
  auto ref = node.Seed(dir, name);
  if (ms) *ms = Millis(Clock::now() - start);
  if (!ref.ok()) Fail("seeding " + dir.string() + ": " + ref.status().message());
  return *ref;
}

double MBps(uint64_t bytes, double seconds) { return seconds > 0 ? bytes / 1e6 / seconds : 0; }

int Run(const Options& o, const fs::path& dir) {
  const size_t chunk_bytes = static_cast<size_t>(o.chunk_kib) * 1024;
  const int chunks = static_cast<int>(static_cast<uint64_t>(o.mb) * 1024 * 1024 / chunk_bytes);
  const int changed = std::max(1, static_cast<int>(chunks * o.changed_percent / 100 + 0.5));
  Progress("writing a %d MiB store of %d chunk files of %d KiB, and the same bytes as one file", o.mb, chunks,
           o.chunk_kib);
  MakeStore(dir / "pub/v1", dir / "pub/single", chunks, chunk_bytes);

  std::vector<std::unique_ptr<mumba::P2pNode>> nodes;
  mumba::bench::ParallelReset<mumba::P2pNode> closer{&nodes};  // Closed side by side, whatever happens.
  std::vector<std::string> addrs;
  for (int i = 0; i < 3; ++i) {
    mumba::P2pOptions po;
    po.listen = "127.0.0.1:0";
    auto n = mumba::P2pNode::Create(po);
    if (!n.ok()) Fail("P2pNode::Create: " + n.status().message());
    nodes.push_back(std::move(n).value());
    addrs.push_back(nodes.back()->Status().listen);
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (i != j) (void)nodes[i]->AddDhtNode(addrs[j]);
    }
  }
  auto t0 = Clock::now();
  bool formed = false;
  while (!formed && Clock::now() - t0 < kFormTimeout) {
    int lo = INT_MAX;
    for (auto& n : nodes) lo = std::min(lo, n->Status().dht_nodes);
    formed = lo >= 2;
    if (!formed) std::this_thread::sleep_for(20ms);
  }
  if (!formed) Fail("the DHT did not form within 15 s");
  mumba::P2pNode& seeder = *nodes[0];
  mumba::P2pNode& follower = *nodes[1];

  Progress("baseline: the same bytes as one file, fetched whole");
  mumba::TorrentRef single = SeedAt(seeder, dir / "pub/single", "single", nullptr);
  Fetched install = FetchAt(follower, single, dir / "follower", {});
  Progress("first follow: version 1 fetched whole");
  double seed_v1_ms = 0;
  mumba::TorrentRef v1 = SeedAt(seeder, dir / "pub/v1", "v1", &seed_v1_ms);
  Fetched first = FetchAt(follower, v1, dir / "follower", {});

  Progress("update: %d of %d chunk files replaced, fetched reusing version 1", changed, chunks);
  const uint64_t fresh = MakeUpdate(dir / "pub/v1", dir / "pub/v2", chunks, changed, chunk_bytes);
  double seed_v2_ms = 0;
  mumba::TorrentRef v2 = SeedAt(seeder, dir / "pub/v2", "v2", &seed_v2_ms);
  Fetched update = FetchAt(follower, v2, dir / "follower", dir / "follower/v1");

  const double percent = 100.0 * static_cast<double>(update.last.downloaded) / static_cast<double>(v2.total_size);
  std::printf("\nmumba-shares-bench: a %d MiB store as %d chunk files of %d KiB; a seeder and a follower "
              "P2pNode (and a third for the DHT) on 127.0.0.1 (load %s)\n\n",
              o.mb, chunks, o.chunk_kib, LoadAverage().c_str());
  std::vector<TableRow> rows;
  rows.push_back({"first follow (chunk files, fetched whole)",
                  Fmt("%.2f s, %.0f MB/s", first.seconds, MBps(v1.total_size, first.seconds)),
                  Fmt("one file: %.2f s, %.0f MB/s", install.seconds, MBps(single.total_size, install.seconds)),
                  Ratio(first.seconds, install.seconds), "", ""});
  rows.push_back({"  payload received", Fmt("%.1f MB", first.last.downloaded / 1e6),
                  Fmt("one file: %.1f MB", install.last.downloaded / 1e6), "", "", ""});
  rows.push_back({Fmt("%.3g %% update: payload received", 100.0 * changed / chunks),
                  Fmt("%.2f MB = %.2f %%", update.last.downloaded / 1e6, percent),
                  Fmt("store %.1f MB; new %.2f MB", v2.total_size / 1e6, fresh / 1e6), "", "<= 2 %",
                  percent <= 2.0 ? "yes" : "NO"});
  rows.push_back({"  fetch reusing version 1", Fmt("%.0f ms", update.seconds * 1000),
                  Fmt("first follow: %.0f ms", first.seconds * 1000), Ratio(update.seconds, first.seconds), "", ""});
  rows.push_back({"  republish: hash and seed the new version", Fmt("%.0f ms", seed_v2_ms),
                  Fmt("version 1: %.0f ms", seed_v1_ms), "", "", ""});
  PrintTable(rows, {.figure = 44, .value = 22, .baseline = 36, .target = 10});
  std::printf("\nbaseline: the same bytes as one file in a torrent of its own (what an app install fetches);\n"
              "payload: FetchProgress::downloaded, the bytes received from peers (a file's last 16 KiB block\n"
              "travels whole, its pad bytes included)\n");
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  SetProgramName("mumba-shares-bench");
  try {
    Options o;
    Flags flags("usage: mumba-shares-bench [--mb N] [--chunk-kib N] [--changed-percent P]\n"
                "  --mb: the store's size in MiB (100); --chunk-kib: each chunk file's size (64);\n"
                "  --changed-percent: the share of chunk files the update replaces (1)\n");
    flags.Add("--mb", &o.mb).Add("--chunk-kib", &o.chunk_kib).Add("--changed-percent", &o.changed_percent);
    flags.Parse(argc, argv);
    if (o.mb < 1 || o.mb > 900 || o.chunk_kib < 1 || o.chunk_kib > 16384 || o.changed_percent <= 0 ||
        o.changed_percent > 100) {
      Fail("1 <= --mb <= 900, 1 <= --chunk-kib <= 16384, 0 < --changed-percent <= 100");
    }
    const fs::path dir = MakeTempDir((fs::temp_directory_path() / "mumba-shares-").string());
    HandleStopSignals([dir] {
      std::error_code ec;
      fs::remove_all(dir, ec);
    });
    int rc = 1;
    try {
      rc = Run(o, dir);
    } catch (...) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      throw;
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mumba-shares-bench: error: %s\n", e.what());
    return 1;
  }
}
