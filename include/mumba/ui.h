// SPDX-License-Identifier: Apache-2.0
// The app's own windows, driven from its daemon: what a page's renderer can do,
// offered to native code. The host opens each window in Chromium at the app's
// origin and drives it over its DevTools pipe; a daemon reaches only its own app's
// windows.
//
//   auto windows = app.Windows();                  // or app.OpenWindow("/")
//   mumba::Window w = windows->front();
//   w.Query("#status").SetText("ready");           // change the DOM
//   auto n = w.Evaluate("document.title");          // -> "\"hello\"" (JSON)
//   auto sub = w.OnEvent([](const mumba::PageEvent& e) {
//     if (e.kind == mumba::PageEvent::Kind::kNotify) { /* e.json: window.mumba.notify(v) */ }
//   });
//
// Every call blocks until the host answers; errors are Status values (NOT_FOUND once
// the window is closed, UNAVAILABLE when the app was started by hand).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mumba/status.h"

namespace mumba {

class App;

namespace sdk_internal {
struct HostConnection;
struct UiAccess;  // Makes subscriptions (src/sdk).
}

inline namespace ui_v1 {

// Something that happened in a window.
struct PageEvent {
  enum class Kind {
    kConsole,    // console.log & co: `level` ("log", "error", ...) and `text`.
    kNavigated,  // The page moved to `url`.
    kNotify,     // The page called window.mumba.notify(value): `json`.
    kClosed,     // The window is gone: closed by the user, the app or the host.
  };
  Kind kind = Kind::kConsole;
  std::string window;
  std::string level;
  std::string text;
  std::string url;
  std::string json;
};

// A subscription to page events. Destroying it ends it: when the destructor
// returns, the callback is not running and will not run again. Do not destroy it
// from inside its own callback.
class EventSubscription {
 public:
  ~EventSubscription();
  EventSubscription(const EventSubscription&) = delete;
  EventSubscription& operator=(const EventSubscription&) = delete;

 private:
  friend struct sdk_internal::UiAccess;
  struct Impl;
  explicit EventSubscription(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The elements a CSS selector picks in a window, at the moment of each call.
class Selection {
 public:
  struct Node {
    std::string outer_html;
    std::string text;
    std::map<std::string, std::string> attributes;
  };
  // The nodes the selector picks now (none is not an error).
  Expected<std::vector<Node>> Get() const;
  // Each returns how many nodes it changed.
  Expected<int> SetText(std::string_view text) const;
  Expected<int> SetOuterHtml(std::string_view html) const;
  Expected<int> SetAttribute(std::string_view name, std::string_view value) const;
  Expected<int> Remove() const;

 private:
  friend class Window;
  Selection(std::shared_ptr<const sdk_internal::HostConnection> host, std::string window, std::string selector);
  std::shared_ptr<const sdk_internal::HostConnection> host_;
  std::string window_;
  std::string selector_;
};

// One window of the app. Cheap to copy; a handle, not the window itself.
class Window {
 public:
  const std::string& id() const { return id_; }
  const std::string& url() const { return url_; }  // When the handle was made.
  const std::string& title() const { return title_; }

  // Loads `path` of the app's own origin ("/", "/settings.html").
  Status Navigate(std::string_view path) const;
  // Runs JavaScript in the page (a promise is awaited); returns the value as JSON.
  Expected<std::string> Evaluate(std::string_view expression) const;
  Selection Query(std::string selector) const;
  // Clicks the centre of the first element `selector` picks, as a user would.
  Status Click(std::string_view selector) const;
  // Types `text` into the focused element.
  Status Type(std::string_view text) const;
  // Presses one key as a user would (keydown, keypress, keyup): "Enter", "Tab",
  // "Escape", "Backspace", "Delete", "ArrowLeft"/"Right"/"Up"/"Down", "Home", "End",
  // "PageUp", "PageDown", "Space", or one printable character.
  Status Press(std::string_view key) const;
  // A PNG of what the window shows.
  Expected<std::string> Screenshot() const;
  Status Close() const;
  // Calls `fn` (on a thread of the SDK) for each event of this window from now on.
  Expected<std::unique_ptr<EventSubscription>> OnEvent(std::function<void(const PageEvent&)> fn) const;

 private:
  friend class mumba::App;
  Window(std::shared_ptr<const sdk_internal::HostConnection> host, std::string id, std::string url,
         std::string title);
  std::shared_ptr<const sdk_internal::HostConnection> host_;
  std::string id_;
  std::string url_;
  std::string title_;
};

}  // namespace ui_v1
}  // namespace mumba
