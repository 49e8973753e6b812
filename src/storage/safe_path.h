// SPDX-License-Identifier: Apache-2.0
// The path check and the no-follow folder walk that keep a file store's callers
// inside its root.
//
// Why this is its own unit: paths come from apps (and, through the owner's CLI,
// from anyone), and the store's root is a folder the host owns. A path that could
// climb out ("..", an absolute path) or a symlink that someone planted in the tree
// (or a folder swapped for a symlink between a check and a use) would let an app
// read or overwrite files of the host or of other apps. So every path is checked
// lexically here first (CheckPath), and then walked one component at a time with
// openat(O_NOFOLLOW | O_DIRECTORY) from a descriptor of the root (OpenFolder): the
// kernel, not a string comparison, guarantees each step stays below the root, and
// a symlink anywhere on the way is refused rather than followed. Whoever acts on
// the last component must do the same (openat/fstatat/renameat relative to the
// folder returned, with O_NOFOLLOW or AT_SYMLINK_NOFOLLOW).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mumba/status.h"
#include "platform/errno_status.h"
#include "platform/unique_fd.h"

namespace mumba::engine {

// The longest path and the longest component CheckPath accepts, in bytes.
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxComponentBytes = 255;
// Components starting with this are the store's own (its temporary folder) and
// are never reachable by a path.
inline constexpr std::string_view kReservedPrefix = ".mumba";

// A path that passed CheckPath.
struct TreePath {
  std::string text;                // As the caller wrote it ("" for the root).
  std::vector<std::string> parts;  // Its components; empty for the root.

  // The last component. Precondition: not the root.
  const std::string& leaf() const { return parts.back(); }
  // The first `n` components joined by '/', for messages about a folder on the way.
  std::string Prefix(size_t n) const;
};

// Why `name` cannot be one component of a path ("has an empty component", ...),
// or "" if it can. Also tells which names found on disk no path could reach.
std::string_view ComponentProblem(std::string_view name);

// Splits `path` into its components. On success the path is relative, at most
// kMaxPathBytes, and every component passes ComponentProblem; with `root_ok`, ""
// and "." are accepted and name the root (no components). On error,
// INVALID_ARGUMENT naming the path (quoted, shortened) and the reason: empty, too
// long, NUL, backslash, absolute, or a bad component ("", ".", "..", over 255
// bytes, reserved prefix). Checks the text only; the disk is not touched.
Expected<TreePath> CheckPath(std::string_view path, bool root_ok);

// What OpenFolder does about folders that are missing or are not folders.
enum class Walk {
  // The folder must exist: NOT_FOUND if it does not (or a file is on the way),
  // FAILED_PRECONDITION if the folder itself is a file.
  kExisting,
  // Missing folders are created (0700, each synced into its parent); a file on the
  // way is FAILED_PRECONDITION.
  kCreate,
  // Like kCreate but creates nothing: a missing folder gives an invalid UniqueFd.
  kProbe,
};

// Opens the folder made of the first `n` components of `path` below the folder
// `root` (a descriptor the caller keeps), one component at a time and never
// through a symlink. Returns a new descriptor (close-on-exec) of that folder; with
// n == 0 a duplicate of `root`. Errors: INVALID_ARGUMENT when a component on the
// way is a symlink, whatever it points at; the others as `walk` says; any other
// failure of the system calls mapped by ErrnoStatus (platform/errno_status.h).
// With kCreate and a non-null `created`, adds one to `*created` per folder it
// made, on failure too (those folders stay), so callers can account for them.
Expected<UniqueFd> OpenFolder(int root, const TreePath& path, size_t n, Walk walk,
                              size_t* created = nullptr);

// A path for error messages: quoted, control bytes escaped, cut after 200 bytes,
// so that a hostile path cannot forge or flood a log line.
std::string Quote(std::string_view path);


}  // namespace mumba::engine
