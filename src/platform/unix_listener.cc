// SPDX-License-Identifier: Apache-2.0
#include "platform/unix_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace mumba {

namespace {

// `path` as a socket address; false (errno ENAMETOOLONG) when it does not fit.
bool AddressOf(const std::string& path, sockaddr_un* addr) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr->sun_path)) {
    errno = ENAMETOOLONG;
    return false;
  }
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

UniqueFd ListenUnix(const std::filesystem::path& path, int type) {
  struct sockaddr_un addr {};
  const std::string p = path.string();
  if (!AddressOf(p, &addr)) return {};
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd) return {};
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  // The host's umask already makes it 0600; said again so it holds whoever embeds us.
  if (::chmod(p.c_str(), 0600) != 0 || ::listen(fd.get(), SOMAXCONN) != 0) return {};
  return fd;
}

UniqueFd ConnectUnix(const std::filesystem::path& path, int type) {
  struct sockaddr_un addr {};
  if (!AddressOf(path.string(), &addr)) return {};
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd) return {};
  if (::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  return fd;
}

}  // namespace mumba
