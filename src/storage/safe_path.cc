// SPDX-License-Identifier: Apache-2.0
// The path check and the no-follow folder walk; see safe_path.h for why.
#include "storage/safe_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace mumba::engine {

std::string TreePath::Prefix(size_t n) const {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

std::string Quote(std::string_view path) {
  constexpr size_t kShown = 200;
  std::string out = "'";
  for (size_t i = 0; i < path.size() && i < kShown; ++i) {
    auto c = static_cast<unsigned char>(path[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (path.size() > kShown) out += "...";
  return out + "'";
}

std::string_view ComponentProblem(std::string_view name) {
  if (name.empty()) return "has an empty component";
  if (name == "." || name == "..") return "has a '.' or '..' component";
  if (name.size() > kMaxComponentBytes) return "has a component longer than 255 bytes";
  if (name.substr(0, kReservedPrefix.size()) == kReservedPrefix)
    return "has a component starting with '.mumba', which is reserved";
  return {};
}

Expected<TreePath> CheckPath(std::string_view path, bool root_ok) {
  TreePath out;
  if (root_ok && (path.empty() || path == ".")) return out;
  auto invalid = [&](std::string_view why) {
    return InvalidArgument("invalid path " + Quote(path) + ": " + std::string(why));
  };
  if (path.empty()) return invalid("it is empty");
  if (path.size() > kMaxPathBytes) return invalid("it is longer than 4096 bytes");
  if (path.find('\0') != std::string_view::npos) return invalid("it contains NUL");
  if (path.find('\\') != std::string_view::npos) return invalid("it contains a backslash");
  if (path.front() == '/') return invalid("it is absolute");
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    std::string_view name = path.substr(start, end - start);
    if (auto why = ComponentProblem(name); !why.empty()) return invalid(why);
    out.parts.emplace_back(name);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  out.text = std::string(path);
  return out;
}

Expected<UniqueFd> OpenFolder(int root, const TreePath& path, size_t n, Walk walk,
                              size_t* created) {
  UniqueFd dir(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!dir.valid()) return ErrnoStatus(errno, "cannot open the store root");
  for (size_t i = 0; i < n; ++i) {
    const char* name = path.parts[i].c_str();
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = ::openat(dir.get(), name, kFlags);
    if (fd < 0 && errno == ENOENT && walk == Walk::kCreate) {
      if (::mkdirat(dir.get(), name, 0700) == 0) {
        if (created != nullptr) ++*created;
      } else if (errno != EEXIST) {
        return ErrnoStatus(errno, "cannot create folder " + Quote(path.Prefix(i + 1)));
      }
      // The new entry must survive a crash along with whatever goes inside it.
      ::fsync(dir.get());
      fd = ::openat(dir.get(), name, kFlags);
    }
    if (fd >= 0) {
      dir = UniqueFd(fd);
      continue;
    }
    int err = errno;
    if (err == ENOENT) {
      if (walk == Walk::kProbe) return UniqueFd();
      return NotFound(Quote(path.text) + " not found");
    }
    if (err != ENOTDIR && err != ELOOP)
      return ErrnoStatus(err, "cannot open folder " + Quote(path.Prefix(i + 1)));
    // Depending on the kernel, a symlink shows up as ENOTDIR or ELOOP; look.
    struct stat st;
    if (::fstatat(dir.get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      return InvalidArgument(Quote(path.Prefix(i + 1)) +
                             " is a symlink, which the store never follows");
    }
    std::string not_folder = Quote(path.Prefix(i + 1)) + " is a file, not a folder";
    if (walk != Walk::kExisting)
      return FailedPrecondition("cannot place " + Quote(path.text) + ": " + not_folder);
    if (i + 1 == path.parts.size()) return FailedPrecondition(not_folder);
    return NotFound(Quote(path.text) + " not found: " + not_folder);
  }
  return dir;
}

}  // namespace mumba::engine
