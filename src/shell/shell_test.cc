// SPDX-License-Identifier: Apache-2.0
// The shell against a real headless Chromium (skipped when none is installed), and
// the process handling against stand-in programs that never speak DevTools. No
// test touches the network: pages are data: URLs.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "shell/base64.h"
#include "shell/cdp_connection.h"
#include "shell/chromium.h"
#include "shell/dom.h"
#include "shell/input.h"
#include "shell/page.h"
#include "shell/runtime.h"
#include "shell/target.h"

namespace mumba::shell {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr char kPage[] = R"html(<!doctype html>
<html><body style="margin:0">
<button id="go" style="position:absolute; left:40px; top:30px; width:120px; height:40px"
        onclick="document.getElementById('out').textContent = 'clicked #' + (++window.clicks)">Go</button>
<p id="out" style="margin-top:100px">waiting</p>
<p class="item" data-kind="first">one</p><p class="item">two</p>
<input id="field">
<script>window.clicks = 0;</script>
</body></html>)html";

std::string DataUrl(const std::string& html) {
  std::string url = "data:text/html;charset=utf-8,";
  for (unsigned char c : html) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      url.push_back(static_cast<char>(c));
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      url += escaped;
    }
  }
  return url;
}

long long MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

bool ProcessExists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// Processes in group `pgid` that are not zombies, from /proc/<pid>/stat.
int LiveProcessesInGroup(pid_t pgid) {
  int live = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    std::istringstream fields(stat.substr(stat.rfind(')') + 1));
    char state = 0;
    pid_t ppid = 0;
    pid_t group = 0;
    if (fields >> state >> ppid >> group && group == pgid && state != 'Z') ++live;
  }
  return live;
}

// Waits up to `timeout` for `done`, checking every 20 ms.
template <typename F>
bool Eventually(F done, std::chrono::milliseconds timeout = 5s) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

// Why Chromium tests cannot run here, or "" when they can.
std::string NoChromiumReason() {
  auto found = FindChromium();
  return found.ok() ? "" : found.status().message();
}

LaunchOptions OptionsIn(const TempDir& dir) {
  LaunchOptions options;
  options.user_data_dir = dir.path() / "profile";
  options.headless = true;
  options.log_path = dir.path() / "chromium.log";
  return options;
}

// --- Without a browser. ---

TEST(Base64Test, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(*Base64Decode("iVBORw0KGgo="), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(*Base64Decode("iVBORw0KGgo"), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(*Base64Decode("TWFu"), "Man");
  EXPECT_EQ(*Base64Decode("TWE="), "Ma");
  EXPECT_EQ(*Base64Decode("TQ=="), "M");
  EXPECT_EQ(*Base64Decode(""), "");
  EXPECT_EQ(*Base64Decode("+/+/"), std::string("\xfb\xff\xbf", 3));
}

TEST(Base64Test, RejectsWhatIsNotBase64) {
  EXPECT_EQ(Base64Decode("TW!u").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Base64Decode("TWF u").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Base64Decode("TWFuT").status().code(), Code::kInvalidArgument);
}

TEST(ChromiumArgsTest, HeadlessOnlyWhenAskedAndPipeAlways) {
  LaunchOptions options;
  options.user_data_dir = "/tmp/profile";
  options.extra_args = {"--window-size=800,600"};
  options.headless = true;
  auto args = ChromiumArgs(options);
  auto has = [&](const std::string& flag) {
    return std::find(args.begin(), args.end(), flag) != args.end();
  };
  EXPECT_TRUE(has("--headless=new"));
  EXPECT_TRUE(has("--remote-debugging-pipe"));
  EXPECT_TRUE(has("--user-data-dir=/tmp/profile"));
  EXPECT_TRUE(has("--window-size=800,600"));
  EXPECT_EQ(has("--no-sandbox"), ::geteuid() == 0);
  EXPECT_EQ(args.back(), "about:blank");
  options.headless = false;
  args = ChromiumArgs(options);
  EXPECT_FALSE(has("--headless=new"));
}

TEST(ChromiumTest, MissingBrowserNamesTheDebianPackage) {
  auto found = FindChromium("/nonexistent/chromium");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(found.status().message().find("apt-get install chromium"), std::string::npos)
      << found.status().message();

  TempDir dir("shell-test");
  LaunchOptions options = OptionsIn(dir);
  options.chromium = "no-such-chromium-binary";
  auto launched = LaunchChromium(options);
  ASSERT_FALSE(launched.ok());
  EXPECT_EQ(launched.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(launched.status().message().find("apt-get install chromium"), std::string::npos);
}

TEST(ChromiumTest, EnvironmentVariableChoosesTheBrowser) {
  ::setenv("MUMBA_CHROMIUM", "/bin/true", 1);
  auto found = FindChromium();
  ::unsetenv("MUMBA_CHROMIUM");
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(found->string(), "/bin/true");
}

// A browser that dies at start: the error says so and quotes its log.
TEST(ChromiumTest, BrowserThatDiesAtStartIsExplained) {
  TempDir dir("shell-test");
  fs::path fake = dir.path() / "fake-chromium";
  std::ofstream(fake) << "#!/bin/sh\necho 'Missing X server or $DISPLAY' >&2\nexit 1\n";
  fs::permissions(fake, fs::perms::owner_all);
  LaunchOptions options = OptionsIn(dir);
  options.chromium = fake;
  auto start = Clock::now();
  auto launched = LaunchChromium(options);
  EXPECT_LT(MillisSince(start), 3000);
  ASSERT_FALSE(launched.ok());
  EXPECT_EQ(launched.status().code(), Code::kUnavailable);
  EXPECT_NE(launched.status().message().find("exit code 1"), std::string::npos)
      << launched.status().message();
  EXPECT_NE(launched.status().message().find("Missing X server"), std::string::npos)
      << launched.status().message();
}

TEST(ChromiumTest, LaunchNeedsAProfileFolder) {
  LaunchOptions options;
  EXPECT_EQ(LaunchChromium(options).status().code(), Code::kInvalidArgument);
}

TEST(CdpConnectionTest, SpawnFailureIsReported) {
  auto cdp = CdpConnection::Start({"/nonexistent/browser", {}, {}});
  ASSERT_FALSE(cdp.ok());
  EXPECT_EQ(cdp.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(cdp.status().message().find("No such file"), std::string::npos)
      << cdp.status().message();
}

// A "browser" that never reads its pipe: calls time out, and Close() has to fall
// back on signals.
TEST(CdpConnectionTest, SilentBrowserTimesOutAndIsTerminated) {
  auto cdp = CdpConnection::Start({"/bin/sleep", {"60"}, {}});
  ASSERT_TRUE(cdp.ok()) << cdp.status().message();
  pid_t pid = (*cdp)->pid();
  EXPECT_TRUE((*cdp)->alive());
  auto start = Clock::now();
  auto answer = (*cdp)->Call("Browser.getVersion", json::object(), "", 200ms);
  EXPECT_EQ(answer.status().code(), Code::kDeadlineExceeded);
  EXPECT_LT(MillisSince(start), 2000);

  start = Clock::now();
  (*cdp)->Close(300ms);
  EXPECT_LT(MillisSince(start), 3000);
  EXPECT_FALSE((*cdp)->alive());
  EXPECT_NE((*cdp)->exit_description().find("SIGTERM"), std::string::npos)
      << (*cdp)->exit_description();
  EXPECT_FALSE(ProcessExists(pid));
  EXPECT_EQ((*cdp)->Call("Browser.getVersion").status().code(), Code::kUnavailable);
}

// A "browser" that exits at once: calls fail as UNAVAILABLE instead of waiting.
TEST(CdpConnectionTest, ExitedBrowserFailsCallsAtOnce) {
  auto cdp = CdpConnection::Start({"/bin/true", {}, {}});
  ASSERT_TRUE(cdp.ok()) << cdp.status().message();
  ASSERT_TRUE(Eventually([&] { return !(*cdp)->alive(); }));
  auto start = Clock::now();
  auto answer = (*cdp)->Call("Browser.getVersion", json::object(), "", 5s);
  EXPECT_EQ(answer.status().code(), Code::kUnavailable);
  EXPECT_LT(MillisSince(start), 500);
  EXPECT_EQ((*cdp)->exit_description(), "exit code 0");
}

// --- With a real Chromium. ---

// One browser for the whole suite, and a fresh tab on kPage for each test.
class ChromiumPageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = NoChromiumReason();
    if (!skip_reason_.empty()) return;
    dir_ = new TempDir("shell-test");
    auto start = Clock::now();
    auto launched = LaunchChromium(OptionsIn(*dir_));
    launch_ms_ = MillisSince(start);
    if (launched.ok()) {
      cdp_ = std::move(launched).value().release();
    } else {
      launch_error_ = launched.status().message();
    }
  }
  static void TearDownTestSuite() {
    delete cdp_;
    cdp_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_NE(cdp_, nullptr) << launch_error_;
    RecordProperty("launch_ms", std::to_string(launch_ms_));
    TargetClient targets(cdp_);
    auto target = targets.CreateTarget("about:blank");
    ASSERT_TRUE(target.ok()) << target.status().message();
    target_id_ = *target;
    auto session = targets.AttachToTarget(target_id_);
    ASSERT_TRUE(session.ok()) << session.status().message();
    session_id_ = *session;
    auto start = Clock::now();
    Status loaded = PageClient(cdp_, session_id_).Navigate(DataUrl(kPage), 10s);
    RecordProperty("navigate_ms", std::to_string(MillisSince(start)));
    ASSERT_TRUE(loaded.ok()) << loaded.message();
  }

  void TearDown() override {
    if (cdp_ && !target_id_.empty()) (void)TargetClient(cdp_).CloseTarget(target_id_);
  }

  json Eval(const std::string& expression) {
    auto value = RuntimeClient(cdp_, session_id_).Evaluate(expression);
    EXPECT_TRUE(value.ok()) << expression << ": " << value.status().message();
    return value.ok() ? *value : json();
  }

  static inline std::string skip_reason_;
  static inline std::string launch_error_;
  static inline long long launch_ms_ = 0;
  static inline TempDir* dir_ = nullptr;
  static inline CdpConnection* cdp_ = nullptr;
  std::string target_id_;
  std::string session_id_;
};

TEST_F(ChromiumPageTest, EvaluatesExpressions) {
  EXPECT_EQ(Eval("1+2"), 3);
  EXPECT_EQ(Eval("Promise.resolve('later')"), "later");
  EXPECT_EQ(Eval("({a: [1, 'b']})"), json({{"a", {1, "b"}}}));
  EXPECT_TRUE(Eval("undefined").is_null());
  EXPECT_EQ(Eval("0/0"), "NaN");
  EXPECT_EQ(Eval("document.getElementById('out').textContent"), "waiting");
}

TEST_F(ChromiumPageTest, ConcurrentCallsGetTheirOwnAnswers) {
  std::vector<std::future<int>> workers;
  for (int t = 0; t < 4; ++t) {
    workers.push_back(std::async(std::launch::async, [this, t] {
      RuntimeClient runtime(cdp_, session_id_);
      int right = 0;
      for (int i = 0; i < 25; ++i) {
        auto value = runtime.Evaluate(std::to_string(t) + " * 1000 + " + std::to_string(i));
        if (value.ok() && *value == t * 1000 + i) ++right;
      }
      return right;
    }));
  }
  for (auto& worker : workers) EXPECT_EQ(worker.get(), 25);
}

// Both directions exceed the socket's buffer, so they travel in many pieces.
TEST_F(ChromiumPageTest, LargeMessagesCrossThePipe) {
  json big = Eval("'x'.repeat(3000000)");
  ASSERT_TRUE(big.is_string());
  EXPECT_EQ(big.get<std::string>().size(), 3000000u);
  EXPECT_EQ(Eval("'" + std::string(2000000, 'y') + "'.length"), 2000000);
}

TEST_F(ChromiumPageTest, ExceptionsBecomeErrors) {
  RuntimeClient runtime(cdp_, session_id_);
  auto thrown = runtime.Evaluate("throw new Error('boom')");
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(thrown.status().code(), Code::kUnknown);
  EXPECT_NE(thrown.status().message().find("Error: boom"), std::string::npos)
      << thrown.status().message();

  auto rejected = runtime.Evaluate("Promise.reject(new TypeError('nope'))");
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.status().message().find("TypeError: nope"), std::string::npos)
      << rejected.status().message();

  auto syntax = runtime.Evaluate("1 +");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("SyntaxError"), std::string::npos)
      << syntax.status().message();
}

TEST_F(ChromiumPageTest, ProtocolErrorsCarryChromiumsMessage) {
  auto unknown = cdp_->Call("Nope.nothing", json::object(), session_id_);
  EXPECT_EQ(unknown.status().code(), Code::kUnimplemented);
  EXPECT_NE(unknown.status().message().find("wasn't found"), std::string::npos)
      << unknown.status().message();
  DomClient dom(cdp_, session_id_);
  auto stale = dom.GetOuterHTML(987654);
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.status().message().find("node"), std::string::npos) << stale.status().message();
}

TEST_F(ChromiumPageTest, QueriesAndEditsTheDom) {
  DomClient dom(cdp_, session_id_);
  auto items = dom.QuerySelectorAll(".item");
  ASSERT_TRUE(items.ok()) << items.status().message();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_TRUE(dom.QuerySelectorAll(".absent")->empty());

  ASSERT_TRUE(dom.SetText((*items)[0], "changed \"text\" <b>").ok());
  EXPECT_EQ(Eval("document.querySelector('.item').textContent"), "changed \"text\" <b>");
  EXPECT_EQ(*dom.GetText((*items)[0]), "changed \"text\" <b>");

  auto attributes = dom.GetAttributes((*items)[0]);
  ASSERT_TRUE(attributes.ok()) << attributes.status().message();
  EXPECT_EQ((*attributes)["data-kind"], "first");
  ASSERT_TRUE(dom.SetAttribute((*items)[0], "title", "hello").ok());
  EXPECT_EQ(Eval("document.querySelector('.item').title"), "hello");

  auto html = dom.GetOuterHTML((*items)[1]);
  ASSERT_TRUE(html.ok()) << html.status().message();
  EXPECT_EQ(*html, "<p class=\"item\">two</p>");
  ASSERT_TRUE(dom.SetOuterHTML((*items)[1], "<p class=\"item\" id=\"new\">three</p>").ok());
  EXPECT_EQ(Eval("document.getElementById('new').textContent"), "three");

  ASSERT_TRUE(dom.RemoveNode((*items)[0]).ok());
  EXPECT_EQ(Eval("document.querySelectorAll('.item').length"), 1);
}

TEST_F(ChromiumPageTest, DomIdsFollowANavigation) {
  DomClient dom(cdp_, session_id_);
  ASSERT_EQ(dom.QuerySelectorAll(".item")->size(), 2u);
  ASSERT_TRUE(PageClient(cdp_, session_id_).Navigate(DataUrl("<p class=item>only</p>"), 10s).ok());
  auto items = dom.QuerySelectorAll(".item");
  ASSERT_TRUE(items.ok()) << items.status().message();
  EXPECT_EQ(items->size(), 1u);
}

TEST_F(ChromiumPageTest, ClickRunsTheButtonsHandler) {
  DomClient dom(cdp_, session_id_);
  auto button = dom.QuerySelectorAll("#go");
  ASSERT_TRUE(button.ok() && button->size() == 1u);
  auto center = dom.GetCenter(button->front());
  ASSERT_TRUE(center.ok()) << center.status().message();
  EXPECT_DOUBLE_EQ(center->x, 100);  // left 40 + width 120 / 2
  EXPECT_DOUBLE_EQ(center->y, 50);   // top 30 + height 40 / 2
  ASSERT_TRUE(InputClient(cdp_, session_id_).Click(center->x, center->y).ok());
  EXPECT_TRUE(Eventually([&] {
    return Eval("document.getElementById('out').textContent") == "clicked #1";
  })) << Eval("document.getElementById('out').textContent");
}

TEST_F(ChromiumPageTest, InsertsTextIntoTheFocusedField) {
  Eval("document.getElementById('field').focus()");
  ASSERT_TRUE(InputClient(cdp_, session_id_).InsertText("héllo").ok());
  EXPECT_EQ(Eval("document.getElementById('field').value"), "héllo");
}

TEST_F(ChromiumPageTest, ScreenshotIsAPng) {
  auto start = Clock::now();
  auto png = PageClient(cdp_, session_id_).CaptureScreenshot();
  RecordProperty("screenshot_ms", std::to_string(MillisSince(start)));
  ASSERT_TRUE(png.ok()) << png.status().message();
  ASSERT_GT(png->size(), 100u);
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(ChromiumPageTest, BindingCallsReachASubscriber) {
  std::mutex mu;
  std::condition_variable cv;
  std::string payload;
  Status nested_call;
  int subscription = cdp_->Subscribe(
      [&](const std::string& method, const json& params, const std::string& session) {
        if (method != "Runtime.bindingCalled" || session != session_id_) return;
        if (params.value("name", "") != "mumbaNotify") return;
        // A handler runs on the reader thread, so a call from it must fail, not hang.
        Status nested = cdp_->Call("Browser.getVersion").status();
        std::lock_guard lock(mu);
        payload = params.value("payload", "");
        nested_call = nested;
        cv.notify_all();
      });
  ASSERT_TRUE(RuntimeClient(cdp_, session_id_).AddBinding("mumbaNotify").ok());
  Eval("mumbaNotify('hello from the page')");
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, 5s, [&] { return !payload.empty(); }));
    EXPECT_EQ(payload, "hello from the page");
    EXPECT_EQ(nested_call.code(), Code::kFailedPrecondition);
  }
  cdp_->Unsubscribe(subscription);
}

TEST_F(ChromiumPageTest, FailedNavigationIsAnError) {
  Status failed =
      PageClient(cdp_, session_id_).Navigate("file:///nonexistent/mumba/page.html", 10s);
  EXPECT_EQ(failed.code(), Code::kUnavailable);
  EXPECT_NE(failed.message().find("ERR_FILE_NOT_FOUND"), std::string::npos) << failed.message();
}

TEST_F(ChromiumPageTest, ListsAndClosesTargets) {
  TargetClient targets(cdp_);
  auto listed = targets.GetTargets();
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  auto ours = std::find_if(listed->begin(), listed->end(),
                           [&](const TargetInfo& t) { return t.target_id == target_id_; });
  ASSERT_NE(ours, listed->end());
  EXPECT_EQ(ours->type, "page");
  EXPECT_TRUE(ours->attached);
  EXPECT_TRUE(ours->url.starts_with("data:text/html")) << ours->url;

  ASSERT_TRUE(targets.CloseTarget(target_id_).ok());
  EXPECT_TRUE(Eventually([&] {
    auto now = targets.GetTargets();
    return now.ok() && std::none_of(now->begin(), now->end(),
                                    [&](const TargetInfo& t) { return t.target_id == target_id_; });
  }));
  EXPECT_EQ(targets.CloseTarget(target_id_).code(), Code::kNotFound);
  target_id_.clear();
}

// --- Each with its own Chromium, since they end it. ---

class ChromiumLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string reason = NoChromiumReason();
    if (!reason.empty()) GTEST_SKIP() << reason;
  }
  TempDir dir_{"shell-test"};
};

TEST_F(ChromiumLifecycleTest, CloseEndsTheBrowser) {
  auto cdp = LaunchChromium(OptionsIn(dir_));
  ASSERT_TRUE(cdp.ok()) << cdp.status().message();
  pid_t pid = (*cdp)->pid();
  ASSERT_TRUE(ProcessExists(pid));
  auto start = Clock::now();
  (*cdp)->Close();
  auto close_ms = MillisSince(start);
  RecordProperty("close_ms", std::to_string(close_ms));
  EXPECT_LT(close_ms, 5000);
  EXPECT_FALSE(ProcessExists(pid));
  EXPECT_FALSE((*cdp)->alive());
  EXPECT_EQ((*cdp)->exit_description(), "exit code 0");
  EXPECT_EQ((*cdp)->Call("Browser.getVersion").status().code(), Code::kUnavailable);
  // Its helpers (zygotes, renderers) went with it. They may linger as zombies
  // until init reaps them, which some inits do only every few seconds.
  EXPECT_TRUE(Eventually([&] { return LiveProcessesInGroup(pid) == 0; }, 2s));
}

TEST_F(ChromiumLifecycleTest, KilledBrowserFailsCallsQuickly) {
  auto cdp = LaunchChromium(OptionsIn(dir_));
  ASSERT_TRUE(cdp.ok()) << cdp.status().message();
  CdpConnection* browser = cdp->get();
  TargetClient targets(browser);
  auto target = targets.CreateTarget("about:blank");
  ASSERT_TRUE(target.ok()) << target.status().message();
  auto session = targets.AttachToTarget(*target);
  ASSERT_TRUE(session.ok()) << session.status().message();

  // A promise that never settles keeps this call waiting for an answer.
  auto pending = std::async(std::launch::async, [&] {
    return RuntimeClient(browser, *session).Evaluate("new Promise(() => {})", 30s).status();
  });
  EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout);
  ASSERT_EQ(::kill(browser->pid(), SIGKILL), 0);
  auto start = Clock::now();
  ASSERT_EQ(pending.wait_for(5s), std::future_status::ready);
  RecordProperty("pending_call_failed_ms", std::to_string(MillisSince(start)));
  Status status = pending.get();
  EXPECT_EQ(status.code(), Code::kUnavailable) << status.message();
  EXPECT_NE(status.message().find("SIGKILL"), std::string::npos) << status.message();

  start = Clock::now();
  EXPECT_EQ(browser->Call("Browser.getVersion").status().code(), Code::kUnavailable);
  EXPECT_LT(MillisSince(start), 100);
  browser->Close();
  EXPECT_FALSE(ProcessExists(browser->pid()));
}

// PR_SET_PDEATHSIG is tied to the thread that forked; a browser launched from a
// worker thread must survive that thread.
TEST_F(ChromiumLifecycleTest, OutlivesTheThreadThatLaunchedIt) {
  std::unique_ptr<CdpConnection> cdp;
  Status launch_status;
  std::thread([&] {
    auto launched = LaunchChromium(OptionsIn(dir_));
    launch_status = launched.status();
    if (launched.ok()) cdp = std::move(launched).value();
  }).join();
  ASSERT_TRUE(launch_status.ok()) << launch_status.message();
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(cdp->alive());
  auto version = cdp->Call("Browser.getVersion");
  EXPECT_TRUE(version.ok()) << version.status().message();
}

}  // namespace
}  // namespace mumba::shell
