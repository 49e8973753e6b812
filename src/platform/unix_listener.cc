// SPDX-License-Identifier: Apache-2.0
#include "platform/unix_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace mumba {

UniqueFd ListenUnix(const std::filesystem::path& path, int type) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof(addr.sun_path)) {
    errno = ENAMETOOLONG;
    return {};
  }
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd) return {};
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  // The host's umask already makes it 0600; said again so it holds whoever embeds us.
  if (::chmod(p.c_str(), 0600) != 0 || ::listen(fd.get(), SOMAXCONN) != 0) return {};
  return fd;
}

}  // namespace mumba
