// SPDX-License-Identifier: Apache-2.0
// The host's BitTorrent node: one libtorrent session that seeds and fetches bundles
// as hybrid (v1+v2) torrents and keeps apps' permanent addresses in the DHT as
// BEP 44 mutable items laid out as BEP 46 describes.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/keys.h"
#include "mumba/status.h"
#include "platform/clock.h"

namespace mumba {

struct P2pOptions {
  // Where BitTorrent and the DHT listen, "IP:PORT" (port 0 picks one). Users get
  // "0.0.0.0:0"; tests give "127.0.0.1:0" (a literal IP: on 0.0.0.0/lo a loopback
  // node gets no DHT).
  std::string listen = "0.0.0.0:0";
  // DHT nodes to join through, "HOST:PORT". Empty means no DHT traffic at all until
  // AddDhtNode. The host passes the public Mainline routers only for users.
  std::vector<std::string> bootstrap;
  // Holds the node's DHT state and what it seeds; survives restarts.
  std::filesystem::path state_dir;
  int upload_rate_limit = 0;    // Bytes/s; 0 = unlimited.
  int download_rate_limit = 0;  // Bytes/s; 0 = unlimited.
  // What every deadline and wait reads; borrowed, must outlive the node.
  const Clock* clock = &Clock::Real();
};

// A torrent made of a folder.
struct TorrentRef {
  std::string info_hash_v1;  // 40 hex chars.
  std::string info_hash_v2;  // 64 hex chars (the full SHA-256 hash).
  std::string magnet;        // magnet:?xt=urn:btih:...&xt=urn:btmh:1220...&dn=NAME
  uint64_t total_size = 0;
  std::string name;          // The torrent's top folder name.
};

// A BEP 44 mutable item: a bencoded dictionary signed by `public_key`.
struct MutableItem {
  std::array<uint8_t, 32> public_key{};
  int64_t seq = 0;
  // The dictionary's string values by key (BEP 46: "ih" holds the 20-byte v1
  // info-hash, raw). Mumba adds "v2" (32 raw bytes), "name", "version", "size".
  std::map<std::string, std::string> fields;
};

struct FetchProgress {
  uint64_t done = 0;   // Verified bytes, reused ones included.
  uint64_t total = 0;  // 0 until the metadata arrived.
  int peers = 0;
  double rate = 0;     // Bytes/s, recent.
  // Payload bytes received from peers for this fetch so far (what was reused
  // from FetchLimits::reuse_from does not count; failed or redundant blocks do).
  // The last progress call, made once the fetch is complete, holds the final figure.
  uint64_t downloaded = 0;
};

// The most a fetched bundle may hold unless the caller says otherwise: a
// publisher must not be able to fill the disk of everyone who installs from it.
inline constexpr uint64_t kDefaultMaxBundleBytes = 1ull << 30;  // 1 GiB.
inline constexpr uint64_t kDefaultMaxBundleFiles = 10000;

// What one Fetch may bring in, and what it may start from. The torrent's
// metadata says how many bytes and files it holds before any of them is
// downloaded, and libtorrent never writes past the sizes it declares; a torrent
// that declares more than these limits is stopped as soon as its metadata arrives
// and everything it wrote is deleted.
struct FetchLimits {
  // The size its publisher announced for it (a Mumba item's "size"), if any: a
  // torrent holding more is refused.
  std::optional<uint64_t> announced_bytes;
  // The ceiling, whatever was announced.
  uint64_t max_bytes = kDefaultMaxBundleBytes;
  uint64_t max_files = kDefaultMaxBundleFiles;
  // A folder holding an earlier version of the torrent's contents (its top
  // folder, as an earlier Fetch returned it), or empty for none. Each file of the
  // torrent found here at the same relative path, as a regular file (never a
  // symlink or a special file, nor one reached through a symlinked folder) of the
  // same size, is copied into the download before any piece is requested; the
  // copies are hash-checked like downloaded data and only the pieces missing or
  // failing are fetched. Nothing under this folder is ever written.
  std::filesystem::path reuse_from;
};

struct P2pStatus {
  std::string listen;  // The address actually listened on, "IP:PORT".
  int dht_nodes = 0;
  int torrents = 0;
  int seeding = 0;
  double upload_rate = 0;    // Bytes/s.
  double download_rate = 0;  // Bytes/s.
};

// Thread-safe; every method may block for network work, never longer than its
// timeout.
//
// The return types say `mumba::Status` because the member `Status()` below hides
// the type inside the class (GCC rejects the unqualified name: "changes meaning").
class P2pNode {
 public:
  virtual ~P2pNode() = default;

  // Starts the session and waits until it listens. INVALID_ARGUMENT for a bad
  // listen address; UNAVAILABLE if it cannot listen.
  static Expected<std::unique_ptr<P2pNode>> Create(P2pOptions options);

  // Joins the DHT through `host:port` (also fine after Create); the answer comes
  // later, as dht_nodes in Status. INVALID_ARGUMENT for text that is not
  // HOST:PORT or [IPv6]:PORT, or for port 0.
  virtual mumba::Status AddDhtNode(const std::string& host_port) = 0;

  // Makes a hybrid torrent named `name` of the files in folder `dir` (every file
  // under it, in a fixed order, no creation date: the same files and name always
  // give the same info-hashes, whatever the folder is called) and seeds it from
  // `dir`, announcing it in the DHT. Seeding again is a no-op. The folder must not
  // change while seeded.
  virtual Expected<TorrentRef> Seed(const std::filesystem::path& dir, const std::string& name) = 0;
  // Stops seeding (the files stay).
  virtual mumba::Status StopSeeding(const std::string& info_hash_v1) = 0;
  // Torrents seeded now, by v1 info-hash.
  virtual std::vector<TorrentRef> Seeding() const = 0;

  // Signs `fields` (bencoded as a dictionary of strings) with `key` and puts it in
  // the DHT under the key's public key (no salt) with sequence number `seq`: looks
  // up the k = 8 closest nodes that answer and stores the item on them. Returns
  // once most of them confirmed, or once each confirmed or was given up on (a
  // node is given up on after 4x the slowest answer, 20 ms to 1 s) with at least
  // one confirmation; a put that reached no node is retried until `timeout`
  // (DEADLINE_EXCEEDED). FAILED_PRECONDITION when a node answered with a validly
  // signed item of a higher sequence number (nothing is put then);
  // INVALID_ARGUMENT for a bad key pair, a negative `seq` or too big a value.
  virtual mumba::Status PutMutable(const KeyPair& key, const std::map<std::string, std::string>& fields,
                            int64_t seq, std::chrono::milliseconds timeout) = 0;
  // Looks up the item of `public_key`; returns the highest sequence number seen
  // with a valid signature when the lookup ends, or after its first valid item
  // once twice the time that item took has passed again (20 ms to 1 s), whichever
  // comes first: a lookup waits out every node that does not answer (15 s each),
  // while the nodes about as close as the first to answer answer within that span.
  // Never a lower sequence number than another valid item the lookup saw; what
  // is installed is the host's to guard (an item older than it is refused there).
  // NOT_FOUND if the DHT had none within `timeout`.
  virtual Expected<MutableItem> GetMutable(const std::array<uint8_t, 32>& public_key,
                                           std::chrono::milliseconds timeout) = 0;

  // Downloads the torrent with these info-hashes (peers found through the DHT)
  // into `dest`/<torrent name>, verifying every piece, and returns that folder. The
  // torrent leaves the session once complete (the host seeds the installed copy
  // with Seed, which gives the same info-hashes). DEADLINE_EXCEEDED when it is not
  // complete within `timeout`; the partial download is removed on any error.
  // `progress` is called about every 200 ms from the calling thread; returning
  // false stops the fetch (CANCELLED, nothing left behind). A torrent holding
  // symlinks is refused (DATA_LOSS) as soon as its metadata arrives, and one
  // holding more bytes or files than `limits` allow (RESOURCE_EXHAUSTED, saying
  // what was announced or allowed and what the torrent holds) is stopped then
  // too, before the download goes on, and what it wrote is deleted. With
  // `limits.reuse_from`, the files found there are copied in first (see
  // FetchLimits); a reuse folder that is missing or unreadable only means
  // everything is downloaded. The last progress call says what was downloaded.
  virtual Expected<std::filesystem::path> Fetch(const std::string& info_hash_v1,
                                                const std::string& info_hash_v2,
                                                const std::filesystem::path& dest,
                                                std::chrono::milliseconds timeout, const FetchLimits& limits,
                                                const std::function<bool(const FetchProgress&)>& progress) = 0;

  // Asks the DHT who announced the torrent and returns how many distinct peers
  // (IP:port) it named within `timeout`. Answers trickle in with no end marker,
  // so the count is final 500 ms after the last new peer (or at `timeout`).
  virtual Expected<int> CountPeers(const std::string& info_hash_v1, std::chrono::milliseconds timeout) = 0;

  // Presence (presence.h): which hosts serve an app's peer services.
  struct PeerEndpoint {
    std::string ip;
    int port = 0;
  };
  // The 20-byte DHT topic of an app's peers: SHA-1 of "mumba-peers:" + the app's
  // canonical address. The same address always gives the same topic.
  static std::array<uint8_t, 20> PeerTopic(const std::string& app_address);
  // Announces that this node serves `topic` on TCP `port`, now and again every
  // few minutes and whenever the DHT routing table grows, until Withdraw;
  // announcing the same topic again replaces the port. OK once queued (the DHT
  // stores it moments later); INVALID_ARGUMENT for a port outside 1..65535;
  // UNAVAILABLE when the DHT is off.
  virtual mumba::Status Announce(const std::array<uint8_t, 20>& topic, int port) = 0;
  // Stops announcing `topic` (no-op if not announced). The DHT cannot take an
  // announcement back: lookups may return it until it expires on the nodes that
  // stored it (45 min after the last announce on libtorrent nodes).
  virtual void Withdraw(const std::array<uint8_t, 20>& topic) = 0;
  // Looks up `topic` in the DHT: the distinct endpoints found until `timeout`, or
  // as soon as the lookup ends, without this node's own endpoint. An empty list
  // is not an error. UNAVAILABLE when the DHT is off.
  virtual Expected<std::vector<PeerEndpoint>> FindPeers(const std::array<uint8_t, 20>& topic,
                                                        std::chrono::milliseconds timeout) = 0;

  virtual P2pStatus Status() const = 0;
};

}  // namespace mumba
