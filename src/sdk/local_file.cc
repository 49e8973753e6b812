// SPDX-License-Identifier: Apache-2.0
// The app's local files for Files::PutFile and Files::GetFile; see local_file.h.
#include "local_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>

namespace mumba::sdk_internal {

Status WriteAll(int fd, const std::string& data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write " + what);
    }
    done += static_cast<size_t>(n);
  }
  return Status();
}

Expected<int> CreateBeside(const std::filesystem::path& local, std::filesystem::path* temp) {
  std::random_device rd;
  for (int attempt = 0;; ++attempt) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
    *temp = local;
    temp->replace_filename("." + local.filename().string() + ".part-" + suffix);
    int fd = ::open(temp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST || attempt == 3) {
      return ErrnoStatus(errno, "cannot create a file beside " + local.string());
    }
  }
}

}  // namespace mumba::sdk_internal
