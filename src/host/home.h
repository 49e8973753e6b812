// SPDX-License-Identifier: Apache-2.0
// The host's own home app at http://home.localhost:<port>/: installed apps and
// their state, start/stop/launch/uninstall, install by address with progress, logs.
// Its page is made like any app's (gateway, mumba.js); its "daemon" is the host:
// mumba.call reaches the host's Control and Distribution APIs on host.sock, and two
// routes (/api/install, /api/logs) are answered in-process. Because it drives the
// whole host, it opens only with the secret in $MUMBA_HOME/home.token (new at every
// host start), which `mumba launch home` puts in its window's profile as a cookie.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "broker/daemon_client.h"
#include "broker/transcoder.h"
#include "common/work_queue.h"
#include "gateway/gateway.h"
#include "host/app_lifecycle.h"

namespace mumba {

class Distribution;
class PageEvents;

// The home app's name, its origin's label and its id among windows and pages.
inline constexpr char kHomeApp[] = "home";

class HomeApp {
 public:
  // What home drives; all borrowed, they must outlive it.
  struct Parts {
    std::filesystem::path home_dir;        // MUMBA_HOME: home.token lives there.
    std::filesystem::path control_socket;  // host.sock, which its calls go to.
    DaemonClient& daemons;
    AppLifecycle& lifecycle;
    Distribution& distribution;
    PageEvents& events;
    const std::atomic<bool>& stopping;     // Installs stop when the host does.
  };
  // Makes a new secret and writes it to home.token (0600), so a secret seen by
  // anyone before is worthless after a restart; finds the UI next to the host's
  // executable.
  static Expected<std::unique_ptr<HomeApp>> Create(Parts parts);

  GatewayApp View() const;
  // The secret a window's cookie must carry. New at every host start.
  const std::string& secret() const { return token_; }

  void Route(mumba::app::v1::RouteRequest request, std::function<void(Expected<mumba::app::v1::RouteResponse>)> done);
  void Call(const std::string& method, std::string json, std::function<void(Expected<std::string>)> done);

 private:
  HomeApp(Parts parts, std::string token, std::filesystem::path ui_dir, std::shared_ptr<const Transcoder> transcoder)
      : parts_(parts), token_(std::move(token)), ui_dir_(std::move(ui_dir)), transcoder_(std::move(transcoder)) {}
  mumba::app::v1::RouteResponse Logs(const mumba::app::v1::RouteRequest& request);
  mumba::app::v1::RouteResponse Install(const mumba::app::v1::RouteRequest& request);

  Parts parts_;
  std::string token_;
  std::filesystem::path ui_dir_;
  std::shared_ptr<const Transcoder> transcoder_;
  WorkQueue installs_{1};  // Network installs the page started, one at a time.
};

// The home app's files: <dir of the host's executable>/../share/mumba/home.
std::filesystem::path HomeUiDir();

}  // namespace mumba
