// SPDX-License-Identifier: Apache-2.0
// P2pNode on libtorrent 2.0: one session, one thread that pumps its alerts, and
// callers that block on a condition variable until the alert they wait for (or
// their deadline) arrives.
#include "p2p/p2p_node.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/address.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/info_hash.hpp>
#include <libtorrent/ip_filter.hpp>
#include <libtorrent/kademlia/ed25519.hpp>
#include <libtorrent/kademlia/item.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/extensions/ut_metadata.hpp>
#include <libtorrent/extensions/ut_pex.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/session_stats.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include "common/files.h"
#include "p2p/session_settings.h"

namespace mumba {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kListenTimeout = std::chrono::seconds(10);
// How long removing a torrent may take before we stop waiting for libtorrent's
// confirmation (it only closes files and peers).
constexpr auto kRemoveTimeout = std::chrono::seconds(5);
// How long a new seed may take to be ready to announce.
constexpr auto kCheckTimeout = std::chrono::seconds(10);
constexpr auto kProgressInterval = std::chrono::milliseconds(200);
// A downloader with no peers (or none that sent the metadata) asks the DHT
// again after 250 ms (its first lookup may have raced the seed's announce), then
// backs off to every 4 s (a lookup in the public DHT takes seconds).
constexpr auto kFirstReannounce = std::chrono::milliseconds(250);
constexpr auto kMaxReannounce = std::chrono::milliseconds(4000);
// How long a lookup goes on after its first valid item, for a newer one.
constexpr auto kSettleAfterFirstItem = std::chrono::milliseconds(1000);
// BEP 44: the bencoded "v" of an item is at most 1000 bytes.
constexpr size_t kMaxItemValueBytes = 1000;
constexpr const char* kDhtStateFile = "dht_state";

std::string ToHex(const char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    auto b = static_cast<unsigned char>(data[i]);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

template <typename Hash>
std::string HashHex(const Hash& h) {
  return ToHex(h.data(), h.size());
}

// Decodes exactly `n` bytes of hex into `out`; false on any other input.
bool FromHex(const std::string& hex, size_t n, char* out) {
  if (hex.size() != n * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < n; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return true;
}

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(const std::string& s) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

struct HostPort {
  std::string host;
  int port = 0;
};

// Splits "host:port" or "[v6]:port". Says nothing about whether host is an IP.
Expected<HostPort> SplitHostPort(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgument("'" + text + "' is not [IPv6]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      return InvalidArgument("'" + text + "' is not HOST:PORT");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return InvalidArgument("'" + text + "' has no host");
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return InvalidArgument("'" + text + "' has no valid port");
  }
  int p = std::stoi(port);
  if (p > 65535) return InvalidArgument("'" + text + "' has a port above 65535");
  return HostPort{host, p};
}

// Piece size of every torrent we make, a function of the total size only. It is
// part of the torrent format: changing it changes every info-hash.
int PieceSizeFor(uint64_t total) {
  uint64_t piece = 256 * 1024;
  while (total / piece > 2048 && piece < 16 * 1024 * 1024) piece *= 2;
  return static_cast<int>(piece);
}

bool IsSafeName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

// A libtorrent key pair from Mumba's. libsodium stores seed || public key;
// libtorrent's ref10 code wants the expanded (hashed, clamped) secret instead.
// Passing libsodium's 64 bytes to libtorrent gives signatures that fail to
// verify, so the secret is re-derived from the 32-byte seed.
Expected<std::pair<lt::dht::public_key, lt::dht::secret_key>> LibtorrentKeys(const KeyPair& key) {
  std::array<char, 32> seed;
  std::memcpy(seed.data(), key.secret_key.data(), seed.size());
  auto [pk, sk] = lt::dht::ed25519_create_keypair(seed);
  if (std::memcmp(pk.bytes.data(), key.public_key.data(), 32) != 0) {
    return InvalidArgument("the secret key does not belong to the public key");
  }
  return std::make_pair(pk, sk);
}

// What BEP 44 signs for an item without salt: "3:seqi<seq>e1:v<bencoded value>".
std::string SignedText(const std::vector<char>& value, int64_t seq) {
  return "3:seqi" + std::to_string(seq) + "e1:v" + std::string(value.begin(), value.end());
}

std::string KeyString(const std::array<char, 32>& k) { return std::string(k.data(), k.size()); }

// The map keys under which a torrent's events are filed: its v1 hash and its
// truncated v2 hash, whichever it has (a torrent added by one hash learns the
// other with its metadata).
std::vector<std::string> TorrentKeys(const lt::info_hash_t& ih) {
  std::vector<std::string> keys;
  if (ih.has_v1()) keys.push_back(ih.v1.to_string());
  if (ih.has_v2()) keys.push_back(std::string(ih.v2.data(), 20));
  return keys;
}

// What a waiter learns about a torrent from alerts.
struct TorrentEvents {
  bool checked = false;   // Files checked: only now does libtorrent announce it.
  bool finished = false;  // Every piece verified (not necessarily written yet).
  bool flushed = false;   // Everything written before flush_cache() is on disk.
  bool removed = false;
  bool deleted = false;  // Or deleting failed; either way libtorrent is done with the files.
  std::string delete_error;
};

struct PutWaiter {
  int64_t seq = 0;
  bool done = false;
  int num_success = 0;
  // The sequence number of the item the DHT held before the put (set from the
  // network thread, hence atomic).
  std::atomic<int64_t> previous_seq{-1};
};

struct PeersWaiter {
  std::set<std::string> peers;  // "IP:port".
  Clock::time_point last_new{};
};

struct GetWaiter {
  std::optional<MutableItem> best;
  bool done = false;
  std::optional<Clock::time_point> first_found;
};

// Owns the session and the thread that pumps its alerts. Callers block on cv_
// until the alert they wait for is dispatched or their deadline passes. No call
// may still be running when the node is destroyed.
class P2pNodeImpl final : public P2pNode {
 public:
  P2pNodeImpl(P2pOptions options, bool loopback) : options_(std::move(options)), loopback_(loopback) {}

  ~P2pNodeImpl() override {
    if (session_) SaveState();
    stop_ = true;
    if (alert_thread_.joinable()) alert_thread_.join();
    session_.reset();
  }

  mumba::Status Start(const std::string& listen_ip);

  mumba::Status AddDhtNode(const std::string& host_port) override {
    MUMBA_ASSIGN_OR_RETURN(HostPort hp, SplitHostPort(host_port));
    if (hp.port == 0) return InvalidArgument("DHT node '" + host_port + "' has port 0");
    session_->add_dht_node({hp.host, hp.port});
    return {};
  }

  Expected<TorrentRef> Seed(const fs::path& dir, const std::string& name) override;
  mumba::Status StopSeeding(const std::string& info_hash_v1) override;
  std::vector<TorrentRef> Seeding() const override {
    std::lock_guard lock(mu_);
    std::vector<TorrentRef> out;
    for (const auto& [hash, seed] : seeds_) out.push_back(seed.ref);
    return out;
  }

  mumba::Status PutMutable(const KeyPair& key, const std::map<std::string, std::string>& fields, int64_t seq,
                           std::chrono::milliseconds timeout) override;
  Expected<MutableItem> GetMutable(const std::array<uint8_t, 32>& public_key,
                                   std::chrono::milliseconds timeout) override;

  Expected<fs::path> Fetch(const std::string& info_hash_v1, const std::string& info_hash_v2,
                           const fs::path& dest, std::chrono::milliseconds timeout,
                           const std::function<bool(const FetchProgress&)>& progress) override;
  Expected<int> CountPeers(const std::string& info_hash_v1, std::chrono::milliseconds timeout) override;

  P2pStatus Status() const override;

 private:
  struct SeedEntry {
    TorrentRef ref;
    lt::torrent_handle handle;
  };

  lt::settings_pack Settings(const std::string& listen) const;
  void PumpAlerts();
  void Dispatch(lt::alert* a);  // Called with mu_ held.
  // Applies `update` to the events of every waiter on torrent `ih` (mu_ held).
  template <typename F>
  void ForTorrent(const lt::info_hash_t& ih, F&& update);
  void SaveState();

  // Registers interest in a torrent's alerts; the returned events are filled in
  // by the alert thread under mu_.
  std::shared_ptr<TorrentEvents> WatchTorrent(const lt::info_hash_t& ih);
  void UnwatchTorrent(const lt::info_hash_t& ih, const std::shared_ptr<TorrentEvents>& events);
  // Removes `h` and waits (bounded) until libtorrent confirms; with
  // delete_files, until the files are gone.
  void RemoveAndWait(const lt::torrent_handle& h, const std::shared_ptr<TorrentEvents>& events,
                     bool delete_files);

  const P2pOptions options_;
  const bool loopback_;
  // DHT contacts saved by the previous run, joined after listening.
  std::vector<std::pair<std::string, int>> saved_nodes_;
  std::unique_ptr<lt::session> session_;
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
  std::multimap<std::string, std::shared_ptr<PutWaiter>> put_waiters_;          // By public key.
  std::multimap<std::string, std::shared_ptr<GetWaiter>> get_waiters_;          // By public key.
  std::multimap<std::string, std::shared_ptr<PeersWaiter>> peers_waiters_;      // By raw v1 hash.
  std::multimap<std::string, std::shared_ptr<TorrentEvents>> torrent_waiters_;  // By TorrentKeys.
  uint64_t stats_generation_ = 0;
  int dht_nodes_ = 0;
};

lt::settings_pack P2pNodeImpl::Settings(const std::string& listen) const {
  lt::settings_pack s = SessionSettings(listen, loopback_);
  // A hybrid piece needs SHA-1 and SHA-256; one thread caps a download near
  // 240 MB/s here.
  s.set_int(lt::settings_pack::hashing_threads,
            static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  s.set_int(lt::settings_pack::upload_rate_limit, std::max(0, options_.upload_rate_limit));
  s.set_int(lt::settings_pack::download_rate_limit, std::max(0, options_.download_rate_limit));
  s.set_int(lt::settings_pack::alert_mask, lt::alert_category::error | lt::alert_category::status |
                                               lt::alert_category::storage | lt::alert_category::dht |
                                               lt::alert_category::dht_operation |
                                               lt::alert_category::port_mapping);
  return s;
}

mumba::Status P2pNodeImpl::Start(const std::string& listen_ip) {
  lt::session_params params(Settings(options_.listen));
  // No smart_ban: it finds the sender of a bad block by IP alone, so on loopback
  // (or behind one NAT) it bans the honest seeder with the corrupt one and the
  // download stalls. A hybrid torrent's v2 block hashes already name the bad peer.
  params.extensions.clear();  // ut_metadata and ut_pex are added back below.
  if (!options_.state_dir.empty()) {
    std::error_code ec;
    fs::create_directories(options_.state_dir, ec);
    if (ec) return Unavailable("cannot create " + options_.state_dir.string() + ": " + ec.message());
    auto saved = ReadFile(options_.state_dir / kDhtStateFile);
    if (saved.ok()) {
      lt::error_code lec;
      lt::bdecode_node node = lt::bdecode(*saved, lec);
      if (!lec) {
        lt::session_params loaded = lt::read_session_params(node, lt::session_handle::save_dht_state);
        params.dht_state = std::move(loaded.dht_state);
        // "No bootstrap" promises no DHT traffic until AddDhtNode, so then the
        // saved contacts go unused. Otherwise they are joined like bootstrap
        // nodes once listening: libtorrent bootstraps from them as it starts,
        // before its UDP socket exists, and that attempt goes nowhere.
        if (!options_.bootstrap.empty()) {
          for (const auto* list : {&params.dht_state.nodes, &params.dht_state.nodes6}) {
            for (const auto& ep : *list) saved_nodes_.emplace_back(ep.address().to_string(), ep.port());
          }
        }
        params.dht_state.nodes.clear();
        params.dht_state.nodes6.clear();
      }
      // A damaged state file only costs the node its saved contacts. (The saved
      // node id is reused only when the socket already knows its external
      // address; on loopback or behind NAT libtorrent picks a new random id.)
    }
  }
  session_ = std::make_unique<lt::session>(std::move(params));
  session_->add_extension(&lt::create_ut_metadata_plugin);
  session_->add_extension(&lt::create_ut_pex_plugin);
  if (options_.upload_rate_limit > 0 || options_.download_rate_limit > 0) {
    // libtorrent puts peers on local networks (loopback, 10/8, 192.168/16, ...)
    // in a class of their own that no rate limit applies to. A node given a
    // limit keeps it for every peer: all of them go into the global class.
    lt::ip_filter classes;
    const auto global = 1u << static_cast<std::uint32_t>(lt::session::global_peer_class_id);
    classes.add_rule(lt::make_address("0.0.0.0"), lt::make_address("255.255.255.255"), global);
    classes.add_rule(lt::make_address("::"), lt::make_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
                     global);
    session_->set_peer_class_filter(classes);
  }
  alert_thread_ = std::thread([this] { PumpAlerts(); });

  std::unique_lock lock(mu_);
  bool ok = cv_.wait_for(lock, kListenTimeout,
                         [&] { return (tcp_listening_ && udp_listening_) || !listen_error_.empty(); });
  if (!listen_error_.empty() && !(tcp_listening_ && udp_listening_)) {
    // Alerts of one listen attempt come in one batch; give the rest of the
    // batch a moment before deciding.
    cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return tcp_listening_ && udp_listening_; });
  }
  if (!(tcp_listening_ && udp_listening_)) {
    std::string why = listen_error_.empty() ? (ok ? "unknown" : "timed out") : listen_error_;
    return Unavailable("cannot listen on " + options_.listen + ": " + why);
  }
  listen_ = (listen_ip.find(':') != std::string::npos ? "[" + listen_ip + "]" : listen_ip) + ":" +
            std::to_string(port_);
  lock.unlock();

  // Joining only now that the UDP socket exists: earlier, libtorrent drops the nodes.
  for (const auto& node : options_.bootstrap) MUMBA_TRY(AddDhtNode(node));
  for (const auto& node : saved_nodes_) session_->add_dht_node(node);
  return {};
}

void P2pNodeImpl::PumpAlerts() {
  std::vector<lt::alert*> alerts;
  auto next_stats = std::chrono::steady_clock::now();
  while (!stop_) {
    // Stats once a second keep dht_nodes_ fresh, which is what re-announces seeds
    // when the routing table grows (see the session_stats_alert case).
    if (std::chrono::steady_clock::now() >= next_stats) {
      session_->post_session_stats();
      next_stats = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    session_->wait_for_alert(lt::milliseconds(100));
    session_->pop_alerts(&alerts);
    if (alerts.empty()) continue;
    {
      std::lock_guard lock(mu_);
      for (lt::alert* a : alerts) Dispatch(a);
    }
    cv_.notify_all();
  }
}

void P2pNodeImpl::Dispatch(lt::alert* a) {
  if (auto* l = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
    if (l->socket_type == lt::socket_type_t::tcp) {
      tcp_listening_ = true;
      port_ = l->port;
    } else if (l->socket_type == lt::socket_type_t::utp) {
      udp_listening_ = true;
    }
  } else if (auto* f = lt::alert_cast<lt::listen_failed_alert>(a)) {
    listen_error_ = f->message();
  } else if (auto* p = lt::alert_cast<lt::dht_put_alert>(a)) {
    auto [begin, end] = put_waiters_.equal_range(KeyString(p->public_key));
    for (auto it = begin; it != end; ++it) {
      if (it->second->seq == p->seq && !it->second->done) {
        it->second->done = true;
        it->second->num_success = p->num_success;
      }
    }
  } else if (auto* m = lt::alert_cast<lt::dht_mutable_item_alert>(a)) {
    auto [begin, end] = get_waiters_.equal_range(KeyString(m->key));
    if (begin == end) return;
    std::optional<MutableItem> item;
    // An empty lookup ends with an authoritative alert carrying no item.
    if (m->salt.empty() && m->item.type() == lt::entry::dictionary_t) {
      // libtorrent checked the signature before posting; check it again here so
      // that "valid signature" is this module's promise, not only the library's.
      std::vector<char> value;
      lt::bencode(std::back_inserter(value), m->item);
      lt::dht::signature sig;
      std::memcpy(sig.bytes.data(), m->signature.data(), sig.bytes.size());
      lt::dht::public_key pk(m->key.data());
      std::string signed_text = SignedText(value, m->seq);
      if (lt::dht::ed25519_verify(sig, signed_text, pk)) {
        MutableItem mi;
        std::memcpy(mi.public_key.data(), m->key.data(), 32);
        mi.seq = m->seq;
        for (const auto& [k, v] : m->item.dict()) {
          if (v.type() == lt::entry::string_t) mi.fields[k] = v.string();
        }
        item = std::move(mi);
      }
    }
    for (auto it = begin; it != end; ++it) {
      auto& w = *it->second;
      if (item && (!w.best || w.best->seq < item->seq)) w.best = item;
      if (item && !w.first_found) w.first_found = Clock::now();
      if (m->authoritative) w.done = true;
    }
  } else if (auto* gp = lt::alert_cast<lt::dht_get_peers_reply_alert>(a)) {
    auto [begin, end] = peers_waiters_.equal_range(gp->info_hash.to_string());
    if (begin == end) return;
    auto peers = gp->peers();
    for (auto it = begin; it != end; ++it) {
      for (const auto& ep : peers) {
        std::string key = ep.address().to_string() + ":" + std::to_string(ep.port());
        if (it->second->peers.insert(key).second) it->second->last_new = Clock::now();
      }
    }
  } else if (auto* ss = lt::alert_cast<lt::session_stats_alert>(a)) {
    static const int kDhtNodes = lt::find_metric_idx("dht.dht_nodes");
    auto counters = ss->counters();
    if (kDhtNodes >= 0) {
      int nodes = static_cast<int>(counters[kDhtNodes]);
      // A seed announced while the routing table was empty (the node just started,
      // or its peers were not up yet) reached nobody, and libtorrent's own next
      // announce is minutes away: announce again whenever the table grows.
      if (nodes > dht_nodes_) {
        for (auto& [hash, seed] : seeds_) seed.handle.force_dht_announce();
      }
      dht_nodes_ = nodes;
    }
    ++stats_generation_;
  } else if (auto* fin = lt::alert_cast<lt::torrent_finished_alert>(a)) {
    ForTorrent(fin->handle.info_hashes(), [](TorrentEvents& e) { e.finished = true; });
  } else if (auto* chk = lt::alert_cast<lt::torrent_checked_alert>(a)) {
    ForTorrent(chk->handle.info_hashes(), [](TorrentEvents& e) { e.checked = true; });
  } else if (auto* fl = lt::alert_cast<lt::cache_flushed_alert>(a)) {
    ForTorrent(fl->handle.info_hashes(), [](TorrentEvents& e) { e.flushed = true; });
  } else if (auto* rm = lt::alert_cast<lt::torrent_removed_alert>(a)) {
    ForTorrent(rm->info_hashes, [](TorrentEvents& e) { e.removed = true; });
  } else if (auto* del = lt::alert_cast<lt::torrent_deleted_alert>(a)) {
    ForTorrent(del->info_hashes, [](TorrentEvents& e) { e.deleted = true; });
  } else if (auto* df = lt::alert_cast<lt::torrent_delete_failed_alert>(a)) {
    std::string why = df->error.message();
    ForTorrent(df->info_hashes, [&](TorrentEvents& e) {
      e.deleted = true;
      e.delete_error = why;
    });
  }
}

template <typename F>
void P2pNodeImpl::ForTorrent(const lt::info_hash_t& ih, F&& update) {
  std::set<TorrentEvents*> seen;  // A waiter is filed under up to two keys.
  for (const auto& key : TorrentKeys(ih)) {
    auto [begin, end] = torrent_waiters_.equal_range(key);
    for (auto it = begin; it != end; ++it) {
      if (seen.insert(it->second.get()).second) update(*it->second);
    }
  }
}

void P2pNodeImpl::SaveState() {
  if (options_.state_dir.empty()) return;
  lt::session_params params = session_->session_state(lt::session_handle::save_dht_state);
  std::vector<char> buf = lt::write_session_params_buf(params, lt::session_handle::save_dht_state);
  // Losing the state only costs the node its DHT identity and contacts, and a
  // destructor has no one to tell: the result is deliberately ignored.
  (void)WriteFileAtomic(options_.state_dir / kDhtStateFile, std::string(buf.begin(), buf.end()), 0600);
}

std::shared_ptr<TorrentEvents> P2pNodeImpl::WatchTorrent(const lt::info_hash_t& ih) {
  auto events = std::make_shared<TorrentEvents>();
  std::lock_guard lock(mu_);
  for (const auto& key : TorrentKeys(ih)) torrent_waiters_.emplace(key, events);
  return events;
}

void P2pNodeImpl::UnwatchTorrent(const lt::info_hash_t& ih, const std::shared_ptr<TorrentEvents>& events) {
  std::lock_guard lock(mu_);
  for (const auto& key : TorrentKeys(ih)) {
    auto [begin, end] = torrent_waiters_.equal_range(key);
    for (auto it = begin; it != end;) it = it->second == events ? torrent_waiters_.erase(it) : std::next(it);
  }
}

void P2pNodeImpl::RemoveAndWait(const lt::torrent_handle& h, const std::shared_ptr<TorrentEvents>& events,
                                bool delete_files) {
  session_->remove_torrent(h, delete_files ? lt::session_handle::delete_files : lt::remove_flags_t{});
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, kRemoveTimeout, [&] { return events->removed && (!delete_files || events->deleted); });
}

// Every regular file under `dir`, by path relative to it ('/'-separated), with
// its size and whether its owner may execute it.
struct FileEntry {
  std::string rel;
  uint64_t size = 0;
  bool executable = false;
};

Expected<std::vector<FileEntry>> ListFiles(const fs::path& dir) {
  std::vector<FileEntry> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return InvalidArgument("cannot read " + dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Unavailable("cannot read " + dir.string() + ": " + ec.message());
    fs::file_status st = it->symlink_status(ec);
    if (ec) return Unavailable("cannot stat " + it->path().string() + ": " + ec.message());
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (fs::is_directory(st)) continue;
    if (fs::is_symlink(st)) {
      return InvalidArgument("'" + rel + "' is a symlink; a shared folder holds only files and folders");
    }
    if (!fs::is_regular_file(st)) {
      return InvalidArgument("'" + rel + "' is not a regular file");
    }
    uint64_t size = it->file_size(ec);
    if (ec) return Unavailable("cannot stat " + it->path().string() + ": " + ec.message());
    bool exec = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
    files.push_back({rel, size, exec});
  }
  std::sort(files.begin(), files.end(), [](const FileEntry& a, const FileEntry& b) { return a.rel < b.rel; });
  return files;
}

// A temporary folder holding one symlink `name` -> `dir`, so that libtorrent,
// which reads a torrent's files at <path>/<name>/..., hashes them in place
// whatever `dir` is called. Removed on destruction.
class NameAlias {
 public:
  static Expected<std::unique_ptr<NameAlias>> Make(const fs::path& dir, const std::string& name) {
    std::string tmpl = (fs::temp_directory_path() / "mumba-seed-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return Unavailable("cannot create a temporary folder: " + std::string(std::strerror(errno)));
    }
    auto alias = std::unique_ptr<NameAlias>(new NameAlias(tmpl));
    std::error_code ec;
    fs::create_directory_symlink(fs::absolute(dir), alias->root_ / name, ec);
    if (ec) return Unavailable("cannot link " + dir.string() + ": " + ec.message());
    return alias;
  }
  ~NameAlias() {
    std::error_code ec;
    fs::remove_all(root_, ec);  // Removes the link, never what it points at.
  }
  const fs::path& root() const { return root_; }

 private:
  explicit NameAlias(fs::path root) : root_(std::move(root)) {}
  fs::path root_;
};

Expected<TorrentRef> P2pNodeImpl::Seed(const fs::path& dir, const std::string& name) {
  if (!IsSafeName(name)) return InvalidArgument("'" + name + "' is not a valid torrent name");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return InvalidArgument(dir.string() + " is not a folder");
  const fs::path root = fs::absolute(dir).lexically_normal();
  MUMBA_ASSIGN_OR_RETURN(auto files, ListFiles(root));
  uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  if (total == 0) return InvalidArgument(dir.string() + " holds no data (torrents need at least one byte)");

  lt::file_storage storage;
  for (const auto& f : files) {
    // No mtime, so the same contents always give the same info-hashes.
    storage.add_file(name + "/" + f.rel, static_cast<std::int64_t>(f.size),
                     f.executable ? lt::file_storage::flag_executable : lt::file_flags_t{});
  }
  // Default flags: hybrid v1+v2, files piece-aligned with pad files (libtorrent
  // 2.0.8 also pads the last file, as BEP 47 says; 2.0.7 did not, so its hashes
  // of the same files differ).
  lt::create_torrent creator(storage, PieceSizeFor(total));
  creator.set_creation_date(0);
  {
    MUMBA_ASSIGN_OR_RETURN(auto alias, NameAlias::Make(root, name));
    lt::error_code lec;
    lt::set_piece_hashes(creator, alias->root().string(), lec);
    if (lec) return Unavailable("cannot hash " + dir.string() + ": " + lec.message());
  }
  std::vector<char> buf;
  try {
    buf = creator.generate_buf();
  } catch (const std::system_error& e) {
    return Internal("cannot make a torrent of " + dir.string() + ": " + e.what());
  }
  lt::error_code lec;
  auto ti = std::make_shared<lt::torrent_info>(buf, lec, lt::from_span);
  if (lec) return Internal("libtorrent rejected its own torrent: " + lec.message());

  TorrentRef ref;
  ref.info_hash_v1 = HashHex(ti->info_hashes().v1);
  ref.info_hash_v2 = HashHex(ti->info_hashes().v2);
  ref.magnet = "magnet:?xt=urn:btih:" + ref.info_hash_v1 + "&xt=urn:btmh:1220" + ref.info_hash_v2 +
               "&dn=" + UrlEncode(name);
  ref.total_size = total;
  ref.name = name;
  {
    std::lock_guard lock(mu_);
    if (seeds_.count(ref.info_hash_v1)) return ref;
  }
  if (session_->find_torrent(ti->info_hashes().v1).is_valid()) {
    return FailedPrecondition("torrent " + ref.info_hash_v1 + " is being fetched by this node");
  }

  lt::add_torrent_params atp;
  atp.ti = ti;
  // Files are read where they are: each is renamed to its absolute path under
  // `root`, so neither the folder's name nor its parent matters.
  atp.save_path = root.string();
  const lt::file_storage& tfs = ti->files();
  for (lt::file_index_t i : tfs.file_range()) {
    if (tfs.pad_file_at(i)) continue;
    std::string path = tfs.file_path(i);  // "<name>/<rel>"
    atp.renamed_files[i] = (root / path.substr(name.size() + 1)).string();
  }
  // Seed mode trusts the data we just hashed (pieces are checked lazily as they
  // are first served). Not auto-managed and not paused: a paused torrent makes
  // the session refuse incoming peers, who then wait 60 s to retry.
  atp.flags = lt::torrent_flags::seed_mode | lt::torrent_flags::duplicate_is_error;
  // Every piece was hashed just now: do not hash it again when first served.
  atp.verified_pieces.resize(ti->num_pieces(), true);
  const lt::info_hash_t ih = ti->info_hashes();
  auto events = WatchTorrent(ih);
  lt::torrent_handle h = session_->add_torrent(std::move(atp), lec);
  if (!lec) {
    // libtorrent ignores an announce forced before the torrent's files are
    // checked (even in seed mode that is a moment later, and longer under
    // load); the next one it makes on its own is up to 15 minutes away.
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kCheckTimeout, [&] { return events->checked; });
    lock.unlock();
    h.force_dht_announce();
  }
  UnwatchTorrent(ih, events);
  if (lec == lt::errors::duplicate_torrent) {
    // Another Seed of the same torrent won the race, or a Fetch holds it.
    std::lock_guard lock(mu_);
    if (seeds_.count(ref.info_hash_v1)) return ref;
    return FailedPrecondition("torrent " + ref.info_hash_v1 + " is being fetched by this node");
  }
  if (lec) return Internal("cannot seed " + dir.string() + ": " + lec.message());
  std::lock_guard lock(mu_);
  seeds_[ref.info_hash_v1] = SeedEntry{ref, h};
  return ref;
}

mumba::Status P2pNodeImpl::StopSeeding(const std::string& info_hash_v1) {
  lt::torrent_handle h;
  {
    std::lock_guard lock(mu_);
    auto it = seeds_.find(info_hash_v1);
    if (it == seeds_.end()) return NotFound("torrent " + info_hash_v1 + " is not seeded here");
    h = it->second.handle;
    seeds_.erase(it);
  }
  lt::info_hash_t ih = h.info_hashes();
  auto events = WatchTorrent(ih);
  RemoveAndWait(h, events, /*delete_files=*/false);
  UnwatchTorrent(ih, events);
  return {};
}

mumba::Status P2pNodeImpl::PutMutable(const KeyPair& key, const std::map<std::string, std::string>& fields,
                                      int64_t seq, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  MUMBA_ASSIGN_OR_RETURN(auto keys, LibtorrentKeys(key));
  if (seq < 0) return InvalidArgument("sequence number " + std::to_string(seq) + " is negative");
  lt::entry value(lt::entry::dictionary_t);
  for (const auto& [k, v] : fields) value[k] = v;
  std::vector<char> encoded;
  lt::bencode(std::back_inserter(encoded), value);
  if (encoded.size() > kMaxItemValueBytes) {
    return InvalidArgument("item is " + std::to_string(encoded.size()) +
                           " bytes bencoded; the DHT takes at most " + std::to_string(kMaxItemValueBytes));
  }
  std::array<char, 32> pk;
  std::memcpy(pk.data(), key.public_key.data(), pk.size());
  const std::string map_key = KeyString(pk);
  auto [lpk, lsk] = keys;
  lt::dht::signature sig = lt::dht::sign_mutable_item(encoded, {}, lt::dht::sequence_number(seq), lpk, lsk);

  // A put that reached no node is retried until the deadline: right after
  // joining, the routing table may still be empty.
  while (true) {
    auto waiter = std::make_shared<PutWaiter>();
    waiter->seq = seq;
    {
      std::lock_guard lock(mu_);
      put_waiters_.emplace(map_key, waiter);
    }
    // Runs on libtorrent's network thread with the newest item the lookup found.
    session_->dht_put_item(pk, [waiter, value, sig, seq](lt::entry& e, std::array<char, 64>& s,
                                                         std::int64_t& q, const std::string&) {
      waiter->previous_seq = q;
      e = value;
      s = sig.bytes;
      q = seq;
    });
    bool done;
    {
      std::unique_lock lock(mu_);
      done = cv_.wait_until(lock, deadline, [&] { return waiter->done; });
      auto [begin, end] = put_waiters_.equal_range(map_key);
      for (auto it = begin; it != end; ++it) {
        if (it->second == waiter) {
          put_waiters_.erase(it);
          break;
        }
      }
    }
    if (done && waiter->num_success > 0) return {};
    if (done && waiter->previous_seq > seq) {
      return FailedPrecondition("the DHT holds a newer item (seq " +
                                std::to_string(waiter->previous_seq.load()) + ") than seq " +
                                std::to_string(seq));
    }
    if (!done || Clock::now() + std::chrono::milliseconds(100) >= deadline) {
      return DeadlineExceeded("no DHT node stored the item within " + std::to_string(timeout.count()) +
                              " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Expected<MutableItem> P2pNodeImpl::GetMutable(const std::array<uint8_t, 32>& public_key,
                                              std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::array<char, 32> pk;
  std::memcpy(pk.data(), public_key.data(), pk.size());
  const std::string map_key = KeyString(pk);
  auto waiter = std::make_shared<GetWaiter>();
  {
    std::lock_guard lock(mu_);
    get_waiters_.emplace(map_key, waiter);
  }
  session_->dht_get_item(pk);
  std::optional<MutableItem> best;
  {
    std::unique_lock lock(mu_);
    for (;;) {
      if (waiter->done) break;
      auto until = deadline;
      if (waiter->first_found) until = std::min(until, *waiter->first_found + kSettleAfterFirstItem);
      if (Clock::now() >= until) break;
      cv_.wait_until(lock, until);
    }
    best = waiter->best;
    auto [begin, end] = get_waiters_.equal_range(map_key);
    for (auto it = begin; it != end; ++it) {
      if (it->second == waiter) {
        get_waiters_.erase(it);
        break;
      }
    }
  }
  if (!best) {
    return NotFound("no DHT item for " + AddressOf(public_key) + " within " +
                    std::to_string(timeout.count()) + " ms");
  }
  return *best;
}

Expected<fs::path> P2pNodeImpl::Fetch(const std::string& info_hash_v1, const std::string& info_hash_v2,
                                      const fs::path& dest, std::chrono::milliseconds timeout,
                                      const std::function<bool(const FetchProgress&)>& progress) {
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  lt::info_hash_t ih;
  if (!info_hash_v1.empty() && !FromHex(info_hash_v1, 20, ih.v1.data())) {
    return InvalidArgument("'" + info_hash_v1 + "' is not a 40-char hex v1 info-hash");
  }
  if (!info_hash_v2.empty() && !FromHex(info_hash_v2, 32, ih.v2.data())) {
    return InvalidArgument("'" + info_hash_v2 + "' is not a 64-char hex v2 info-hash");
  }
  if (!ih.has_v1() && !ih.has_v2()) return InvalidArgument("no info-hash given");
  const std::string label = info_hash_v1.empty() ? info_hash_v2 : info_hash_v1;
  for (const auto& key : TorrentKeys(ih)) {
    if (session_->find_torrent(lt::sha1_hash(key.data())).is_valid()) {
      return AlreadyExists("torrent " + label + " is already in this node's session");
    }
  }

  // libtorrent downloads into a private staging folder, renamed into place once
  // complete: dest/<name> never holds a partial download, and removing the
  // staging folder on error cannot touch anything that was there before.
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) return Unavailable("cannot create " + dest.string() + ": " + ec.message());
  const fs::path staging = dest / (".mumba-fetch-" + label.substr(0, 16) + "-" + RandomSuffix());
  fs::create_directory(staging, ec);
  if (ec) return Unavailable("cannot create " + staging.string() + ": " + ec.message());
  auto drop_staging = [&] { fs::remove_all(staging, ec); };

  auto events = WatchTorrent(ih);
  lt::add_torrent_params atp;
  atp.info_hashes = ih;
  atp.save_path = staging.string();
  atp.flags = lt::torrent_flags::duplicate_is_error;
  lt::error_code lec;
  lt::torrent_handle h = session_->add_torrent(std::move(atp), lec);
  if (lec) {
    UnwatchTorrent(ih, events);
    drop_staging();
    return Internal("cannot add torrent " + label + ": " + lec.message());
  }
  h.force_dht_announce();

  auto fail = [&](mumba::Status st) -> Expected<fs::path> {
    RemoveAndWait(h, events, /*delete_files=*/true);
    UnwatchTorrent(ih, events);
    drop_staging();
    return st;
  };

  FetchProgress last;
  bool checked_files = false;
  auto reannounce_gap = std::chrono::duration_cast<Clock::duration>(kFirstReannounce);
  auto next_announce = Clock::now() + reannounce_gap;
  while (true) {
    lt::torrent_status st = h.status();
    if (st.errc) {
      // A corrupt peer can make libtorrent see v1 and v2 hashes disagree; the
      // torrent is fine, so go on with the honest peers until the deadline.
      if (st.errc.message().find("v1 and v2 hashes") != std::string::npos) {
        h.clear_error();
        h.resume();
      } else {
        return fail(Unavailable("fetching " + label + " failed: " + st.errc.message()));
      }
    }
    if (st.has_metadata && !checked_files) {
      checked_files = true;
      if (auto ti = h.torrent_file()) {
        const lt::file_storage& files = ti->files();
        for (lt::file_index_t i : files.file_range()) {
          if (files.file_flags(i) & lt::file_storage::flag_symlink) {
            return fail(DataLoss("torrent " + label + " holds a symlink (" + files.file_path(i) +
                                 "); bundles may not"));
          }
        }
      }
    }
    last.total = st.has_metadata ? static_cast<uint64_t>(st.total_wanted) : 0;
    last.done = static_cast<uint64_t>(st.total_wanted_done);
    last.peers = st.num_peers;
    last.rate = st.download_payload_rate;
    // total_wanted_done counts only pieces that passed their hash check (and, with a
    // corrupt peer around, sometimes pad bytes too: it can exceed total_wanted).
    // After a cleared error libtorrent may hold every piece and never post
    // "finished", so holding them all is complete.
    if (st.has_metadata && (st.is_finished || (last.total > 0 && last.done >= last.total))) break;
    if (last.total > 0) last.done = std::min(last.done, last.total);
    if (progress && !progress(last)) return fail(mumba::Status(Code::kCancelled, "fetching " + label + " was cancelled"));
    auto now = Clock::now();
    if (now >= deadline) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.1f", std::chrono::duration<double>(timeout).count());
      if (!st.has_metadata)
        return fail(DeadlineExceeded("no one served " + label + " within " + std::string(secs) + " s"));
      return fail(DeadlineExceeded("fetching " + label + " got " + std::to_string(last.done) + " of " +
                                   std::to_string(last.total) + " bytes within " + std::string(secs) + " s"));
    }
    const bool searching = st.num_peers == 0 || !st.has_metadata;
    if (searching && now >= next_announce) {
      h.force_dht_announce();
      reannounce_gap = std::min<Clock::duration>(reannounce_gap * 2, kMaxReannounce);
      next_announce = now + reannounce_gap;
    }
    auto wake = std::min(deadline, now + kProgressInterval);
    if (searching) wake = std::min(wake, next_announce);
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, wake, [&] { return events->finished; });
  }

  // "Finished" means every piece passed its hash check, which libtorrent does
  // from memory: some writes may still be queued. Moving the folder before they
  // land loses them (libtorrent then writes into a re-created staging path).
  h.flush_cache();
  {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kRemoveTimeout, [&] { return events->flushed; })) {
      lock.unlock();
      return fail(Unavailable("fetching " + label + ": the download was not written out in time"));
    }
  }
  auto ti = h.torrent_file();
  const std::string name = ti ? ti->name() : std::string();
  RemoveAndWait(h, events, /*delete_files=*/false);
  UnwatchTorrent(ih, events);
  if (!IsSafeName(name)) {
    drop_staging();
    return mumba::Status(Code::kDataLoss, "torrent " + label + " has an unusable name '" + name + "'");
  }
  const fs::path target = dest / name;
  if (fs::exists(fs::symlink_status(target, ec))) {
    drop_staging();
    return AlreadyExists(target.string() + " already exists");
  }
  fs::rename(staging / name, target, ec);
  if (ec) {
    drop_staging();
    return Unavailable("cannot move the download to " + target.string() + ": " + ec.message());
  }
  drop_staging();
  last.done = last.total;
  if (progress) progress(last);
  return target;
}

Expected<int> P2pNodeImpl::CountPeers(const std::string& info_hash_v1, std::chrono::milliseconds timeout) {
  constexpr auto kQuiet = std::chrono::milliseconds(500);
  lt::sha1_hash ih;
  if (!FromHex(info_hash_v1, 20, ih.data())) {
    return InvalidArgument("'" + info_hash_v1 + "' is not a 40-char hex v1 info-hash");
  }
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  auto waiter = std::make_shared<PeersWaiter>();
  const std::string key = ih.to_string();
  std::unique_lock lock(mu_);
  auto entry = peers_waiters_.emplace(key, waiter);
  lock.unlock();
  session_->dht_get_peers(ih);
  lock.lock();
  // Until the answers have been quiet for kQuiet (counting from the start, for
  // a torrent no one announced), or the deadline.
  while (true) {
    auto quiet_until = std::max(start, waiter->last_new) + kQuiet;
    auto until = std::min(deadline, quiet_until);
    if (Clock::now() >= until) break;
    cv_.wait_until(lock, until);
  }
  int n = static_cast<int>(waiter->peers.size());
  peers_waiters_.erase(entry);
  return n;
}

P2pStatus P2pNodeImpl::Status() const {
  P2pStatus out;
  uint64_t generation;
  {
    // Read before posting: the answer may be dispatched before we look again.
    std::lock_guard lock(mu_);
    generation = stats_generation_;
  }
  session_->post_session_stats();
  std::vector<lt::torrent_status> torrents =
      session_->get_torrent_status([](const lt::torrent_status&) { return true; }, {});
  for (const auto& t : torrents) {
    ++out.torrents;
    if (t.is_seeding) ++out.seeding;
    out.upload_rate += t.upload_payload_rate;
    out.download_rate += t.download_payload_rate;
  }
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stats_generation_ > generation; });
  out.listen = listen_;
  out.dht_nodes = dht_nodes_;
  return out;
}

}  // namespace

Expected<std::unique_ptr<P2pNode>> P2pNode::Create(P2pOptions options) {
  MUMBA_ASSIGN_OR_RETURN(HostPort hp, SplitHostPort(options.listen));
  lt::error_code ec;
  lt::address ip = lt::make_address(hp.host, ec);
  if (ec) return InvalidArgument("listen address '" + options.listen + "' needs a literal IP");
  for (const auto& node : options.bootstrap) {
    auto parsed = SplitHostPort(node);
    if (!parsed.ok()) return parsed.status().WithContext("bootstrap node");
  }
  auto node = std::make_unique<P2pNodeImpl>(std::move(options), ip.is_loopback());
  MUMBA_TRY(node->Start(hp.host));
  return std::unique_ptr<P2pNode>(std::move(node));
}

}  // namespace mumba
