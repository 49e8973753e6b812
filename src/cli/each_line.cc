// SPDX-License-Identifier: Apache-2.0
#include "cli/each_line.h"

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "platform/errno_status.h"

namespace mumba::cli {
namespace {

bool Blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

Status CallEachLine(const LineCall& call, std::FILE* in, std::FILE* out) {
  char* buffer = nullptr;
  size_t capacity = 0;
  Status result;
  for (long number = 1;; ++number) {
    errno = 0;
    ssize_t n = ::getline(&buffer, &capacity, in);
    if (n < 0) {
      const int err = errno;
      // glibc's getline fails without setting the error flag too (ENOMEM, EINVAL).
      if (std::ferror(in) || !std::feof(in)) result = ErrnoStatus(err, "reading line " + std::to_string(number));
      break;
    }
    std::string line(buffer, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Blank(line)) continue;
    auto reply = call(line);
    if (!reply.ok()) {
      result = reply.status().WithContext("line " + std::to_string(number));
      break;
    }
    reply->push_back('\n');
    // Flushed at once: a script may wait for each reply before it writes the next.
    if (std::fwrite(reply->data(), 1, reply->size(), out) != reply->size() || std::fflush(out) != 0) {
      const int err = errno;
      result = ErrnoStatus(err, "writing the reply to line " + std::to_string(number));
      break;
    }
  }
  std::free(buffer);
  return result;
}

}  // namespace mumba::cli
