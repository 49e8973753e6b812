// SPDX-License-Identifier: Apache-2.0
// Stores as torrents: an app's key-value database, SQL database or file tree
// published as a snapshot under a permanent address of its own, and other hosts'
// shares followed as read-only replicas that stay current.
//
// Publishing (shares.cc): a consistent copy of the store (LMDB's and SQLite's own
// copy functions, page for page) is cut into content-addressed chunks
// (src/share/chunked_tree.h); that version folder is seeded as a torrent and a
// BEP 44 item signed with the share's own key points at it. The next snapshot has
// the same chunks where the store did not change, so a follower holding the last
// one fetches only the new chunks.
//
// Following (share_follow.cc): a loop looks each followed address up every
// [p2p] follow_poll_ms; a validly signed item with a higher sequence number than
// the one held is fetched (starting from the chunks held, bounded by the item's
// size and [p2p] max_bundle_bytes), every chunk checked against its hash, the
// store rebuilt beside the replica and swapped in. Nothing below the sequence
// number held is ever taken. The held version is seeded, so followers serve each
// other while the publisher is away.
//
// Files: $MUMBA_HOME/shares/state.json (what is shared and followed),
// shares/published/<key>/v<seq>/ and shares/followed/<reader>/<key>/v<seq>/ (the
// version folders seeded), the replicas under the store manager's root
// (replicas/<reader>/<key>/), and each share's key in the key store.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/keys.h"
#include "host/share_item.h"
#include "mumba/status.h"
#include "p2p/p2p_node.h"
#include "platform/clock.h"
#include "storage/store_manager.h"

namespace mumba {

class Distribution;

// One store of an app published here.
struct ShareRecord {
  std::string app_id;
  std::string kind;  // "kv", "sql", "files".
  std::string db;    // "" for files.
  std::string address;
  int64_t seq = 0;
  uint64_t bytes = 0;      // The store's size in the snapshot.
  uint64_t new_bytes = 0;  // Chunk bytes the snapshot before did not hold.
  std::string info_hash;
  std::string info_hash_v2;
  bool active = true;      // False once unshared (the key stays: sharing again keeps the address).
  bool stored_in_dht = false;
};

// A share followed here, by an app or by the owner (reader "").
struct FollowRecord {
  std::string reader;   // The following app's id; "" for the owner.
  std::string address;
  std::string kind;     // "" until the first snapshot arrived.
  std::string db;
  int64_t seq = 0;      // The snapshot held; 0 before the first.
  uint64_t bytes = 0;   // The replica's size.
  std::string info_hash;
  std::string info_hash_v2;
  int64_t updated_unix_ms = 0;
  std::string error;    // Why the last update failed; "" if it did not.
  uint64_t fetched_bytes = 0;  // Received from peers for the last snapshot; not kept across restarts.
};

// Where a share's snapshot comes from: the app's stores, through the store manager.
struct SharesOptions {
  std::filesystem::path dir;       // $MUMBA_HOME/shares.
  std::filesystem::path keys_dir;  // Each share's key.
  std::chrono::milliseconds poll{1000};
  uint64_t max_bytes = kDefaultMaxBundleBytes;  // The most a fetched snapshot may hold.
  uint64_t max_files = kDefaultMaxBundleFiles;  // Files of a snapshot's torrent, at least.
  bool seed = true;                             // Seed followed snapshots too.
  // Proves that the LMDB environment in a folder can be read whole without harm
  // before the host opens it itself: LMDB trusts its files, and a share's file is
  // a stranger's. The host runs it in a child process (CheckKvReplicaInChild).
  std::function<Status(const std::filesystem::path& kv_dir)> check_kv;
};

// Walks every entry of the LMDB environment in `kv_dir`, opened read-only, in a
// child process (`mumba-host --check-kv-replica DIR`, this executable) that has
// at most `timeout`: OK when it read all of it; DATA_LOSS when the child failed,
// crashed or ran out of time (it is killed).
Status CheckKvReplicaInChild(const std::filesystem::path& kv_dir, std::chrono::milliseconds timeout);

// What the child runs: OK when every entry of `kv_dir` reads.
Status WalkKvStore(const std::filesystem::path& kv_dir);

// Thread-safe. Publishing and following work on the BitTorrent node of
// `distribution` (started when first needed).
class Shares final : public FollowedShares {
 public:
  // `stores` and `distribution` are borrowed and must outlive this object.
  // Reads the state file; a missing one means nothing is shared or followed.
  static Expected<std::unique_ptr<Shares>> Create(SharesOptions options, StoreManager& stores,
                                                  Distribution& distribution, const Clock& clock = Clock::Real());
  ~Shares() override;

  // Seeds what is shared and followed (when there is any: a host with neither sends
  // nothing) and starts the follow loop. Returns at once.
  void Start();

  // Publishes a snapshot of store (`kind`, `db`) of app `app_id` ("kv", "sql" or
  // "files"; db ignored for files): the first time under a new key, after that a
  // higher seq under the same address; the snapshot before stops being seeded.
  // NOT_FOUND for a database the app never wrote; INVALID_ARGUMENT for a bad kind
  // or name; UNAVAILABLE when the BitTorrent node cannot start. The record says
  // whether a DHT node took the item (a share seeded but not in the DHT is found
  // once sharing again reaches one).
  Expected<ShareRecord> Share(const std::string& app_id, const std::string& kind, std::string db);
  // Stops seeding the share. NOT_FOUND when it is not shared.
  Status Unshare(const std::string& app_id, const std::string& kind, std::string db);
  // The active shares of `app_id`, or of every app for "".
  std::vector<ShareRecord> ListShares(const std::string& app_id) const;

  // Starts following `address` for `reader` ("" for the owner); the loop brings
  // the first snapshot. INVALID_ARGUMENT for a bad address, FAILED_PRECONDITION
  // for the address of one of this host's own shares. Following again returns
  // the record as it is.
  Expected<FollowRecord> Follow(const std::string& reader, const std::string& address);
  // Stops following, stops seeding and deletes the replica. NOT_FOUND when not
  // followed.
  Status Unfollow(const std::string& reader, const std::string& address);
  // The follows of `reader` (every one for `all`).
  std::vector<FollowRecord> ListFollows(const std::string& reader, bool all = false) const;
  // Stops everything app `app_id` shares (the records and keys stay, as after
  // Unshare) and follows (replicas deleted): it is being uninstalled.
  void ForgetApp(const std::string& app_id);

  // FollowedShares, for the store manager.
  std::optional<FollowedReplica> ReplicaOf(const std::string& reader_app_id,
                                           const std::string& address) const override;
  uint64_t ReplicaBytes(const std::string& app_id) const override;

 private:
  Shares(SharesOptions options, StoreManager& stores, Distribution& distribution, const Clock& clock);

  Status LoadState();
  Status SaveStateLocked() const;  // mu_ held.
  // Copies the store into `dest` (a folder laid out as the store's own).
  Status Snapshot(const std::string& app_id, const std::string& kind, const std::string& db,
                  const std::filesystem::path& dest);
  std::filesystem::path PublishedDir(const std::string& address, int64_t seq) const;
  std::filesystem::path FollowedDir(const std::string& reader, const std::string& address, int64_t seq) const;
  static std::string ReplicaStoreId(const std::string& reader, const std::string& address);

  // The follow loop (share_follow.cc).
  void FollowLoop();
  void PollAll();
  // Brings one follow up to date; the new record, or why not.
  Status UpdateFollow(const FollowRecord& held);
  // Rebuilds the store of snapshot folder `version` and swaps it in as the replica.
  Status SwapReplica(const FollowRecord& held, const ShareItem& item, const std::filesystem::path& version,
                     uint64_t* bytes);
  void SeedExisting();
  bool Stopping();

  const SharesOptions options_;
  StoreManager& stores_;
  Distribution& distribution_;
  const Clock& clock_;

  mutable std::mutex mu_;  // Guards the records and the state file.
  std::vector<ShareRecord> shares_;
  std::vector<FollowRecord> follows_;
  std::mutex publish_mu_;  // One snapshot at a time.
  std::mutex poll_mu_;     // One pass over the follows at a time.

  // Replica sizes by reader, read by the store manager under its own locks.
  mutable std::mutex bytes_mu_;
  std::map<std::string, uint64_t> replica_bytes_;
  std::map<std::pair<std::string, std::string>, FollowedReplica> replicas_;  // By (reader, address).

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread loop_;
  std::thread seeder_;  // Seeds what is shared and followed, once, from Start.
};

}  // namespace mumba
