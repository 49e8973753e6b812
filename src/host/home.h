// SPDX-License-Identifier: Apache-2.0
// The host's own home app at http://home.localhost:<port>/: installed apps and
// their state, icons, storage, seeding, permissions and updates; start/stop/launch/
// uninstall, revoke and grant, install by address after a preview, logs.
// Its page is made like any app's (gateway, mumba.js); its "daemon" is the host:
// mumba.call reaches the few methods of the host's Control and Distribution APIs
// its buttons need (HomeApp::Call says which), and its own routes (/api/apps,
// /api/icon, /api/install, /api/update, /api/logs) are answered in-process.
// Because it drives the
// whole host, it opens only with the secret in $MUMBA_HOME/home.token (new at every
// host start), which `mumba launch home` puts in its window's profile as a cookie.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "broker/daemon_client.h"
#include "broker/transcoder.h"
#include "common/work_queue.h"
#include "gateway/gateway.h"
#include "host/app_lifecycle.h"

namespace mumba {

class Distribution;
class PageEvents;
class Registry;

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
    Registry& registry;                    // How each app travelled (seeding, updates).
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

  // Answers home's own routes; NOT_FOUND for any other.
  void Route(mumba::app::v1::RouteRequest request, std::function<void(Expected<mumba::app::v1::RouteResponse>)> done);
  // Passes a call of home's page to the host's API when `method` is one its page
  // needs (kHomeMethods); PERMISSION_DENIED for any other, without calling.
  void Call(const std::string& method, std::string json, std::function<void(Expected<std::string>)> done);

 private:
  HomeApp(Parts parts, std::string token, std::filesystem::path ui_dir, std::shared_ptr<const Transcoder> transcoder)
      : parts_(parts), token_(std::move(token)), ui_dir_(std::move(ui_dir)), transcoder_(std::move(transcoder)) {}
  mumba::app::v1::RouteResponse Logs(const mumba::app::v1::RouteRequest& request);
  mumba::app::v1::RouteResponse Install(const mumba::app::v1::RouteRequest& request);
  mumba::app::v1::RouteResponse Update(const mumba::app::v1::RouteRequest& request);
  mumba::app::v1::RouteResponse Apps();
  mumba::app::v1::RouteResponse Icon(const mumba::app::v1::RouteRequest& request);
  // Asks the DHT, off the gateway's threads, how many peers hold each app that
  // travels over BitTorrent and whether a newer version of it is out.
  void CheckNetwork();

  // What the last network check found about one app.
  struct NetworkFacts {
    int peers = -1;             // Peers the DHT names for its bundle; -1 not known.
    std::string update;         // A newer version out there; empty if none.
    int64_t update_seq = 0;
    uint64_t update_size = 0;
  };

  Parts parts_;
  std::string token_;
  std::filesystem::path ui_dir_;
  std::shared_ptr<const Transcoder> transcoder_;
  std::mutex mu_;
  std::map<std::string, NetworkFacts> facts_;  // By app id.
  int64_t checked_ms_ = 0;                      // When the last check started.
  bool checking_ = false;
  WorkQueue installs_{1};  // Network installs and updates the page started, one at a time.
  WorkQueue checks_{1};    // Network checks (CheckNetwork); declared last: joined first.
};

// The home app's files: <dir of the host's executable>/../share/mumba/home.
std::filesystem::path HomeUiDir();

}  // namespace mumba
