// SPDX-License-Identifier: Apache-2.0
// Shares: following (see shares.h). One loop brings every followed share up to
// date in turn; what it reads of strangers (the item, the torrent, the index, the
// chunks) is checked at each step before anything replaces the replica.
#include <poll.h>
#include <spdlog/spdlog.h>

#include <csignal>

#include "common/files.h"
#include "host/announce_decode.h"
#include "host/distribution.h"
#include "host/shares.h"
#include "platform/process_launcher.h"
#include "storage/kv_store.h"
#include "share/chunked_tree.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

// How long one look-up of an item may take, and one fetch of a snapshot.
constexpr auto kLookup = std::chrono::seconds(3);
constexpr auto kFetch = std::chrono::minutes(10);

std::string StoreFolderOf(const std::string& kind) {
  // The layout StoreManager opens a replica from: its one database, or its tree.
  return kind == "files" ? "files" : kind + "/replica";
}

}  // namespace

void Shares::Start() {
  bool any;
  {
    std::lock_guard lock(mu_);
    any = !follows_.empty() || std::any_of(shares_.begin(), shares_.end(), [](const ShareRecord& r) { return r.active; });
  }
  // Nothing shared or followed: stay silent (no node, no traffic).
  if (any) seeder_ = std::thread([this] { SeedExisting(); });
  loop_ = std::thread([this] { FollowLoop(); });
}

void Shares::SeedExisting() {
  auto node = distribution_.Node();
  if (!node.ok()) {
    spdlog::error("shares: {}", node.status().message());
    return;
  }
  std::vector<std::pair<fs::path, int64_t>> folders;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : shares_) {
      if (r.active) folders.emplace_back(PublishedDir(r.address, r.seq), r.seq);
    }
    if (options_.seed) {
      for (const auto& f : follows_) {
        if (f.seq > 0) folders.emplace_back(FollowedDir(f.reader, f.address, f.seq), f.seq);
      }
    }
  }
  for (const auto& [dir, seq] : folders) {
    if (Stopping()) return;
    if (auto seeded = (*node)->Seed(dir, ShareTorrentName(seq)); !seeded.ok()) {
      spdlog::warn("shares: cannot seed {}: {}", dir.string(), seeded.status().message());
    }
  }
}

void Shares::FollowLoop() {
  for (;;) {
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, options_.poll, [this] { return stopping_; })) return;
    }
    PollAll();
  }
}

void Shares::PollAll() {
  std::lock_guard polling(poll_mu_);
  std::vector<FollowRecord> follows;
  {
    std::lock_guard lock(mu_);
    follows = follows_;
  }
  for (const auto& held : follows) {
    if (Stopping()) return;
    Status st = UpdateFollow(held);
    std::lock_guard lock(mu_);
    for (auto& f : follows_) {
      if (f.reader == held.reader && f.address == held.address) f.error = st.ok() ? "" : st.message();
    }
  }
}

Status Shares::UpdateFollow(const FollowRecord& held) {
  MUMBA_ASSIGN_OR_RETURN(AppAddress address, DecodeAddress(held.address));
  MUMBA_ASSIGN_OR_RETURN(P2pNode * node, distribution_.Node());
  auto found = node->GetMutable(address.public_key, kLookup);
  if (!found.ok()) {
    if (found.status().code() == Code::kNotFound) return NotFound("no one serves " + held.address + " now");
    return found.status();
  }
  // Never below what is held: hostile DHT nodes may serve an older, validly
  // signed item, and an equal one is what is held already.
  if (found->seq <= held.seq) return Status();
  MUMBA_ASSIGN_OR_RETURN(ShareItem item, DecodeShareItem(address.canonical, found->seq, found->fields));
  if (!held.kind.empty() && (item.kind != held.kind || item.db != held.db)) {
    return FailedPrecondition(held.address + " changed from a " + held.kind + " store to a " + item.kind +
                              " one; unfollow and follow it again to take it");
  }
  if (item.size > options_.max_bytes) {
    return ResourceExhausted(held.address + " announces a snapshot of " + std::to_string(item.size) +
                             " bytes, above the ceiling of " + std::to_string(options_.max_bytes) +
                             " ([p2p] max_bundle_bytes)");
  }

  const fs::path staging = options_.dir / ".staging" / ("follow-" + RandomSuffix());
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{staging};
  FetchLimits limits;
  limits.announced_bytes = item.size;
  limits.max_bytes = options_.max_bytes;
  // One file per distinct chunk and the index: a store of small files may need
  // more than its bytes suggest, up to [p2p] max_bundle_files.
  limits.max_files = std::max<uint64_t>(options_.max_files, options_.max_bytes / share::kDefaultChunkBytes + 2);
  if (held.seq > 0) limits.reuse_from = FollowedDir(held.reader, held.address, held.seq);
  uint64_t fetched = 0;
  auto folder = node->Fetch(item.info_hash, item.info_hash_v2, staging, kFetch, limits,
                            [this, &fetched](const FetchProgress& p) {
                              fetched = p.downloaded;
                              return !Stopping();
                            });
  if (!folder.ok()) return folder.status().WithContext("fetching " + held.address + " seq " + std::to_string(item.seq));

  uint64_t bytes = 0;
  MUMBA_TRY(SwapReplica(held, item, *folder, &bytes));

  // The new version is kept (to seed, and to start the next fetch from); the old goes.
  const fs::path kept = FollowedDir(held.reader, held.address, item.seq);
  std::error_code ec;
  fs::create_directories(kept.parent_path(), ec);
  fs::remove_all(kept, ec);
  fs::rename(*folder, kept, ec);
  if (ec) return Internal("cannot keep the snapshot of " + held.address + ": " + ec.message());
  if (!held.info_hash.empty()) (void)node->StopSeeding(held.info_hash);
  if (held.seq > 0) fs::remove_all(FollowedDir(held.reader, held.address, held.seq), ec);
  if (options_.seed) {
    if (auto seeded = node->Seed(kept, ShareTorrentName(item.seq)); !seeded.ok()) {
      spdlog::warn("shares: cannot seed the copy of {}: {}", held.address, seeded.status().message());
    }
  }

  std::lock_guard lock(mu_);
  for (auto& f : follows_) {
    if (f.reader != held.reader || f.address != held.address) continue;
    f.kind = item.kind;
    f.db = item.db;
    f.seq = item.seq;
    f.bytes = bytes;
    f.info_hash = item.info_hash;
    f.info_hash_v2 = item.info_hash_v2;
    f.updated_unix_ms = NowMs();
    f.fetched_bytes = fetched;
  }
  spdlog::info("shares: {} now at seq {} ({} bytes, {} fetched) for {}", held.address, item.seq, bytes, fetched,
               held.reader.empty() ? "the owner" : held.reader);
  return SaveStateLocked();
}

Status Shares::SwapReplica(const FollowRecord& held, const ShareItem& item, const fs::path& version,
                           uint64_t* bytes) {
  share::IndexLimits limits;
  limits.max_total_bytes = options_.max_bytes;
  MUMBA_ASSIGN_OR_RETURN(share::ChunkedIndex index, share::ReadIndex(version, limits));
  if (index.kind != item.kind) {
    return InvalidArgument(held.address + "'s snapshot holds a " + index.kind.substr(0, 8) + " store, its item says " +
                           item.kind);
  }
  // The replica counts against the follower's quota: the growth must fit.
  std::optional<QuotaReservation> reserved;
  if (!held.reader.empty() && index.total_bytes > held.bytes) {
    MUMBA_ASSIGN_OR_RETURN(QuotaReservation r, stores_.Reserve(held.reader, index.total_bytes - held.bytes));
    reserved.emplace(std::move(r));
  }

  const std::string store_id = ReplicaStoreId(held.reader, held.address);
  const fs::path root = stores_.AppRoot(store_id);
  const fs::path fresh = root.string() + ".new", old = root.string() + ".old";
  std::error_code ec;
  fs::remove_all(fresh, ec);
  fs::remove_all(old, ec);
  fs::create_directories(fresh / StoreFolderOf(item.kind), ec);
  fs::remove(fresh / StoreFolderOf(item.kind), ec);  // Assemble makes it.
  Status built = share::Assemble(version, index, fresh / StoreFolderOf(item.kind));
  if (built.ok() && item.kind == "kv" && options_.check_kv) built = options_.check_kv(fresh / StoreFolderOf(item.kind));
  if (!built.ok()) {
    fs::remove_all(fresh, ec);
    return built.WithContext("the snapshot of " + held.address);
  }
  // Readers holding the old replica keep it (open files stay valid); new ones
  // open the new one.
  stores_.Close(store_id);
  if (fs::exists(root, ec)) fs::rename(root, old, ec);
  fs::rename(fresh, root, ec);
  if (ec) return Internal("cannot put the replica of " + held.address + " in place: " + ec.message());
  stores_.Close(store_id);
  fs::remove_all(old, ec);
  *bytes = index.total_bytes;
  {
    std::lock_guard lock(bytes_mu_);
    uint64_t& total = replica_bytes_[held.reader];
    total = total - std::min(total, held.seq > 0 ? held.bytes : 0) + index.total_bytes;
    // DecodeShareItem took only a kind StoreKindNamed knows.
    replicas_[{held.reader, held.address}] = FollowedReplica{store_id, StoreKindNamed(item.kind).value()};
  }
  return Status();
}

Status WalkKvStore(const fs::path& kv_dir) {
  MUMBA_ASSIGN_OR_RETURN(auto store, engine::KvStore::Open(kv_dir, /*read_only=*/true));
  engine::KvScanOptions scan;
  scan.limit = 10000;
  for (;;) {
    MUMBA_ASSIGN_OR_RETURN(engine::KvScanResult page, store->Scan(scan));
    if (page.next_cursor.empty()) return Status();
    scan.cursor = page.next_cursor;
  }
}

Status CheckKvReplicaInChild(const fs::path& kv_dir, std::chrono::milliseconds timeout) {
  LaunchSpec spec;
  spec.executable = "/proc/self/exe";
  spec.argv0 = "mumba-host";
  spec.args = {"--check-kv-replica", kv_dir.string()};
  spec.parent_death_signal = SIGKILL;
  ProcessLauncher& launcher = ProcessLauncher::System();
  MUMBA_ASSIGN_OR_RETURN(LaunchedProcess child, launcher.Launch(spec));
  pollfd pfd{child.pidfd.get(), POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) {
    launcher.SignalGroup(child.pid, SIGKILL);
    launcher.Wait(child.pid);
    return DataLoss("its key-value store could not be read whole in " + std::to_string(timeout.count() / 1000) +
                    " s: refused");
  }
  ProcessExit exit = launcher.Wait(child.pid);
  if (exit.ExitCode() != 0) {
    return DataLoss("its key-value store is not a sound LMDB database (the check ended with " + exit.Describe() +
                    "): refused");
  }
  return Status();
}

}  // namespace mumba
