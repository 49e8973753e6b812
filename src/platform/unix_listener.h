// SPDX-License-Identifier: Apache-2.0
// A listening unix socket that only its owner may connect to: how the host makes
// each app's sockets (host.sock, broker.sock); and the connecting side.
#pragma once

#include <filesystem>

#include "platform/unique_fd.h"

namespace mumba {

// Binds a unix socket of `type` (SOCK_STREAM or SOCK_SEQPACKET) at `path`, mode
// 0600, and listens on it. An invalid fd when it cannot (errno says why; a path
// longer than a socket address holds gives ENAMETOOLONG). Whatever is at `path` is
// not removed first: the caller decides.
UniqueFd ListenUnix(const std::filesystem::path& path, int type);

// Connects a unix socket of `type` (SOCK_STREAM or SOCK_SEQPACKET), blocking and
// close-on-exec, to the one listening at `path`. An invalid fd when it cannot
// (errno says why; a path longer than a socket address holds gives ENAMETOOLONG).
UniqueFd ConnectUnix(const std::filesystem::path& path, int type);

}  // namespace mumba
