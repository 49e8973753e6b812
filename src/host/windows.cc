// SPDX-License-Identifier: Apache-2.0
#include "host/windows.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "host/window_event_decode.h"
#include "platform/process_launcher.h"
#include "shell/browser_process.h"
#include "shell/cdp_connection.h"
#include "shell/chromium.h"
#include "shell/page.h"
#include "shell/runtime.h"
#include "shell/target.h"


namespace mumba {

namespace fs = std::filesystem;
namespace uv1 = mumba::ui::v1;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// The page calls window.mumba.notify(value); the host hears it as this binding.
constexpr char kNotifyBinding[] = "__mumbaNotify";

// The script every new document of a window runs first: documents of the app's
// `origin` get window.mumba.notify, others lose the binding. It only keeps honest
// pages tidy; what holds is OnEvent, which takes a binding call only from a context
// DevTools says is of the app's origin.
std::string NotifyScript(const std::string& origin) {
  return "if (location.origin === " + json(origin).dump() +
         ") { window.mumba = Object.assign(window.mumba || {}, {notify: (value) => "
         "globalThis.__mumbaNotify(JSON.stringify(value === undefined ? null : value))}); } "
         "else { delete globalThis.__mumbaNotify; }";
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Windows::Windows(fs::path profiles_dir, fs::path logs_dir)
    : profiles_dir_(std::move(profiles_dir)), logs_dir_(std::move(logs_dir)) {}

Windows::~Windows() { CloseAll(); }

Expected<std::shared_ptr<Windows::Browser>> Windows::BrowserFor(const std::string& app_id,
                                                               const std::string& app_name, bool headless) {
  Reap();
  {
    std::lock_guard lock(mu_);
    auto it = browsers_.find(app_id);
    if (it != browsers_.end()) return it->second;
  }
  shell::LaunchOptions o;
  // One profile per app: its cookies and storage never mix with another app's.
  const bool address = app_id.rfind("mumba://", 0) == 0 && app_id.size() > 24;
  o.user_data_dir = profiles_dir_ / (address ? app_id.substr(8, 16) : app_id);
  o.headless = headless;
  o.log_path = logs_dir_ / ("chromium-" + app_name + ".log");
  MUMBA_ASSIGN_OR_RETURN(std::unique_ptr<shell::CdpConnection> cdp, shell::LaunchChromium(o));
  auto b = std::make_shared<Browser>();
  b->app_id = app_id;
  b->app_name = app_name;
  b->headless = headless;
  b->profile = o.user_data_dir;
  b->cdp = std::move(cdp);
  b->subscription = b->cdp->Subscribe(
      [this, app_id](const std::string& method, const json& params, const std::string& session) {
        OnEvent(app_id, method, params, session);
      });
  // Target events tell when a user closes a window, or its title or URL changes.
  if (auto r = b->cdp->Call("Target.setDiscoverTargets", {{"discover", true}}); !r.ok()) {
    b->cdp->Close();
    return r.status().WithContext("cannot watch " + app_name + "'s windows");
  }
  std::lock_guard lock(mu_);
  browsers_[app_id] = b;
  spdlog::info("windows: started Chromium for {} (pid {}, {})", app_name, b->cdp->pid(),
               headless ? "headless" : "with windows");
  return b;
}

Expected<WindowView> Windows::Open(const std::string& app_id, const std::string& app_name,
                                   const std::string& origin, const std::string& path, bool headless,
                                   const std::optional<WindowCookie>& cookie) {
  const auto start = Clock::now();
  if (!path.empty() && path[0] != '/') return InvalidArgument("a window opens a path of the app: '" + path + "'");
  std::shared_ptr<Browser> b;
  {
    std::lock_guard open(open_mu_);
    MUMBA_ASSIGN_OR_RETURN(b, BrowserFor(app_id, app_name, headless));
  }
  auto* cdp = b->cdp.get();
  const std::string url = origin + (path.empty() ? "/" : path);
  if (cookie) {
    // On the browser's own DevTools pipe, before any page of the origin loads.
    json param{{"name", cookie->name}, {"value", cookie->value}, {"url", origin + "/"}, {"path", "/"},
               {"httpOnly", true}, {"sameSite", "Strict"}};
    if (auto set = cdp->Call("Storage.setCookies", {{"cookies", json::array({param})}}); !set.ok()) {
      return set.status().WithContext("cannot give the window its cookie");
    }
  }
  std::string target;
  if (b->headless) {
    MUMBA_ASSIGN_OR_RETURN(json created, cdp->Call("Target.createTarget", {{"url", "about:blank"}}));
    target = Str(created, "targetId");
  } else {
    MUMBA_ASSIGN_OR_RETURN(target, OpenAppWindow(*b, url));
  }
  shell::TargetClient targets(cdp);
  MUMBA_ASSIGN_OR_RETURN(std::string session, targets.AttachToTarget(target));
  {
    std::lock_guard lock(mu_);
    b->windows[target] = Window{session, "about:blank", "", origin, {}};
  }
  auto fail = [&](Status st) -> Expected<WindowView> {
    (void)targets.CloseTarget(target);
    return st;
  };
  shell::RuntimeClient runtime(cdp, session);
  if (Status st = runtime.Enable(); !st.ok()) return fail(st);
  if (Status st = runtime.AddBinding(kNotifyBinding); !st.ok()) return fail(st);
  if (auto r = cdp->Call("Page.addScriptToEvaluateOnNewDocument", {{"source", NotifyScript(origin)}}, session);
      !r.ok()) {
    return fail(r.status());
  }
  shell::PageClient page(cdp, session);
  // Loaded (again) now that the binding and the notify script are in place.
  if (Status st = page.Navigate(url); !st.ok()) return fail(st.WithContext("cannot load " + url));
  // Two animation frames after load: the page has been painted at least once.
  (void)runtime.Evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))");

  // The browser's start page is not a window of the app.
  if (auto all = targets.GetTargets(); all.ok()) {
    std::lock_guard lock(mu_);
    for (const auto& t : *all) {
      if (t.type == "page" && !b->windows.count(t.target_id) && t.url == "about:blank") {
        (void)cdp->Call("Target.closeTarget", {{"targetId", t.target_id}}, "", std::chrono::seconds(2));
      }
    }
  }
  WindowView v;
  v.id = target;
  v.app_id = app_id;
  v.app_name = app_name;
  v.url = url;
  v.headless = b->headless;
  v.browser_pid = b->cdp->pid();
  if (auto title = runtime.Evaluate("document.title"); title.ok() && title->is_string()) v.title = *title;
  // Where the page ended up (a login redirects): the URL asked for may hold a secret.
  if (auto href = runtime.Evaluate("location.href"); href.ok() && href->is_string()) v.url = *href;
  {
    std::lock_guard lock(mu_);
    if (auto w = b->windows.find(target); w != b->windows.end()) {
      w->second.url = v.url;
      if (!v.title.empty()) w->second.title = v.title;
    }
  }
  v.first_paint = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return v;
}

Expected<std::string> Windows::OpenAppWindow(const Browser& b, const std::string& url) {
  shell::TargetClient targets(b.cdp.get());
  std::set<std::string> before;
  MUMBA_ASSIGN_OR_RETURN(auto existing, targets.GetTargets());
  for (const auto& t : existing) before.insert(t.target_id);
  // DevTools opens only tabs with a URL bar. Chromium started again on the same
  // profile with --app hands that to the running browser (its profile's singleton),
  // which opens an app window, and exits.
  MUMBA_ASSIGN_OR_RETURN(fs::path chromium, shell::FindChromium());
  std::vector<std::string> args = {chromium.string()};
  if (::geteuid() == 0) args.push_back("--no-sandbox");
  args.push_back("--user-data-dir=" + b.profile.string());
  args.push_back("--app=" + url);
  LaunchSpec launch;
  launch.executable = chromium;
  launch.args.assign(args.begin() + 1, args.end());
  // Only handing a URL on, yet a Chromium all the same: the same clean environment.
  launch.env = shell::BrowserEnvironment();
  auto launched = ProcessLauncher::System().Launch(launch);
  if (!launched.ok()) return Unavailable(launched.status().message());
  const pid_t pid = launched->pid;
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  bool reaped = false;
  std::string found;
  while (Clock::now() < deadline && found.empty()) {
    if (!reaped) reaped = ProcessLauncher::System().Reap(pid).has_value();
    if (auto now = targets.GetTargets(); now.ok()) {
      for (const auto& t : *now) {
        if (t.type == "page" && !before.count(t.target_id)) found = t.target_id;
      }
    }
    if (found.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!reaped) {
    ProcessLauncher::System().SignalGroup(pid, SIGKILL);
    (void)ProcessLauncher::System().Wait(pid);
  }
  if (found.empty()) return DeadlineExceeded("Chromium opened no window for " + url + " within 15 s");
  return found;
}

std::vector<WindowView> Windows::List(const std::string& app_id) {
  Reap();
  std::vector<WindowView> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, b] : browsers_) {
    if (!app_id.empty() && id != app_id) continue;
    for (const auto& [target, w] : b->windows) {
      WindowView v;
      v.id = target;
      v.app_id = b->app_id;
      v.app_name = b->app_name;
      v.url = w.url;
      v.title = w.title;
      v.headless = b->headless;
      v.browser_pid = b->cdp->pid();
      out.push_back(std::move(v));
    }
  }
  return out;
}

Status Windows::Close(const std::string& window_id, const std::string& app_id) {
  std::shared_ptr<Browser> b;
  bool last = false;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, candidate] : browsers_) {
      if (candidate->windows.count(window_id) && (app_id.empty() || app_id == id)) b = candidate;
    }
    if (!b) return NotFound("no window " + window_id);
    last = b->windows.size() == 1;
  }
  if (last) {
    EndBrowser(b);
    return {};
  }
  shell::TargetClient targets(b->cdp.get());
  Status st = targets.CloseTarget(window_id);
  std::lock_guard lock(mu_);
  b->windows.erase(window_id);
  return st.code() == Code::kNotFound ? Status() : st;
}

int Windows::CloseApp(const std::string& app_id) {
  std::shared_ptr<Browser> b;
  {
    std::lock_guard lock(mu_);
    auto it = browsers_.find(app_id);
    if (it == browsers_.end()) return 0;
    b = it->second;
  }
  int n;
  {
    std::lock_guard lock(mu_);
    n = static_cast<int>(b->windows.size());
  }
  EndBrowser(b);
  return n;
}

void Windows::CloseAll() {
  std::vector<std::shared_ptr<Browser>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, b] : browsers_) all.push_back(b);
  }
  for (auto& b : all) EndBrowser(b);
}

void Windows::EndBrowser(const std::shared_ptr<Browser>& b) {
  b->cdp->Unsubscribe(b->subscription);
  b->cdp->Close();
  std::lock_guard lock(mu_);
  for (const auto& [target, w] : b->windows) {
    uv1::PageEvent e;
    e.set_window(target);
    e.set_kind(uv1::PageEvent::CLOSED);
    Publish(b->app_id, e);
  }
  b->windows.clear();
  auto it = browsers_.find(b->app_id);
  if (it != browsers_.end() && it->second == b) browsers_.erase(it);
}

void Windows::Reap() {
  std::vector<std::shared_ptr<Browser>> gone;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, b] : browsers_) {
      if (!b->cdp->alive()) gone.push_back(b);
    }
  }
  for (auto& b : gone) {
    spdlog::info("windows: Chromium of {} ended ({})", b->app_name, b->cdp->exit_description());
    EndBrowser(b);
  }
}

Status Windows::Reload(const std::string& window_id, const std::string& app_id) {
  MUMBA_ASSIGN_OR_RETURN(WindowSession s, Session(window_id, app_id));
  MUMBA_TRY(shell::PageClient(s.cdp.get(), s.session_id).Reload());
  // Chromium does not always say when a reloaded page has a new title.
  auto title = shell::RuntimeClient(s.cdp.get(), s.session_id).Evaluate("document.title");
  if (!title.ok() || !title->is_string()) return Status();
  std::lock_guard lock(mu_);
  if (auto it = browsers_.find(app_id); it != browsers_.end()) {
    if (auto w = it->second->windows.find(window_id); w != it->second->windows.end()) w->second.title = *title;
  }
  return Status();
}

Expected<WindowSession> Windows::Session(const std::string& window_id, const std::string& app_id) {
  std::lock_guard lock(mu_);
  auto it = browsers_.find(app_id);
  if (it == browsers_.end() || !it->second->windows.count(window_id)) {
    return NotFound("no window " + window_id + " of this app");
  }
  return WindowSession{it->second->cdp, it->second->windows[window_id].session_id};
}

Expected<std::string> Windows::AppContext(const std::string& window_id, const std::string& app_id) {
  std::lock_guard lock(mu_);
  auto it = browsers_.find(app_id);
  if (it == browsers_.end() || !it->second->windows.count(window_id)) {
    return NotFound("no window " + window_id + " of this app");
  }
  const Window& w = it->second->windows[window_id];
  for (const auto& [id, c] : w.contexts) {
    // The main frame's frame id is its target's id.
    if (c.is_default && c.frame_id == window_id && c.origin == w.origin) return c.unique_id;
  }
  return FailedPrecondition("window " + window_id + " does not show its app's origin " + w.origin + " now");
}

int Windows::Subscribe(const std::string& app_id, PageEventFn fn) {
  std::lock_guard lock(mu_);
  int id = next_subscriber_++;
  subscribers_[id] = Subscriber{app_id, std::move(fn)};
  return id;
}

void Windows::Unsubscribe(int id) {
  std::lock_guard lock(mu_);
  subscribers_.erase(id);
}

void Windows::Publish(const std::string& app_id, const uv1::PageEvent& e) {
  for (const auto& [id, s] : subscribers_) {
    if (s.app_id == app_id) s.fn(e);
  }
}

void Windows::OnEvent(const std::string& app_id, const std::string& method, const json& params,
                      const std::string& session) {
  using Kind = WindowEvent::Kind;
  const WindowEvent ev = DecodeWindowEvent(method, params, kNotifyBinding);
  if (ev.kind == Kind::kIgnored) return;
  std::lock_guard lock(mu_);
  auto bit = browsers_.find(app_id);
  if (bit == browsers_.end()) return;
  Browser& b = *bit->second;
  uv1::PageEvent e;
  if (ev.kind == Kind::kTargetDestroyed) {
    if (!b.windows.erase(ev.target_id)) return;
    e.set_window(ev.target_id);
    e.set_kind(uv1::PageEvent::CLOSED);
    return Publish(app_id, e);
  }
  if (ev.kind == Kind::kTargetInfoChanged) {
    auto w = b.windows.find(ev.target_id);
    if (w == b.windows.end()) return;
    w->second.url = ev.url;
    // Until the page names itself Chromium calls it by its URL: keep the real title.
    const std::string& url = w->second.url;
    if (!ev.title.empty() && url.find("://" + ev.title) == std::string::npos) w->second.title = ev.title;
    return;
  }
  // The rest belong to a window's session.
  std::string window;
  for (const auto& [target, w] : b.windows) {
    if (w.session_id == session) window = target;
  }
  if (window.empty()) return;
  Window& w = b.windows[window];
  if (ev.kind == Kind::kContextCreated) {
    w.contexts[ev.context_id] = Context{ev.origin, ev.unique_id, ev.frame_id, ev.is_default};
    return;
  }
  if (ev.kind == Kind::kContextDestroyed) {
    w.contexts.erase(ev.context_id);
    return;
  }
  if (ev.kind == Kind::kContextsCleared) {
    w.contexts.clear();
    return;
  }
  e.set_window(window);
  if (ev.kind == Kind::kConsole) {
    e.set_kind(uv1::PageEvent::CONSOLE);
    e.set_level(ev.level);
    e.set_text(ev.text);
  } else if (ev.kind == Kind::kNotify) {
    // Only a document of the app's own origin speaks for the app: a page the
    // window was navigated to, or a frame of another origin inside the app's page,
    // has the binding too (DevTools puts it in every context) and must not forge.
    auto c = w.contexts.find(ev.context_id);
    if (c == w.contexts.end() || c->second.origin != w.origin) return;
    e.set_kind(uv1::PageEvent::NOTIFY);
    e.set_json(ev.payload);
  } else {
    e.set_kind(uv1::PageEvent::NAVIGATED);
    e.set_url(ev.url);
  }
  Publish(app_id, e);
}

}  // namespace mumba
