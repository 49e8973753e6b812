// SPDX-License-Identifier: Apache-2.0
// UniqueFd: owns one file descriptor and closes it when it goes. The one RAII
// descriptor type of Mumba (header-only; the SDK uses it too).
#pragma once

#include <unistd.h>

#include <utility>

namespace mumba {

// Move-only; not thread-safe (a value, like the int it wraps).
class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of `fd` (-1 means none).
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset(std::exchange(other.fd_, -1));
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Closes the descriptor held (if any) and holds `fd` instead.
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // Gives up ownership without closing; returns the descriptor.
  [[nodiscard]] int Release() { return std::exchange(fd_, -1); }
  // Closes now and reports close()'s result (0, or -1 with errno set): for files
  // whose last write errors only show at close.
  int Close() {
    if (fd_ < 0) return 0;
    return ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

}  // namespace mumba
