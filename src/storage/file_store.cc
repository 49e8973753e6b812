// SPDX-License-Identifier: Apache-2.0
// The file tree engine, on POSIX calls relative to a folder descriptor.
//
// Every path is checked by CheckPath and then walked one component at a time with
// OpenFolder from the descriptor of the root (safe_path.h), so a symlink that
// someone else planted in the tree (or a folder swapped for one mid-walk) can
// never lead outside it; the last component is then reached relative to its
// folder, never followed either. New files are written in root/.mumba-tmp/ and renamed
// into place, which is what makes a replace atomic for readers.
//
// The usage count (FileStore::Usage) is measured by one walk and then changed by
// each Commit, Delete and Move under the same lock as the change itself, from
// what the system calls did (folders made, the file a rename replaced), so it
// follows the tree exactly without walking it again.
#include "storage/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <utility>

#include "common/files.h"
#include "storage/safe_path.h"

namespace mumba::engine {
namespace {

// Where writers stage their files. CheckPath refuses it, so users never see it.
constexpr char kTempFolder[] = ".mumba-tmp";
// One Read never allocates more than this, whatever `max` asks for.
constexpr size_t kMaxReadBytes = size_t{16} << 20;

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

int64_t ModifiedMs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

// The entry for `st`, found at `path`; only files and folders are entries.
Expected<FileEntry> EntryFromStat(const std::string& path, const struct stat& st) {
  if (S_ISLNK(st.st_mode))
    return InvalidArgument(Quote(path) + " is a symlink, which the store never follows");
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
    return FailedPrecondition(Quote(path) + " is neither a file nor a folder");
  FileEntry entry;
  entry.path = path;
  entry.is_dir = S_ISDIR(st.st_mode);
  entry.size = entry.is_dir ? 0 : static_cast<uint64_t>(st.st_size);
  entry.modified_ms = ModifiedMs(st);
  return entry;
}

// Syncs the folder `fd` so that a rename or unlink in it survives a crash.
Status SyncFolder(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return ErrnoStatus(errno, "cannot sync the folder of " + Quote(path));
  return Status();
}

// What the store and its writers share, so a writer may outlive the store.
struct Tree {
  UniqueFd root;
  UniqueFd temp;  // root/.mumba-tmp; invalid when read-only.
  bool read_only = false;
  // Serializes changes to the namespace (creating parents, renaming, removing),
  // so that a Delete cannot remove a folder a Commit has just walked into.
  std::mutex mu;
  std::mutex measure_mu;  // One measuring walk at a time; taken before `mu`.
  bool measured = false;  // Guarded by mu.
  FileUsage usage;        // Guarded by mu; kept only once measured.

  // Changes the usage count by the given amounts. Requires mu.
  void Count(int64_t bytes, int64_t entries) {
    if (!measured) return;
    usage.bytes = static_cast<uint64_t>(static_cast<int64_t>(usage.bytes) + bytes);
    usage.entries = static_cast<uint64_t>(static_cast<int64_t>(usage.entries) + entries);
  }
};

class FileReaderImpl final : public FileReader {
 public:
  FileReaderImpl(UniqueFd fd, uint64_t size, std::string path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}

  Expected<std::string> Read(size_t max) override {
    if (max == 0) return InvalidArgument("reading " + Quote(path_) + ": max must be positive");
    // Files in the store never change in place (a replace is a rename), so the
    // size seen at open bounds the buffer; one byte more finds the end.
    uint64_t remaining = offset_ < size_ ? size_ - offset_ : 0;
    size_t want = static_cast<size_t>(std::min<uint64_t>({max, kMaxReadBytes, remaining + 1}));
    std::string data(want, '\0');
    size_t got = 0;
    while (got < want) {
      ssize_t n = ::read(fd_.get(), data.data() + got, want - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "cannot read " + Quote(path_));
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    data.resize(got);
    offset_ += got;
    return data;
  }

  uint64_t size() const override { return size_; }

 private:
  UniqueFd fd_;
  uint64_t size_;
  uint64_t offset_ = 0;
  std::string path_;
};

class FileWriterImpl final : public FileWriter {
 public:
  FileWriterImpl(std::shared_ptr<Tree> tree, TreePath path, std::string temp_name, UniqueFd fd)
      : tree_(std::move(tree)),
        path_(std::move(path)),
        temp_name_(std::move(temp_name)),
        fd_(std::move(fd)) {}

  ~FileWriterImpl() override { Discard(); }

  Status Append(std::string_view data) override {
    MUMBA_TRY(CheckOpen());
    while (!data.empty()) {
      ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        // What reached the file is unknown now, so the writer cannot go on.
        Status status = ErrnoStatus(errno, "cannot write " + Quote(path_.text));
        Discard();
        return status;
      }
      data.remove_prefix(static_cast<size_t>(n));
      written_ += static_cast<uint64_t>(n);
    }
    return Status();
  }

  uint64_t written() const override { return written_; }

  Expected<FileEntry> Commit() override {
    MUMBA_TRY(CheckOpen());
    struct stat st;
    if (::fsync(fd_.get()) != 0 || ::fstat(fd_.get(), &st) != 0) {
      Status status = ErrnoStatus(errno, "cannot sync " + Quote(path_.text));
      Discard();
      return status;
    }
    UniqueFd parent;
    {
      std::lock_guard<std::mutex> lock(tree_->mu);
      size_t created = 0;
      auto opened = OpenFolder(tree_->root.get(), path_, path_.parts.size() - 1, Walk::kCreate,
                               &created);
      tree_->Count(0, static_cast<int64_t>(created));
      if (!opened.ok()) {
        Discard();
        return opened.status();
      }
      parent = std::move(opened).value();
      // What the rename replaces leaves the count: a file, or nothing counted.
      struct stat old;
      bool replacing = ::fstatat(parent.get(), path_.leaf().c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISREG(old.st_mode);
      if (::renameat(tree_->temp.get(), temp_name_.c_str(), parent.get(),
                     path_.leaf().c_str()) != 0) {
        int err = errno;
        Discard();
        if (err == EISDIR || err == ENOTEMPTY || err == EEXIST)
          return FailedPrecondition("cannot put " + Quote(path_.text) + ": a folder is there");
        return ErrnoStatus(err, "cannot put " + Quote(path_.text));
      }
      tree_->Count(static_cast<int64_t>(st.st_size) - (replacing ? static_cast<int64_t>(old.st_size) : 0),
                   replacing ? 0 : 1);
    }
    temp_name_.clear();
    fd_.Reset();
    committed_ = true;
    MUMBA_TRY(SyncFolder(parent.get(), path_.text));
    return EntryFromStat(path_.text, st);
  }

 private:
  Status CheckOpen() const {
    if (committed_) return FailedPrecondition(Quote(path_.text) + " is already committed");
    if (!fd_.valid()) return FailedPrecondition("the writer of " + Quote(path_.text) + " failed");
    return Status();
  }

  // Drops the partial file; the writer is unusable afterwards.
  void Discard() {
    fd_.Reset();
    if (!temp_name_.empty()) ::unlinkat(tree_->temp.get(), temp_name_.c_str(), 0);
    temp_name_.clear();
  }

  std::shared_ptr<Tree> tree_;
  TreePath path_;
  std::string temp_name_;  // In tree_->temp; empty once renamed or removed.
  UniqueFd fd_;
  uint64_t written_ = 0;
  bool committed_ = false;
};

class FileStoreImpl final : public FileStore {
 public:
  explicit FileStoreImpl(std::shared_ptr<Tree> tree) : tree_(std::move(tree)) {}

  Expected<std::unique_ptr<FileWriter>> Create(std::string_view path) override {
    MUMBA_ASSIGN_OR_RETURN(TreePath checked, CheckPath(path, false));
    MUMBA_TRY(CheckWritable("put", checked.text));
    // Refuse early what Commit would refuse, before the caller sends the data.
    MUMBA_ASSIGN_OR_RETURN(UniqueFd parent, OpenFolder(root(), checked, checked.parts.size() - 1,
                                                       Walk::kProbe));
    struct stat st;
    if (parent.valid() &&
        ::fstatat(parent.get(), checked.leaf().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(st.st_mode)) {
      return FailedPrecondition("cannot put " + Quote(checked.text) + ": a folder is there");
    }
    for (int attempt = 0;; ++attempt) {
      std::string name = RandomSuffix() + ".part";
      int fd = ::openat(tree_->temp.get(), name.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0) {
        return std::unique_ptr<FileWriter>(
            new FileWriterImpl(tree_, std::move(checked), std::move(name), UniqueFd(fd)));
      }
      if (errno != EEXIST || attempt == 3)
        return ErrnoStatus(errno, "cannot create a temporary file for " + Quote(checked.text));
    }
  }

  Expected<std::unique_ptr<FileReader>> OpenRead(std::string_view path) const override {
    MUMBA_ASSIGN_OR_RETURN(TreePath checked, CheckPath(path, false));
    MUMBA_ASSIGN_OR_RETURN(UniqueFd parent, OpenFolder(root(), checked, checked.parts.size() - 1,
                                                       Walk::kExisting));
    // O_NONBLOCK so that a FIFO planted in the tree cannot hang the open.
    UniqueFd fd(::openat(parent.get(), checked.leaf().c_str(),
                         O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return NotFound(Quote(checked.text) + " not found");
      if (errno == ELOOP)
        return InvalidArgument(Quote(checked.text) +
                               " is a symlink, which the store never follows");
      return ErrnoStatus(errno, "cannot open " + Quote(checked.text));
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "cannot stat " + Quote(checked.text));
    if (S_ISDIR(st.st_mode))
      return FailedPrecondition(Quote(checked.text) + " is a folder, not a file");
    if (!S_ISREG(st.st_mode))
      return FailedPrecondition(Quote(checked.text) + " is neither a file nor a folder");
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
      return ErrnoStatus(errno, "cannot open " + Quote(checked.text));
    return std::unique_ptr<FileReader>(
        new FileReaderImpl(std::move(fd), static_cast<uint64_t>(st.st_size), checked.text));
  }

  Expected<std::vector<FileEntry>> List(std::string_view dir) const override {
    MUMBA_ASSIGN_OR_RETURN(TreePath checked, CheckPath(dir, true));
    MUMBA_ASSIGN_OR_RETURN(UniqueFd folder,
                           OpenFolder(root(), checked, checked.parts.size(), Walk::kExisting));
    // A fresh open of "." rather than a dup: a dup would share the read position
    // with the root descriptor, and so with every other List of the root.
    int listed = ::openat(folder.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DirPtr stream(listed >= 0 ? ::fdopendir(listed) : nullptr);
    if (!stream) {
      int err = errno;
      if (listed >= 0) ::close(listed);
      return ErrnoStatus(err, "cannot list " + Quote(checked.text));
    }
    std::string prefix = checked.parts.empty() ? "" : checked.text + "/";
    std::vector<FileEntry> entries;
    errno = 0;
    while (struct dirent* ent = ::readdir(stream.get())) {
      std::string_view name = ent->d_name;
      // Names no path could reach (.mumba-tmp among them) are not shown; nor
      // are symlinks and other things that are neither files nor folders.
      if (name == "." || name == ".." || !ComponentProblem(name).empty()) continue;
      struct stat st;
      if (::fstatat(folder.get(), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      auto entry = EntryFromStat(prefix + std::string(name), st);
      if (entry.ok()) entries.push_back(std::move(entry).value());
      errno = 0;
    }
    if (errno != 0) return ErrnoStatus(errno, "cannot list " + Quote(checked.text));
    std::sort(entries.begin(), entries.end(),
              [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
    return entries;
  }

  Expected<FileEntry> Stat(std::string_view path) const override {
    MUMBA_ASSIGN_OR_RETURN(TreePath checked, CheckPath(path, false));
    MUMBA_ASSIGN_OR_RETURN(UniqueFd parent, OpenFolder(root(), checked, checked.parts.size() - 1,
                                                       Walk::kExisting));
    return StatLeaf(parent.get(), checked);
  }

  Status Delete(std::string_view path) override {
    MUMBA_ASSIGN_OR_RETURN(TreePath checked, CheckPath(path, false));
    MUMBA_TRY(CheckWritable("delete", checked.text));
    std::lock_guard<std::mutex> lock(tree_->mu);
    MUMBA_ASSIGN_OR_RETURN(UniqueFd parent, OpenFolder(root(), checked, checked.parts.size() - 1,
                                                       Walk::kExisting));
    const char* leaf = checked.leaf().c_str();
    struct stat st;
    if (::fstatat(parent.get(), leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return NotFound(Quote(checked.text) + " not found");
      return ErrnoStatus(errno, "cannot delete " + Quote(checked.text));
    }
    // A symlink is removed like a file: unlinkat acts on the link, not its target.
    if (::unlinkat(parent.get(), leaf, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0) {
      if (errno == ENOTEMPTY || errno == EEXIST)
        return FailedPrecondition("cannot delete folder " + Quote(checked.text) +
                                  ": it is not empty");
      if (errno == ENOENT) return NotFound(Quote(checked.text) + " not found");
      return ErrnoStatus(errno, "cannot delete " + Quote(checked.text));
    }
    if (S_ISREG(st.st_mode)) tree_->Count(-static_cast<int64_t>(st.st_size), -1);
    if (S_ISDIR(st.st_mode)) tree_->Count(0, -1);
    return SyncFolder(parent.get(), checked.text);
  }

  Expected<FileEntry> Move(std::string_view from, std::string_view to) override {
    MUMBA_ASSIGN_OR_RETURN(TreePath source, CheckPath(from, false));
    MUMBA_ASSIGN_OR_RETURN(TreePath target, CheckPath(to, false));
    std::string what = "cannot move " + Quote(source.text) + " to " + Quote(target.text);
    MUMBA_TRY(CheckWritable("move", source.text));
    if (target.parts.size() > source.parts.size() &&
        std::equal(source.parts.begin(), source.parts.end(), target.parts.begin())) {
      return InvalidArgument(what + ": that is inside it");
    }
    std::lock_guard<std::mutex> lock(tree_->mu);
    MUMBA_ASSIGN_OR_RETURN(UniqueFd from_dir, OpenFolder(root(), source, source.parts.size() - 1,
                                                         Walk::kExisting));
    MUMBA_ASSIGN_OR_RETURN(FileEntry moving, StatLeaf(from_dir.get(), source));
    if (source.parts == target.parts) return moving;
    size_t created = 0;
    auto opened = OpenFolder(root(), target, target.parts.size() - 1, Walk::kCreate, &created);
    tree_->Count(0, static_cast<int64_t>(created));
    if (!opened.ok()) return opened.status();
    UniqueFd to_dir = std::move(opened).value();
    struct stat st;
    bool replacing = false;
    if (::fstatat(to_dir.get(), target.leaf().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(st.st_mode)) return FailedPrecondition(what + ": a folder is there");
      if (moving.is_dir) return FailedPrecondition(what + ": a folder cannot replace a file");
      replacing = S_ISREG(st.st_mode);
    }
    if (::renameat(from_dir.get(), source.leaf().c_str(), to_dir.get(), target.leaf().c_str()) != 0)
      return ErrnoStatus(errno, what);
    if (replacing) tree_->Count(-static_cast<int64_t>(st.st_size), -1);
    MUMBA_TRY(SyncFolder(to_dir.get(), target.text));
    MUMBA_TRY(SyncFolder(from_dir.get(), source.text));
    return StatLeaf(to_dir.get(), target);
  }

  uint64_t UsedBytes() const override { return MeasureTree().bytes; }

  FileUsage Usage() const override {
    std::lock_guard<std::mutex> measuring(tree_->measure_mu);
    std::lock_guard<std::mutex> lock(tree_->mu);
    if (!tree_->measured) {
      tree_->usage = MeasureTree();
      tree_->measured = true;
    }
    return tree_->usage;
  }

 private:
  // Walks the whole tree and counts what it takes.
  FileUsage MeasureTree() const;

  int root() const { return tree_->root.get(); }

  Status CheckWritable(const char* verb, const std::string& path) const {
    if (tree_->read_only)
      return FailedPrecondition(std::string("cannot ") + verb + " " + Quote(path) +
                                ": the store is read-only");
    return Status();
  }

  // Stats the last component of `path` inside `parent`, without following it.
  static Expected<FileEntry> StatLeaf(int parent, const TreePath& path) {
    struct stat st;
    if (::fstatat(parent, path.leaf().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return NotFound(Quote(path.text) + " not found");
      return ErrnoStatus(errno, "cannot stat " + Quote(path.text));
    }
    return EntryFromStat(path.text, st);
  }

  std::shared_ptr<Tree> tree_;
};

// Adds the regular files (their sizes) and the subfolders of folder `fd` to
// `*total` and returns the subfolders' names. `fd` stays open and its position is
// not relied on.
std::vector<std::string> ScanFolder(int fd, bool is_root, FileUsage* total) {
  std::vector<std::string> folders;
  int listed = ::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DirPtr stream(listed >= 0 ? ::fdopendir(listed) : nullptr);
  if (!stream) {
    if (listed >= 0) ::close(listed);
    return folders;
  }
  while (struct dirent* ent = ::readdir(stream.get())) {
    std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    if (is_root && name == kTempFolder) continue;
    unsigned char type = ent->d_type;
    struct stat st;
    if (type == DT_UNKNOWN || type == DT_REG) {
      if (::fstatat(fd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISREG(st.st_mode)) {
        total->bytes += static_cast<uint64_t>(st.st_size);
        total->entries += 1;
      }
      if (S_ISDIR(st.st_mode)) type = DT_DIR;
    }
    if (type == DT_DIR) {
      total->entries += 1;
      folders.emplace_back(name);
    }
  }
  return folders;
}

// Walks the tree depth first while holding two descriptors at most, however deep
// it is: going down opens the child by name (O_NOFOLLOW); going up opens ".." and
// checks it is the folder we came from, else walks down again from the root.
FileUsage FileStoreImpl::MeasureTree() const {
  struct Frame {
    std::string name;
    dev_t dev;
    ino_t ino;
    std::vector<std::string> pending;  // Subfolders not yet visited.
  };
  FileUsage total;
  struct stat st;
  UniqueFd current(::fcntl(root(), F_DUPFD_CLOEXEC, 0));
  if (!current.valid() || ::fstat(current.get(), &st) != 0) return total;
  std::vector<Frame> stack;
  stack.push_back({"", st.st_dev, st.st_ino, ScanFolder(current.get(), true, &total)});

  // Reopens the folder of stack.back() after leaving one of its children.
  auto reopen_top = [&]() -> bool {
    const Frame& top = stack.back();
    UniqueFd up(::openat(current.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (up.valid() && ::fstat(up.get(), &st) == 0 && st.st_dev == top.dev && st.st_ino == top.ino) {
      current = std::move(up);
      return true;
    }
    // Something moved meanwhile: walk down from the root again.
    TreePath path;
    for (size_t i = 1; i < stack.size(); ++i) path.parts.push_back(stack[i].name);
    auto opened = OpenFolder(root(), path, path.parts.size(), Walk::kExisting);
    if (!opened.ok()) return false;
    current = std::move(opened).value();
    return true;
  };

  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.pending.empty()) {
      stack.pop_back();
      if (stack.empty() || !reopen_top()) break;
      continue;
    }
    std::string name = std::move(top.pending.back());
    top.pending.pop_back();
    UniqueFd child(::openat(current.get(), name.c_str(),
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child.valid() || ::fstat(child.get(), &st) != 0) continue;
    std::vector<std::string> pending = ScanFolder(child.get(), false, &total);
    stack.push_back({std::move(name), st.st_dev, st.st_ino, std::move(pending)});
    current = std::move(child);
  }
  return total;
}

// Creates `root` and its missing parents, 0700. Only a failure to create `root`
// itself is reported; a parent that cannot be made shows up when `root` cannot.
Status MakeRoot(const std::filesystem::path& root) {
  std::filesystem::path made;
  for (const auto& part : root) {
    made /= part;
    if (::mkdir(made.c_str(), 0700) != 0 && errno != EEXIST && made == root)
      return ErrnoStatus(errno, "cannot create file store root " + Quote(root.string()));
  }
  return Status();
}

// Opens root/.mumba-tmp, creating it, and removes what a crash left there. Another
// store open on the same root holds a shared lock on the folder; then the files
// may be its writers' and are left alone.
Status PrepareTempFolder(Tree& tree) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int root = tree.root.get();
  int fd = ::openat(root, kTempFolder, kFlags);
  if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)) {
    // Missing, or not ours (a file or a symlink with the reserved name): replace it.
    if (errno != ENOENT) ::unlinkat(root, kTempFolder, 0);
    if (::mkdirat(root, kTempFolder, 0700) != 0 && errno != EEXIST)
      return ErrnoStatus(errno, "cannot create the store's temporary folder");
    fd = ::openat(root, kTempFolder, kFlags);
  }
  if (fd < 0) return ErrnoStatus(errno, "cannot open the store's temporary folder");
  tree.temp = UniqueFd(fd);

  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    int listed = ::openat(fd, ".", kFlags);
    DirPtr stream(listed >= 0 ? ::fdopendir(listed) : nullptr);
    if (!stream && listed >= 0) ::close(listed);
    while (struct dirent* ent = stream ? ::readdir(stream.get()) : nullptr) {
      std::string_view name = ent->d_name;
      if (name == "." || name == "..") continue;
      // Writers only ever leave files; a folder here is not ours to remove.
      ::unlinkat(fd, ent->d_name, 0);
    }
  }
  if (::flock(fd, LOCK_SH) != 0)
    return ErrnoStatus(errno, "cannot lock the store's temporary folder");
  return Status();
}

}  // namespace

Expected<std::unique_ptr<FileStore>> FileStore::Open(const std::filesystem::path& root,
                                                     bool read_only) {
  if (root.empty()) return InvalidArgument("the file store root is empty");
  if (!read_only) MUMBA_TRY(MakeRoot(root));
  auto tree = std::make_shared<Tree>();
  tree->read_only = read_only;
  tree->root = UniqueFd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!tree->root.valid()) {
    if (errno == ENOENT) return NotFound("file store root " + Quote(root.string()) + " not found");
    if (errno == ENOTDIR)
      return FailedPrecondition("file store root " + Quote(root.string()) + " is not a folder");
    return ErrnoStatus(errno, "cannot open file store root " + Quote(root.string()));
  }
  if (!read_only) MUMBA_TRY(PrepareTempFolder(*tree));
  return std::unique_ptr<FileStore>(new FileStoreImpl(std::move(tree)));
}

}  // namespace mumba::engine
