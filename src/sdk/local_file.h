// SPDX-License-Identifier: Apache-2.0
// The POSIX side of Files::PutFile and Files::GetFile: the app's own local files,
// read and written with the errors an app author can act on. Internal to the SDK.
#pragma once

#include <filesystem>
#include <string>

#include "mumba/status.h"
#include "platform/errno_status.h"
#include "platform/unique_fd.h"

namespace mumba::sdk_internal {

// Writes all of `data` to `fd`, retrying short writes and EINTR. OK, or the
// errno of the failed write as ErrnoStatus maps it ("cannot write <what>").
Status WriteAll(int fd, const std::string& data, const std::string& what);

// Creates a new, empty file beside `local` (".<name>.part-<random>", mode 0666
// less the umask), so that a later rename over `local` stays in one filesystem.
// Sets `*temp` to its path and returns its descriptor (close-on-exec); after four
// name clashes, or any other failure, the error ("cannot create a file beside
// <local>").
Expected<int> CreateBeside(const std::filesystem::path& local, std::filesystem::path* temp);

}  // namespace mumba::sdk_internal
