// SPDX-License-Identifier: Apache-2.0
// The session half of P2pNodeImpl: starting and stopping the session, the thread
// that pumps its alerts, the torrent watches callers wait on, and Status. See
// p2p_node_impl.h for which file holds the rest.
#include "p2p/p2p_node_impl.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <system_error>

#include <libtorrent/address.hpp>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/extensions/ut_metadata.hpp>
#include <libtorrent/extensions/ut_pex.hpp>
#include <libtorrent/ip_filter.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/session_stats.hpp>

#include "common/files.h"
#include "common/host_port.h"
#include "p2p/format.h"
#include "p2p/session_settings.h"

namespace mumba::p2p {
namespace {

namespace fs = std::filesystem;

constexpr auto kListenTimeout = std::chrono::seconds(10);
// Alerts of one listen attempt come in one batch; after a failure the rest of the
// batch gets this long before the node decides.
constexpr auto kListenBatchGrace = std::chrono::milliseconds(200);
// How often the pump asks for session stats, and how long Status waits for them.
constexpr auto kStatsInterval = std::chrono::seconds(1);
constexpr auto kAlertPoll = std::chrono::milliseconds(100);
constexpr const char* kDhtStateFile = "dht_state";

}  // namespace

std::vector<std::string> TorrentKeys(const lt::info_hash_t& ih) {
  std::vector<std::string> keys;
  if (ih.has_v1()) keys.push_back(ih.v1.to_string());
  if (ih.has_v2()) keys.push_back(std::string(ih.v2.data(), 20));
  return keys;
}

mumba::Status CheckTorrentLimits(const lt::torrent_info& ti, const std::string& label,
                                 const FetchLimits& limits) {
  const lt::file_storage& files = ti.files();
  uint64_t bytes = 0, count = 0;
  for (lt::file_index_t i : files.file_range()) {
    if (files.pad_file_at(i)) continue;
    // Saturating: sizes come from a stranger's metadata.
    const auto size = static_cast<uint64_t>(files.file_size(i));
    bytes = size > UINT64_MAX - bytes ? UINT64_MAX : bytes + size;
    ++count;
  }
  return CheckFetchLimits(label, bytes, count, limits);
}

P2pNodeImpl::~P2pNodeImpl() {
  if (session_) SaveState();
  stop_ = true;
  if (alert_thread_.joinable()) alert_thread_.join();
  session_.reset();
}

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
  MUMBA_TRY(LoadState(params));
  session_ = std::make_unique<lt::session>(std::move(params));
  session_->add_extension(&lt::create_ut_metadata_plugin);
  session_->add_extension(&lt::create_ut_pex_plugin);
  if (options_.upload_rate_limit > 0 || options_.download_rate_limit > 0) RateLimitEveryPeer();
  presence_ = std::make_unique<Presence>(*session_, *options_.clock, listen_ip);
  alert_thread_ = std::thread([this] { PumpAlerts(); });
  MUMBA_TRY(AwaitListening(listen_ip));

  // Joining only now that the UDP socket exists: earlier, libtorrent drops the nodes.
  for (const auto& node : options_.bootstrap) MUMBA_TRY(AddDhtNode(node));
  for (const auto& node : saved_nodes_) session_->add_dht_node(node);
  return {};
}

mumba::Status P2pNodeImpl::LoadState(lt::session_params& params) {
  if (options_.state_dir.empty()) return {};
  std::error_code ec;
  fs::create_directories(options_.state_dir, ec);
  if (ec) return Unavailable("cannot create " + options_.state_dir.string() + ": " + ec.message());
  // A missing or damaged state file only costs the node its saved contacts. (The
  // saved node id is reused only when the socket already knows its external
  // address; on loopback or behind NAT libtorrent picks a new random id.)
  auto saved = ReadFile(options_.state_dir / kDhtStateFile);
  if (!saved.ok()) return {};
  lt::error_code lec;
  lt::bdecode_node node = lt::bdecode(*saved, lec);
  if (lec) return {};
  lt::session_params loaded = lt::read_session_params(node, lt::session_handle::save_dht_state);
  params.dht_state = std::move(loaded.dht_state);
  // "No bootstrap" promises no DHT traffic until AddDhtNode, so then the saved
  // contacts go unused. Otherwise they are joined like bootstrap nodes once
  // listening: libtorrent bootstraps from them as it starts, before its UDP
  // socket exists, and that attempt goes nowhere.
  if (!options_.bootstrap.empty()) {
    for (const auto* list : {&params.dht_state.nodes, &params.dht_state.nodes6}) {
      for (const auto& ep : *list) saved_nodes_.emplace_back(ep.address().to_string(), ep.port());
    }
  }
  params.dht_state.nodes.clear();
  params.dht_state.nodes6.clear();
  return {};
}

void P2pNodeImpl::SaveState() {
  if (options_.state_dir.empty()) return;
  lt::session_params params = session_->session_state(lt::session_handle::save_dht_state);
  std::vector<char> buf = lt::write_session_params_buf(params, lt::session_handle::save_dht_state);
  // Losing the state only costs the node its DHT identity and contacts, and a
  // destructor has no one to tell: the result is deliberately ignored.
  (void)WriteFileAtomic(options_.state_dir / kDhtStateFile, std::string(buf.begin(), buf.end()), 0600);
}

void P2pNodeImpl::RateLimitEveryPeer() {
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

mumba::Status P2pNodeImpl::AwaitListening(const std::string& listen_ip) {
  std::unique_lock lock(mu_);
  auto listening = [&] { return tcp_listening_ && udp_listening_; };
  bool ok = WaitFor(lock, kListenTimeout, [&] { return listening() || !listen_error_.empty(); });
  if (!listen_error_.empty() && !listening()) WaitFor(lock, kListenBatchGrace, listening);
  if (!listening()) {
    std::string why = listen_error_.empty() ? (ok ? "unknown" : "timed out") : listen_error_;
    return Unavailable("cannot listen on " + options_.listen + ": " + why);
  }
  listen_ = (listen_ip.find(':') != std::string::npos ? "[" + listen_ip + "]" : listen_ip) + ":" +
            std::to_string(port_);
  return {};
}

mumba::Status P2pNodeImpl::AddDhtNode(const std::string& host_port) {
  MUMBA_ASSIGN_OR_RETURN(HostPort hp, SplitHostPort(host_port));
  if (hp.port == 0) return InvalidArgument("DHT node '" + host_port + "' has port 0");
  session_->add_dht_node({hp.host, hp.port});
  return {};
}

void P2pNodeImpl::PumpAlerts() {
  std::vector<lt::alert*> alerts;
  auto next_stats = Now();
  while (!stop_) {
    // Stats once a second keep dht_nodes_ fresh, which is what re-announces seeds
    // when the routing table grows (see OnSessionStats).
    if (Now() >= next_stats) {
      session_->post_session_stats();
      next_stats = Now() + kStatsInterval;
    }
    session_->wait_for_alert(kAlertPoll);
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
  presence_->OnAlert(a);
  if (auto* l = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
    if (l->socket_type == lt::socket_type_t::tcp) {
      tcp_listening_ = true;
      port_ = l->port;
    } else if (l->socket_type == lt::socket_type_t::utp) {
      udp_listening_ = true;
    }
  } else if (auto* f = lt::alert_cast<lt::listen_failed_alert>(a)) {
    listen_error_ = f->message();
  } else if (auto* m = lt::alert_cast<lt::dht_mutable_item_alert>(a)) {
    OnDhtItem(*m);
  } else if (auto* gp = lt::alert_cast<lt::dht_get_peers_reply_alert>(a)) {
    OnDhtPeers(*gp);
  } else if (auto* dr = lt::alert_cast<lt::dht_direct_response_alert>(a)) {
    OnDhtDirect(*dr);
  } else if (auto* ln = lt::alert_cast<lt::dht_live_nodes_alert>(a)) {
    OnDhtLiveNodes(*ln);
  } else if (auto* md = lt::alert_cast<lt::metadata_received_alert>(a)) {
    OnMetadata(*md);
  } else if (auto* ss = lt::alert_cast<lt::session_stats_alert>(a)) {
    OnSessionStats(*ss);
  } else if (auto* fin = lt::alert_cast<lt::torrent_finished_alert>(a)) {
    ForTorrent(fin->handle.info_hashes(), [](TorrentEvents& e) { e.finished = true; });
  } else if (auto* chk = lt::alert_cast<lt::torrent_checked_alert>(a)) {
    ForTorrent(chk->handle.info_hashes(), [](TorrentEvents& e) { e.checked = true; });
  } else if (auto* rd = lt::alert_cast<lt::save_resume_data_alert>(a)) {
    ForTorrent(rd->handle.info_hashes(), [&](TorrentEvents& e) { e.known_peers = rd->params.peers; });
  } else if (auto* rf = lt::alert_cast<lt::save_resume_data_failed_alert>(a)) {
    ForTorrent(rf->handle.info_hashes(), [](TorrentEvents& e) { e.known_peers.emplace(); });
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

void P2pNodeImpl::OnSessionStats(const lt::session_stats_alert& a) {
  static const int kDhtNodes = lt::find_metric_idx("dht.dht_nodes");
  auto counters = a.counters();
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
}

void P2pNodeImpl::OnMetadata(const lt::metadata_received_alert& a) {
  std::shared_ptr<const lt::torrent_info> ti;
  ForTorrent(a.handle.info_hashes(), [&](TorrentEvents& e) {
    e.metadata = true;
    if (!e.limits || e.refused) return;
    if (!ti) ti = a.handle.torrent_file();
    if (!ti) return;
    mumba::Status st = CheckTorrentLimits(*ti, e.label, *e.limits);
    if (st.ok()) return;
    // Pieces are asked for only once the metadata is here, so pausing on its
    // arrival stops the download within moments, not at its end; Fetch then
    // deletes whatever was written (never more than the declared sizes).
    a.handle.pause();
    e.refused = st;
  });
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

std::shared_ptr<TorrentEvents> P2pNodeImpl::WatchTorrent(const lt::info_hash_t& ih,
                                                         std::optional<FetchLimits> limits,
                                                         const std::string& label) {
  auto events = std::make_shared<TorrentEvents>();
  events->limits = std::move(limits);
  events->label = label;
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
  WaitFor(lock, kRemoveTimeout, [&] { return events->removed && (!delete_files || events->deleted); });
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
  WaitFor(lock, kStatsInterval, [&] { return stats_generation_ > generation; });
  out.listen = listen_;
  out.dht_nodes = dht_nodes_;
  return out;
}

}  // namespace mumba::p2p

namespace mumba {

Expected<std::unique_ptr<P2pNode>> P2pNode::Create(P2pOptions options) {
  MUMBA_ASSIGN_OR_RETURN(HostPort hp, SplitHostPort(options.listen));
  lt::error_code ec;
  lt::address ip = lt::make_address(hp.host, ec);
  if (ec) return InvalidArgument("listen address '" + options.listen + "' needs a literal IP");
  for (const auto& node : options.bootstrap) {
    auto parsed = SplitHostPort(node);
    if (!parsed.ok()) return parsed.status().WithContext("bootstrap node");
  }
  auto node = std::make_unique<p2p::P2pNodeImpl>(std::move(options), ip.is_loopback());
  MUMBA_TRY(node->Start(hp.host));
  return std::unique_ptr<P2pNode>(std::move(node));
}

}  // namespace mumba
