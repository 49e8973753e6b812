// SPDX-License-Identifier: Apache-2.0
// App windows as apps and the CLI ask for them: which origin an app's pages live
// at, whose windows a name refers to, opening an app (or home) in a window with its
// secret cookie, and that same cookie for the owner's own tools.
#pragma once

#include <atomic>
#include <string>

#include "host/installed_apps.h"
#include "host/windows.h"
#include "mumba/status.h"

namespace mumba {

class GatewaySecrets;
class HomeApp;

// What a client needs to use an app on the gateway as the app's window does.
struct GatewaySession {
  std::string origin;  // http://<name>.localhost:<port>
  WindowCookie cookie;  // The app's secret, as SecretCookieName(port)=<secret>.
};

// Thread-safe.
class AppWindows {
 public:
  // All are borrowed and must outlive this object.
  AppWindows(InstalledApps& apps, Windows& windows, GatewaySecrets& secrets);

  // Called once the gateway serves on `port`; `home` (borrowed, may be null) is
  // the host's home app.
  void AttachGateway(int port, const HomeApp* home);

  // The gateway's port; 0 before AttachGateway.
  int gateway_port() const { return port_; }

  // "http://<name>.localhost:<port>": where the app's pages live. FAILED_PRECONDITION
  // without a gateway; the errors of InstalledApps::Find.
  Expected<std::string> OriginOf(const std::string& ref) const;
  // The id windows of app `ref` are filed under: the app's id, or "home" for the
  // host's home app.
  Expected<std::string> WindowOwner(const std::string& ref) const;
  // Opens `path` of the app in a new window of its Chromium, its secret cookie set
  // in the window's profile first. Headless when `force_headless` or when the host
  // has no display. FAILED_PRECONDITION for an app without a UI.
  Expected<WindowView> Launch(const std::string& ref, const std::string& path, bool force_headless);
  // The origin and secret cookie of app `ref` (or "home"), for the owner's tools
  // that talk to the gateway without a window. FAILED_PRECONDITION without a
  // gateway; the errors of InstalledApps::Find.
  Expected<GatewaySession> SessionOf(const std::string& ref) const;

 private:
  InstalledApps& apps_;
  Windows& windows_;
  GatewaySecrets& secrets_;
  std::atomic<int> port_{0};
  std::atomic<const HomeApp*> home_{nullptr};
};

}  // namespace mumba
