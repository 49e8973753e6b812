// SPDX-License-Identifier: Apache-2.0
#include "host/host.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "host/app_broker.h"
#include "host/app_endpoints.h"
#include "host/app_lifecycle.h"
#include "host/app_windows.h"
#include "host/automation_service.h"
#include "host/control_service.h"
#include "host/distribution.h"
#include "host/distribution_service.h"
#include "host/home.h"
#include "host/installed_apps.h"
#include "host/installer.h"
#include "host/peer_network.h"
#include "host/peer_services.h"
#include "host/shares.h"
#include "host/shares_service.h"
#include "host/registry.h"
#include "host/ui.h"
#include "host/windows.h"
#include "peer/node_key.h"
#include "storage/storage_service.h"
#include "storage/store_manager.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

// What the apps' host sockets serve, each call scoped to the app whose socket it
// came through (AppEndpoints::AppOf).
class PerAppServices final : public EndpointServices {
 public:
  PerAppServices(StoreManager* stores, PageEvents& events, Windows& windows, AppWindows& app_windows,
                 const std::atomic<bool>& stopping, const PeerNetworkOf& peers, const AppOfCall& app_of,
                 const SharesOf& shares, const PeersGranted& granted)
      : storage_(stores,
                 CallerOfCall([app_of](const grpc::ServerContextBase* ctx) -> Expected<StoreCaller> {
                   if (!ctx) return PermissionDenied("a call on a host socket comes through gRPC");
                   MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of(*ctx));
                   // An empty id would be the owner's, who may reach every store.
                   if (app_id.empty()) return PermissionDenied("a call on a host socket is an app's");
                   return StoreCaller{std::move(app_id)};
                 })),
        events_(events, app_of),
        automation_(windows, app_windows, stopping, app_of),
        peers_(peers, app_of, stopping),
        shares_(shares, app_of, granted) {}

  std::vector<grpc::Service*> services() override {
    return {&storage_.kv, &storage_.sql, &storage_.files, &events_, &automation_, &peers_, &shares_};
  }

 private:
  StorageServices storage_;
  EventsService events_;
  AutomationService automation_;
  PeersService peers_;
  AppSharesService shares_;
};

}  // namespace

Expected<std::unique_ptr<Host>> Host::Create(HostOptions options) {
  HomeLayout layout(options.home);
  for (const auto& dir : {layout.apps_dir(), layout.staging_dir(), layout.data_dir(),
                          layout.logs_dir(), layout.run_dir()}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  }
  // sockaddr_un holds 108 bytes; daemon sockets are run/<16 chars>/host.sock.
  if ((layout.run_dir() / "0123456789abcdef" / "host.sock").string().size() >= 100) {
    return InvalidArgument("MUMBA_HOME " + options.home.string() +
                           " is too long a path for unix sockets (keep it under 70 characters)");
  }
  MUMBA_ASSIGN_OR_RETURN(HostConfig config, HostConfig::Load(layout.config()));
  if (options.p2p_listen) config.p2p.listen = *options.p2p_listen;
  if (options.p2p_bootstrap) config.p2p.bootstrap = *options.p2p_bootstrap;
  if (options.p2p_listen || options.p2p_bootstrap) config.p2p.start_with_host = true;
  MUMBA_ASSIGN_OR_RETURN(auto registry, Registry::Open(layout.registry()));
  std::unique_ptr<Host> host(new Host(std::move(options), std::move(config), std::move(registry)));
  host->installer_->SweepStaging();
  return host;
}

Host::Host(HostOptions options, HostConfig config, std::unique_ptr<Registry> registry)
    : options_(std::move(options)),
      config_(std::move(config)),
      sandbox_(DaemonSandbox::Decide(config_.sandbox, ProcessLauncher::System())),
      layout_(options_.home),
      started_(std::chrono::steady_clock::now()),
      registry_(std::move(registry)) {
  apps_ = std::make_unique<InstalledApps>(*registry_, config_);
  supervisor_ = Supervisor::Create(options_.supervisor);
  stores_ = std::make_unique<StoreManager>(
      layout_.stores_dir(), apps_.get(),
      engine::SqlStoreOptions{std::chrono::milliseconds(config_.sql_timeout_ms)});
  page_events_ = std::make_unique<PageEvents>();
  windows_ = std::make_unique<Windows>(layout_.home / "profiles", layout_.logs_dir());
  gateway_secrets_ = std::make_unique<GatewaySecrets>();
  dev_ui_ = std::make_unique<DevUiDirs>();
  app_windows_ = std::make_unique<AppWindows>(*apps_, *windows_, *gateway_secrets_);
  // An app's host socket answers its daemon's process tree (and the host itself,
  // which AppEndpoints always serves).
  endpoints_ = std::make_unique<AppEndpoints>(
      layout_.run_dir(),
      [this](AppOfCall app_of) {
        return std::make_unique<PerAppServices>(stores_.get(), *page_events_, *windows_, *app_windows_,
                                                stopping_, [this] { return peers_ptr_.load(); }, app_of,
                                                [this] { return shares_ptr_.load(); },
                                                [this](const std::string& app_id) {
                                                  auto app = apps_->Get(app_id);
                                                  return app.ok() && app->Granted("peers");
                                                });
      },
      [this](const std::string& app_id) {
        return std::vector<pid_t>{static_cast<pid_t>(supervisor_->Get(app_id).pid)};
      });
  // The broker asks the rest of the host through these, called on its own threads
  // once the host is whole (the lifecycle is made just below).
  broker_ = std::make_unique<AppBroker>(AppBrokerParts{
      [this](const std::string& app_id) {
        return std::vector<pid_t>{static_cast<pid_t>(supervisor_->Get(app_id).pid)};
      },
      [this] {
        std::vector<Callee> out;
        for (const auto& app : apps_->All()) {
          out.push_back({app.record.id, app.record.name, app.manifest->services, !app.manifest->routes.empty()});
        }
        return out;
      },
      [this](const std::string& app_id) {
        auto app = apps_->Get(app_id);
        return app.ok() ? app->granted : std::set<std::string>{};
      },
      [this](const std::string& app_id) { return lifecycle_->EnsureRunning(app_id).status(); },
      [this](const std::string& app_id, const std::string& node) -> Expected<UniqueFd> {
        PeerNetwork* net = peers_ptr_.load();
        if (!net) return Unavailable("this host runs no peer network");
        return net->OpenTunnel(app_id, node);
      }});
  lifecycle_ = std::make_unique<AppLifecycle>(layout_, *apps_, *supervisor_, *endpoints_, *broker_, *stores_,
                                              sandbox_);
  installer_ = std::make_unique<Installer>(layout_, *apps_, *stores_, *lifecycle_);
  distribution_ = std::make_unique<Distribution>(DistributionParts{*installer_, *lifecycle_, *registry_},
                                                 config_.p2p, layout_.home / "p2p", layout_.keys_dir(),
                                                 layout_.staging_dir());
  SharesOptions share_options;
  share_options.dir = layout_.shares_dir();
  share_options.keys_dir = layout_.keys_dir();
  share_options.poll = std::chrono::milliseconds(config_.p2p.follow_poll_ms);
  share_options.max_bytes = config_.p2p.max_bundle_bytes;
  share_options.max_files = config_.p2p.max_bundle_files;
  share_options.seed = config_.p2p.seed;
  share_options.check_kv = [](const fs::path& dir) { return CheckKvReplicaInChild(dir, std::chrono::seconds(60)); };
  if (auto shares = Shares::Create(share_options, *stores_, *distribution_); shares.ok()) {
    shares_ = std::move(*shares);
    shares_ptr_ = shares_.get();
    stores_->SetFollowedShares(shares_.get());
  } else {
    spdlog::error("shares: {}; nothing is shared or followed", shares.status().message());
  }
  // Parts that keep something per app let go of it when the app goes.
  installer_->OnUninstall([this](const std::string& app_id) {
    daemons_.Forget(endpoints_->DaemonSocket(app_id).string());
    endpoints_->Drop(app_id);
    broker_->Drop(app_id);
    windows_->CloseApp(app_id);
    gateway_secrets_->Forget(app_id);
    if (distribution_) distribution_->Forget(app_id);
    if (shares_) shares_->ForgetApp(app_id);
  });
}

Host::~Host() {
  Shutdown();
  // Home's queued installs report through the gateway: let them finish while the
  // gateway (destroyed before home as a member) is still there.
  home_.reset();
}

void Host::Shutdown() {
  stopping_ = true;
  if (peers_) peers_->Stop();
  // The gateway object stays until the host goes: events may still arrive.
  if (gateway_) gateway_->Stop();
  if (windows_) windows_->CloseAll();
  // Shares work on the distribution's node: they go first.
  shares_ptr_ = nullptr;
  if (stores_) stores_->SetFollowedShares(nullptr);
  shares_.reset();
  distribution_.reset();
  if (supervisor_) supervisor_->StopAll();
  if (broker_) broker_->DropAll();
  if (endpoints_) endpoints_->DropAll();
}

Status Host::StartGateway() {
  if (gateway_) return {};
  MUMBA_ASSIGN_OR_RETURN(home_, HomeApp::Create({layout_.home, layout_.socket(), daemons_, *lifecycle_,
                                                 *distribution_, *registry_, *page_events_, stopping_}));
  MUMBA_ASSIGN_OR_RETURN(gateway_backend_,
                         HostGatewayBackend::Create(
                             {*apps_, *lifecycle_, *endpoints_, daemons_, *gateway_secrets_, *dev_ui_, home_.get()}));
  MUMBA_ASSIGN_OR_RETURN(gateway_, mumba::StartGateway(config_.gateway_port, config_.gateway_limits,
                                                       layout_.home / "gateway.port",
                                                       gateway_backend_.get()));
  page_events_->Attach(gateway_.get());
  app_windows_->AttachGateway(gateway_->port(), home_.get());
  spdlog::info("gateway on http://<app>.localhost:{}/", gateway_->port());
  return {};
}

void Host::RegisterOwnerServices(grpc::ServerBuilder& builder, std::function<void()> request_stop) {
  control_ = std::make_unique<ControlService>(
      ControlService::Parts{layout_, *installer_, *lifecycle_, *app_windows_, *windows_, *distribution_,
                            daemons_, *apps_, *broker_, *dev_ui_, started_,
                            [this] { return peers_ptr_.load(); }},
      std::move(request_stop));
  distribution_service_ = std::make_unique<DistributionService>(*distribution_);
  // The owner reaches every app's stores here (`mumba kv/sql/files`).
  owner_storage_ = std::make_unique<StorageServices>(stores_.get(), StoreCaller{});
  builder.RegisterService(control_.get());
  builder.RegisterService(distribution_service_.get());
  builder.RegisterService(&owner_storage_->kv);
  builder.RegisterService(&owner_storage_->sql);
  builder.RegisterService(&owner_storage_->files);
  owner_shares_ = std::make_unique<OwnerSharesService>(
      [this] { return shares_ptr_.load(); },
      [this](const std::string& ref) -> Expected<std::pair<std::string, std::string>> {
        MUMBA_ASSIGN_OR_RETURN(std::string id, apps_->ResolveApp(ref));
        auto app = apps_->Get(id);
        return std::make_pair(id, app.ok() ? app->record.name : std::string());
      });
  builder.RegisterService(owner_shares_.get());
}

void Host::Boot() {
  StartPeers();
  lifecycle_->StartEnabledApps();
  if (distribution_) distribution_->Start();
  if (shares_) shares_->Start();
}

void Host::StartPeers() {
  auto key = LoadOrCreateNodeKey(layout_.home / "node.key");
  if (!key.ok()) {
    spdlog::error("peers: no node key, so no links to other hosts: {}", key.status().message());
    return;
  }
  PeerNetworkOptions options;
  options.listen = config_.p2p.peer_listen;
  if (options.listen.empty()) options.listen = config_.p2p.listen.substr(0, config_.p2p.listen.rfind(':')) + ":0";
  options.refresh = std::chrono::milliseconds(config_.p2p.peer_refresh_ms);
  options.expiry = std::chrono::milliseconds(config_.p2p.peer_expiry_ms);
  auto net = PeerNetwork::Start(
      std::move(*key),
      PeerNetworkParts{[this] { return apps_->All(); }, [this](const std::string& id) { return apps_->Get(id); },
                       [this](const std::string& id) { return lifecycle_->IfRunning(id).ok(); },
                       [this](const std::string& id) -> Expected<std::string> {
                         MUMBA_ASSIGN_OR_RETURN(RunningApp app, lifecycle_->EnsureRunning(id));
                         return app.socket;
                       },
                       [this] { return distribution_->Node(); }},
      options);
  if (!net.ok()) {
    spdlog::error("peers: {}", net.status().message());
    return;
  }
  peers_ = std::move(*net);
  peers_ptr_ = peers_.get();
  spdlog::info("node {}; links from other hosts once an app runs with peers", peers_->node_id());
}

}  // namespace mumba
