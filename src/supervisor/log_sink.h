// SPDX-License-Identifier: Apache-2.0
// A daemon's log file, rotated by size: the supervisor writes everything the daemon
// prints here, with its own notes between.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "platform/unique_fd.h"

namespace mumba {

// Not thread-safe: one daemon's output is written from one thread (the supervisor's
// event loop).
class LogSink {
 public:
  // Writes to `path` (created with its folder on first write, appended to if it
  // exists). Once it grows past `max_bytes`, `path` becomes `path`.1, `path`.1
  // becomes `path`.2 and so on, keeping `keep` older files.
  LogSink(std::filesystem::path path, uint64_t max_bytes, int keep);

  // Appends `n` bytes, then rotates if the file is now too big. A log that cannot
  // be opened (no permission, disk gone) drops the bytes: a daemon must not stop
  // because its log cannot be written.
  void Write(const char* data, size_t n);

  // Appends a line written by the supervisor itself, marked "[mumba] " so users can
  // tell it from the daemon's own output. Errors are dropped as in Write.
  void Note(const std::string& line);

 private:
  void Open();
  void Rotate();

  std::filesystem::path path_;
  uint64_t max_bytes_;
  int keep_;
  UniqueFd fd_;
  uint64_t size_ = 0;
};

}  // namespace mumba
