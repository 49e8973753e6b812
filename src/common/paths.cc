// SPDX-License-Identifier: Apache-2.0
#include "common/paths.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "platform/errno_status.h"

namespace mumba {

std::filesystem::path DefaultHome() {
  if (const char* h = std::getenv("MUMBA_HOME"); h && *h) {
    return std::filesystem::absolute(h).lexically_normal();
  }
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
    return std::filesystem::absolute(std::filesystem::path(x) / "mumba").lexically_normal();
  }
  std::filesystem::path user_home;
  if (const char* h = std::getenv("HOME"); h && *h) {
    user_home = h;
  } else if (const struct passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir && *pw->pw_dir) {
    user_home = pw->pw_dir;
  } else {
    user_home = "/nonexistent";  // CheckHomeIsOurs then says what is missing.
  }
  return std::filesystem::absolute(user_home / ".local" / "share" / "mumba").lexically_normal();
}

Status CheckHomeIsOurs(const std::filesystem::path& home) {
  const uid_t me = ::geteuid();
  struct stat st {};
  if (::lstat(home.c_str(), &st) != 0) return ErrnoStatus(errno, "cannot use " + home.string() + " as MUMBA_HOME");
  if (!S_ISDIR(st.st_mode)) {
    return FailedPrecondition("MUMBA_HOME " + home.string() + " is not a folder (a link is not accepted)");
  }
  if (st.st_uid != me) {
    return FailedPrecondition("MUMBA_HOME " + home.string() + " belongs to user " + std::to_string(st.st_uid) +
                              ", not to you: another user made it first; choose another MUMBA_HOME");
  }
  if ((st.st_mode & 077) != 0) {
    return FailedPrecondition("MUMBA_HOME " + home.string() + " is open to other users (chmod 700 it)");
  }
  for (auto dir = home.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "cannot check " + dir.string());
    const bool others_may_change = (st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0;
    if ((st.st_uid != me && st.st_uid != 0) || others_may_change) {
      return FailedPrecondition("MUMBA_HOME " + home.string() + " lies in " + dir.string() +
                                ", which another user can change; choose another MUMBA_HOME");
    }
    if (dir == dir.root_path()) break;
  }
  return {};
}

HomeLayout::HomeLayout(std::filesystem::path h) : home(std::move(h)) {}

std::filesystem::path ExecutableDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::filesystem::current_path();
  return exe.parent_path();
}

}  // namespace mumba
