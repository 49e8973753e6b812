// SPDX-License-Identifier: Apache-2.0
// Cutting a store into a version folder and putting it back together
// (WriteChunked, ReadIndex, Assemble); see chunked_tree.h for why it is shaped so.
#include "share/chunked_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <limits>
#include <memory>
#include <unordered_set>

#include "common/files.h"
#include "platform/errno_status.h"
#include "platform/hex.h"
#include "platform/unique_fd.h"
#include "storage/safe_path.h"

namespace mumba::share {
namespace fs = std::filesystem;
namespace {

constexpr int kReadFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
constexpr int kFolderFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// An IndexLimits that limits nothing: for indexes this node made or a caller
// already read with its own limits.
constexpr IndexLimits kNoLimits{std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max(),
                                std::numeric_limits<uint64_t>::max()};

// Reads up to `size` bytes into `buf` from `fd`, stopping early only at the end of
// the file. Returns the count read.
Expected<size_t> ReadFull(int fd, char* buf, size_t size, const std::string& what) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, buf + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "cannot read " + what);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status WriteFull(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "cannot write " + what);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status();
}

// Why the object at `name` below `dir` cannot be taken as a file or folder.
Status RefuseObject(int dir, const char* name, const std::string& what, int err) {
  struct stat st;
  if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    return InvalidArgument(what + " is a symlink");
  }
  return ErrnoStatus(err, "cannot open " + what);
}

// --- WriteChunked ---

// Writes the distinct chunks of the files it is given into one chunks folder.
class ChunkWriter {
 public:
  // `reuse` is a previous version's chunks folder, or an invalid descriptor.
  ChunkWriter(int chunks_dir, int reuse, uint64_t chunk_bytes) : dir_(chunks_dir), reuse_(reuse), buf_(chunk_bytes) {}

  // Cuts the open file `fd` into `entry` (size and chunk names), writing each
  // chunk not written before.
  Status Cut(int fd, IndexEntry& entry, const std::string& what) {
    while (true) {
      MUMBA_ASSIGN_OR_RETURN(size_t n, ReadFull(fd, buf_.data(), buf_.size(), what));
      if (n == 0) return Status();
      std::string_view bytes(buf_.data(), n);
      std::string name = Sha256Hex(bytes);
      if (written_.insert(name).second && !Reuse(name, n)) {
        UniqueFd out(::openat(dir_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!out.valid()) return ErrnoStatus(errno, "cannot create chunk " + name);
        MUMBA_TRY(WriteFull(out.get(), bytes, "chunk " + name));
        if (out.Close() != 0) return ErrnoStatus(errno, "cannot write chunk " + name);
      }
      entry.size += n;
      entry.chunks.push_back(std::move(name));
      if (n < buf_.size()) return Status();
    }
  }

 private:
  // Links chunk `name` from the previous version when it holds it as a regular
  // file of `size` bytes; false (and nothing done) otherwise, e.g. on another
  // filesystem. Chunks are never written after they are made, so both versions
  // may share one file.
  bool Reuse(const std::string& name, size_t size) {
    struct stat st;
    if (reuse_ < 0 || ::fstatat(reuse_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_size) != size) {
      return false;
    }
    return ::linkat(reuse_, name.c_str(), dir_, name.c_str(), 0) == 0;
  }

  int dir_;
  int reuse_;
  std::vector<char> buf_;
  std::unordered_set<std::string> written_;
};

// Lists the folder `root` (open) into `entries`, cutting each file on the way.
// Each folder is reached from `root` one component at a time without following a
// symlink (engine::OpenFolder), so a folder swapped for a symlink while this runs
// is refused, not followed, and at most a few descriptors are open at any depth.
Status CutTree(int root, ChunkWriter& writer, std::vector<IndexEntry>& entries) {
  std::deque<std::string> folders{""};
  while (!folders.empty()) {
    const std::string rel = std::move(folders.front());
    folders.pop_front();
    UniqueFd dir;
    if (rel.empty()) {
      dir = UniqueFd(::fcntl(root, F_DUPFD_CLOEXEC, 0));
      if (!dir.valid()) return ErrnoStatus(errno, "cannot open the source");
    } else {
      MUMBA_ASSIGN_OR_RETURN(engine::TreePath path, engine::CheckPath(rel, false));
      MUMBA_ASSIGN_OR_RETURN(dir, engine::OpenFolder(root, path, path.parts.size(), engine::Walk::kExisting));
    }
    // fdopendir takes the descriptor it is given; the walk keeps its own.
    int listed = ::fcntl(dir.get(), F_DUPFD_CLOEXEC, 0);
    DIR* stream = listed < 0 ? nullptr : ::fdopendir(listed);
    if (stream == nullptr) {
      if (listed >= 0) ::close(listed);
      return ErrnoStatus(errno, "cannot list " + engine::Quote(rel));
    }
    std::unique_ptr<DIR, int (*)(DIR*)> closer(stream, ::closedir);
    while (true) {
      errno = 0;
      dirent* d = ::readdir(stream);
      if (d == nullptr) {
        if (errno != 0) return ErrnoStatus(errno, "cannot list " + engine::Quote(rel));
        break;
      }
      std::string_view name = d->d_name;
      if (name == "." || name == "..") continue;
      if (name.starts_with(engine::kReservedPrefix)) continue;
      IndexEntry entry;
      entry.path = rel.empty() ? std::string(name) : rel + "/" + std::string(name);
      const std::string what = engine::Quote(entry.path);
      if (auto why = engine::ComponentProblem(name); !why.empty()) {
        return InvalidArgument(what + " " + std::string(why));
      }
      if (entry.path.size() > engine::kMaxPathBytes) return InvalidArgument(what + " is longer than 4096 bytes");
      struct stat st;
      if (::fstatat(dir.get(), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoStatus(errno, "cannot look at " + what);
      }
      if (S_ISDIR(st.st_mode)) {
        entry.is_dir = true;
        folders.push_back(entry.path);
        entries.push_back(std::move(entry));
        continue;
      }
      // O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a FIFO from blocking the
      // open, and the fstat below refuses what is not a regular file.
      UniqueFd file(::openat(dir.get(), d->d_name, kReadFlags));
      if (!file.valid()) return RefuseObject(dir.get(), d->d_name, what, errno);
      if (::fstat(file.get(), &st) != 0) return ErrnoStatus(errno, "cannot look at " + what);
      if (!S_ISREG(st.st_mode)) return InvalidArgument(what + " is a special file, which a share cannot hold");
      entry.executable = (st.st_mode & S_IXUSR) != 0;
      MUMBA_TRY(writer.Cut(file.get(), entry, what));
      entries.push_back(std::move(entry));
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.path < b.path; });
  return Status();
}

Expected<ChunkedIndex> WriteVersion(const fs::path& source, const fs::path& version_dir, const fs::path& reuse_from,
                                    ChunkedIndex index) {
  UniqueFd version(::open(version_dir.c_str(), kFolderFlags));
  if (!version.valid()) return ErrnoStatus(errno, "cannot open " + version_dir.string());
  if (::mkdirat(version.get(), std::string(kChunksFolderName).c_str(), 0755) != 0) {
    return ErrnoStatus(errno, "cannot create the chunks folder");
  }
  UniqueFd chunks(::openat(version.get(), std::string(kChunksFolderName).c_str(), kFolderFlags));
  if (!chunks.valid()) return ErrnoStatus(errno, "cannot open the chunks folder");
  UniqueFd reuse;
  if (!reuse_from.empty()) reuse = UniqueFd(::open((reuse_from / kChunksFolderName).c_str(), kFolderFlags));
  ChunkWriter writer(chunks.get(), reuse.get(), index.chunk_bytes);

  UniqueFd src(::open(source.c_str(), kReadFlags));
  if (!src.valid()) {
    if (errno == ELOOP) return InvalidArgument(source.string() + " is a symlink, which a share cannot hold");
    return ErrnoStatus(errno, "cannot open " + source.string());
  }
  struct stat st;
  if (::fstat(src.get(), &st) != 0) return ErrnoStatus(errno, "cannot look at " + source.string());
  if (S_ISREG(st.st_mode)) {
    index.single_file = true;
    IndexEntry entry;
    entry.executable = (st.st_mode & S_IXUSR) != 0;
    MUMBA_TRY(writer.Cut(src.get(), entry, source.string()));
    index.entries.push_back(std::move(entry));
  } else if (S_ISDIR(st.st_mode)) {
    MUMBA_TRY(CutTree(src.get(), writer, index.entries));
  } else {
    return InvalidArgument(source.string() + " is neither a regular file nor a folder");
  }
  for (const IndexEntry& e : index.entries) index.total_bytes += e.size;

  UniqueFd out(::openat(version.get(), std::string(kIndexFileName).c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!out.valid()) return ErrnoStatus(errno, "cannot create the index");
  MUMBA_TRY(WriteFull(out.get(), FormatIndex(index), "the index"));
  if (out.Close() != 0) return ErrnoStatus(errno, "cannot write the index");
  // One sync for every chunk and the index: a version is published only whole.
  if (::syncfs(version.get()) != 0) return ErrnoStatus(errno, "cannot sync " + version_dir.string());
  return index;
}

// --- Assemble ---

// Reads chunks out of a version's chunks folder, each checked against its name.
class ChunkReader {
 public:
  explicit ChunkReader(fs::path folder) : folder_(std::move(folder)) {}

  // The bytes of chunk `name`, which must be `size` bytes long.
  Expected<std::string_view> Read(const std::string& name, uint64_t size) {
    if (!dir_.valid()) {
      dir_ = UniqueFd(::open(folder_.c_str(), kFolderFlags));
      if (!dir_.valid()) {
        if (errno == ELOOP || errno == ENOTDIR) return InvalidArgument("the chunks folder is not a folder");
        return ErrnoStatus(errno, "cannot open the chunks folder");
      }
    }
    const std::string what = "chunk " + name;
    UniqueFd fd(::openat(dir_.get(), name.c_str(), kReadFlags));
    if (!fd.valid()) {
      if (errno == ENOENT) return NotFound(what + " is missing");
      return RefuseObject(dir_.get(), name.c_str(), what, errno);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "cannot look at " + what);
    if (!S_ISREG(st.st_mode)) return InvalidArgument(what + " is not a regular file");
    // One byte more than expected shows a chunk that grew since fstat.
    buf_.resize(size + 1);
    MUMBA_ASSIGN_OR_RETURN(size_t n, ReadFull(fd.get(), buf_.data(), buf_.size(), what));
    std::string_view bytes(buf_.data(), n);
    if (n != size || Sha256Hex(bytes) != name) return DataLoss(what + " does not match its name");
    return bytes;
  }

 private:
  fs::path folder_;
  UniqueFd dir_;  // Opened at the first chunk: a version of empty files has no chunks folder.
  std::string buf_;
};

// Writes the file `e` as `leaf` in the folder `dir`, from its chunks.
Status AssembleFile(int dir, const std::string& leaf, const IndexEntry& e, uint64_t chunk_bytes,
                    ChunkReader& chunks) {
  const std::string what = engine::Quote(e.path);
  const mode_t mode = e.executable ? 0755 : 0644;
  UniqueFd out(::openat(dir, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!out.valid()) return ErrnoStatus(errno, "cannot create " + what);
  if (::fchmod(out.get(), mode) != 0) return ErrnoStatus(errno, "cannot set the mode of " + what);
  for (size_t i = 0; i < e.chunks.size(); ++i) {
    const uint64_t size = std::min(chunk_bytes, e.size - i * chunk_bytes);
    MUMBA_ASSIGN_OR_RETURN(std::string_view bytes, chunks.Read(e.chunks[i], size));
    MUMBA_TRY(WriteFull(out.get(), bytes, what));
  }
  if (out.Close() != 0) return ErrnoStatus(errno, "cannot write " + what);
  return Status();
}

// Opens folders of the tree being built, reusing the last one opened: entries
// are sorted, so a folder's entries mostly follow one another and most need no
// walk; one whose folder is not the last opened walks from the root again.
class FolderCache {
 public:
  explicit FolderCache(int root) : root_(root) {}

  Expected<int> Open(const std::string& rel) {
    if (rel.empty()) return root_;
    if (valid_ && rel == path_) return fd_.get();
    MUMBA_ASSIGN_OR_RETURN(engine::TreePath path, engine::CheckPath(rel, false));
    MUMBA_ASSIGN_OR_RETURN(fd_, engine::OpenFolder(root_, path, path.parts.size(), engine::Walk::kExisting));
    path_ = rel;
    valid_ = true;
    return fd_.get();
  }

 private:
  int root_;
  bool valid_ = false;
  std::string path_;
  UniqueFd fd_;
};

Status AssembleTree(int root, const ChunkedIndex& index, ChunkReader& chunks) {
  FolderCache folders(root);
  for (const IndexEntry& e : index.entries) {
    size_t slash = e.path.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : e.path.substr(0, slash);
    const std::string leaf = slash == std::string::npos ? e.path : e.path.substr(slash + 1);
    MUMBA_ASSIGN_OR_RETURN(int dir, folders.Open(parent));
    if (e.is_dir) {
      if (::mkdirat(dir, leaf.c_str(), 0755) != 0) {
        return ErrnoStatus(errno, "cannot create folder " + engine::Quote(e.path));
      }
      continue;
    }
    MUMBA_TRY(AssembleFile(dir, leaf, e, index.chunk_bytes, chunks));
  }
  return Status();
}

// Builds the store as `staging` in the folder `parent`, and syncs it.
Status BuildStaging(int parent, const std::string& staging, const fs::path& version_dir,
                    const ChunkedIndex& index) {
  ChunkReader chunks(version_dir / kChunksFolderName);
  if (index.single_file) {
    MUMBA_TRY(AssembleFile(parent, staging, index.entries[0], index.chunk_bytes, chunks));
  } else {
    if (::mkdirat(parent, staging.c_str(), 0755) != 0) return ErrnoStatus(errno, "cannot create " + staging);
    UniqueFd root(::openat(parent, staging.c_str(), kFolderFlags));
    if (!root.valid()) return ErrnoStatus(errno, "cannot open " + staging);
    MUMBA_TRY(AssembleTree(root.get(), index, chunks));
  }
  if (::syncfs(parent) != 0) return ErrnoStatus(errno, "cannot sync " + staging);
  return Status();
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // EVP_Digest fails only when OpenSSL cannot allocate; nothing is named by
  // garbage then, since no 64-digit name matches an empty string.
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

Expected<ChunkedIndex> WriteChunked(const fs::path& source, const fs::path& version_dir, std::string_view kind,
                                    uint64_t chunk_bytes, const fs::path& reuse_from) {
  // An empty tree with this kind and chunk size passes CheckIndex exactly when
  // both are ones an index may carry.
  ChunkedIndex index;
  index.kind = std::string(kind);
  index.chunk_bytes = chunk_bytes;
  if (!CheckIndex(index, kNoLimits).ok()) {
    return InvalidArgument("kind must be sql, kv or files and chunk_bytes a power of two up to 16 MiB");
  }

  bool made = false;
  struct stat st;
  if (::lstat(version_dir.c_str(), &st) == 0) {
    std::error_code ec;
    if (!S_ISDIR(st.st_mode) || !fs::is_empty(version_dir, ec) || ec) {
      return AlreadyExists(version_dir.string() + " exists and is not an empty folder");
    }
  } else if (errno == ENOENT) {
    std::error_code ec;
    fs::create_directories(version_dir, ec);
    if (ec) return ErrnoStatus(ec.value(), "cannot create " + version_dir.string());
    made = true;
  } else {
    return ErrnoStatus(errno, "cannot look at " + version_dir.string());
  }
  auto written = WriteVersion(source, version_dir, reuse_from, std::move(index));
  if (!written.ok()) {
    std::error_code ec;
    if (made) {
      fs::remove_all(version_dir, ec);
    } else {
      fs::remove(version_dir / kIndexFileName, ec);
      fs::remove_all(version_dir / kChunksFolderName, ec);
    }
  }
  return written;
}

Expected<ChunkedIndex> ReadIndex(const fs::path& version_dir, const IndexLimits& limits) {
  UniqueFd fd(::open((version_dir / kIndexFileName).c_str(), kReadFlags));
  if (!fd.valid()) {
    if (errno == ENOENT) return NotFound("the version has no index");
    if (errno == ELOOP) return InvalidArgument("the index is a symlink");
    return ErrnoStatus(errno, "cannot open the index");
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "cannot look at the index");
  if (!S_ISREG(st.st_mode)) return InvalidArgument("the index is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > limits.max_index_bytes) {
    return ResourceExhausted("index is larger than " + std::to_string(limits.max_index_bytes) + " bytes");
  }
  // One byte more than fstat said lets ParseIndex see an index that grew since.
  std::string text(static_cast<size_t>(st.st_size) + 1, '\0');
  MUMBA_ASSIGN_OR_RETURN(size_t n, ReadFull(fd.get(), text.data(), text.size(), "the index"));
  text.resize(n);
  return ParseIndex(text, limits);
}

Status Assemble(const fs::path& version_dir, const ChunkedIndex& index, const fs::path& dest) {
  MUMBA_TRY(CheckIndex(index, kNoLimits));
  const std::string name = dest.filename().string();
  if (name.empty() || name == "." || name == "..") return InvalidArgument("cannot assemble into " + dest.string());
  struct stat st;
  if (::lstat(dest.c_str(), &st) == 0) return AlreadyExists(dest.string() + " exists");
  if (errno != ENOENT) return ErrnoStatus(errno, "cannot look at " + dest.string());
  const fs::path parent_path = dest.has_parent_path() ? dest.parent_path() : fs::path(".");
  UniqueFd parent(::open(parent_path.c_str(), kFolderFlags));
  if (!parent.valid()) return ErrnoStatus(errno, "cannot open " + parent_path.string());

  const std::string staging = std::string(engine::kReservedPrefix) + "-assemble-" + RandomSuffix();
  Status built = BuildStaging(parent.get(), staging, version_dir, index);
  if (built.ok() && ::renameat2(parent.get(), staging.c_str(), parent.get(), name.c_str(), RENAME_NOREPLACE) != 0) {
    built = ErrnoStatus(errno, "cannot move the store to " + dest.string());
  }
  if (!built.ok()) {
    std::error_code ec;
    fs::remove_all(parent_path / staging, ec);
    return built;
  }
  ::fsync(parent.get());
  return Status();
}

uint64_t NewChunkBytes(const ChunkedIndex& prev, const ChunkedIndex& next) {
  std::unordered_set<std::string_view> held;
  for (const IndexEntry& e : prev.entries) held.insert(e.chunks.begin(), e.chunks.end());
  uint64_t bytes = 0;
  for (const IndexEntry& e : next.entries) {
    for (size_t i = 0; i < e.chunks.size(); ++i) {
      if (held.insert(e.chunks[i]).second) bytes += std::min(next.chunk_bytes, e.size - i * next.chunk_bytes);
    }
  }
  return bytes;
}

}  // namespace mumba::share
