// SPDX-License-Identifier: Apache-2.0
// Who is on the other end of a unix socket, as the kernel says (SO_PEERCRED), and
// whether that process belongs to a process tree we started: the host's way of
// knowing a caller by the kernel rather than by which path it connected to.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
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

// A child may connect a moment before its parent has published its pid, so a
// refused check is asked again this many times, this far apart (300 ms in all).
inline constexpr int kPeerCheckRetries = 6;
inline constexpr auto kPeerCheckRetryDelay = std::chrono::milliseconds(50);

// True when `pid` descends from one of the pids `roots()` gives now, asking it
// again kPeerCheckRetries times while the answer is no and `stop` is false. This
// process is never a root (every child of ours descends from it, so as a root it
// would let anyone in), and never matches. Blocks up to 300 ms.
bool DescendsFromAnyWithin(pid_t pid, const std::function<std::vector<pid_t>()>& roots,
                           const std::atomic<bool>& stop);

}  // namespace mumba
