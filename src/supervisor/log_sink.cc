// SPDX-License-Identifier: Apache-2.0
#include "supervisor/log_sink.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <system_error>

namespace mumba {

LogSink::LogSink(std::filesystem::path path, uint64_t max_bytes, int keep)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep) {}

void LogSink::Write(const char* data, size_t n) {
  if (!fd_) Open();
  if (!fd_) return;
  (void)!::write(fd_.get(), data, n);
  size_ += n;
  if (size_ > max_bytes_) Rotate();
}

void LogSink::Note(const std::string& line) {
  std::string text = "[mumba] " + line + "\n";
  Write(text.data(), text.size());
}

void LogSink::Open() {
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  fd_.Reset(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  struct stat st{};
  size_ = (fd_ && ::fstat(fd_.get(), &st) == 0) ? static_cast<uint64_t>(st.st_size) : 0;
}

void LogSink::Rotate() {
  fd_.Reset();
  std::error_code ec;
  for (int i = keep_; i >= 1; --i) {
    auto from = i == 1 ? path_ : std::filesystem::path(path_.string() + "." + std::to_string(i - 1));
    std::filesystem::rename(from, path_.string() + "." + std::to_string(i), ec);
  }
  Open();
}

}  // namespace mumba
