// SPDX-License-Identifier: Apache-2.0
// The DevTools Target domain: the browser's tabs, and sessions attached to them.
#pragma once

#include <string>
#include <vector>

#include "mumba/status.h"
#include "shell/cdp_connection.h"

namespace mumba::shell {

struct TargetInfo {
  std::string target_id;
  std::string type;  // "page", "iframe", "service_worker", "browser_ui", ...
  std::string title;
  std::string url;
  bool attached = false;
};

// Browser-level calls (no session). Borrows `cdp`, which must outlive it. Every
// method blocks for one or two calls and returns CdpConnection::Call's errors.
// Thread-safe like CdpConnection.
class TargetClient {
 public:
  explicit TargetClient(CdpConnection* cdp) : cdp_(cdp) {}

  // Opens a new tab on `url` and returns its target id. The page starts loading
  // at once; to wait for a load, create it on about:blank, attach, then
  // PageClient::Navigate.
  Expected<std::string> CreateTarget(const std::string& url);

  // Attaches in flattened mode and returns the session id that addresses the
  // target in later calls and in its events.
  Expected<std::string> AttachToTarget(const std::string& target_id);

  Status DetachFromSession(const std::string& session_id);

  // Closes the tab. NOT_FOUND when no such target exists.
  Status CloseTarget(const std::string& target_id);

  Expected<std::vector<TargetInfo>> GetTargets();

 private:
  CdpConnection* cdp_;
};

}  // namespace mumba::shell
