// SPDX-License-Identifier: Apache-2.0
// mumba-p2p-tool: a DHT node and BitTorrent peer of its own, for tests that need
// a dishonest (or a plain) member of a private loopback swarm.
//
//   mumba-p2p-tool [--listen 127.0.0.1:0] [--bootstrap H:P,...] [--timeout S] COMMAND
//
//   put  (--key-file F | --address A | --new-key [--key-out DIR]) [--sign-with-file G]
//        --ih HEX [--v2 HEX] --name N --version V --size S --seq N [--field K=V]...
//        [--hold] [--plant-only]
//        Puts a BEP 44 mutable item (BEP 46 layout, as `mumba publish` does) under
//        the public key of F / A. With --sign-with-file G the item is signed with G's
//        key instead: a forgery that honest nodes must refuse. The item is also
//        planted in this node's own DHT store, so with --hold the tool keeps
//        answering lookups with it (a malicious storage node) until killed.
//        --plant-only (implies --hold) puts it nowhere else: this node alone
//        serves it, so when it is an older item that is still validly signed,
//        a lookup sees that item and nothing newer (hostile nodes that hide
//        the newest item); stored_on is then 0.
//        Prints one JSON line: address, seq, forged, stored_on (nodes that took
//        it), dht_nodes (routing table size when putting).
//   get  --address A
//        Prints the item the DHT holds for A as JSON ({} if none), signature
//        checked by libtorrent.
//   seed --dir D --name N [--symlinks]
//        Seeds folder D as a hybrid torrent named N, made exactly as P2pNode::Seed
//        makes it (same files and name, same info-hashes). --symlinks keeps
//        symlinks in the torrent (BEP 47) instead of refusing them. Prints one
//        JSON line (info_hash, info_hash_v2, magnet, name, size) and seeds until
//        SIGTERM/SIGINT.
//   seed-corrupt --dir D --name N [--at first|middle|last]
//        Like seed, with the honest torrent (its pieces pass libtorrent's lazy
//        seed-mode check), but every block it uploads has one byte flipped (the
//        middle one by default): an uploader of corrupt pieces. Says on stderr
//        how many blocks it sent when it ends.
//   fetch --ih HEX [--v2 HEX] --dir D [--no-smart-ban] [--recover]
//        Downloads a torrent with the host's settings (diagnostics: bans, hash
//        failures and torrent errors on stderr; MUMBA_TOOL_VERBOSE=1 adds
//        connections). Prints done/total/finished. --no-smart-ban leaves out
//        libtorrent's smart_ban plugin, which finds the sender of a bad block by
//        IP alone and so, where peers share an IP (loopback, one NAT), bans honest
//        peers too. --recover clears a torrent error and resumes instead of
//        giving up.
//
// Binds only where --listen says and talks only to --bootstrap nodes: no
// routers, LSD, UPnP or NAT-PMP.
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/disk_interface.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/extensions/ut_metadata.hpp>
#include <libtorrent/extensions/ut_pex.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/io_context.hpp>
#include <libtorrent/kademlia/dht_storage.hpp>
#include <libtorrent/kademlia/ed25519.hpp>
#include <libtorrent/kademlia/item.hpp>
#include <libtorrent/performance_counters.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/session_status.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>

#include "common/base32.h"
#include "common/files.h"
#include "common/keys.h"
#include "p2p/format.h"
#include "p2p/session_settings.h"
#include "platform/hex.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "mumba-p2p-tool: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

void Note(const std::string& what) {
  std::fprintf(stderr, "mumba-p2p-tool: %s\n", what.c_str());
  std::fflush(stderr);
}

std::string ToHex(const char* data, size_t n) { return mumba::ToHex(std::string_view(data, n)); }

// Exactly `n` bytes of hex, or the tool ends naming the flag `what`.
std::string FromHex(const std::string& hex, size_t n, const char* what) {
  if (hex.size() != 2 * n) Die(std::string(what) + ": want " + std::to_string(2 * n) + " hex chars");
  auto bytes = mumba::FromHex(hex);
  if (!bytes) Die(std::string(what) + ": not hex");
  return *bytes;
}

// Minimal JSON string quoting (the values here are ASCII).
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// ------------------------------- keys --------------------------------------

struct Keys {
  lt::dht::public_key pk;
  std::optional<lt::dht::secret_key> sk;  // Expanded (ref10) secret, when known.
};

// A Mumba key file: 64 raw bytes, libsodium's seed || public key. libtorrent's
// ed25519 wants the expanded secret, derived again from the seed.
Keys LoadKeyFile(const fs::path& file) {
  auto contents = mumba::ReadFile(file);
  if (!contents.ok()) Die(std::string(contents.status().message()));
  if (contents->size() != 64) Die(file.string() + ": not a 64-byte secret key");
  std::array<char, 32> seed;
  std::memcpy(seed.data(), contents->data(), 32);
  auto [pk, sk] = lt::dht::ed25519_create_keypair(seed);
  if (std::memcmp(pk.bytes.data(), contents->data() + 32, 32) != 0) {
    Die(file.string() + ": the secret key does not match its public key");
  }
  return Keys{pk, sk};
}

Keys FromKeyPair(const mumba::KeyPair& pair) {
  std::array<char, 32> seed;
  std::memcpy(seed.data(), pair.secret_key.data(), 32);
  auto [pk, sk] = lt::dht::ed25519_create_keypair(seed);
  return Keys{pk, sk};
}

lt::dht::public_key PublicKeyOf(const std::string& address) {
  auto canonical = mumba::NormalizeAddress(address);
  if (!canonical.ok()) Die(std::string(canonical.status().message()));
  auto bytes = mumba::Base32Decode(canonical->substr(mumba::kAddressScheme.size()));
  if (!bytes.ok() || bytes->size() != 32) Die("bad address " + address);
  lt::dht::public_key pk;
  std::memcpy(pk.bytes.data(), bytes->data(), 32);
  return pk;
}

std::string AddressOf(const lt::dht::public_key& pk) {
  std::array<uint8_t, 32> raw;
  std::memcpy(raw.data(), pk.bytes.data(), 32);
  return mumba::AddressOf(raw);
}

// BEP 44: a mutable item without salt is stored under SHA-1(public key).
lt::sha1_hash TargetOf(const lt::dht::public_key& pk) {
  lt::hasher h(pk.bytes.data(), static_cast<int>(pk.bytes.size()));
  return h.final();
}

// --------------------- a DHT store that holds a planted item ------------------

struct PlantedItem {
  lt::dht::public_key pk;
  lt::dht::signature sig;
  int64_t seq = 0;
  std::vector<char> value;  // Bencoded.
};

// The default store, plus one item put in without any signature check (what a
// malicious node does), and a note on stderr whenever a lookup asks for it.
class PlantingStorage final : public lt::dht::dht_storage_interface {
 public:
  PlantingStorage(std::unique_ptr<lt::dht::dht_storage_interface> inner, std::optional<PlantedItem> item)
      : inner_(std::move(inner)) {
    if (item) {
      target_ = TargetOf(item->pk);
      inner_->put_mutable_item(*target_, item->value, item->sig, lt::dht::sequence_number(item->seq),
                               item->pk, {}, lt::make_address("127.0.0.1"));
    }
  }
  size_t num_torrents() const override { return inner_->num_torrents(); }
  size_t num_peers() const override { return inner_->num_peers(); }
  void update_node_ids(std::vector<lt::dht::node_id> const& ids) override { inner_->update_node_ids(ids); }
  bool get_peers(lt::sha1_hash const& ih, bool noseed, bool scrape, lt::address const& requester,
                 lt::entry& peers) const override {
    return inner_->get_peers(ih, noseed, scrape, requester, peers);
  }
  void announce_peer(lt::sha1_hash const& ih, lt::tcp::endpoint const& ep, lt::string_view name,
                     bool seed) override {
    inner_->announce_peer(ih, ep, name, seed);
  }
  bool get_immutable_item(lt::sha1_hash const& target, lt::entry& item) const override {
    return inner_->get_immutable_item(target, item);
  }
  void put_immutable_item(lt::sha1_hash const& target, lt::span<char const> buf,
                          lt::address const& addr) override {
    inner_->put_immutable_item(target, buf, addr);
  }
  bool get_mutable_item_seq(lt::sha1_hash const& target, lt::dht::sequence_number& seq) const override {
    return inner_->get_mutable_item_seq(target, seq);
  }
  bool get_mutable_item(lt::sha1_hash const& target, lt::dht::sequence_number seq, bool force_fill,
                        lt::entry& item) const override {
    bool found = inner_->get_mutable_item(target, seq, force_fill, item);
    if (target_ && target == *target_ && found) {
      int n = ++served_;
      if (n <= 3 || n % 50 == 0) Note("answered a lookup with the planted item (" + std::to_string(n) + ")");
    }
    return found;
  }
  void put_mutable_item(lt::sha1_hash const& target, lt::span<char const> buf, lt::dht::signature const& sig,
                        lt::dht::sequence_number seq, lt::dht::public_key const& pk,
                        lt::span<char const> salt, lt::address const& addr) override {
    // Keep the planted item: a later honest put must not replace it here.
    if (target_ && target == *target_) return;
    inner_->put_mutable_item(target, buf, sig, seq, pk, salt, addr);
  }
  int get_infohashes_sample(lt::entry& item) override { return inner_->get_infohashes_sample(item); }
  void tick() override { inner_->tick(); }
  lt::dht::dht_storage_counters counters() const override { return inner_->counters(); }

 private:
  std::unique_ptr<lt::dht::dht_storage_interface> inner_;
  std::optional<lt::sha1_hash> target_;
  mutable std::atomic<int> served_{0};
};

// ------------------- a disk that corrupts what it uploads ---------------------

std::atomic<long> g_corrupt_blocks{0};
// Where in each block the flipped byte goes: 0 first, 1 middle, 2 last. (The last
// byte of a file's last block is often padding: BEP 47 pad bytes, which the v2
// block hashes do not cover but the v1 piece hash does.)
int g_corrupt_at = 1;

// libtorrent's own disk I/O, except that every block read for a peer comes back
// with one byte flipped. Hashing (async_hash*, used by seed mode's lazy checks)
// still sees the real bytes, so the torrent stays a "verified" seed.
class CorruptingDisk final : public lt::disk_interface {
 public:
  explicit CorruptingDisk(std::unique_ptr<lt::disk_interface> inner) : inner_(std::move(inner)) {}

  lt::storage_holder new_torrent(lt::storage_params const& p, std::shared_ptr<void> const& t) override {
    return inner_->new_torrent(p, t);
  }
  void remove_torrent(lt::storage_index_t s) override { inner_->remove_torrent(s); }
  void async_read(lt::storage_index_t s, lt::peer_request const& r,
                  std::function<void(lt::disk_buffer_holder, lt::storage_error const&)> handler,
                  lt::disk_job_flags_t flags) override {
    inner_->async_read(
        s, r,
        [handler = std::move(handler)](lt::disk_buffer_holder buf, lt::storage_error const& e) mutable {
          if (!e && buf && buf.size() > 0) {
            auto at = g_corrupt_at == 0 ? 0 : g_corrupt_at == 2 ? buf.size() - 1 : buf.size() / 2;
            buf.data()[at] ^= 0x5a;
            long n = ++g_corrupt_blocks;
            if (n == 1) Note("uploading corrupt blocks");
          }
          handler(std::move(buf), e);
        },
        flags);
  }
  bool async_write(lt::storage_index_t s, lt::peer_request const& r, char const* buf,
                   std::shared_ptr<lt::disk_observer> o, std::function<void(lt::storage_error const&)> handler,
                   lt::disk_job_flags_t flags) override {
    return inner_->async_write(s, r, buf, std::move(o), std::move(handler), flags);
  }
  void async_hash(lt::storage_index_t s, lt::piece_index_t piece, lt::span<lt::sha256_hash> v2,
                  lt::disk_job_flags_t flags,
                  std::function<void(lt::piece_index_t, lt::sha1_hash const&, lt::storage_error const&)> handler)
      override {
    inner_->async_hash(s, piece, v2, flags, std::move(handler));
  }
  void async_hash2(lt::storage_index_t s, lt::piece_index_t piece, int offset, lt::disk_job_flags_t flags,
                   std::function<void(lt::piece_index_t, lt::sha256_hash const&, lt::storage_error const&)>
                       handler) override {
    inner_->async_hash2(s, piece, offset, flags, std::move(handler));
  }
  void async_move_storage(lt::storage_index_t s, std::string p, lt::move_flags_t flags,
                          std::function<void(lt::status_t, std::string const&, lt::storage_error const&)>
                              handler) override {
    inner_->async_move_storage(s, std::move(p), flags, std::move(handler));
  }
  void async_release_files(lt::storage_index_t s, std::function<void()> handler) override {
    inner_->async_release_files(s, std::move(handler));
  }
  void async_check_files(lt::storage_index_t s, lt::add_torrent_params const* resume,
                         lt::aux::vector<std::string, lt::file_index_t> links,
                         std::function<void(lt::status_t, lt::storage_error const&)> handler) override {
    inner_->async_check_files(s, resume, std::move(links), std::move(handler));
  }
  void async_stop_torrent(lt::storage_index_t s, std::function<void()> handler) override {
    inner_->async_stop_torrent(s, std::move(handler));
  }
  void async_rename_file(lt::storage_index_t s, lt::file_index_t index, std::string name,
                         std::function<void(std::string const&, lt::file_index_t, lt::storage_error const&)>
                             handler) override {
    inner_->async_rename_file(s, index, std::move(name), std::move(handler));
  }
  void async_delete_files(lt::storage_index_t s, lt::remove_flags_t options,
                          std::function<void(lt::storage_error const&)> handler) override {
    inner_->async_delete_files(s, options, std::move(handler));
  }
  void async_set_file_priority(
      lt::storage_index_t s, lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio,
      std::function<void(lt::storage_error const&, lt::aux::vector<lt::download_priority_t, lt::file_index_t>)>
          handler) override {
    inner_->async_set_file_priority(s, std::move(prio), std::move(handler));
  }
  void async_clear_piece(lt::storage_index_t s, lt::piece_index_t index,
                         std::function<void(lt::piece_index_t)> handler) override {
    inner_->async_clear_piece(s, index, std::move(handler));
  }
  void update_stats_counters(lt::counters& c) const override { inner_->update_stats_counters(c); }
  std::vector<lt::open_file_state> get_status(lt::storage_index_t s) const override {
    return inner_->get_status(s);
  }
  void abort(bool wait) override { inner_->abort(wait); }
  void submit_jobs() override { inner_->submit_jobs(); }
  void settings_updated() override { inner_->settings_updated(); }

 private:
  std::unique_ptr<lt::disk_interface> inner_;
};

// ------------------------------- the node -------------------------------------

struct Options {
  std::string listen = "127.0.0.1:0";
  std::string bootstrap;
  double timeout_s = 15;
};

std::vector<std::pair<std::string, int>> ParseNodes(const std::string& list) {
  std::vector<std::pair<std::string, int>> out;
  size_t start = 0;
  while (start < list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    auto colon = item.rfind(':');
    if (colon == std::string::npos) Die("bootstrap node '" + item + "' is not HOST:PORT");
    out.emplace_back(item.substr(0, colon), std::atoi(item.c_str() + colon + 1));
  }
  return out;
}

// The settings P2pNode uses on loopback, with the alerts this tool reads.
lt::settings_pack Settings(const std::string& listen) {
  lt::settings_pack s = mumba::SessionSettings(listen, /*loopback=*/true);
  s.set_int(lt::settings_pack::alert_mask, lt::alert_category::error | lt::alert_category::status |
                                               lt::alert_category::storage | lt::alert_category::dht |
                                               lt::alert_category::peer);
  return s;
}

class Node {
 public:
  Node(const Options& o, std::optional<PlantedItem> planted, bool corrupt, bool smart_ban = true) : options_(o) {
    lt::session_params params(Settings(o.listen));
    if (!smart_ban) params.extensions.clear();
    params.dht_storage_constructor = [planted](lt::settings_interface const& s) {
      return std::unique_ptr<lt::dht::dht_storage_interface>(
          new PlantingStorage(lt::dht::dht_default_storage_constructor(s), planted));
    };
    if (corrupt) {
      params.disk_io_constructor = [](lt::io_context& ioc, lt::settings_interface const& s, lt::counters& c) {
        return std::unique_ptr<lt::disk_interface>(new CorruptingDisk(lt::default_disk_io_constructor(ioc, s, c)));
      };
    }
    session_ = std::make_unique<lt::session>(std::move(params));
    if (!smart_ban) {
      session_->add_extension(&lt::create_ut_metadata_plugin);
      session_->add_extension(&lt::create_ut_pex_plugin);
    }
    bool tcp = false, udp = false;
    Pump(Clock::now() + std::chrono::seconds(10), [&](lt::alert* a) {
      if (auto* l = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
        if (l->socket_type == lt::socket_type_t::tcp) {
          tcp = true;
          port_ = l->port;
        } else if (l->socket_type == lt::socket_type_t::utp) {
          udp = true;
        }
      } else if (auto* f = lt::alert_cast<lt::listen_failed_alert>(a)) {
        Die("cannot listen on " + o.listen + ": " + f->message());
      }
      return tcp && udp;
    });
    if (!(tcp && udp)) Die("cannot listen on " + o.listen + ": timed out");
    // Joined only now that the UDP socket exists (earlier, libtorrent drops them).
    for (const auto& [host, port] : ParseNodes(o.bootstrap)) session_->add_dht_node({host, port});
  }

  ~Node() { session_.reset(); }

  lt::session& session() { return *session_; }
  int port() const { return port_; }
  Clock::time_point Deadline() const {
    return Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_s * 1000));
  }

  // Feeds alerts to `f` until it returns true (then true), the deadline passes
  // or a signal arrives (then false).
  bool Pump(Clock::time_point deadline, const std::function<bool(lt::alert*)>& f) {
    std::vector<lt::alert*> alerts;
    while (Clock::now() < deadline && !g_stop) {
      session_->wait_for_alert(lt::milliseconds(100));
      session_->pop_alerts(&alerts);
      for (lt::alert* a : alerts) {
        LogAlert(a);
        if (f(a)) return true;
      }
    }
    return false;
  }

  // Routing table size, asked of the session.
  int DhtNodes() {
    session_->post_dht_stats();
    int nodes = -1;
    Pump(Clock::now() + std::chrono::seconds(2), [&](lt::alert* a) {
      if (auto* s = lt::alert_cast<lt::dht_stats_alert>(a)) {
        nodes = 0;
        for (const auto& b : s->routing_table) nodes += b.num_nodes;
        return true;
      }
      return false;
    });
    return nodes;
  }

  // Waits (bounded) until the routing table holds `want` nodes; returns how many.
  int WaitForDht(int want, Clock::time_point deadline) {
    int nodes = 0;
    while (true) {
      nodes = DhtNodes();
      if (nodes >= want || Clock::now() >= deadline || g_stop) return nodes;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  size_t BootstrapCount() const { return ParseNodes(options_.bootstrap).size(); }

 private:
  void LogAlert(lt::alert* a) {
    if (verbose_ && (lt::alert_cast<lt::peer_disconnected_alert>(a) || lt::alert_cast<lt::peer_connect_alert>(a) ||
                     lt::alert_cast<lt::incoming_connection_alert>(a))) {
      Note(a->message());
    }
    if (lt::alert_cast<lt::peer_ban_alert>(a) || lt::alert_cast<lt::hash_failed_alert>(a) ||
        lt::alert_cast<lt::torrent_error_alert>(a) || lt::alert_cast<lt::file_error_alert>(a)) {
      Note(a->message());
    }
  }

  Options options_;
  bool verbose_ = getenv("MUMBA_TOOL_VERBOSE") != nullptr;
  std::unique_ptr<lt::session> session_;
  int port_ = 0;
};

// ------------------------------- put / get ------------------------------------

struct PutArgs {
  std::string key_file, address, sign_with_file, key_out;
  bool new_key = false;
  std::string ih, v2, name, version;
  uint64_t size = 0;
  int64_t seq = 1;
  std::vector<std::string> fields;
  bool hold = false;
  bool plant_only = false;
};

int RunPut(const Options& o, const PutArgs& a) {
  int given = !a.key_file.empty() + !a.address.empty() + a.new_key;
  if (given != 1) Die("put needs exactly one of --key-file, --address, --new-key");
  Keys item_key;
  if (!a.key_file.empty()) {
    item_key = LoadKeyFile(a.key_file);
  } else if (!a.address.empty()) {
    item_key.pk = PublicKeyOf(a.address);
  } else {
    mumba::KeyPair pair = mumba::GenerateKeyPair();
    if (!a.key_out.empty()) {
      if (auto st = mumba::SaveKeyPair(a.key_out, pair); !st.ok()) Die(std::string(st.message()));
    }
    item_key = FromKeyPair(pair);
  }
  std::optional<Keys> signer;
  if (!a.sign_with_file.empty()) signer = LoadKeyFile(a.sign_with_file);
  const bool forged = signer && std::memcmp(signer->pk.bytes.data(), item_key.pk.bytes.data(), 32) != 0;
  if (!signer) {
    if (!item_key.sk) Die("--address gives no secret key: add --sign-with-file (a forgery)");
    signer = item_key;
  }

  lt::entry value(lt::entry::dictionary_t);
  value["ih"] = FromHex(a.ih, 20, "--ih");
  if (!a.v2.empty()) value["v2"] = FromHex(a.v2, 32, "--v2");
  value["name"] = a.name;
  value["version"] = a.version;
  value["size"] = std::to_string(a.size);
  for (const auto& f : a.fields) {
    auto eq = f.find('=');
    if (eq == std::string::npos) Die("--field wants KEY=VALUE");
    value[f.substr(0, eq)] = f.substr(eq + 1);
  }
  std::vector<char> encoded;
  lt::bencode(std::back_inserter(encoded), value);
  // A genuine signature by the signer over this item, attached to an item that
  // claims the other key when forging.
  lt::dht::signature sig =
      lt::dht::sign_mutable_item(encoded, {}, lt::dht::sequence_number(a.seq), signer->pk, *signer->sk);

  PlantedItem planted{item_key.pk, sig, a.seq, encoded};
  Node node(o, planted, /*corrupt=*/false);
  const auto deadline = node.Deadline();
  const int want = static_cast<int>(std::min<size_t>(node.BootstrapCount(), 8));
  const int dht_nodes = node.WaitForDht(std::max(want, 1), std::min(deadline, Clock::now() + std::chrono::seconds(5)));

  std::array<char, 32> pk;
  std::memcpy(pk.data(), item_key.pk.bytes.data(), 32);
  if (a.plant_only) {
    // A lookup of the item's own key makes this node known to the nodes closest
    // to it (they add whoever queries them), the ones every later lookup asks.
    node.session().dht_get_item(pk);
    node.Pump(std::min(deadline, Clock::now() + std::chrono::seconds(3)), [&](lt::alert* al) {
      auto* m = lt::alert_cast<lt::dht_mutable_item_alert>(al);
      return m && m->key == pk && m->authoritative;
    });
  }
  int stored_on = 0;
  bool answered = a.plant_only;
  while (!g_stop && !a.plant_only) {
    node.session().dht_put_item(pk, [value, sig, seq = a.seq](lt::entry& e, std::array<char, 64>& s,
                                                                std::int64_t& q, std::string const&) {
      e = value;
      s = sig.bytes;
      q = seq;
    });
    answered = node.Pump(deadline, [&](lt::alert* al) {
      auto* p = lt::alert_cast<lt::dht_put_alert>(al);
      if (!p || p->public_key != pk || p->seq != a.seq) return false;
      stored_on = p->num_success;
      return true;
    });
    // An honest put that reached no one is retried (the routing table may still
    // be filling); a forgery is put once: refusals are the expected answer.
    if (!answered || stored_on > 0 || forged || Clock::now() + std::chrono::milliseconds(200) >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!answered) Die("the put did not finish within the timeout");
  std::printf("{\"address\": %s, \"seq\": %lld, \"forged\": %s, \"stored_on\": %d, \"dht_nodes\": %d, "
              "\"port\": %d}\n",
              Quote(AddressOf(item_key.pk)).c_str(), static_cast<long long>(a.seq), forged ? "true" : "false",
              stored_on, dht_nodes, node.port());
  std::fflush(stdout);
  if (a.hold || a.plant_only) {
    // Keep answering lookups with the planted item until killed.
    while (!g_stop) node.Pump(Clock::now() + std::chrono::seconds(1), [](lt::alert*) { return false; });
    return 0;
  }
  return (stored_on > 0 || forged) ? 0 : 2;
}

int RunGet(const Options& o, const std::string& address) {
  lt::dht::public_key key = PublicKeyOf(address);
  Node node(o, std::nullopt, false);
  const auto deadline = node.Deadline();
  node.WaitForDht(std::max<int>(1, static_cast<int>(std::min<size_t>(node.BootstrapCount(), 8))),
                  std::min(deadline, Clock::now() + std::chrono::seconds(5)));
  std::array<char, 32> pk;
  std::memcpy(pk.data(), key.bytes.data(), 32);
  node.session().dht_get_item(pk);
  std::string out = "{}";
  node.Pump(deadline, [&](lt::alert* a) {
    auto* m = lt::alert_cast<lt::dht_mutable_item_alert>(a);
    if (!m || m->key != pk) return false;
    if (m->item.type() == lt::entry::dictionary_t) {
      std::string fields;
      for (const auto& [k, v] : m->item.dict()) {
        if (v.type() != lt::entry::string_t) continue;
        const std::string& s = v.string();
        bool raw = k == "ih" || k == "v2";
        fields += (fields.empty() ? "" : ", ") + Quote(k) + ": " + Quote(raw ? ToHex(s.data(), s.size()) : s);
      }
      out = "{\"address\": " + Quote(address) + ", \"seq\": " + std::to_string(m->seq) + ", " + fields + "}";
    }
    return m->authoritative;
  });
  std::printf("%s\n", out.c_str());
  return out == "{}" ? 3 : 0;
}

// --------------------------------- seed ---------------------------------------

struct FileEntry {
  std::string rel;
  uint64_t size = 0;
  bool executable = false;
  std::string symlink;  // Target, for a symlink kept as one.
};

// As P2pNode's ListFiles: every regular file, sorted by relative path.
std::vector<FileEntry> ListFiles(const fs::path& dir, bool keep_symlinks) {
  std::vector<FileEntry> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) Die("cannot read " + dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) Die("cannot read " + dir.string() + ": " + ec.message());
    fs::file_status st = it->symlink_status();
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (fs::is_symlink(st)) {
      if (!keep_symlinks) Die("'" + rel + "' is a symlink (add --symlinks to keep it in the torrent)");
      files.push_back({rel, 0, false, fs::read_symlink(it->path()).string()});
      continue;
    }
    if (fs::is_directory(st)) continue;
    if (!fs::is_regular_file(st)) Die("'" + rel + "' is not a regular file");
    bool exec = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
    files.push_back({rel, it->file_size(), exec, {}});
  }
  std::sort(files.begin(), files.end(), [](const FileEntry& a, const FileEntry& b) { return a.rel < b.rel; });
  return files;
}

int RunSeed(const Options& o, const std::string& dir_arg, const std::string& name, bool symlinks,
            bool corrupt) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    Die("'" + name + "' is not a valid torrent name");
  }
  const fs::path dir = fs::absolute(dir_arg).lexically_normal();
  if (!fs::is_directory(dir)) Die(dir.string() + " is not a folder");
  auto files = ListFiles(dir, symlinks);
  uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  if (total == 0) Die(dir.string() + " holds no data");

  lt::file_storage storage;
  for (const auto& f : files) {
    if (!f.symlink.empty()) {
      storage.add_file(name + "/" + f.rel, 0, lt::file_storage::flag_symlink, 0, f.symlink);
    } else {
      storage.add_file(name + "/" + f.rel, static_cast<std::int64_t>(f.size),
                       f.executable ? lt::file_storage::flag_executable : lt::file_flags_t{});
    }
  }
  // The torrent's files are read at <save_path>/<name>/...: a private folder
  // holding one link <name> -> dir serves whatever dir is called.
  std::string tmpl = (fs::temp_directory_path() / "mumba-tool-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("cannot create a temporary folder");
  const fs::path alias_root = tmpl;
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);  // Removes the link, never what it points at.
    }
  } cleanup{alias_root};
  fs::create_directory_symlink(dir, alias_root / name);

  lt::create_torrent creator(storage, mumba::p2p::PieceSizeFor(total));
  creator.set_creation_date(0);
  lt::error_code ec;
  lt::set_piece_hashes(creator, alias_root.string(), ec);
  if (ec) Die("cannot hash " + dir.string() + ": " + ec.message());
  std::vector<char> buf = creator.generate_buf();
  auto ti = std::make_shared<lt::torrent_info>(buf, ec, lt::from_span);
  if (ec) Die("libtorrent rejected the torrent: " + ec.message());

  Node node(o, std::nullopt, corrupt);
  lt::add_torrent_params atp;
  atp.ti = ti;
  atp.save_path = alias_root.string();
  // Seed mode: no full check first (pieces are checked lazily, as they are first
  // served). Not auto-managed and not paused, as P2pNode::Seed does.
  atp.flags = lt::torrent_flags::seed_mode;
  lt::torrent_handle h = node.session().add_torrent(std::move(atp), ec);
  if (ec) Die("cannot seed: " + ec.message());
  bool checked = node.Pump(Clock::now() + std::chrono::seconds(10),
                           [](lt::alert* a) { return lt::alert_cast<lt::torrent_checked_alert>(a) != nullptr; });
  if (!checked) Die("the torrent was not ready within 10 s");
  node.WaitForDht(1, Clock::now() + std::chrono::seconds(5));
  h.force_dht_announce();

  const std::string v1 = ToHex(ti->info_hashes().v1.data(), 20);
  const std::string v2 = ToHex(ti->info_hashes().v2.data(), 32);
  std::printf("{\"info_hash\": %s, \"info_hash_v2\": %s, \"magnet\": %s, \"name\": %s, \"size\": %llu, "
              "\"port\": %d}\n",
              Quote(v1).c_str(), Quote(v2).c_str(),
              Quote(mumba::p2p::MagnetLink(v1, v2, name)).c_str(),
              Quote(name).c_str(), static_cast<unsigned long long>(total), node.port());
  std::fflush(stdout);

  // Seed until killed; announce again now and then so late joiners find us.
  auto next_announce = Clock::now() + std::chrono::seconds(2);
  while (!g_stop) {
    node.Pump(Clock::now() + std::chrono::milliseconds(500), [](lt::alert*) { return false; });
    if (Clock::now() >= next_announce) {
      h.force_dht_announce();
      next_announce = Clock::now() + std::chrono::seconds(2);
    }
  }
  if (corrupt) Note("sent " + std::to_string(g_corrupt_blocks.load()) + " corrupt blocks");
  return 0;
}

// Downloads a torrent by its info-hashes into `dir` (diagnostics: logs bans and
// hash failures on stderr). Prints {"done": bytes, "total": bytes, "finished": bool}.
int RunFetch(const Options& o, const std::string& ih, const std::string& v2, const std::string& dir,
             bool smart_ban, bool recover) {
  Node node(o, std::nullopt, false, smart_ban);
  const auto deadline = node.Deadline();
  lt::add_torrent_params atp;
  std::string raw1 = FromHex(ih, 20, "--ih");
  std::memcpy(atp.info_hashes.v1.data(), raw1.data(), 20);
  if (!v2.empty()) {
    std::string raw2 = FromHex(v2, 32, "--v2");
    std::memcpy(atp.info_hashes.v2.data(), raw2.data(), 32);
  }
  atp.save_path = dir;
  atp.flags = {};
  lt::error_code ec;
  lt::torrent_handle h = node.session().add_torrent(std::move(atp), ec);
  if (ec) Die("cannot add torrent: " + ec.message());
  node.WaitForDht(1, std::min(deadline, Clock::now() + std::chrono::seconds(5)));
  h.force_dht_announce();
  auto next = Clock::now() + std::chrono::seconds(1);
  bool finished = node.Pump(deadline, [&](lt::alert* a) {
    if (Clock::now() >= next) {
      auto st = h.status();
      Note("peers " + std::to_string(st.num_peers) + " done " + std::to_string(st.total_wanted_done));
      if (st.num_peers == 0) h.force_dht_announce();
      next = Clock::now() + std::chrono::seconds(1);
    }
    if (lt::alert_cast<lt::torrent_error_alert>(a)) {
      if (!recover) return true;
      Note("clearing the error and resuming");
      h.clear_error();
      h.resume();
    }
    return lt::alert_cast<lt::torrent_finished_alert>(a) != nullptr;
  });
  auto st = h.status();
  std::printf("{\"done\": %lld, \"total\": %lld, \"finished\": %s}\n", static_cast<long long>(st.total_wanted_done),
              static_cast<long long>(st.total_wanted), finished ? "true" : "false");
  return finished ? 0 : 4;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app("A DHT node and BitTorrent peer for tests: plain, forging or corrupting");
  app.require_subcommand(1);
  Options o;
  app.add_option("--listen", o.listen, "IP:PORT to listen on (a literal IP)")->default_val("127.0.0.1:0");
  app.add_option("--bootstrap", o.bootstrap, "DHT nodes to join, HOST:PORT,...");
  app.add_option("--timeout", o.timeout_s, "Seconds any DHT operation may take")->default_val(15);

  PutArgs put;
  auto* put_cmd = app.add_subcommand("put", "Put a BEP 44 item (BEP 46 layout), honest or forged");
  put_cmd->add_option("--key-file", put.key_file, "Secret key file (64 bytes) whose public key names the item");
  put_cmd->add_option("--address", put.address, "mumba://... naming the item (forging needs no secret)");
  put_cmd->add_flag("--new-key", put.new_key, "A fresh key names (and signs) the item");
  put_cmd->add_option("--key-out", put.key_out, "With --new-key: a keys folder to save the new key in");
  put_cmd->add_option("--sign-with-file", put.sign_with_file, "Sign with this key file's key instead");
  put_cmd->add_option("--ih", put.ih, "v1 info-hash, 40 hex")->required();
  put_cmd->add_option("--v2", put.v2, "v2 info-hash, 64 hex");
  put_cmd->add_option("--name", put.name)->required();
  put_cmd->add_option("--version", put.version)->required();
  put_cmd->add_option("--size", put.size)->default_val(0);
  put_cmd->add_option("--seq", put.seq)->default_val(1);
  put_cmd->add_option("--field", put.fields, "Extra string field KEY=VALUE");
  put_cmd->add_flag("--hold", put.hold, "Keep running (serving the item from this node) until killed");
  put_cmd->add_flag("--plant-only", put.plant_only,
                    "Put the item nowhere but in this node's store, and serve it from there until killed");

  std::string get_address;
  auto* get_cmd = app.add_subcommand("get", "Look up an address's item");
  get_cmd->add_option("--address", get_address)->required();

  std::string dir, name;
  bool symlinks = false;
  auto* seed_cmd = app.add_subcommand("seed", "Seed a folder as P2pNode::Seed would, until killed");
  seed_cmd->add_option("--dir", dir)->required();
  seed_cmd->add_option("--name", name)->required();
  seed_cmd->add_flag("--symlinks", symlinks, "Keep symlinks in the torrent");
  auto* corrupt_cmd =
      app.add_subcommand("seed-corrupt", "Seed a folder's honest torrent but upload corrupt blocks");
  corrupt_cmd->add_option("--dir", dir)->required();
  corrupt_cmd->add_option("--name", name)->required();
  std::string corrupt_at = "middle";
  corrupt_cmd->add_option("--at", corrupt_at, "Which byte of each block to flip: first, middle or last")
      ->check(CLI::IsMember({"first", "middle", "last"}));

  std::string fetch_ih, fetch_v2;
  auto* fetch_cmd = app.add_subcommand("fetch", "Download a torrent by info-hash (diagnostics)");
  fetch_cmd->add_option("--ih", fetch_ih)->required();
  fetch_cmd->add_option("--v2", fetch_v2);
  fetch_cmd->add_option("--dir", dir)->required();
  bool no_smart_ban = false;
  fetch_cmd->add_flag("--no-smart-ban", no_smart_ban, "Without libtorrent's smart_ban plugin");
  bool recover = false;
  fetch_cmd->add_flag("--recover", recover, "On a torrent error, clear it and resume (else give up)");

  CLI11_PARSE(app, argc, argv);
  if (*fetch_cmd) return RunFetch(o, fetch_ih, fetch_v2, dir, !no_smart_ban, recover);
  if (*put_cmd) return RunPut(o, put);
  if (*get_cmd) return RunGet(o, get_address);
  if (*seed_cmd) return RunSeed(o, dir, name, symlinks, false);
  if (*corrupt_cmd) {
    g_corrupt_at = corrupt_at == "first" ? 0 : corrupt_at == "last" ? 2 : 1;
    return RunSeed(o, dir, name, false, true);
  }
  return 1;
}
