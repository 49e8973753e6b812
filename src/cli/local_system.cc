// SPDX-License-Identifier: Apache-2.0
#include "cli/local_system.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <thread>

#include "common/paths.h"
#include "platform/process_launcher.h"
#include "platform/read_until_closed.h"

namespace fs = std::filesystem;

namespace mumba::cli {

ProgramResult RunProgram(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  ProgramResult result;
  LaunchSpec spec;
  spec.executable = argv.at(0);
  spec.search_path = true;
  spec.args.assign(argv.begin() + 1, argv.end());
  spec.env = InheritedEnvironment();
  spec.capture_output = true;
  auto& launcher = ProcessLauncher::System();
  auto launched = launcher.Launch(spec);
  if (!launched.ok()) {
    result.output = launched.status().message();
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // The output is read until the program closes it or stays quiet past its time;
  // then it gets the rest of its time to exit before it is killed.
  result.output = ReadUntilClosed(launched->output.get(), static_cast<int>(timeout.count()));
  for (;;) {
    if (auto exit = launcher.Reap(launched->pid)) {
      result.exit_code = exit->ExitCode();
      return result;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      launcher.SignalGroup(launched->pid, SIGKILL);
      (void)launcher.Wait(launched->pid);
      result.exit_code = 124;
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

fs::path FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

bool RunsFromBuildTree() {
  std::error_code ec;
  return fs::exists(ExecutableDir().parent_path() / "CMakeCache.txt", ec);
}

std::string BuildTreeWarning(const std::string& command) {
  return "this mumba runs from the build tree " + ExecutableDir().parent_path().string() +
         ", which moves or goes away with its checkout. Install Mumba (`bash scripts/run.sh`, or `cmake "
         "--install build --prefix ~/.local`) and run `mumba " + command + "` with the installed mumba";
}

Expected<fs::path> InstalledProgram(const std::string& name, const std::string& command, bool allow_build_tree) {
  if (RunsFromBuildTree() && !allow_build_tree) return FailedPrecondition(BuildTreeWarning(command));
  return ExecutableDir() / name;
}

}  // namespace mumba::cli
