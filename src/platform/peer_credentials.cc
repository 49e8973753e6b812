// SPDX-License-Identifier: Apache-2.0
#include "platform/peer_credentials.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace mumba {

namespace {
// Deeper than any real process tree; only guards against a loop while processes
// exit and pids are reused under the walk.
constexpr int kMaxDepth = 256;
}  // namespace

std::optional<pid_t> PeerPid(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred) || cred.pid <= 0) {
    return std::nullopt;
  }
  return cred.pid;
}

std::optional<pid_t> ParentPid(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so the
  // fields are counted from the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string state;
  long ppid = -1;
  if (!(fields >> state >> ppid) || ppid < 0) return std::nullopt;
  return static_cast<pid_t>(ppid);
}

bool DescendsFromAny(pid_t pid, const std::vector<pid_t>& roots) {
  auto is_root = [&](pid_t p) { return p > 0 && std::find(roots.begin(), roots.end(), p) != roots.end(); };
  // A pid that no longer exists is refused even when it equals a root: its number
  // may already belong to someone else.
  if (!ParentPid(pid)) return false;
  for (int depth = 0; depth < kMaxDepth && pid > 0; ++depth) {
    if (is_root(pid)) return true;
    if (pid == 1) return false;
    auto parent = ParentPid(pid);
    if (!parent) return false;
    pid = *parent;
  }
  return false;
}

bool DescendsFromAnyWithin(pid_t pid, const std::function<std::vector<pid_t>()>& roots,
                           const std::atomic<bool>& stop) {
  const pid_t self = ::getpid();
  if (pid == self) return false;
  for (int attempt = 0; attempt <= kPeerCheckRetries && !stop; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(kPeerCheckRetryDelay);
    std::vector<pid_t> now = roots();
    std::erase(now, self);
    if (DescendsFromAny(pid, now)) return true;
  }
  return false;
}

}  // namespace mumba
