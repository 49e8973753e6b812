// SPDX-License-Identifier: Apache-2.0
// Spawning a daemon process: the one place with Linux process details.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "mumba/status.h"

namespace mumba {

struct SpawnSpec {
  std::filesystem::path executable;
  std::vector<std::string> args;  // Not including argv[0].
  std::filesystem::path working_dir;
  std::map<std::string, std::string> extra_env;  // Added to (or replacing in) ours.
};

struct SpawnedProcess {
  pid_t pid = -1;
  int pidfd = -1;       // Readable when the process exits. Owned by the caller.
  int output_fd = -1;   // Read end of the child's stdout+stderr. Owned by the caller.
};

// Starts the process in a new process group (pgid == pid) that receives SIGTERM if
// the calling thread's process dies. Returns once exec succeeded, or the reason it
// did not ("No such file or directory").
Expected<SpawnedProcess> SpawnProcess(const SpawnSpec& spec);

// Sends `signal` to the process group `pgid`. Errors are ignored (it may be gone).
void SignalGroup(pid_t pgid, int signal);

// Collects the exit status of `pid` without blocking. Returns a description
// ("exit code 1", "signal 9") or an empty string if it has not exited.
std::string ReapProcess(pid_t pid, int* raw_status = nullptr);

}  // namespace mumba
