// SPDX-License-Identifier: Apache-2.0
// What the mumba command asks of this machine outside the host: other programs it
// runs and waits for (systemctl, chromium --version), programs looked up in PATH,
// and where the running mumba is installed, for what must outlive the command
// (shims, desktop entries, the systemd unit).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "mumba/status.h"

namespace mumba::cli {

// How a program run by RunProgram ended: its exit code as a shell reports it (127
// when it could not be started, 124 when it ran past its time and was killed) and
// everything it wrote on stdout and stderr.
struct ProgramResult {
  int exit_code = 127;
  std::string output;
};

// Runs argv (argv[0] looked up in PATH) with our environment, its output captured,
// and waits at most `timeout` for it; one that runs longer is killed with its
// process group. Never fails: see ProgramResult.
ProgramResult RunProgram(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The first executable file called `name` in $PATH, or empty when there is none.
std::filesystem::path FindInPath(const std::string& name);

// Whether the running mumba is the one a CMake build tree holds (build/bin, beside
// CMakeCache.txt) rather than an installed copy.
bool RunsFromBuildTree();

// The installed program `name` beside the running mumba (e.g. "mumba-host"), for a
// file that calls it long after this command (a shim, a desktop entry, a systemd
// unit). FAILED_PRECONDITION when mumba runs from a build tree, which moves or goes
// away with its checkout, saying how to install Mumba and to run `mumba COMMAND`
// with the installed copy; unless `allow_build_tree`.
Expected<std::filesystem::path> InstalledProgram(const std::string& name, const std::string& command,
                                                 bool allow_build_tree);

// Why a file that outlives this command should not call the build tree's mumba,
// and what to do instead: install Mumba and run `mumba COMMAND` with the installed
// copy.
std::string BuildTreeWarning(const std::string& command);

}  // namespace mumba::cli
