// SPDX-License-Identifier: Apache-2.0
#include "gateway/static_files.h"

#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <utility>

namespace mumba {

namespace fs = std::filesystem;

bool PercentDecode(std::string_view in, std::string* out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
    i += 2;
  }
  return true;
}

std::string QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=') {
      std::string value(pair.substr(name.size() + 1)), out;
      for (auto& c : value) {
        if (c == '+') c = ' ';
      }
      return PercentDecode(value, &out) ? out : std::string();
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string MimeTypeFor(const fs::path& file) {
  static const std::array<std::pair<const char*, const char*>, 24> kTypes = {{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".xml", "application/xml"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".wasm", "application/wasm"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".ttf", "font/ttf"},
      {".pdf", "application/pdf"},
      {".mp4", "video/mp4"},
      {".webm", "video/webm"},
  }};
  std::string ext = file.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [e, type] : kTypes) {
    if (ext == e) return type;
  }
  return "application/octet-stream";
}

Expected<StaticFile> FindStaticFile(const fs::path& root, std::string_view url_path) {
  auto missing = [&] { return NotFound("no file " + std::string(url_path)); };
  if (url_path.empty() || url_path[0] != '/') return missing();
  std::string decoded;
  if (!PercentDecode(url_path, &decoded)) return missing();
  if (decoded.find('\0') != std::string::npos || decoded.find('\\') != std::string::npos) return missing();
  // Walk the segments: each must be a plain name, and none may be a symlink.
  fs::path at = root;
  size_t pos = 1;
  while (pos <= decoded.size()) {
    size_t next = decoded.find('/', pos);
    std::string seg = decoded.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    pos = next == std::string::npos ? decoded.size() + 1 : next + 1;
    if (seg.empty()) continue;
    if (seg == "." || seg == "..") return missing();
    at /= seg;
    struct stat st;
    if (lstat(at.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return missing();
  }
  struct stat st;
  if (lstat(at.c_str(), &st) != 0) return missing();
  if (S_ISDIR(st.st_mode)) {
    at /= "index.html";
    if (lstat(at.c_str(), &st) != 0) return missing();
  }
  if (!S_ISREG(st.st_mode)) return missing();
  StaticFile f;
  f.path = at;
  f.size = static_cast<uint64_t>(st.st_size);
  char etag[64];
  const auto mtime_ns = static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                        static_cast<unsigned long long>(st.st_mtim.tv_nsec);
  std::snprintf(etag, sizeof etag, "\"%llx-%llx\"", mtime_ns, static_cast<unsigned long long>(st.st_size));
  f.etag = etag;
  f.mime = MimeTypeFor(at);
  return f;
}

}  // namespace mumba
