// SPDX-License-Identifier: Apache-2.0
#include "bundle/bundle.h"

#include <google/protobuf/stubs/common.h>
#include <grpcpp/version_info.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <google/protobuf/descriptor.pb.h>

#include "common/files.h"
#include "platform/errno_status.h"
#include "platform/unique_fd.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

bool IsInside(const fs::path& root, const fs::path& p) {
  auto r = root.lexically_normal();
  auto q = p.lexically_normal();
  auto [ri, qi] = std::mismatch(r.begin(), r.end(), q.begin(), q.end());
  return ri == r.end() || (ri->empty() && std::next(ri) == r.end());
}

// Checks one entry; `rel` is its path relative to the root, for messages.
Status CheckEntry(const fs::path& root, const fs::directory_entry& entry) {
  // lexically: fs::relative would follow the very symlink being checked.
  auto rel = entry.path().lexically_relative(root).string();
  auto st = entry.symlink_status();
  if (fs::is_symlink(st)) {
    std::error_code ec;
    auto target = fs::read_symlink(entry.path(), ec);
    if (ec) return InvalidArgument("bundle path '" + rel + "': unreadable symlink");
    if (target.is_absolute()) {
      return InvalidArgument("bundle path '" + rel + "' is a symlink to an absolute path (" +
                             target.string() + ")");
    }
    auto resolved = (entry.path().parent_path() / target).lexically_normal();
    if (!IsInside(root, resolved)) {
      return InvalidArgument("bundle path '" + rel + "' is a symlink out of the bundle (" +
                             target.string() + ")");
    }
    // A chain of links could still leave: check the final target too.
    auto canon_root = fs::weakly_canonical(root, ec);
    auto canon = fs::weakly_canonical(entry.path(), ec);
    if (!ec && !IsInside(canon_root, canon)) {
      return InvalidArgument("bundle path '" + rel + "' resolves out of the bundle");
    }
    return Status();
  }
  if (!fs::is_regular_file(st) && !fs::is_directory(st)) {
    return InvalidArgument("bundle path '" + rel + "' is not a regular file or folder");
  }
  return Status();
}

Status RequireFile(const fs::path& root, const std::string& rel, const std::string& field,
                   bool executable) {
  auto p = root / rel;
  std::error_code ec;
  auto canon = fs::weakly_canonical(p, ec);
  if (ec || !fs::is_regular_file(canon)) {
    return InvalidArgument("mumba.toml: " + field + ": '" + rel + "' does not exist in the bundle");
  }
  if (!IsInside(fs::weakly_canonical(root), canon)) {
    return InvalidArgument("mumba.toml: " + field + ": '" + rel + "' leaves the bundle");
  }
  if (executable && ::access(canon.c_str(), X_OK) != 0) {
    return InvalidArgument("mumba.toml: " + field + ": '" + rel + "' is not executable");
  }
  return Status();
}

// Copies one regular file with its permission bits. A plain read/write loop, not
// fs::copy_file: libstdc++ turns a short write on a full disk into EIO, and the
// caller must be told the disk is full (ENOSPC: RESOURCE_EXHAUSTED).
Status CopyRegularFile(const fs::path& src, const fs::path& dst, const std::string& rel) {
  UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (!in || ::fstat(in.get(), &st) != 0) return ErrnoStatus(errno, "cannot read " + rel);
  UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!out) return ErrnoStatus(errno, "cannot copy " + rel);
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "cannot read " + rel);
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoStatus(errno, "cannot copy " + rel);
      done += w;
    }
  }
  if (::fchmod(out.get(), st.st_mode & 07777) != 0 || out.Close() != 0) {
    return ErrnoStatus(errno, "cannot copy " + rel);
  }
  return Status();
}

}  // namespace

Status CheckBundleTree(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return InvalidArgument(root.string() + " is not a folder");
  for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
       it != end; it.increment(ec)) {
    if (ec) return InvalidArgument("cannot read bundle: " + ec.message());
    MUMBA_TRY(CheckEntry(root, *it));
  }
  if (ec) return InvalidArgument("cannot read bundle: " + ec.message());
  return Status();
}

Expected<std::unique_ptr<google::protobuf::DescriptorPool>> LoadDescriptorPool(
    const fs::path& file) {
  auto bytes = ReadFile(file);
  if (!bytes.ok()) return bytes.status();
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromString(*bytes)) {
    return InvalidArgument(file.string() + " is not a protobuf FileDescriptorSet");
  }
  auto pool = std::make_unique<google::protobuf::DescriptorPool>();
  // Files may come in any order in a set; retry until no progress is made.
  std::vector<const google::protobuf::FileDescriptorProto*> pending;
  for (const auto& f : set.file()) pending.push_back(&f);
  while (!pending.empty()) {
    std::vector<const google::protobuf::FileDescriptorProto*> next;
    for (const auto* f : pending) {
      bool deps_ready = true;
      for (const auto& dep : f->dependency()) {
        if (!pool->FindFileByName(dep)) deps_ready = false;
      }
      if (!deps_ready) {
        next.push_back(f);
        continue;
      }
      if (!pool->BuildFile(*f)) {
        return InvalidArgument(file.string() + ": cannot load " + f->name());
      }
    }
    if (next.size() == pending.size()) {
      return InvalidArgument(file.string() + ": " + next.front()->name() +
                             " imports a file missing from the set (build with --include_imports)");
    }
    pending.swap(next);
  }
  return pool;
}

RuntimeDecl HostRuntime() {
  return {std::to_string(GRPC_CPP_VERSION_MAJOR) + "." + std::to_string(GRPC_CPP_VERSION_MINOR),
          std::to_string(GOOGLE_PROTOBUF_VERSION / 1000000) + "." +
              std::to_string(GOOGLE_PROTOBUF_VERSION / 1000 % 1000)};
}

std::string DescribeRuntime(const RuntimeDecl& runtime) {
  return "gRPC " + (runtime.grpc.empty() ? "?" : runtime.grpc) + ", protobuf " +
         (runtime.protobuf.empty() ? "?" : runtime.protobuf);
}

Expected<Manifest> ValidateBundle(const fs::path& root) {
  MUMBA_ASSIGN_OR_RETURN(Manifest m, LoadManifest(root));
  if (!m.runtime.empty() && m.runtime != HostRuntime()) {
    return FailedPrecondition(m.name + " " + m.version + " was built for " + DescribeRuntime(m.runtime) +
                              ", and this host runs " + DescribeRuntime(HostRuntime()) +
                              ": its daemon would not start here. Ask its publisher for a build for this "
                              "runtime, or build it from source with mumba build.");
  }
  MUMBA_TRY(CheckBundleTree(root));
  MUMBA_TRY(RequireFile(root, m.daemon_command, "daemon.command", true));
  if (!m.ui_entry.empty()) MUMBA_TRY(RequireFile(root, m.ui_entry, "ui.entry", false));
  if (!m.icon.empty()) MUMBA_TRY(RequireFile(root, m.icon, "icon", false));
  if (!m.services.empty()) {
    auto pool = LoadDescriptorPool(root / kDescriptorSetPath);
    if (!pool.ok()) {
      return InvalidArgument("exports.services needs " + std::string(kDescriptorSetPath) + ": " +
                             pool.status().message());
    }
    for (const auto& s : m.services) {
      if (!(*pool)->FindServiceByName(s)) {
        return InvalidArgument("mumba.toml: exports.services: '" + s + "' is not in " +
                               kDescriptorSetPath);
      }
    }
  }
  return m;
}

Status CopyBundleTree(const fs::path& src, const fs::path& dst) {
  MUMBA_TRY(CheckBundleTree(src));
  std::error_code ec;
  fs::create_directories(dst, ec);
  if (ec) return ErrnoStatus(ec.value(), "cannot create " + dst.string());
  for (fs::recursive_directory_iterator it(src, fs::directory_options::none, ec), end;
       it != end; it.increment(ec)) {
    if (ec) break;
    // Lexically: fs::relative would follow a symlink and copy it to where its
    // target is, not where the link is.
    auto rel = it->path().lexically_relative(src);
    auto target = dst / rel;
    auto st = it->symlink_status();
    if (fs::is_symlink(st)) {
      fs::copy_symlink(it->path(), target, ec);
    } else if (fs::is_directory(st)) {
      fs::create_directories(target, ec);
    } else {
      MUMBA_TRY(CopyRegularFile(it->path(), target, rel.string()));
    }
    if (ec) return ErrnoStatus(ec.value(), "cannot copy " + rel.string());
  }
  if (ec) return ErrnoStatus(ec.value(), "cannot copy bundle");
  return Status();
}

}  // namespace mumba
