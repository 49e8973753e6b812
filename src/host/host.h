// SPDX-License-Identifier: Apache-2.0
// The host: wires the parts of mumba-host together and owns them. It does nothing
// itself — each part does one job and gets the narrow parts it needs passed in:
//
//   InstalledApps   registry records with manifests loaded: the one cheap lookup
//   Installer       bundle -> staged -> installed, migrations, uninstall
//   AppLifecycle    start/stop/enable daemons through the supervisor; app views
//   AppEndpoints    each app's host socket and the services served on it
//   AppWindows      origins and windows of apps (Windows runs the browsers)
//   Distribution    publish/fetch/update over BitTorrent
//   gateway + home  every app's pages on http://<app>.localhost:<port>/
//   services        Control, Distribution and the owner's Storage on host.sock
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/daemon_client.h"
#include "common/paths.h"
#include "host/config.h"
#include "host/daemon_sandbox.h"
#include "mumba/status.h"
#include "supervisor/supervisor.h"

namespace grpc {
class ServerBuilder;
}

namespace mumba {

class AppBroker;
class AppEndpoints;
class AppLifecycle;
class AppWindows;
class ControlService;
class DevUiDirs;
class Distribution;
class DistributionService;
class Gateway;
class GatewaySecrets;
class HomeApp;
class HostGatewayBackend;
class InstalledApps;
class Installer;
class PageEvents;
class PeerNetwork;
class OwnerSharesService;
class Shares;
class Registry;
class StoreManager;
class Windows;
struct StorageServices;

struct HostOptions {
  std::filesystem::path home;
  SupervisorOptions supervisor;
  // Override config.toml's [p2p] listen and bootstrap when set.
  std::optional<std::string> p2p_listen;
  std::optional<std::vector<std::string>> p2p_bootstrap;
};

class Host final {
 public:
  // Reads config.toml, opens the registry, removes what an interrupted install
  // left and loads every installed app; starts no daemon yet.
  static Expected<std::unique_ptr<Host>> Create(HostOptions options);
  ~Host();

  // Serves every app's pages and the home app on the gateway (config.toml
  // [gateway] port). UNAVAILABLE when the port is taken.
  Status StartGateway();
  // Registers what the owner's CLI reaches on host.sock: Control, Distribution
  // and every app's storage. `request_stop` is called when a client asks the host
  // to stop. Call once.
  void RegisterOwnerServices(grpc::ServerBuilder& builder, std::function<void()> request_stop);
  // Starts, in parallel, every app that was running when the host last stopped,
  // then the distribution's seeding and update checks. Blocks while apps start.
  void Boot();
  // Stops every daemon, keeping the record of which ones should run at boot, and
  // the BitTorrent node. Idempotent.
  void Shutdown();

 private:
  Host(HostOptions options, HostConfig config, std::unique_ptr<Registry> registry);
  // Loads (or makes) the node key and starts the peer network; without them the
  // host runs on, with no links to other hosts, and logs why.
  void StartPeers();

  HostOptions options_;
  HostConfig config_;
  DaemonSandbox sandbox_;
  HomeLayout layout_;
  std::chrono::steady_clock::time_point started_;
  std::atomic<bool> stopping_{false};

  std::unique_ptr<Registry> registry_;
  std::unique_ptr<InstalledApps> apps_;
  std::unique_ptr<Supervisor> supervisor_;
  DaemonClient daemons_;
  std::unique_ptr<StoreManager> stores_;
  std::unique_ptr<PageEvents> page_events_;
  std::unique_ptr<Windows> windows_;
  std::unique_ptr<GatewaySecrets> gateway_secrets_;
  std::unique_ptr<DevUiDirs> dev_ui_;
  std::unique_ptr<AppWindows> app_windows_;
  std::unique_ptr<AppEndpoints> endpoints_;
  std::unique_ptr<AppBroker> broker_;
  std::unique_ptr<AppLifecycle> lifecycle_;
  std::unique_ptr<Installer> installer_;
  std::unique_ptr<Distribution> distribution_;
  std::unique_ptr<HomeApp> home_;
  std::unique_ptr<HostGatewayBackend> gateway_backend_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<ControlService> control_;
  std::unique_ptr<DistributionService> distribution_service_;
  std::unique_ptr<StorageServices> owner_storage_;
  // Stores shared and followed; made with the distribution, started at Boot.
  std::unique_ptr<Shares> shares_;
  std::atomic<Shares*> shares_ptr_{nullptr};
  std::unique_ptr<OwnerSharesService> owner_shares_;
  // Links to other hosts; from Boot, unless they cannot listen.
  std::unique_ptr<PeerNetwork> peers_;
  std::atomic<PeerNetwork*> peers_ptr_{nullptr};
};

}  // namespace mumba
