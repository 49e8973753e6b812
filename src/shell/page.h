// SPDX-License-Identifier: Apache-2.0
// The DevTools Page domain for one attached tab: navigation and screenshots.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "mumba/status.h"
#include "shell/cdp_connection.h"

namespace mumba::shell {

// Borrows `cdp`, which must outlive it; `session_id` comes from
// TargetClient::AttachToTarget. Thread-safe like CdpConnection. Errors are
// CdpConnection::Call's unless said otherwise.
class PageClient {
 public:
  PageClient(CdpConnection* cdp, std::string session_id)
      : cdp_(cdp), session_id_(std::move(session_id)) {}

  // Turns on Page events for the session. Navigate calls it when needed.
  Status Enable();

  // Loads `url` in the tab's main frame and returns once its load event fired.
  // Returns at once for a same-document navigation (only the fragment changes).
  // UNAVAILABLE when the navigation itself failed (the message carries Chromium's
  // net:: error), DEADLINE_EXCEEDED when the load does not finish within `timeout`.
  // A navigation started earlier and still loading may end the wait early.
  Status Navigate(const std::string& url,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Loads the page again, bypassing the cache, and returns once its load event
  // fired. DEADLINE_EXCEEDED when it does not within `timeout`.
  Status Reload(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // The visible part of the page as PNG bytes.
  Expected<std::string> CaptureScreenshot();

  const std::string& session_id() const { return session_id_; }

 private:
  CdpConnection* cdp_;
  std::string session_id_;
  std::atomic<bool> enabled_{false};
};

}  // namespace mumba::shell
