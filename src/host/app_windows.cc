// SPDX-License-Identifier: Apache-2.0
#include "host/app_windows.h"

#include "host/home.h"
#include "shell/chromium.h"

namespace mumba {

AppWindows::AppWindows(InstalledApps& apps, Windows& windows) : apps_(apps), windows_(windows) {}

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

Expected<WindowView> AppWindows::Launch(const std::string& ref, const std::string& path, bool force_headless) {
  const bool headless = force_headless || shell::ShouldRunHeadless();
  const HomeApp* home = home_;
  const int port = port_;
  if (ref == kHomeApp && home && port != 0) {
    // The secret goes into the window's profile as a cookie, never into a command
    // line or a URL.
    return windows_.Open(kHomeApp, kHomeApp, "http://home.localhost:" + std::to_string(port), path, headless,
                         WindowCookie{kSecretCookieName, home->secret()});
  }
  MUMBA_ASSIGN_OR_RETURN(InstalledApp app, apps_.Find(ref));
  if (app.manifest->ui_entry.empty()) return FailedPrecondition(app.record.name + " has no UI (its manifest has no [ui])");
  MUMBA_ASSIGN_OR_RETURN(std::string origin, OriginOf(app.record.id));
  return windows_.Open(app.record.id, app.record.name, origin, path, headless);
}

}  // namespace mumba
