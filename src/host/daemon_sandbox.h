// SPDX-License-Identifier: Apache-2.0
// Whether and how the host confines app daemons, decided once when it starts: in a
// bubblewrap jail (src/sandbox) by default; unconfined only when the owner says so
// with `[security] sandbox = false`. When the sandbox is wanted but this machine
// cannot give it (no bwrap, no user namespaces), no daemon starts: running an app
// the owner believes is confined, unconfined, would be worse than not running it.
#pragma once

#include <filesystem>
#include <string>

#include "mumba/status.h"
#include "platform/process_launcher.h"
#include "sandbox/sandbox.h"
#include "supervisor/supervisor.h"

namespace mumba {

// Immutable once made; thread-safe.
class DaemonSandbox {
 public:
  // Checks the machine when `wanted` (one short bwrap run through `launcher`).
  static DaemonSandbox Decide(bool wanted, ProcessLauncher& launcher);

  // Whether daemons run confined.
  bool confined() const { return !bwrap_.empty(); }

  // For `mumba host status`: "bubblewrap", "off: apps run unconfined ([security]
  // sandbox = false)" or "apps cannot be sandboxed: <why, and what to do>".
  const std::string& summary() const { return summary_; }

  // For `mumba status APP`: "bubblewrap, no network", "bubblewrap, network" or the
  // summary when daemons are not confined.
  std::string SummaryFor(bool network) const;

  // Where the daemon finds its bundle, data folder and run folder: the jail's fixed
  // paths when confined, the host's own paths otherwise.
  std::filesystem::path AppDirFor(const AppJail& jail) const;
  std::filesystem::path DataDirFor(const AppJail& jail) const;
  std::filesystem::path RunDirFor(const AppJail& jail) const;

  // Puts `spec` (whose executable, args, working folder and environment are already
  // in the daemon's view, see the *DirFor methods) into `jail`. OK and unchanged when
  // the owner turned the sandbox off; FAILED_PRECONDITION with the summary when the
  // sandbox is wanted but unavailable.
  Status Apply(const AppJail& jail, DaemonSpec& spec) const;

 private:
  std::filesystem::path bwrap_;  // Empty: not confined.
  std::string seccomp_;
  bool refused_ = false;         // Wanted but unavailable.
  std::string summary_;
};

}  // namespace mumba
