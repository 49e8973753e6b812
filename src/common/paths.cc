// SPDX-License-Identifier: Apache-2.0
#include "common/paths.h"

#include <cstdlib>

namespace mumba {

std::filesystem::path DefaultHome() {
  if (const char* h = std::getenv("MUMBA_HOME"); h && *h) {
    return std::filesystem::absolute(h).lexically_normal();
  }
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
    return std::filesystem::absolute(std::filesystem::path(x) / "mumba").lexically_normal();
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/tmp") / ".local" / "share" / "mumba";
}

HomeLayout::HomeLayout(std::filesystem::path h) : home(std::move(h)) {}

std::filesystem::path ExecutableDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::filesystem::current_path();
  return exe.parent_path();
}

}  // namespace mumba
