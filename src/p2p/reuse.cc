// SPDX-License-Identifier: Apache-2.0
#include "p2p/reuse.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include <libtorrent/file_storage.hpp>

#include "platform/unique_fd.h"

namespace mumba::p2p {
namespace {

namespace fs = std::filesystem;

// The components of a '/'-separated relative path, or nothing when one of them is
// empty, "." or "..": libtorrent sanitises the paths of a torrent it loads, and
// this keeps a path that slipped through from leaving the folder it is joined to.
std::vector<std::string> SafeComponents(const std::string& rel) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = rel.find('/', start);
    std::string part = rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return {};
    parts.push_back(std::move(part));
    if (slash == std::string::npos) return parts;
    start = slash + 1;
  }
}

// `rel` under the folder open as `root`, opened read-only if it is a regular file
// of `size` bytes reached through real folders only; an invalid fd otherwise.
// The kind is checked before opening (opening a device or a FIFO can block or
// act) and again on the open file, which O_NOFOLLOW keeps from being a symlink.
UniqueFd OpenReusable(int root, const std::vector<std::string>& parts, uint64_t size) {
  UniqueFd dir;
  int at = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    dir.Reset(::openat(at, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return {};
    at = dir.get();
  }
  struct stat st {};
  if (::fstatat(at, parts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return {};
  UniqueFd file(::openat(at, parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!file || ::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) != size) {
    return {};
  }
  return file;
}

// Copies `size` bytes from `in` to `out`, in the kernel where it can
// (copy_file_range also clones extents on file systems that share them), by
// read and write otherwise. False on any error or a source that got shorter.
bool CopyBytes(int in, int out, uint64_t size) {
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, size - done, 0);
    if (n > 0) {
      done += static_cast<uint64_t>(n);
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return false;
    break;
  }
  std::vector<char> buf(1 << 16);
  while (done < size) {
    ssize_t n = ::pread(in, buf.data(), buf.size(), static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    for (ssize_t put = 0; put < n;) {
      ssize_t w = ::pwrite(out, buf.data() + put, static_cast<size_t>(n - put), static_cast<off_t>(done + put));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      put += w;
    }
    done += static_cast<uint64_t>(n);
  }
  return true;
}

// Copies the open `in` to a new file `to` (O_EXCL: never into something that
// exists, a link included), with the executable bits when `executable`. A
// failed copy is removed.
bool CopyInto(int in, const fs::path& to, uint64_t size, bool executable) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (ec) return false;
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, executable ? 0777 : 0666));
  if (!out) return false;
  bool ok = CopyBytes(in, out.get(), size);
  if (out.Close() != 0) ok = false;
  if (!ok) ::unlink(to.c_str());
  return ok;
}

}  // namespace

Reused PlaceReusedFiles(const lt::torrent_info& ti, const fs::path& reuse_from, const fs::path& save_path,
                        const std::function<bool()>& go_on) {
  Reused reused;
  UniqueFd root(::open(reuse_from.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // A name that is not one plain folder name could lead the copies out of `save_path`.
  if (!root || SafeComponents(ti.name()).size() != 1) return reused;
  const lt::file_storage& files = ti.files();
  const std::string prefix = ti.name() + "/";
  for (lt::file_index_t i : files.file_range()) {
    if (files.pad_file_at(i) || (files.file_flags(i) & lt::file_storage::flag_symlink)) continue;
    if (go_on && !go_on()) {
      reused.stopped = true;
      return reused;
    }
    const std::string path = files.file_path(i);
    if (path.compare(0, prefix.size(), prefix) != 0) continue;
    const std::vector<std::string> parts = SafeComponents(path.substr(prefix.size()));
    if (parts.empty()) continue;
    const auto size = static_cast<uint64_t>(files.file_size(i));
    UniqueFd in = OpenReusable(root.get(), parts, size);
    if (!in) continue;
    fs::path to = save_path / ti.name();
    for (const auto& part : parts) to /= part;
    const bool executable = static_cast<bool>(files.file_flags(i) & lt::file_storage::flag_executable);
    if (!CopyInto(in.get(), to, size, executable)) continue;
    ++reused.files;
    reused.bytes += size;
  }
  return reused;
}

}  // namespace mumba::p2p
