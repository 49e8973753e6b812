// SPDX-License-Identifier: Apache-2.0
// App windows: one Chromium per app (its own profile under MUMBA_HOME), driven
// over the DevTools pipe. The host owns every window: it lists and closes them,
// offers them to the app's daemon (Automation), and reopens nothing a user closed.
// A window may be navigated away from its app (a link, a script): only documents
// of the app's own origin may notify the app, and the daemon evaluates script only
// in those. The host knows a document's origin from the execution contexts
// DevTools reports, never from what the page says.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mumba/status.h"
#include <nlohmann/json.hpp>

#include "mumba/ui/v1/automation.pb.h"

namespace mumba {

namespace shell {
class CdpConnection;
}

struct WindowView {
  std::string id;
  std::string app_id;
  std::string app_name;
  std::string url;
  std::string title;
  bool headless = false;
  int browser_pid = 0;
  std::chrono::milliseconds first_paint{0};  // Set by Open only.
};

// What automation needs to drive one window. Holding it keeps the browser's
// connection object alive; calls fail with UNAVAILABLE once the browser is gone.
struct WindowSession {
  std::shared_ptr<shell::CdpConnection> cdp;
  std::string session_id;
};

using PageEventFn = std::function<void(const mumba::ui::v1::PageEvent&)>;

// Thread-safe. Methods that talk to a browser block (bounded by DevTools timeouts).
// A cookie put in the window's browser profile before it loads anything: how a
// secret reaches a page without a command line, a URL or a log.
struct WindowCookie {
  std::string name;
  std::string value;
};

class Windows {
 public:
  // Profiles go in `profiles_dir`/<app id prefix>; browser output in `logs_dir`.
  Windows(std::filesystem::path profiles_dir, std::filesystem::path logs_dir);
  ~Windows();  // Closes every browser.

  // Opens `path` of the app's `origin` in a new window of the app's browser
  // (started first if needed) and returns once the page has loaded and painted.
  // FAILED_PRECONDITION when Chromium is not installed (naming the package).
  // `cookie`, when given, is set for `origin` (HttpOnly, SameSite=Strict) first.
  Expected<WindowView> Open(const std::string& app_id, const std::string& app_name, const std::string& origin,
                            const std::string& path, bool headless,
                            const std::optional<WindowCookie>& cookie = std::nullopt);
  // Open windows, of one app or ("" ) of all.
  std::vector<WindowView> List(const std::string& app_id = "");
  // Closes a window; with `app_id` set, only one of that app's. Closing an app's
  // last window ends its browser. NOT_FOUND for an unknown window.
  Status Close(const std::string& window_id, const std::string& app_id = "");
  // Closes every window of an app; returns how many there were.
  int CloseApp(const std::string& app_id);
  void CloseAll();

  // Loads window `window_id` of app `app_id` again (bypassing the cache) and waits
  // for its load event; its title is read anew. NOT_FOUND for another app's window,
  // DEADLINE_EXCEEDED when it does not load in time.
  Status Reload(const std::string& window_id, const std::string& app_id);

  // The window `window_id` of app `app_id`; NOT_FOUND for any other.
  Expected<WindowSession> Session(const std::string& window_id, const std::string& app_id);

  // The unique id (DevTools' uniqueId) of the main world of the document window
  // `window_id` of app `app_id` shows, when that document is of the app's own
  // origin: script evaluated in that context never runs in another document, even
  // if the window navigates meanwhile. NOT_FOUND for another app's window;
  // FAILED_PRECONDITION when the window shows another origin (or nothing yet).
  Expected<std::string> AppContext(const std::string& window_id, const std::string& app_id);

  // Calls `fn` (on a browser's reader thread: quick, non-blocking) for every page
  // event of the app's windows until Unsubscribe.
  int Subscribe(const std::string& app_id, PageEventFn fn);
  void Unsubscribe(int id);

 private:
  // A JavaScript world of a document in a window, as DevTools describes it.
  struct Context {
    std::string origin;     // "http://hello.localhost:8080"; "://" for data: URLs.
    std::string unique_id;  // Unique across processes, unlike the numeric id.
    std::string frame_id;   // The window's target id for its main frame.
    bool is_default = false;  // The page's own world, not an isolated one.
  };
  struct Window {
    std::string session_id;
    std::string url;
    std::string title;
    std::string origin;  // The app's origin: the only one that may notify.
    std::map<int, Context> contexts;  // By execution context id.
  };
  struct Browser {
    std::string app_id;
    std::string app_name;
    bool headless = false;
    std::filesystem::path profile;
    std::shared_ptr<shell::CdpConnection> cdp;
    int subscription = 0;
    std::map<std::string, Window> windows;  // By target id.
  };

  Expected<std::shared_ptr<Browser>> BrowserFor(const std::string& app_id, const std::string& app_name,
                                                bool headless);
  // A window in app mode (no URL bar) on `url`, for a browser with a display; returns
  // its target id.
  Expected<std::string> OpenAppWindow(const Browser& b, const std::string& url);
  void OnEvent(const std::string& app_id, const std::string& method, const nlohmann::json& params,
               const std::string& session_id);
  void Publish(const std::string& app_id, const mumba::ui::v1::PageEvent& e);  // mu_ held.
  // Forgets browsers that exited (the user closed their last window, or they crashed).
  void Reap();
  void EndBrowser(const std::shared_ptr<Browser>& b);

  const std::filesystem::path profiles_dir_;
  const std::filesystem::path logs_dir_;

  std::mutex open_mu_;  // One browser start at a time.
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Browser>> browsers_;  // By app id.
  struct Subscriber {
    std::string app_id;
    PageEventFn fn;
  };
  std::map<int, Subscriber> subscribers_;
  int next_subscriber_ = 1;
};

}  // namespace mumba
