// SPDX-License-Identifier: Apache-2.0
// `mumba host enable | disable`: the systemd user unit that starts the host of a
// MUMBA_HOME at login and restarts it when it dies
// (~/.config/systemd/user/mumba-host.service), and the systemctl calls that turn it
// on and off where a user manager runs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/paths.h"
#include "mumba/status.h"

namespace mumba::cli {

struct Context;

// The unit's file name, and the line that marks a unit as ours, so that enable and
// disable never replace or remove a unit the user wrote.
inline constexpr const char* kHostUnitName = "mumba-host.service";
inline constexpr const char* kHostUnitMarker = "# mumba host unit:";

// The folder of the user's own units: $XDG_CONFIG_HOME/systemd/user, else
// ~/.config/systemd/user.
std::filesystem::path UserUnitDir();

// `value` as one word of a unit file's ExecStart= or Environment= line: quoted when
// it holds a space, a quote or a backslash (with those escaped), and '%' doubled
// (specifiers) and '$' doubled (variables), so it reaches the program as it is.
// INVALID_ARGUMENT for a control character, which no unit line can hold.
Expected<std::string> SystemdWord(const std::string& value);

// The text of the unit that runs `host_exe --home home` in the foreground, with
// MUMBA_HOME set, its output appended to <home>/logs/host.log, restarted on
// failure, stopped with SIGTERM to the host alone (which stops its daemons
// politely), and wanted by default.target. INVALID_ARGUMENT when a path cannot be
// written in a unit (a control character).
Expected<std::string> HostUnitText(const std::filesystem::path& host_exe, const std::filesystem::path& home);

// Starts the host of `layout` through systemd (`systemctl --user start`) when
// `mumba host enable` wrote the unit for this home and a user manager runs, so the
// host is supervised like one started at login; returns once it answers. nullopt
// when that is not the case (the caller starts the host itself); UNAVAILABLE saying
// why when systemd could not start it.
std::optional<Status> StartThroughSystemd(const HomeLayout& layout);

// Adds `enable` and `disable` to `mumba host`.
void AddHostServiceCommands(CLI::App& host, Context& ctx);

}  // namespace mumba::cli
