// SPDX-License-Identifier: Apache-2.0
// The layout of a host's home. Everything a host owns lives under MUMBA_HOME, so
// several hosts with different homes run side by side on one machine.
#pragma once

#include <filesystem>
#include <string>

#include "mumba/status.h"

namespace mumba {

// $MUMBA_HOME, else $XDG_DATA_HOME/mumba, else ~/.local/share/mumba, where ~ is
// $HOME or, without it, the user's home in the password database. Absolute. Never
// a guess under /tmp, where another user could have made the folder first.
std::filesystem::path DefaultHome();

// Whether `home` may hold a host's keys, stores and sockets: a real folder (not a
// link) owned by this user and closed to everyone else (no group or other bits),
// under folders that only this user or root can change (or that are sticky, as
// /tmp is), so that nobody else can read it, or replace it under us.
// FAILED_PRECONDITION naming the folder and what is wrong; NOT_FOUND when a folder
// of the path does not exist.
Status CheckHomeIsOurs(const std::filesystem::path& home);

struct HomeLayout {
  explicit HomeLayout(std::filesystem::path home);

  std::filesystem::path home;
  std::filesystem::path socket() const { return home / "host.sock"; }
  std::filesystem::path lock_file() const { return home / "host.lock"; }
  std::filesystem::path registry() const { return home / "registry.db"; }
  std::filesystem::path apps_dir() const { return home / "apps"; }
  std::filesystem::path staging_dir() const { return home / "apps" / ".staging"; }
  std::filesystem::path data_dir() const { return home / "data"; }
  std::filesystem::path logs_dir() const { return home / "logs"; }
  std::filesystem::path run_dir() const { return home / "run"; }
  std::filesystem::path keys_dir() const { return home / "keys"; }
  std::filesystem::path stores_dir() const { return home / "stores"; }
  std::filesystem::path shares_dir() const { return home / "shares"; }
  std::filesystem::path config() const { return home / "config.toml"; }
  std::filesystem::path host_log() const { return logs_dir() / "host.log"; }
};

// The folder holding the running executable (build/bin or <prefix>/bin).
std::filesystem::path ExecutableDir();

}  // namespace mumba
