// SPDX-License-Identifier: Apache-2.0
// One app's file tree, under a root folder that nothing may escape.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mumba/status.h"

namespace mumba::engine {

// What each file or folder costs in FileUsage beside its bytes: about one block
// and an inode, which an empty file or folder takes on disk all the same. So a
// million empty files are not free.
inline constexpr uint64_t kFileEntryCost = 4096;

// What the tree takes, for quotas: the sizes of its files, and its files and
// folders (the root not included).
struct FileUsage {
  uint64_t bytes = 0;
  uint64_t entries = 0;
  // bytes + entries * kFileEntryCost: what the tree counts against a quota.
  uint64_t charged() const { return bytes + entries * kFileEntryCost; }
};

struct FileEntry {
  std::string path;  // Relative to the root, '/'-separated.
  bool is_dir = false;
  uint64_t size = 0;
  int64_t modified_ms = 0;
};

// Writes a new file beside the tree and puts it in place, whole, on Commit.
class FileWriter {
 public:
  virtual ~FileWriter() = default;  // Without Commit, the partial file is removed.
  virtual Status Append(std::string_view data) = 0;
  virtual uint64_t written() const = 0;
  // Syncs the data, renames it over `path` (creating parent folders), syncs the
  // folder. Readers see the old file or the new one, never a mix.
  virtual Expected<FileEntry> Commit() = 0;
};

class FileReader {
 public:
  virtual ~FileReader() = default;
  // Reads up to `max` bytes; an empty result means the end.
  virtual Expected<std::string> Read(size_t max) = 0;
  virtual uint64_t size() const = 0;
};

// Thread-safe. Paths are relative ('a/b.txt'); "", ".", "..", absolute paths,
// backslashes, NUL and components starting with ".mumba" are INVALID_ARGUMENT, and
// symlinks inside the tree are never followed.
class FileStore {
 public:
  virtual ~FileStore() = default;

  // Opens the tree rooted at `root` (created unless read-only). Partial files left
  // by a crash are removed.
  static Expected<std::unique_ptr<FileStore>> Open(const std::filesystem::path& root,
                                                   bool read_only = false);

  // "" and "." mean the root where a folder is expected (List).
  virtual Expected<std::unique_ptr<FileWriter>> Create(std::string_view path) = 0;
  virtual Expected<std::unique_ptr<FileReader>> OpenRead(std::string_view path) const = 0;
  virtual Expected<std::vector<FileEntry>> List(std::string_view dir) const = 0;
  virtual Expected<FileEntry> Stat(std::string_view path) const = 0;
  // Removes a file or an empty folder. NOT_FOUND if absent.
  virtual Status Delete(std::string_view path) = 0;
  // Renames a file or folder, replacing a file at `to`; creates `to`'s parents.
  virtual Expected<FileEntry> Move(std::string_view from, std::string_view to) = 0;
  // Total size of the files in the tree, walked now.
  virtual uint64_t UsedBytes() const = 0;

  // What the tree takes. The first call walks the whole tree (time in its number
  // of entries) while holding off changes to this tree only; later calls return
  // the count that Commit, Delete and Move have kept since, at once. A change made
  // to the folder by anything but this store object is seen only by a store
  // opened afresh (the host opens one per app, and measures at each start). Never
  // fails: what cannot be read counts nothing. Any thread.
  virtual FileUsage Usage() const = 0;
};

}  // namespace mumba::engine
