// SPDX-License-Identifier: Apache-2.0
#include "host/distribution.h"

#include <spdlog/spdlog.h>

#include "bundle/manifest.h"
#include "common/files.h"
#include "common/keys.h"
#include "platform/hex.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

constexpr auto kPublishLookup = std::chrono::seconds(3);
constexpr auto kPutTimeout = std::chrono::seconds(15);
constexpr auto kUpdateLookup = std::chrono::seconds(15);
constexpr auto kUpdateFetch = std::chrono::minutes(30);
// In the refusal of an update that widens what the app may do; `mumba update`
// recognises it and asks the owner (src/cli/p2p_commands.cc).
constexpr const char* kAsksForMore = " asks for more than ";

// The bytes of a hex info-hash; INVALID_ARGUMENT when it is not hex.
Expected<std::string> HashBytes(std::string_view hex) {
  auto bytes = FromHex(hex);
  if (!bytes) return InvalidArgument("bad hex");
  return *bytes;
}

std::string MagnetOf(const ResolvedApp& a) {
  std::string m = "magnet:?xt=urn:btih:" + a.info_hash;
  if (!a.info_hash_v2.empty()) m += "&xt=urn:btmh:1220" + a.info_hash_v2;
  return m + "&dn=" + BundleTorrentName(a.name, a.version);
}

// False when the listener says stop.
bool Emit(const DistributionEventFn& fn, DistributionEvent::Phase phase, const ResolvedApp& item) {
  if (!fn) return true;
  DistributionEvent e;
  e.phase = phase;
  e.item = item;
  return fn(e);
}

Status Cancelled(const std::string& what) { return Status(Code::kCancelled, what + " was cancelled"); }

}  // namespace

std::string BundleTorrentName(const std::string& name, const std::string& version) {
  return "mumba-" + name + "-" + version;
}

Distribution::Distribution(DistributionParts parts, P2pConfig config, fs::path state_dir, fs::path keys_dir,
                           fs::path staging_dir)
    : parts_(std::move(parts)),
      config_(std::move(config)),
      state_dir_(std::move(state_dir)),
      keys_dir_(std::move(keys_dir)),
      staging_dir_(std::move(staging_dir)) {}

Distribution::~Distribution() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (updater_.joinable()) updater_.join();
  if (joiner_.joinable()) joiner_.join();
  std::vector<std::thread> seeders;
  {
    std::lock_guard lock(stop_mu_);
    seeders.swap(seeders_);
  }
  for (auto& t : seeders) t.join();
  std::lock_guard lock(node_mu_);
  node_.reset();
}

Expected<P2pNode*> Distribution::Node() {
  std::lock_guard lock(node_mu_);
  if (node_) return node_.get();
  P2pOptions o;
  o.listen = config_.listen;
  o.bootstrap = config_.bootstrap;
  o.state_dir = state_dir_;
  o.upload_rate_limit = config_.upload_rate_limit;
  o.download_rate_limit = config_.download_rate_limit;
  auto node = parts_.make_node(o);
  if (!node.ok()) return node.status().WithContext("cannot start BitTorrent on " + config_.listen);
  node_ = std::move(*node);
  if (!config_.bootstrap.empty()) joiner_ = std::thread([this] { KeepJoined(); });
  auto st = node_->Status();
  spdlog::info("p2p: listening on {}, {} bootstrap node(s)", st.listen, config_.bootstrap.size());
  return node_.get();
}

P2pStatus Distribution::NodeStatus() const {
  std::lock_guard lock(node_mu_);
  return node_ ? node_->Status() : P2pStatus{};
}

std::vector<std::string> Distribution::SeedingHashes() const {
  std::lock_guard lock(node_mu_);
  std::vector<std::string> hashes;
  if (node_) {
    for (const auto& t : node_->Seeding()) hashes.push_back(t.info_hash_v1);
  }
  return hashes;
}

void Distribution::Start() {
  if (config_.start_with_host) {
    if (auto node = Node(); !node.ok()) spdlog::error("p2p: {}", node.status().message());
  }
  // The update check starts even when nothing came from the network yet: an app
  // installed from it later must be kept up to date (and bounded) too. It sends
  // nothing while no app came from the network.
  if (config_.update_interval_s > 0) updater_ = std::thread([this] { UpdateLoop(); });
  auto records = parts_.registry.ListP2p();
  if (records.empty()) return;  // Nothing travelled over the network: stay silent.
  std::thread([this, records] {
    if (!config_.seed) return;
    for (const auto& r : records) {
      auto app = parts_.apps.Describe(r.id);
      if (!app.ok()) continue;
      if (Status st = SeedInstalled(*app); !st.ok()) {
        spdlog::warn("p2p: cannot seed {}: {}", app->record.name, st.message());
      }
    }
  }).detach();
}

void Distribution::KeepJoined() {
  // Every second for the first half minute, then every minute.
  auto started = parts_.clock.Now();
  for (;;) {
    auto age = parts_.clock.Now() - started;
    auto pause = age < std::chrono::seconds(30) ? std::chrono::seconds(1) : std::chrono::seconds(60);
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, pause, [this] { return stopping_; })) return;
    }
    P2pNode* node = nullptr;
    {
      std::lock_guard lock(node_mu_);
      node = node_.get();
    }
    if (!node) return;
    for (const auto& b : config_.bootstrap) (void)node->AddDhtNode(b);
  }
}

void Distribution::UpdateLoop() {
  for (;;) {
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, std::chrono::seconds(config_.update_interval_s),
                            [this] { return stopping_; })) {
        return;
      }
    }
    for (const auto& r : parts_.registry.ListP2p()) {
      if (r.published) continue;  // Its publisher is the newest source of it.
      auto updated = Update(r.id, nullptr);
      if (!updated.ok()) spdlog::warn("p2p: update of {} failed: {}", r.id, updated.status().message());
    }
  }
}

Status Distribution::SeedInstalled(const AppView& app) {
  if (!config_.seed) return Status();
  MUMBA_ASSIGN_OR_RETURN(P2pNode * node, Node());
  auto seeded = node->Seed(app.record.install_dir,
                           BundleTorrentName(app.record.name, app.record.version));
  return seeded.status();
}

Expected<PublishResult> Distribution::Publish(const std::string& app_ref, std::string_view passphrase) {
  std::lock_guard lock(publish_mu_);
  MUMBA_ASSIGN_OR_RETURN(AppView app, parts_.apps.Describe(app_ref));
  MUMBA_ASSIGN_OR_RETURN(KeyPair keys, LoadKeyPair(keys_dir_, app.record.id, passphrase));
  return PublishLocked(app, keys);
}

Expected<PublishResult> Distribution::PublishBundle(const fs::path& bundle_dir, std::string_view passphrase) {
  std::lock_guard lock(publish_mu_);
  MUMBA_ASSIGN_OR_RETURN(Manifest manifest, LoadManifest(bundle_dir));
  MUMBA_ASSIGN_OR_RETURN(KeyPair keys, LoadKeyPair(keys_dir_, manifest.id, passphrase));
  // The owner publishing an app of their own has seen what it asks for.
  MUMBA_ASSIGN_OR_RETURN(InstallResult installed, parts_.installer.Install(bundle_dir, /*accept_asks=*/true));
  return PublishLocked(installed.app, keys);
}

Expected<PublishResult> Distribution::PublishLocked(const AppView& app, const KeyPair& keys) {
  const std::string& id = app.record.id;
  MUMBA_ASSIGN_OR_RETURN(P2pNode * node, Node());
  // Publishing seeds even when seeding of fetched apps is off: someone must serve it.
  MUMBA_ASSIGN_OR_RETURN(TorrentRef torrent,
                         node->Seed(app.record.install_dir,
                                    BundleTorrentName(app.record.name, app.record.version)));
  int64_t seq = 0;
  if (auto known = parts_.registry.GetP2p(id); known.ok()) seq = known->seq;
  if (auto current = node->GetMutable(keys.public_key, kPublishLookup); current.ok()) {
    seq = std::max(seq, current->seq);
  }
  ++seq;

  ResolvedApp item;
  item.address = id;
  item.name = app.record.name;
  item.version = app.record.version;
  item.seq = seq;
  item.size = torrent.total_size;
  item.info_hash = torrent.info_hash_v1;
  item.info_hash_v2 = torrent.info_hash_v2;
  item.magnet = torrent.magnet;

  MUMBA_ASSIGN_OR_RETURN(std::string ih, HashBytes(torrent.info_hash_v1));
  MUMBA_ASSIGN_OR_RETURN(std::string ih2, HashBytes(torrent.info_hash_v2));
  std::map<std::string, std::string> fields = {
      {"ih", ih},  // BEP 46: the v1 info-hash, raw.
      {"v2", ih2},
      {"name", item.name},
      {"version", item.version},
      {"size", std::to_string(item.size)},
  };
  Status put = node->PutMutable(keys, fields, seq, kPutTimeout);
  if (!put.ok()) spdlog::warn("p2p: no DHT node stored {} seq {}: {}", id, seq, put.message());
  MUMBA_TRY(parts_.registry.PutP2p(
      {id, seq, torrent.info_hash_v1, torrent.info_hash_v2, item.version, true}));
  spdlog::info("p2p: published {} {} as {} seq {}", item.name, item.version, id, seq);
  return PublishResult{item, put.ok()};
}

Expected<ResolvedApp> Distribution::Resolve(const std::string& address,
                                            std::chrono::milliseconds timeout) {
  MUMBA_ASSIGN_OR_RETURN(AppAddress decoded, DecodeAddress(address));
  const std::string& canonical = decoded.canonical;
  const std::array<uint8_t, 32>& pk = decoded.public_key;
  MUMBA_ASSIGN_OR_RETURN(P2pNode * node, Node());
  auto found = node->GetMutable(pk, timeout);
  if (!found.ok()) {
    if (found.status().code() == Code::kNotFound) {
      return NotFound("no one serves " + canonical + " (looked in the DHT for " +
                      std::to_string(timeout.count() / 1000.0).substr(0, 4) + " s; " +
                      std::to_string(node->Status().dht_nodes) + " DHT nodes known)");
    }
    return found.status();
  }
  MUMBA_ASSIGN_OR_RETURN(ResolvedApp item, DecodeAnnounce(canonical, found->seq, found->fields));
  item.magnet = MagnetOf(item);
  return item;
}

Expected<int> Distribution::CountSeeders(const ResolvedApp& item, std::chrono::milliseconds timeout) {
  MUMBA_ASSIGN_OR_RETURN(P2pNode * node, Node());
  return node->CountPeers(item.info_hash, timeout);
}

InstalledLevel Distribution::InstalledLevelOf(const std::string& address) {
  InstalledLevel level;
  if (auto known = parts_.registry.GetP2p(address); known.ok()) {
    level.seq = known->seq;
    level.info_hash = known->info_hash;
  }
  if (auto app = parts_.apps.Describe(address); app.ok()) level.version = app->record.version;
  return level;
}

bool Distribution::Stopping() {
  std::lock_guard lock(stop_mu_);
  return stopping_;
}

Expected<AppView> Distribution::Fetch(const std::string& address, std::chrono::milliseconds timeout,
                                      int64_t min_seq, const DistributionEventFn& on_event, bool accept_wider,
                                      bool accept_asks) {
  std::lock_guard lock(publish_mu_);
  auto start = parts_.clock.Now();
  if (!Emit(on_event, DistributionEvent::Phase::kResolving, {})) return Cancelled("installing " + address);
  MUMBA_ASSIGN_OR_RETURN(ResolvedApp item,
                         Resolve(address, std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(20))));
  if (item.seq < min_seq) {
    return FailedPrecondition(item.address + " offers seq " + std::to_string(item.seq) +
                              ", not newer than the " + std::to_string(min_seq - 1) + " installed");
  }
  // `min_seq` is what the caller saw; what is installed here counts whatever the
  // caller saw (hostile DHT nodes may serve only an older, validly signed item).
  MUMBA_TRY(CheckNotBelowInstalled(item.name, {item.seq, item.version, item.info_hash},
                                   InstalledLevelOf(item.address)));
  if (item.size > config_.max_bundle_bytes) {
    return ResourceExhausted("refused: " + item.address + " announces a bundle of " + std::to_string(item.size) +
                             " bytes, above the ceiling of " + std::to_string(config_.max_bundle_bytes) +
                             " ([p2p] max_bundle_bytes)");
  }
  if (!Emit(on_event, DistributionEvent::Phase::kResolved, item) || Stopping()) {
    return Cancelled("installing " + item.name);
  }

  MUMBA_ASSIGN_OR_RETURN(P2pNode * node, Node());
  fs::path dest = staging_dir_ / ("fetch-" + RandomSuffix());
  auto left = timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                            parts_.clock.Now() - start);
  if (left < std::chrono::seconds(1)) left = std::chrono::seconds(1);
  FetchLimits limits;
  limits.announced_bytes = item.size;
  limits.max_bytes = config_.max_bundle_bytes;
  limits.max_files = config_.max_bundle_files;
  auto folder = node->Fetch(item.info_hash, item.info_hash_v2, dest, left, limits, [&](const FetchProgress& p) {
    if (Stopping()) return false;
    if (!on_event) return true;
    DistributionEvent e;
    e.phase = DistributionEvent::Phase::kDownloading;
    e.item = item;
    e.progress = p;
    return on_event(e);
  });
  // Whatever happens next, the download folder goes.
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dest};
  if (!folder.ok()) return folder.status().WithContext("fetching " + item.name + " " + item.version);

  // The bundle must be the app the address names: a publisher can only point its
  // own address at its own app.
  auto loaded = LoadManifest(*folder, item.address);
  if (!loaded.ok()) return loaded.status().WithContext("the bundle found at " + item.address);
  const Manifest& m = *loaded;
  if (m.id != item.address) {
    return PermissionDenied("refused: the bundle found at " + item.address + " says it is app " + m.id);
  }
  // A stranger's bundle must say what it was built for (mumba build writes it):
  // without it, a daemon for another runtime would install and then not start.
  if (m.runtime.empty()) {
    return FailedPrecondition("refused: the bundle found at " + item.address +
                              " does not say which runtime it was built for (no [runtime] in its "
                              "mumba.toml; mumba build writes it)");
  }
  if (m.name != item.name || m.version != item.version) {
    return PermissionDenied("refused: the bundle found at " + item.address + " is " + m.name + " " +
                            m.version + ", not the " + item.name + " " + item.version + " announced");
  }
  if (!accept_wider) {
    if (auto current = parts_.apps.Describe(m.id); current.ok() && current->manifest) {
      std::vector<std::string> wider = WiderAsks(m, *current->manifest);
      if (!wider.empty()) {
        std::string asks;
        for (const auto& w : wider) asks += (asks.empty() ? "" : "; ") + w;
        return FailedPrecondition(m.name + " " + m.version + kAsksForMore + current->record.version + ": " +
                                  asks + " (mumba update " + m.name + " shows it and asks)");
      }
    }
  }
  if (!Emit(on_event, DistributionEvent::Phase::kInstalling, item)) return Cancelled("installing " + item.name);
  MUMBA_ASSIGN_OR_RETURN(InstallResult installed, parts_.installer.InstallStaged(*folder, accept_asks));
  bool published = false;
  if (auto known = parts_.registry.GetP2p(item.address); known.ok()) published = known->published;
  MUMBA_TRY(parts_.registry.PutP2p(
      {item.address, item.seq, item.info_hash, item.info_hash_v2, item.version, published}));
  // Seeding hashes the bundle again; the app is installed already, so do it after.
  {
    std::lock_guard lock(stop_mu_);
    seeders_.emplace_back([this, app = installed.app, name = item.name] {
      if (Status st = SeedInstalled(app); !st.ok()) spdlog::warn("p2p: cannot seed {}: {}", name, st.message());
    });
  }
  spdlog::info("p2p: installed {} {} from {} seq {}", item.name, item.version, item.address, item.seq);
  if (on_event) {
    DistributionEvent e;
    e.phase = DistributionEvent::Phase::kDone;
    e.item = item;
    e.app = installed.app;
    on_event(e);
  }
  return installed.app;
}

Expected<AppView> Distribution::Update(const std::string& app_ref, const DistributionEventFn& on_event,
                                       bool accept_wider) {
  MUMBA_ASSIGN_OR_RETURN(AppView app, parts_.apps.Describe(app_ref));
  auto known = parts_.registry.GetP2p(app.record.id);
  if (!known.ok()) {
    return FailedPrecondition(app.record.name + " was not installed from the network (mumba install " +
                              app.record.id + " does that)");
  }
  if (!Emit(on_event, DistributionEvent::Phase::kResolving, {})) return Cancelled("updating " + app.record.name);
  MUMBA_ASSIGN_OR_RETURN(ResolvedApp item, Resolve(app.record.id, kUpdateLookup));
  if (item.seq <= known->seq) {
    if (on_event) {
      DistributionEvent e;
      e.phase = DistributionEvent::Phase::kUpToDate;
      e.item = item;
      e.app = app;
      on_event(e);
    }
    return app;
  }
  return Fetch(app.record.id, kUpdateFetch, known->seq + 1, on_event, accept_wider, accept_wider);
}

Expected<std::pair<AppView, std::string>> Distribution::Rollback(const std::string& app_ref) {
  std::lock_guard lock(publish_mu_);
  MUMBA_ASSIGN_OR_RETURN(AppView app, parts_.apps.Describe(app_ref));
  fs::path current = app.record.install_dir;
  fs::path previous;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(current.parent_path(), ec)) {
    if (e.is_directory() && e.path() != current && IsValidSemver(e.path().filename().string())) {
      previous = e.path();
    }
  }
  if (previous.empty()) {
    return FailedPrecondition("no earlier version of " + app.record.name + " is kept here");
  }
  // The earlier version was installed with the owner's yes to what it asks.
  MUMBA_ASSIGN_OR_RETURN(InstallResult back, parts_.installer.Install(previous, /*accept_asks=*/true));
  spdlog::info("rolled {} back from {} to {}", app.record.name, app.record.version, back.app.record.version);
  return std::make_pair(back.app, app.record.version);
}

void Distribution::Forget(const std::string& app_id) {
  auto known = parts_.registry.GetP2p(app_id);
  if (!known.ok()) return;
  {
    std::lock_guard lock(node_mu_);
    if (node_) (void)node_->StopSeeding(known->info_hash);
  }
  (void)parts_.registry.RemoveP2p(app_id);
}

}  // namespace mumba
