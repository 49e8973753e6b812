// SPDX-License-Identifier: Apache-2.0
// Finding and starting Chromium with the flags Mumba relies on.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mumba/status.h"
#include "shell/cdp_connection.h"

namespace mumba::shell {

struct LaunchOptions {
  // The browser to run. Empty: $MUMBA_CHROMIUM if set, else the first of
  // "chromium" and "chromium-browser" found in $PATH.
  std::filesystem::path chromium;
  // The profile folder, created if missing. Required: two browsers must never
  // share one, and the user's own profile is never used.
  std::filesystem::path user_data_dir;
  // No window (--headless=new). Pass ShouldRunHeadless() to show windows only
  // where there is a display to show them on.
  bool headless = true;
  // Appended after Mumba's own flags.
  std::vector<std::string> extra_args;
  // Where the browser's stdout and stderr are appended. Empty discards them.
  std::filesystem::path log_path;
  // How long the browser may take to answer its first DevTools command.
  std::chrono::milliseconds startup_timeout{30'000};
};

// The browser LaunchChromium would run for `preferred` (LaunchOptions::chromium).
// Returns FAILED_PRECONDITION when there is none, naming the Debian package.
Expected<std::filesystem::path> FindChromium(const std::filesystem::path& preferred = {});

// The command-line flags (without argv[0]) LaunchChromium passes for `options`.
std::vector<std::string> ChromiumArgs(const LaunchOptions& options);

// Starts Chromium with a DevTools pipe on about:blank and returns once it has
// answered Browser.getVersion. Errors: INVALID_ARGUMENT without a user_data_dir;
// FAILED_PRECONDITION when Chromium is missing or cannot run; UNAVAILABLE when it
// exits or does not answer within startup_timeout (the message ends with the last
// lines of its log). Open pages with TargetClient::CreateTarget rather than waiting
// for the start page, which may take long to appear on a first run. Thread-safe.
Expected<std::unique_ptr<CdpConnection>> LaunchChromium(const LaunchOptions& options);

// True when there is no display to open a window on: neither DISPLAY nor
// WAYLAND_DISPLAY is set.
bool ShouldRunHeadless();

}  // namespace mumba::shell
