// SPDX-License-Identifier: Apache-2.0
// Fuzzes bundle validation (src/bundle/bundle.h): a downloaded bundle is a folder a
// stranger made, with any manifest, any descriptor set and any symlinks. The input
// is a small text archive that the fuzzer lays out in a temporary folder:
//
//   == f mumba.toml          a regular file; its content is the lines that follow,
//   id = "mumba://..."       up to the next "== " line
//   == x bin/hello           an executable file
//   == d ui                  a folder
//   == l ui/up -> ../..      a symlink and its target (any text)
//
// Entries whose path is not a plain relative path, or that would be created
// through a symlink laid out before, are skipped: the fuzzer itself must never
// write outside its folder. A bundle that validates must copy (CopyBundleTree) to
// a copy that validates the same.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "bundle/bundle.h"
#include "bundle/manifest.h"
#include "fuzz_check.h"

namespace fs = std::filesystem;

namespace {

// The fuzzer's own folder, made once per process.
const fs::path& WorkDir() {
  static const fs::path dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "mumba-fuzz-bundle-XXXXXX").string();
    FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    return fs::path(tmpl);
  }();
  return dir;
}

// True when no folder on the way to `rel` below `root` is a symlink.
bool NoLinkOnTheWay(const fs::path& root, const fs::path& rel) {
  fs::path at = root;
  for (auto it = rel.begin(); it != rel.end() && std::next(it) != rel.end(); ++it) {
    at /= *it;
    struct stat st;
    if (::lstat(at.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) return false;
  }
  return true;
}

// Creates the folder or file `rel` (kind 'd', 'f' or 'x') below `root`.
void LayOut(const fs::path& root, char kind, const std::string& rel, std::string_view content) {
  if (!mumba::IsSafeRelativePath(rel) || rel.size() > 200) return;
  std::error_code ec;
  if (!NoLinkOnTheWay(root, rel)) return;
  const fs::path path = root / rel;
  fs::create_directories(path.parent_path(), ec);
  if (ec || fs::exists(fs::symlink_status(path, ec))) return;
  switch (kind) {
    case 'd':
      fs::create_directory(path, ec);
      break;
    case 'f':
    case 'x': {
      std::ofstream out(path, std::ios::binary);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
      out.close();
      if (kind == 'x') ::chmod(path.c_str(), 0755);
      break;
    }
    default:
      break;
  }
}

// Lays out every entry of the archive `text` below `root`.
void LayOutArchive(const fs::path& root, std::string_view text) {
  size_t pos = text.starts_with("== ") ? 0 : text.find("\n== ");
  if (pos != std::string_view::npos && pos != 0) ++pos;
  while (pos != std::string_view::npos && pos < text.size()) {
    size_t line_end = text.find('\n', pos);
    std::string_view header = text.substr(pos + 3, line_end == std::string_view::npos ? std::string_view::npos
                                                                                      : line_end - pos - 3);
    size_t next = line_end == std::string_view::npos ? std::string_view::npos : text.find("\n== ", line_end);
    std::string_view content;
    if (line_end != std::string_view::npos) {
      content = text.substr(line_end + 1, next == std::string_view::npos ? std::string_view::npos
                                                                         : next + 1 - (line_end + 1));
    }
    pos = next == std::string_view::npos ? next : next + 1;
    if (header.size() < 3 || header[1] != ' ') continue;
    const char kind = header[0];
    std::string_view rest = header.substr(2);
    if (kind == 'l') {
      auto arrow = rest.find(" -> ");
      if (arrow == std::string_view::npos) continue;
      const std::string rel(rest.substr(0, arrow));
      const std::string target(rest.substr(arrow + 4));
      if (!mumba::IsSafeRelativePath(rel) || rel.size() > 200 || target.empty() ||
          target.find('\0') != std::string::npos || !NoLinkOnTheWay(root, rel)) {
        continue;
      }
      std::error_code ec;
      fs::create_directories((root / rel).parent_path(), ec);
      fs::create_symlink(target, root / rel, ec);
      continue;
    }
    LayOut(root, kind, std::string(rest), content);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // A broken descriptor set is refused with a Status; protobuf's own complaints
  // about it would only drown the fuzzer's output.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  const fs::path root = WorkDir() / "bundle";
  const fs::path copy = WorkDir() / "copy";
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::remove_all(copy, ec);
  fs::create_directory(root, ec);
  LayOutArchive(root, std::string_view(reinterpret_cast<const char*>(data), size));

  auto m = mumba::ValidateBundle(root);
  if (m.ok()) {
    FUZZ_CHECK(mumba::CopyBundleTree(root, copy).ok());
    auto again = mumba::ValidateBundle(copy);
    FUZZ_CHECK(again.ok() && again->id == m->id && again->daemon_command == m->daemon_command);
  }
  // A descriptor set is parsed whatever the manifest says of it.
  (void)mumba::LoadDescriptorPool(root / mumba::kDescriptorSetPath);
  fs::remove_all(root, ec);
  fs::remove_all(copy, ec);
  return 0;
}
