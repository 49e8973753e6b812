// SPDX-License-Identifier: Apache-2.0
// Who is on the other end of a unix socket, as the kernel says (SO_PEERCRED), and
// whether that process belongs to a process tree we started: the host's way of
// knowing a caller by the kernel rather than by which path it connected to.
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

namespace mumba {

// The pid of the process that connected the unix socket `fd` (as seen in our PID
// namespace), or nullopt when the kernel cannot say (not a unix socket, closed).
std::optional<pid_t> PeerPid(int fd);

// The parent of `pid` from /proc/<pid>/stat, or nullopt when the process is gone or
// its stat cannot be read.
std::optional<pid_t> ParentPid(pid_t pid);

// True when `pid` is one of `roots` or a descendant of one (its parent chain is
// walked, bounded, up to pid 1). A dead or unknown pid, and a root of 0 or less,
// never match.
bool DescendsFromAny(pid_t pid, const std::vector<pid_t>& roots);

}  // namespace mumba
