// SPDX-License-Identifier: Apache-2.0
// File helpers with the guarantees the rest of Mumba relies on.
#pragma once

#include <filesystem>
#include <string>

#include "mumba/status.h"

namespace mumba {

// Writes to a temporary file beside `path`, fsyncs it, renames it over `path` and
// fsyncs the folder: readers see the old or the new contents, never a mix.
Status WriteFileAtomic(const std::filesystem::path& path, const std::string& contents,
                       int mode = 0644);

Expected<std::string> ReadFile(const std::filesystem::path& path);

// A short random hex string, for staging and temporary names.
std::string RandomSuffix();

// Milliseconds since the Unix epoch.
int64_t NowMs();

}  // namespace mumba
