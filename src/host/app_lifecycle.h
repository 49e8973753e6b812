// SPDX-License-Identifier: Apache-2.0
// The app lifecycle: starting, stopping and restarting installed apps' daemons
// (backed by the supervisor), whether the host keeps each one running, and what
// each looks like right now. One operation per app at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/paths.h"
#include "common/work_queue.h"
#include "host/app_broker.h"
#include "host/app_endpoints.h"
#include "host/daemon_sandbox.h"
#include "host/installed_apps.h"
#include "mumba/status.h"
#include "storage/store_manager.h"
#include "supervisor/supervisor.h"

namespace mumba {

// What a call or route needs to reach a running daemon.
struct RunningApp {
  std::string id;
  std::string name;
  std::string socket;
  std::shared_ptr<const Manifest> manifest;
  std::shared_ptr<const Transcoder> transcoder;
};

// What the installer asks of the running apps while an app's version changes.
class AppRuntime {
 public:
  virtual ~AppRuntime() = default;
  // The lock held while an app is installed, started, stopped or removed.
  virtual std::shared_ptr<std::mutex> OpLock(const std::string& id) = 0;
  // Whether the daemon runs, starts or waits to restart.
  virtual bool Active(const std::string& id) const = 0;
  // Stops the daemon (blocks until it exited). OK when it was not running.
  virtual Status StopDaemon(const std::string& id) = 0;
  // Starts `app`'s daemon with the op lock held; blocks until SERVING.
  virtual Status StartLocked(const InstalledApp& app) = 0;
  // `app` as the host sees it now.
  virtual AppView ViewOf(const InstalledApp& app) const = 0;
};

// Thread-safe. Methods that start or stop daemons block until that is done.
class AppLifecycle final : public AppRuntime {
 public:
  // Every argument is borrowed and must outlive this object.
  AppLifecycle(const HomeLayout& layout, InstalledApps& apps, Supervisor& supervisor,
               AppEndpoints& endpoints, AppBroker& broker, StoreManager& stores, const DaemonSandbox& sandbox);

  // Starts, in parallel, every app that was running when the host last stopped.
  void StartEnabledApps();

  // Starts the app and keeps it running (also after a host restart).
  Expected<AppView> Start(const std::string& ref);
  // Stops the app and leaves it stopped.
  Expected<AppView> Stop(const std::string& ref);
  Expected<AppView> Restart(const std::string& ref);
  // The app as it is now; measures its storage on disk.
  Expected<AppView> Describe(const std::string& ref) const;
  // Every installed app, by name.
  std::vector<AppView> List() const;

  // The app's daemon if it is running now; FAILED_PRECONDITION otherwise. Never blocks.
  Expected<RunningApp> IfRunning(const std::string& ref) const;
  // The app's daemon, starting it first if needed (blocks while it starts).
  Expected<RunningApp> EnsureRunning(const std::string& ref);

  // AppRuntime.
  std::shared_ptr<std::mutex> OpLock(const std::string& id) override;
  bool Active(const std::string& id) const override;
  Status StopDaemon(const std::string& id) override;
  Status StartLocked(const InstalledApp& app) override;
  AppView ViewOf(const InstalledApp& app) const override;

  // How daemons are confined (DaemonSandbox::summary).
  const std::string& SandboxSummary() const { return sandbox_.summary(); }

  // Where the app's data folder is (HOME of its daemon).
  std::filesystem::path DataDir(const std::string& id) const;

 private:
  // The daemon's spec, in its sandbox unless the owner turned that off;
  // FAILED_PRECONDITION when the sandbox is wanted but unavailable.
  Expected<DaemonSpec> SpecFor(const InstalledApp& app) const;
  // logs/<name>-<first 8 chars of the key>.log: the daemon's output.
  std::filesystem::path LogFile(const AppRecord& record) const;
  // Records whether the app should run, then starts or stops it.
  Expected<AppView> SetEnabled(const std::string& ref, bool enabled);

  const HomeLayout& layout_;
  InstalledApps& apps_;
  Supervisor& supervisor_;
  AppEndpoints& endpoints_;
  AppBroker& broker_;
  StoreManager& stores_;
  const DaemonSandbox& sandbox_;
  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> op_locks_;  // By id.
};

// Runs `then` with the running app `ref`: at once on this thread when it runs
// already (the fast path), or on `work` after starting it (starting blocks).
void WithRunningApp(AppLifecycle& apps, WorkQueue& work, const std::string& ref,
                    std::function<void(Expected<RunningApp>)> then);

}  // namespace mumba
