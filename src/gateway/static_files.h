// SPDX-License-Identifier: Apache-2.0
// Static files of an app's ui/ folder: which file a URL path names, its MIME type
// and its ETag.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "mumba/status.h"

namespace mumba {

struct StaticFile {
  std::filesystem::path path;
  uint64_t size = 0;
  std::string etag;  // Quoted, strong: bundles never change once installed.
  std::string mime;
};

// The regular file `url_path` (percent-encoded, starting with "/", no query) names
// under `root`; "/" and folders serve their index.html. NOT_FOUND for anything
// missing, and for paths that would leave `root` ("..", encoded slashes, NUL) or pass
// through a symlink.
Expected<StaticFile> FindStaticFile(const std::filesystem::path& root, std::string_view url_path);

// The Content-Type for a file name, by extension; text types carry charset=utf-8.
std::string MimeTypeFor(const std::filesystem::path& file);

// Percent-decodes `in`; false for a malformed escape.
bool PercentDecode(std::string_view in, std::string* out);

// The decoded value of query parameter `name` ("a=1&b=x%20y", with '+' as a space),
// or "" when it is absent or malformed.
std::string QueryParam(std::string_view query, std::string_view name);

}  // namespace mumba
