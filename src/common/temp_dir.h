// SPDX-License-Identifier: Apache-2.0
// A fresh folder under /tmp for one test, removed with everything in it when the
// TempDir goes away. For tests only.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace mumba {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "mumba-test") {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    const char* made = ::mkdtemp(pattern.data());
    if (!made) std::abort();  // A test cannot run without its folder.
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes `contents` to `file` (creating its folders) with `mode`: for building
// bundles and trees in tests.
inline void WriteTestFile(const std::filesystem::path& file, const std::string& contents,
                          std::filesystem::perms mode = std::filesystem::perms(0644)) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << contents;
  std::filesystem::permissions(file, mode);
}

}  // namespace mumba
