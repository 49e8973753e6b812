// SPDX-License-Identifier: Apache-2.0
#include "shell/page.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>

#include "shell/base64.h"
#include "shell/json_fields.h"

namespace mumba::shell {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// What the event handler has seen of a navigation, shared with the waiting caller.
struct LoadWatch {
  std::mutex mu;
  std::condition_variable cv;
  bool load_fired = false;
  std::set<std::string> stopped_frames;
};

// `url` for an error message: data: URLs can hold a whole page.
std::string Shortened(const std::string& url) {
  constexpr size_t kMax = 80;
  return url.size() <= kMax ? url : url.substr(0, kMax) + "...";
}

}  // namespace

Status PageClient::Enable() {
  MUMBA_TRY(cdp_->Call("Page.enable", json::object(), session_id_).status());
  enabled_ = true;
  return Status::Ok();
}

Status PageClient::Navigate(const std::string& url, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  // Without Page events on this session there would be no load event to wait for.
  if (!enabled_) MUMBA_TRY(Enable());

  // Subscribed before the command is sent: a small page can finish loading before
  // the answer to Page.navigate arrives.
  auto watch = std::make_shared<LoadWatch>();
  int subscription =
      cdp_->Subscribe([watch, session = session_id_](const std::string& method, const json& params,
                                                     const std::string& event_session) {
        if (event_session != session) return;
        std::lock_guard lock(watch->mu);
        if (method == "Page.loadEventFired") {
          watch->load_fired = true;
        } else if (method == "Page.frameStoppedLoading") {
          watch->stopped_frames.insert(StringField(params, "frameId"));
        } else {
          return;
        }
        watch->cv.notify_all();
      });
  auto started = cdp_->Call("Page.navigate", {{"url", url}}, session_id_, timeout);
  Status outcome;
  if (!started.ok()) {
    outcome = started.status();
  } else if (std::string error = StringField(*started, "errorText"); !error.empty()) {
    outcome = Unavailable("Page.navigate to " + Shortened(url) + ": " + error);
  } else if (!StringField(*started, "loaderId").empty()) {
    // A new document: wait for it to load. The main frame's frameStoppedLoading
    // also counts, as it comes even when the load event never does.
    std::string frame = StringField(*started, "frameId");
    std::unique_lock lock(watch->mu);
    bool loaded = watch->cv.wait_until(lock, deadline, [&] {
      return watch->load_fired || watch->stopped_frames.count(frame) > 0;
    });
    if (!loaded) {
      outcome = DeadlineExceeded("Page.navigate to " + Shortened(url) + ": no load event in time");
    }
  }
  cdp_->Unsubscribe(subscription);
  return outcome;
}

Status PageClient::Reload(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (!enabled_) MUMBA_TRY(Enable());
  auto watch = std::make_shared<LoadWatch>();
  int subscription =
      cdp_->Subscribe([watch, session = session_id_](const std::string& method, const json&,
                                                     const std::string& event_session) {
        if (event_session != session || method != "Page.loadEventFired") return;
        std::lock_guard lock(watch->mu);
        watch->load_fired = true;
        watch->cv.notify_all();
      });
  auto started = cdp_->Call("Page.reload", {{"ignoreCache", true}}, session_id_, timeout);
  Status outcome = started.status();
  if (started.ok()) {
    std::unique_lock lock(watch->mu);
    if (!watch->cv.wait_until(lock, deadline, [&] { return watch->load_fired; })) {
      outcome = DeadlineExceeded("Page.reload: no load event in time");
    }
  }
  cdp_->Unsubscribe(subscription);
  return outcome;
}

Expected<std::string> PageClient::CaptureScreenshot() {
  MUMBA_ASSIGN_OR_RETURN(json result,
                         cdp_->Call("Page.captureScreenshot", {{"format", "png"}}, session_id_));
  auto png = Base64Decode(StringField(result, "data"));
  if (!png.ok()) return png.status().WithContext("Page.captureScreenshot");
  if (png->empty()) return Internal("Page.captureScreenshot: the answer has no image");
  return png;
}

}  // namespace mumba::shell
