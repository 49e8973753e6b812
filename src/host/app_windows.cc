// SPDX-License-Identifier: Apache-2.0
#include "host/app_windows.h"

#include "gateway/gateway.h"
#include "host/home.h"
#include "host/ui.h"
#include "shell/chromium.h"

namespace mumba {

AppWindows::AppWindows(InstalledApps& apps, Windows& windows, GatewaySecrets& secrets)
    : apps_(apps), windows_(windows), secrets_(secrets) {}

void AppWindows::AttachGateway(int port, const HomeApp* home) {
  home_ = home;
  port_ = port;
}

Expected<std::string> AppWindows::OriginOf(const std::string& ref) const {
  const int port = port_;
  if (port == 0) return FailedPrecondition("the host runs no gateway");
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, apps_.Find(ref));
  return "http://" + app.record.name + ".localhost:" + std::to_string(port);
}

Expected<std::string> AppWindows::WindowOwner(const std::string& ref) const {
  if (ref == kHomeApp) return std::string(kHomeApp);
  return apps_.ResolveApp(ref);
}

Expected<GatewaySession> AppWindows::SessionOf(const std::string& ref) const {
  const HomeApp* home = home_;
  const int port = port_;
  if (port == 0) return FailedPrecondition("the host runs no gateway");
  if (ref == kHomeApp && home) {
    return GatewaySession{"http://home.localhost:" + std::to_string(port),
                          WindowCookie{SecretCookieName(port), home->secret()}};
  }
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, apps_.Find(ref));
  return GatewaySession{"http://" + app.record.name + ".localhost:" + std::to_string(port),
                        WindowCookie{SecretCookieName(port), secrets_.For(app.record.id)}};
}

Expected<WindowView> AppWindows::Launch(const std::string& ref, const std::string& path, bool force_headless) {
  const bool headless = force_headless || shell::ShouldRunHeadless();
  // The secret goes into the window's profile as a cookie, never into a command
  // line or a URL.
  if (ref == kHomeApp && home_) {
    MUMBA_ASSIGN_OR_RETURN(GatewaySession home, SessionOf(kHomeApp));
    return windows_.Open(kHomeApp, kHomeApp, home.origin, path, headless, home.cookie);
  }
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, apps_.Find(ref));
  if (app.manifest->ui_entry.empty()) return FailedPrecondition(app.record.name + " has no UI (its manifest has no [ui])");
  MUMBA_ASSIGN_OR_RETURN(GatewaySession session, SessionOf(app.record.id));
  return windows_.Open(app.record.id, app.record.name, session.origin, path, headless, session.cookie);
}

}  // namespace mumba
