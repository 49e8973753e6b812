// SPDX-License-Identifier: Apache-2.0
#include "p2p/format.h"

#include <algorithm>
#include <cctype>

#include "platform/hex.h"

namespace mumba::p2p {

std::string ToHex(const char* data, size_t n) { return mumba::ToHex(std::string_view(data, n)); }

bool FromHex(const std::string& hex, size_t n, char* out) {
  if (hex.size() != n * 2) return false;
  auto bytes = mumba::FromHex(hex);
  if (!bytes) return false;
  std::copy(bytes->begin(), bytes->end(), out);
  return true;
}

std::string UrlEncode(const std::string& s) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

std::string MagnetLink(const std::string& info_hash_v1, const std::string& info_hash_v2,
                       const std::string& name) {
  return "magnet:?xt=urn:btih:" + info_hash_v1 + "&xt=urn:btmh:1220" + info_hash_v2 +
         "&dn=" + UrlEncode(name);
}

int PieceSizeFor(uint64_t total) {
  uint64_t piece = 256 * 1024;
  while (total / piece > 2048 && piece < 16 * 1024 * 1024) piece *= 2;
  return static_cast<int>(piece);
}

bool IsSafeName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

mumba::Status CheckFetchLimits(const std::string& label, uint64_t bytes, uint64_t files,
                               const FetchLimits& limits) {
  const std::string holds = "torrent " + label + " holds " + std::to_string(bytes) + " bytes in " +
                            std::to_string(files) + " files";
  if (limits.announced_bytes && bytes > *limits.announced_bytes) {
    return ResourceExhausted(holds + ", more than the " + std::to_string(*limits.announced_bytes) +
                             " bytes announced; stopped and deleted");
  }
  if (bytes > limits.max_bytes) {
    return ResourceExhausted(holds + ", more than the ceiling of " + std::to_string(limits.max_bytes) +
                             " bytes; stopped and deleted");
  }
  if (files > limits.max_files) {
    return ResourceExhausted(holds + ", more than the ceiling of " + std::to_string(limits.max_files) +
                             " files; stopped and deleted");
  }
  return {};
}

}  // namespace mumba::p2p
