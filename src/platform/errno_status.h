// SPDX-License-Identifier: Apache-2.0
// The one mapping from an errno onto Mumba's canonical codes, chosen by what the
// caller can do about it (header-only; the SDK uses it too).
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include "mumba/status.h"

namespace mumba {

// "<what>: <strerror>" with the code that tells the caller what to do:
//   ENOENT                          NOT_FOUND
//   EEXIST                          ALREADY_EXISTS
//   ENOTDIR, EISDIR, ENOTEMPTY      FAILED_PRECONDITION (the tree is not as assumed)
//   ELOOP, ENAMETOOLONG, EINVAL     INVALID_ARGUMENT
//   EACCES, EPERM, EROFS            PERMISSION_DENIED
//   ENOSPC, EDQUOT, EFBIG           RESOURCE_EXHAUSTED
//   anything else                   INTERNAL
inline Status ErrnoStatus(int err, std::string_view what) {
  std::string message = std::string(what) + ": " + std::generic_category().message(err);
  switch (err) {
    case ENOENT: return NotFound(std::move(message));
    case EEXIST: return AlreadyExists(std::move(message));
    case ENOTDIR:
    case EISDIR:
    case ENOTEMPTY: return FailedPrecondition(std::move(message));
    case ELOOP:
    case ENAMETOOLONG:
    case EINVAL: return InvalidArgument(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS: return PermissionDenied(std::move(message));
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return ResourceExhausted(std::move(message));
    default: return Internal(std::move(message));
  }
}

}  // namespace mumba
