// SPDX-License-Identifier: Apache-2.0
// Apps over BitTorrent, as the host does it: publish an installed app under its
// permanent address, resolve an address, install or update from the network, roll
// back, and seed what came from the network. The BitTorrent node starts only when
// first needed, so a host that never publishes or fetches sends nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/keys.h"
#include "host/announce_decode.h"
#include "host/app_lifecycle.h"
#include "host/config.h"
#include "host/installer.h"
#include "host/registry.h"
#include "mumba/status.h"
#include "p2p/p2p_node.h"
#include "platform/clock.h"

namespace mumba {

struct PublishResult {
  ResolvedApp item;
  bool stored_in_dht = false;
};

struct DistributionEvent {
  enum class Phase { kResolving, kResolved, kDownloading, kInstalling, kDone, kUpToDate };
  Phase phase = Phase::kResolving;
  ResolvedApp item;
  FetchProgress progress;
  AppView app;  // Set for kDone and kUpToDate.
};
// Told of every step of long work; returning false stops it (CANCELLED).
using DistributionEventFn = std::function<bool(const DistributionEvent&)>;

// Starts the BitTorrent node; P2pNode::Create, or a fake in tests.
using P2pNodeFactory = std::function<Expected<std::unique_ptr<P2pNode>>(P2pOptions)>;

// The parts of the host distribution works with, all borrowed: they must outlive it.
struct DistributionParts {
  Installer& installer;    // Installs what was fetched, and rollbacks.
  AppLifecycle& apps;      // What is installed, and its state.
  Registry& registry;      // How each app travelled (its p2p records).
  P2pNodeFactory make_node = P2pNode::Create;
  const Clock& clock = Clock::Real();
};

// Thread-safe. Every method may block on the network, within its timeout.
class Distribution {
 public:
  // State (DHT, torrents) lives in `state_dir`; secret keys are read from
  // `keys_dir`; downloads land in `staging_dir`.
  Distribution(DistributionParts parts, P2pConfig config, std::filesystem::path state_dir,
               std::filesystem::path keys_dir, std::filesystem::path staging_dir);
  ~Distribution();

  // Starts seeding the apps that came from the network or were published here (if
  // seeding is on), and the periodic update check. Returns at once.
  void Start();

  // Publishes installed app `app_ref`: seeds its bundle and puts a new mutable item
  // (seq one above the highest known) signed with the app's key, opened with
  // `passphrase` when it is protected. The key is opened first: NOT_FOUND when the
  // key store lacks it, PERMISSION_DENIED for a protected key without its right
  // passphrase (LoadKeyPair), and then nothing is seeded or published. The
  // decrypted key is wiped once signed; neither is ever logged.
  Expected<PublishResult> Publish(const std::string& app_ref, std::string_view passphrase = {});

  // The same for the bundle folder `bundle_dir` (absolute), which is installed
  // first, but only once its key has opened: a bundle whose key is missing or
  // locked changes nothing. Errors of the installer as Installer::Install.
  Expected<PublishResult> PublishBundle(const std::filesystem::path& bundle_dir, std::string_view passphrase);

  // Looks `address` up in the DHT. NOT_FOUND (with how long it looked) if no one
  // serves it; INVALID_ARGUMENT for an item without a bundle, a valid name and
  // version, or a stated size (the size bounds every fetch of it).
  Expected<ResolvedApp> Resolve(const std::string& address, std::chrono::milliseconds timeout);

  // How many peers the DHT names for a resolved app's bundle (looks for at most
  // `timeout`).
  Expected<int> CountSeeders(const ResolvedApp& item, std::chrono::milliseconds timeout);

  // Resolves, downloads, verifies (piece hashes; the manifest's id must be the
  // address) and installs the app; then seeds it. Refuses (FAILED_PRECONDITION)
  // an item whose seq is below `min_seq` or that would take the app below what
  // is installed (CheckNotBelowInstalled, against the registry, not only what
  // was just resolved). Refuses (RESOURCE_EXHAUSTED) a bundle larger than its
  // item announced or than [p2p] max_bundle_bytes / max_bundle_files allow,
  // stopping the download as soon as the torrent's metadata shows it. Nothing
  // is installed on any error, nor when `on_event` says stop or the host is
  // stopping, and nothing is left in staging.
  // With `accept_wider` false, a version that asks for more than the installed one
  // (WiderAsks) is refused with FAILED_PRECONDITION listing what it asks for; with
  // `accept_asks` false, so is an app that asks for anything the owner has not
  // granted (Installer::Install).
  Expected<AppView> Fetch(const std::string& address, std::chrono::milliseconds timeout,
                          int64_t min_seq, const DistributionEventFn& on_event, bool accept_wider = true,
                          bool accept_asks = false);

  // Installs the newest version of an app that came from the network, if its
  // address now points at a higher seq than the one installed (kUpToDate if not).
  // A version that asks for more than the installed one is applied only with
  // `accept_wider` (the owner said yes); the hourly check never says it.
  Expected<AppView> Update(const std::string& app_ref, const DistributionEventFn& on_event,
                           bool accept_wider = false);

  // Goes back to the version installed before the current one. Returns the app and
  // the version it left.
  Expected<std::pair<AppView, std::string>> Rollback(const std::string& app_ref);

  // Stops seeding an app that is being uninstalled and forgets it.
  void Forget(const std::string& app_id);

  // The node's state; empty `listen` when it has not started.
  P2pStatus NodeStatus() const;
  // The v1 info-hashes of the bundles seeded now; empty when the node has not
  // started (it is never started for this).
  std::vector<std::string> SeedingHashes() const;

  // The BitTorrent node, started (and bootstrapped) on first use; UNAVAILABLE once
  // the host is stopping. Its DHT also carries apps' peer presence.
  Expected<P2pNode*> Node();

 private:
  // Publish's work once the app and its key are known; publish_mu_ held.
  Expected<PublishResult> PublishLocked(const AppView& app, const KeyPair& keys);
  bool Stopping();
  // The seq and bundle of the item installed or published here, and the
  // installed version, of the app at `address`.
  InstalledLevel InstalledLevelOf(const std::string& address);
  Status SeedInstalled(const AppView& app);
  void UpdateLoop();
  // Joins the bootstrap nodes again and again: nodes that were down when this one
  // started (peers starting at the same moment) are reached once they are up.
  void KeepJoined();

  DistributionParts parts_;
  P2pConfig config_;
  std::filesystem::path state_dir_;
  std::filesystem::path keys_dir_;
  std::filesystem::path staging_dir_;

  mutable std::mutex node_mu_;
  std::unique_ptr<P2pNode> node_;

  std::mutex publish_mu_;  // One publish or fetch of an app at a time.

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread updater_;
  std::thread joiner_;
  std::vector<std::thread> seeders_;  // Seeding fetched apps after they are installed.
};

// "mumba-<name>-<version>": the torrent name of a bundle, the same on every host so
// that every copy of a version has the same info-hashes.
std::string BundleTorrentName(const std::string& name, const std::string& version);

}  // namespace mumba
