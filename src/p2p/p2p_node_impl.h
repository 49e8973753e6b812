// SPDX-License-Identifier: Apache-2.0
// P2pNodeImpl, the P2pNode on libtorrent 2.0: one session, one thread that pumps
// its alerts, and callers that block on a condition variable until the alert they
// wait for (or their deadline) arrives. Its methods are defined by concern:
//   p2p_node_impl.cc  the session, the alert pump, torrent watches, Status
//   seeding.cc        Seed, StopSeeding, Seeding
//   fetch.cc          Fetch and its steps
//   dht.cc            PutMutable, GetMutable, CountPeers and their alerts
//   presence.cc       Announce, Withdraw, FindPeers (forwarded to Presence)
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <libtorrent/alert_types.hpp>
#include <libtorrent/info_hash.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_status.hpp>

#include "p2p/p2p_node.h"
#include "p2p/presence.h"

namespace mumba::p2p {

using Clock = mumba::Clock;

// How long removing a torrent may take before we stop waiting for libtorrent's
// confirmation (it only closes files and peers).
inline constexpr auto kRemoveTimeout = std::chrono::seconds(5);

// What a waiter learns about a torrent from alerts.
struct TorrentEvents {
  bool metadata = false;  // The metadata arrived (for a torrent added by its hashes).
  bool checked = false;   // Files checked: only now does libtorrent announce it.
  bool finished = false;  // Every piece verified (not necessarily written yet).
  bool flushed = false;   // Everything written before flush_cache() is on disk.
  bool removed = false;
  bool deleted = false;  // Or deleting failed; either way libtorrent is done with the files.
  std::string delete_error;
  // The endpoints in the torrent's peer list (connected or not), once a
  // save_resume_data asked for them has been answered (empty if it failed).
  std::optional<std::vector<lt::tcp::endpoint>> known_peers;
  // Set by Fetch: what the torrent may hold, checked by the alert thread the
  // moment its metadata arrives (the torrent is paused at once when it holds
  // more), with the refusal in `refused`.
  std::optional<FetchLimits> limits;
  std::string label;
  std::optional<mumba::Status> refused;
};

// The map keys under which a torrent's events are filed: its v1 hash and its
// truncated v2 hash, whichever it has (a torrent added by one hash learns the
// other with its metadata).
std::vector<std::string> TorrentKeys(const lt::info_hash_t& ih);

// CheckFetchLimits for the files a torrent's metadata declares (pad files left
// out, as a Mumba item's "size" leaves them out).
mumba::Status CheckTorrentLimits(const lt::torrent_info& ti, const std::string& label, const FetchLimits& limits);

struct SignedItem;  // mutable_item.h

struct PeersWaiter {
  std::set<std::string> peers;  // "IP:port".
  Clock::time_point last_new{};
};

struct GetWaiter {
  std::optional<MutableItem> best;
  bool done = false;
  std::optional<Clock::time_point> first_found;
};

// Answers to the DHT requests one step of PutMutable sends itself (dht.cc):
// the routing table's live nodes, then each node's answer by endpoint (nullopt
// for an error or libtorrent's 15 s timeout).
struct DirectWaiter {
  int live_node_lists = 0;
  std::vector<std::pair<lt::sha1_hash, lt::udp::endpoint>> live_nodes;
  std::vector<std::pair<lt::udp::endpoint, std::optional<lt::entry>>> answers;
};

// Owns the session and the thread that pumps its alerts. Callers block on cv_
// until the alert they wait for is dispatched or their deadline passes. No call
// may still be running when the node is destroyed.
class P2pNodeImpl final : public P2pNode {
 public:
  P2pNodeImpl(P2pOptions options, bool loopback) : options_(std::move(options)), loopback_(loopback) {}
  ~P2pNodeImpl() override;

  // Starts the session, waits until it listens on TCP and uTP, then joins the
  // bootstrap and saved DHT nodes. UNAVAILABLE when it cannot create the state
  // folder or listen within 10 s.
  mumba::Status Start(const std::string& listen_ip);

  mumba::Status AddDhtNode(const std::string& host_port) override;

  Expected<TorrentRef> Seed(const std::filesystem::path& dir, const std::string& name) override;
  mumba::Status StopSeeding(const std::string& info_hash_v1) override;
  std::vector<TorrentRef> Seeding() const override;

  mumba::Status PutMutable(const KeyPair& key, const std::map<std::string, std::string>& fields, int64_t seq,
                           std::chrono::milliseconds timeout) override;
  Expected<MutableItem> GetMutable(const std::array<uint8_t, 32>& public_key,
                                   std::chrono::milliseconds timeout) override;

  Expected<std::filesystem::path> Fetch(const std::string& info_hash_v1, const std::string& info_hash_v2,
                                        const std::filesystem::path& dest, std::chrono::milliseconds timeout,
                                        const FetchLimits& limits,
                                        const std::function<bool(const FetchProgress&)>& progress) override;
  Expected<int> CountPeers(const std::string& info_hash_v1, std::chrono::milliseconds timeout) override;

  mumba::Status Announce(const std::array<uint8_t, 20>& topic, int port) override;
  void Withdraw(const std::array<uint8_t, 20>& topic) override;
  Expected<std::vector<PeerEndpoint>> FindPeers(const std::array<uint8_t, 20>& topic,
                                                std::chrono::milliseconds timeout) override;

  P2pStatus Status() const override;

 private:
  struct SeedEntry {
    TorrentRef ref;
    lt::torrent_handle handle;
  };
  // A torrent Fetch has added to the session, and what the alerts say of it.
  struct Download {
    lt::info_hash_t ih;
    std::string label;  // The hash the caller gave, for messages.
    lt::torrent_handle handle;
    std::shared_ptr<TorrentEvents> events;
    // Payload received by torrents of this fetch that left the session (the
    // metadata-only one of a reusing fetch); libtorrent counts per torrent.
    uint64_t downloaded_before = 0;
  };
  using ProgressFn = std::function<bool(const FetchProgress&)>;

  // Session (p2p_node_impl.cc).
  lt::settings_pack Settings(const std::string& listen) const;
  // Adds the DHT state saved by the previous run to `params`; the contacts it
  // holds go to saved_nodes_. A missing or damaged file is not an error.
  mumba::Status LoadState(lt::session_params& params);
  void SaveState();
  // Puts every peer in the global class, so that a rate limit applies to peers on
  // local networks too.
  void RateLimitEveryPeer();
  // Waits (bounded) until both listen sockets are up and records the address
  // listened on; UNAVAILABLE with the reason if they are not.
  mumba::Status AwaitListening(const std::string& listen_ip);

  // The alert pump (p2p_node_impl.cc; the DHT handlers in dht.cc). Handlers run
  // on the alert thread with mu_ held.
  void PumpAlerts();
  void Dispatch(lt::alert* a);
  void OnSessionStats(const lt::session_stats_alert& a);
  void OnDhtItem(const lt::dht_mutable_item_alert& a);
  void OnDhtPeers(const lt::dht_get_peers_reply_alert& a);
  void OnDhtDirect(const lt::dht_direct_response_alert& a);
  void OnDhtLiveNodes(const lt::dht_live_nodes_alert& a);
  // PutMutable's own lookup and put (dht.cc).
  struct Stored;
  Stored StoreOnClosest(const SignedItem& item, Clock::time_point deadline);
  // Pauses a download whose metadata shows more than its FetchLimits allow.
  void OnMetadata(const lt::metadata_received_alert& a);
  // Applies `update` to the events of every waiter on torrent `ih`.
  template <typename F>
  void ForTorrent(const lt::info_hash_t& ih, F&& update);

  // Registers interest in a torrent's alerts; the returned events are filled in
  // by the alert thread under mu_. With `limits`, the alert thread pauses the
  // torrent as soon as its metadata shows more than they allow.
  std::shared_ptr<TorrentEvents> WatchTorrent(const lt::info_hash_t& ih,
                                              std::optional<FetchLimits> limits = std::nullopt,
                                              const std::string& label = {});
  void UnwatchTorrent(const lt::info_hash_t& ih, const std::shared_ptr<TorrentEvents>& events);
  // Removes `h` and waits (bounded) until libtorrent confirms; with
  // delete_files, until the files are gone.
  void RemoveAndWait(const lt::torrent_handle& h, const std::shared_ptr<TorrentEvents>& events,
                     bool delete_files);

  // Every wait for the alert thread goes through these, so that a clock seam has
  // one place to go. `lock` holds mu_. With `done`, returns when it holds (true)
  // or at `deadline` (false); without, after the next batch of alerts or at
  // `deadline`, whichever comes first.
  // Deadlines are on options_.clock; the condition variable waits in slices of
  // real time, so a fake clock's deadline is noticed within a slice.
  template <typename Pred>
  bool WaitUntil(std::unique_lock<std::mutex>& lock, Clock::time_point deadline, Pred done) const {
    for (;;) {
      if (done()) return true;
      auto left = deadline - Now();
      if (left <= Clock::duration::zero()) return false;
      cv_.wait_for(lock, std::min<Clock::duration>(left, kWaitSlice));
    }
  }
  void WaitUntil(std::unique_lock<std::mutex>& lock, Clock::time_point deadline) const {
    auto left = deadline - Now();
    if (left > Clock::duration::zero()) cv_.wait_for(lock, std::min<Clock::duration>(left, kWaitSlice));
  }
  template <typename Pred>
  bool WaitFor(std::unique_lock<std::mutex>& lock, Clock::duration timeout, Pred done) const {
    return WaitUntil(lock, Now() + timeout, std::move(done));
  }
  Clock::time_point Now() const { return options_.clock->Now(); }
  static constexpr Clock::duration kWaitSlice = std::chrono::milliseconds(100);

  // Fetch's steps (fetch.cc). Each failing step leaves the download for Discard.
  // With `metadata_only`, no file is wanted: the torrent fetches its metadata and
  // requests no piece.
  Expected<Download> StartDownload(const lt::info_hash_t& ih, const std::string& label,
                                   const std::filesystem::path& save_path, const FetchLimits& limits,
                                   bool metadata_only);
  // Until every piece is verified (or, with `until_metadata`, until the
  // metadata is in and passed the checks below): reports progress, refuses
  // symlinks and torrents over the download's limits, asks the DHT again while
  // no peer serves and once its files are checked, and fails at the deadline or
  // on cancel.
  mumba::Status AwaitVerified(Download& d, Clock::time_point deadline, std::chrono::milliseconds timeout,
                              const ProgressFn& progress, FetchProgress& last, bool until_metadata);
  // Takes the metadata-only torrent out of the session, copies the files found
  // under limits.reuse_from into `save_path` (reuse.h), and adds the torrent
  // again with its info, so libtorrent checks the copies before it requests
  // anything. Reports progress while copying; DEADLINE_EXCEEDED or CANCELLED
  // when the deadline passes or the caller cancels meanwhile (the download is
  // then out of the session), INTERNAL if the torrent cannot be added again.
  mumba::Status RestartWithReused(Download& d, const std::filesystem::path& save_path, const FetchLimits& limits,
                                  Clock::time_point deadline, std::chrono::milliseconds timeout,
                                  const ProgressFn& progress, FetchProgress& last);
  // Until libtorrent's queued writes reached the files.
  mumba::Status AwaitWritten(Download& d);
  // Takes the torrent out of the session, deleting what it wrote.
  void Discard(Download& d);
  // Takes the complete torrent out of the session, keeping the files; returns its name.
  std::string Release(Download& d);

  const P2pOptions options_;
  const bool loopback_;
  // DHT contacts saved by the previous run, joined after listening.
  std::vector<std::pair<std::string, int>> saved_nodes_;
  std::unique_ptr<lt::session> session_;
  // Made with the session, before the alert thread starts; sees every alert.
  std::unique_ptr<Presence> presence_;
  std::thread alert_thread_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  // Guarded by mu_.
  bool tcp_listening_ = false;
  bool udp_listening_ = false;
  std::string listen_error_;
  int port_ = 0;
  std::string listen_;
  std::map<std::string, SeedEntry> seeds_;                                      // By v1 hex.
  std::multimap<std::string, std::shared_ptr<GetWaiter>> get_waiters_;          // By public key.
  std::multimap<std::string, std::shared_ptr<PeersWaiter>> peers_waiters_;      // By raw v1 hash.
  std::map<uint64_t, std::shared_ptr<DirectWaiter>> direct_waiters_;            // By request tag.
  uint64_t last_direct_tag_ = 0;
  std::multimap<std::string, std::shared_ptr<TorrentEvents>> torrent_waiters_;  // By TorrentKeys.
  uint64_t stats_generation_ = 0;
  int dht_nodes_ = 0;
};

}  // namespace mumba::p2p
