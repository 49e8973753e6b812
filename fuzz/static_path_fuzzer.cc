// SPDX-License-Identifier: Apache-2.0
// Fuzzes the two path checks that keep strangers inside a folder: the gateway's
// static files (FindStaticFile, src/gateway/static_files.h), where the path is a
// URL anyone on 127.0.0.1 sends, and the file store's (CheckPath and OpenFolder,
// src/storage/safe_path.h), where it comes from an app. Both run against a small
// tree holding files, folders, a symlink out of the tree and a symlinked folder.
// Beyond not crashing, whatever they accept must name something inside the tree
// and never pass through a symlink.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "gateway/static_files.h"
#include "storage/safe_path.h"

namespace fs = std::filesystem;

namespace {

struct Tree {
  fs::path root;  // Canonical.
  int fd = -1;    // The root, open for OpenFolder.
};

const Tree& TheTree() {
  static const Tree tree = [] {
    std::string tmpl = (fs::temp_directory_path() / "mumba-fuzz-path-XXXXXX").string();
    FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    Tree t;
    t.root = fs::canonical(tmpl);
    fs::create_directories(t.root / "css" / "deep");
    fs::create_directories(t.root / "empty");
    std::ofstream(t.root / "index.html") << "index";
    std::ofstream(t.root / "app.js") << "js";
    std::ofstream(t.root / "css" / "site.css") << "css";
    std::ofstream(t.root / "css" / "deep" / "index.html") << "deep";
    std::ofstream(t.root / "a b%.txt") << "odd name";
    fs::create_symlink("/etc", t.root / "etc");
    fs::create_symlink("css", t.root / "styles");
    fs::create_symlink("../..", t.root / "css" / "up");
    t.fd = ::open(t.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    FUZZ_CHECK(t.fd >= 0);
    return t;
  }();
  return tree;
}

// True when `p` is `root` or below it, and no component below `root` is a symlink.
bool InsideWithoutLinks(const fs::path& root, const fs::path& p) {
  const fs::path rel = p.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return false;
  fs::path at = root;
  for (const auto& part : rel) {
    if (part == ".") continue;
    at /= part;
    struct stat st;
    if (::lstat(at.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return false;
  }
  return true;
}

// The path of an open descriptor, as the kernel knows it.
fs::path PathOfFd(int fd) {
  char link[64], buf[PATH_MAX];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link, buf, sizeof buf - 1);
  FUZZ_CHECK(n > 0);
  return fs::path(std::string(buf, static_cast<size_t>(n)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tree& tree = TheTree();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto file = mumba::FindStaticFile(tree.root, text);
  if (file.ok()) {
    FUZZ_CHECK(InsideWithoutLinks(tree.root, file->path));
    struct stat st;
    FUZZ_CHECK(::lstat(file->path.c_str(), &st) == 0 && S_ISREG(st.st_mode));
  } else {
    FUZZ_CHECK(file.status().code() == mumba::Code::kNotFound);
  }
  std::string decoded;
  if (mumba::PercentDecode(text, &decoded)) FUZZ_CHECK(decoded.size() <= text.size());
  (void)mumba::QueryParam(text, "token");

  for (bool root_ok : {false, true}) {
    auto path = mumba::engine::CheckPath(text, root_ok);
    if (!path.ok()) {
      FUZZ_CHECK(path.status().code() == mumba::Code::kInvalidArgument);
      continue;
    }
    FUZZ_CHECK(path->text.size() <= mumba::engine::kMaxPathBytes);
    FUZZ_CHECK(root_ok || !path->parts.empty());
    for (const auto& part : path->parts) {
      FUZZ_CHECK(mumba::engine::ComponentProblem(part).empty());
      FUZZ_CHECK(part != "." && part != ".." && part.find('/') == std::string::npos);
    }
    for (auto walk : {mumba::engine::Walk::kExisting, mumba::engine::Walk::kProbe}) {
      auto folder = mumba::engine::OpenFolder(tree.fd, *path, path->parts.size(), walk);
      if (!folder.ok() || !folder->valid()) continue;
      FUZZ_CHECK(InsideWithoutLinks(tree.root, PathOfFd(folder->get())));
    }
  }
  return 0;
}
