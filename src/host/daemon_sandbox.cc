// SPDX-License-Identifier: Apache-2.0
#include "host/daemon_sandbox.h"

#include <spdlog/spdlog.h>

#include "sandbox/seccomp_filter.h"

namespace fs = std::filesystem;

namespace mumba {

DaemonSandbox DaemonSandbox::Decide(bool wanted, ProcessLauncher& launcher) {
  DaemonSandbox s;
  if (!wanted) {
    s.summary_ = "off: apps run unconfined ([security] sandbox = false)";
    spdlog::warn("the app sandbox is off: apps run unconfined, with the owner's whole view of the machine");
    return s;
  }
  auto bwrap = CheckSandbox(launcher);
  auto seccomp = SeccompProgram();
  if (!bwrap.ok() || !seccomp.ok()) {
    s.refused_ = true;
    s.summary_ = (bwrap.ok() ? seccomp.status() : bwrap.status()).message();
    spdlog::error("{}; no app will start", s.summary_);
    return s;
  }
  s.bwrap_ = *bwrap;
  s.seccomp_ = *seccomp;
  s.summary_ = "bubblewrap";
  return s;
}

std::string DaemonSandbox::SummaryFor(bool network) const {
  if (!confined()) return summary_;
  if (!network) return summary_ + ", no network";
  // Without Landlock scoping, sharing the network shares the host's abstract
  // unix sockets too: the owner should know.
  return summary_ + (LandlockScopeAvailable() ? ", network" : ", network (and the host's abstract unix sockets)");
}

fs::path DaemonSandbox::AppDirFor(const AppJail& jail) const {
  return confined() ? fs::path(kSandboxAppDir) : jail.bundle_dir;
}
fs::path DaemonSandbox::DataDirFor(const AppJail& jail) const {
  return confined() ? fs::path(kSandboxDataDir) : jail.data_dir;
}
fs::path DaemonSandbox::RunDirFor(const AppJail& jail) const {
  return confined() ? fs::path(kSandboxRunDir) : jail.run_dir;
}

Status DaemonSandbox::Apply(const AppJail& jail, DaemonSpec& spec) const {
  if (refused_) return FailedPrecondition(spec.name + " cannot start: " + summary_);
  if (!confined()) return {};
  LaunchSpec inner;
  inner.executable = spec.executable;
  inner.args = spec.args;
  inner.working_dir = spec.working_dir;
  inner.env = spec.env;
  LaunchSpec outer = Confine(bwrap_, seccomp_, jail, inner);
  spec.executable = outer.executable;
  spec.args = outer.args;
  spec.working_dir = outer.working_dir;
  spec.fd_contents = outer.fd_contents;
  spec.wrapper_depth = kSandboxWrapperDepth;
  spec.landlock_scope = outer.landlock_scope;
  return {};
}

}  // namespace mumba
