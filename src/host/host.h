// SPDX-License-Identifier: Apache-2.0
// The host's core: what `mumba install/start/stop/call/route` do, independent of
// how requests arrive.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/daemon_client.h"
#include "broker/transcoder.h"
#include "bundle/manifest.h"
#include "common/paths.h"
#include "host/registry.h"
#include "mumba/status.h"
#include "supervisor/supervisor.h"

namespace mumba {

struct HostOptions {
  std::filesystem::path home;
  SupervisorOptions supervisor;
};

// An installed app as the host sees it right now.
struct AppView {
  AppRecord record;
  std::shared_ptr<const Manifest> manifest;
  DaemonStatus daemon;
  std::filesystem::path socket;
  std::filesystem::path data_dir;
  std::filesystem::path log_file;
};

// What a call or route needs to reach a running daemon.
struct RunningApp {
  std::string id;
  std::string name;
  std::string socket;
  std::shared_ptr<const Manifest> manifest;
  std::shared_ptr<const Transcoder> transcoder;
};

struct InstallResult {
  AppView app;
  bool replaced = false;
};

// Thread-safe. Methods that start or stop daemons block until that is done.
class Host {
 public:
  // Opens the registry and loads every installed app; starts no daemon yet.
  static Expected<std::unique_ptr<Host>> Create(HostOptions options);
  ~Host();

  // Starts, in parallel, every app that was running when the host last stopped.
  void StartEnabledApps();

  // Validates `bundle_dir`, copies it into a staging folder, validates the copy
  // and renames it into place, then records it. On any error nothing changes. A
  // running app being upgraded is restarted on the new version.
  Expected<InstallResult> Install(const std::filesystem::path& bundle_dir);
  Status Uninstall(const std::string& ref, bool purge);

  Expected<AppView> Start(const std::string& ref);
  Expected<AppView> Stop(const std::string& ref);
  Expected<AppView> Restart(const std::string& ref);
  Expected<AppView> Describe(const std::string& ref) const;
  std::vector<AppView> List() const;

  // The app's daemon if it is running now; FAILED_PRECONDITION otherwise. Never blocks.
  Expected<RunningApp> IfRunning(const std::string& ref) const;
  // The app's daemon, starting it first if needed (blocks while it starts).
  Expected<RunningApp> EnsureRunning(const std::string& ref);

  DaemonClient& daemons() { return daemons_; }
  const HomeLayout& layout() const { return layout_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // Stops every daemon, keeping the record of which ones should run at boot.
  void Shutdown();

 private:
  struct Loaded {
    AppRecord record;
    std::shared_ptr<const Manifest> manifest;
    std::shared_ptr<const Transcoder> transcoder;
  };

  Host(HostOptions options, std::unique_ptr<Registry> registry);
  Status LoadAll();
  Expected<Loaded> Load(const AppRecord& record) const;
  Expected<Loaded> Find(const std::string& ref) const;
  DaemonSpec SpecFor(const Loaded& app) const;
  AppView ViewOf(const Loaded& app) const;
  std::filesystem::path SocketFor(const std::string& id) const;
  std::shared_ptr<std::mutex> OpLock(const std::string& id);
  Status StartLocked(const Loaded& app);
  void SweepStaging();

  HostOptions options_;
  HomeLayout layout_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<Supervisor> supervisor_;
  DaemonClient daemons_;
  std::chrono::steady_clock::time_point started_;

  mutable std::mutex mu_;
  std::map<std::string, Loaded> apps_;                        // By id.
  std::map<std::string, std::shared_ptr<std::mutex>> op_locks_;  // By id.
};

}  // namespace mumba
