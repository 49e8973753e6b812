// SPDX-License-Identifier: Apache-2.0
// Fuzzes a share's version folder (src/share/chunked_tree.h): an index and chunks
// a stranger published. The input is the index text, then optionally a line "=="
// and chunk blobs separated by lines "--":
//
//   mumba-share-index 1          the index, as ReadIndex reads it, except that a
//   kind files                   line "c @N" becomes "c <sha256 of blob N>", so the
//   chunk-bytes 4                fuzzer can name chunks that exist
//   layout tree
//   f 5 a
//   c @0
//   c @1
//   end
//   ==
//   abcd                         blob 0, stored as chunks/<its sha256>
//   --
//   e                            blob 1
//
// A blob starting "!bad:" is stored under the name of the rest but holds the whole
// blob (a chunk that does not match its name); one starting "!link:" is a symlink
// under the name of the rest, to a file outside holding exactly the rest.
// Promises: an accepted index is the canonical text of itself and every path in it
// is safe; a refusal is INVALID_ARGUMENT or RESOURCE_EXHAUSTED with a short
// printable message; Assemble writes nothing outside its destination, and when it
// succeeds the destination holds exactly the index's entries, each file made of
// chunks matching their names.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "share/chunked_tree.h"

namespace fs = std::filesystem;
using mumba::share::ChunkedIndex;

namespace {

// The fuzzer's own folder, made once per process. On tmpfs when there is one:
// Assemble syncs what it wrote, which on a disk costs milliseconds per input.
const fs::path& WorkDir() {
  static const fs::path dir = [] {
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::string tmpl = (base / "mumba-fuzz-share-XXXXXX").string();
    FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    return fs::path(tmpl);
  }();
  return dir;
}

void Write(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string_view> Split(std::string_view text, std::string_view sep) {
  std::vector<std::string_view> out;
  while (true) {
    size_t at = text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + sep.size());
  }
}

// What a blob stands for: the content its name is the hash of.
std::string_view Content(std::string_view blob) {
  if (blob.starts_with("!bad:")) return blob.substr(5);
  if (blob.starts_with("!link:")) return blob.substr(6);
  return blob;
}

// The index text with each line "c @N" naming blob N.
std::string Substitute(std::string_view text, const std::vector<std::string_view>& blobs) {
  std::string out;
  const std::vector<std::string_view> lines = Split(text, "\n");
  for (size_t l = 0; l < lines.size(); ++l) {
    std::string_view line = lines[l];
    if (l > 0) out += '\n';
    size_t n = 0;
    bool placeholder = line.size() > 3 && line.size() < 8 && line.starts_with("c @");
    for (size_t i = 3; placeholder && i < line.size(); ++i) {
      placeholder = line[i] >= '0' && line[i] <= '9';
      n = n * 10 + static_cast<size_t>(line[i] - '0');
    }
    if (placeholder && n < blobs.size()) {
      out += "c " + mumba::share::Sha256Hex(Content(blobs[n]));
    } else {
      out += line;
    }
  }
  return out;
}

void LayOutChunks(const fs::path& chunks, const fs::path& outside, const std::vector<std::string_view>& blobs) {
  std::error_code ec;
  fs::create_directories(chunks, ec);
  for (size_t i = 0; i < blobs.size(); ++i) {
    std::string_view content = Content(blobs[i]);
    const fs::path at = chunks / mumba::share::Sha256Hex(content);
    if (fs::exists(fs::symlink_status(at, ec))) continue;
    if (blobs[i].starts_with("!link:")) {
      const fs::path target = outside / ("real-" + std::to_string(i));
      Write(target, content);
      fs::create_symlink(target, at, ec);
    } else {
      Write(at, blobs[i]);
    }
  }
}

bool IsShortPrintable(const std::string& message) {
  if (message.empty() || message.size() > 300) return false;
  for (char c : message) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Every name below `dir` (relative), with 'd' or 'f' and a file's size; anything
// else (a symlink, a special file) as '?'.
void Walk(const fs::path& dir, const std::string& prefix, std::map<std::string, std::pair<char, uint64_t>>& out) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string rel = prefix + e.path().filename().string();
    auto st = e.symlink_status();
    if (fs::is_directory(st)) {
      out[rel] = {'d', 0};
      Walk(e.path(), rel + "/", out);
    } else if (fs::is_regular_file(st)) {
      out[rel] = {'f', fs::file_size(e.path())};
    } else {
      out[rel] = {'?', 0};
    }
  }
}

void CheckFile(const fs::path& file, const mumba::share::IndexEntry& entry, uint64_t chunk_bytes) {
  const std::string bytes = Slurp(file);
  FUZZ_CHECK(bytes.size() == entry.size);
  struct stat st;
  FUZZ_CHECK(::lstat(file.c_str(), &st) == 0 && ((st.st_mode & S_IXUSR) != 0) == entry.executable);
  for (size_t i = 0; i < entry.chunks.size(); ++i) {
    FUZZ_CHECK(mumba::share::Sha256Hex(std::string_view(bytes).substr(i * chunk_bytes, chunk_bytes)) ==
               entry.chunks[i]);
  }
}

void CheckAssembled(const fs::path& out, const ChunkedIndex& index) {
  std::map<std::string, std::pair<char, uint64_t>> beside;
  Walk(out, "", beside);
  if (index.single_file) {
    FUZZ_CHECK(beside.size() == 1 && beside.count("dest") && beside["dest"].first == 'f');
    CheckFile(out / "dest", index.entries[0], index.chunk_bytes);
    return;
  }
  std::map<std::string, std::pair<char, uint64_t>> want{{"dest", {'d', 0}}};
  for (const auto& e : index.entries) want["dest/" + e.path] = {e.is_dir ? 'd' : 'f', e.size};
  FUZZ_CHECK(beside == want);
  for (const auto& e : index.entries) {
    if (!e.is_dir) CheckFile(out / "dest" / e.path, e, index.chunk_bytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const fs::path version = WorkDir() / "version";
  const fs::path out = WorkDir() / "out";
  const fs::path outside = WorkDir() / "outside";
  std::error_code ec;
  for (const fs::path& p : {version, out, outside}) {
    fs::remove_all(p, ec);
    fs::create_directory(p, ec);
  }
  Write(outside / "secret", "keep");

  size_t split = input.find("\n==\n");
  std::string_view text = split == std::string_view::npos ? input : input.substr(0, split + 1);
  std::vector<std::string_view> blobs;
  if (split != std::string_view::npos) blobs = Split(input.substr(split + 4), "\n--\n");
  const std::string index_text = Substitute(text, blobs);
  Write(version / "index", index_text);
  LayOutChunks(version / "chunks", outside, blobs);

  mumba::share::IndexLimits limits;
  limits.max_total_bytes = 1 << 20;
  limits.max_entries = 1000;
  limits.max_index_bytes = 256 * 1024;
  auto index = mumba::share::ReadIndex(version, limits);
  if (!index.ok()) {
    const auto code = index.status().code();
    FUZZ_CHECK(code == mumba::Code::kInvalidArgument || code == mumba::Code::kResourceExhausted);
    FUZZ_CHECK_SAYING(IsShortPrintable(index.status().message()), index.status().message().c_str());
    return 0;
  }
  FUZZ_CHECK(mumba::share::FormatIndex(*index) == index_text);
  FUZZ_CHECK(mumba::share::CheckIndex(*index, limits).ok());
  for (const auto& e : index->entries) {
    if (index->single_file) break;
    const fs::path p(e.path);
    FUZZ_CHECK(!e.path.empty() && p.is_relative() && e.path.size() <= 4096);
    for (const auto& part : p) FUZZ_CHECK(part != ".." && part != "." && !part.empty());
  }

  mumba::Status st = mumba::share::Assemble(version, *index, out / "dest");
  if (st.ok()) {
    CheckAssembled(out, *index);
  } else {
    FUZZ_CHECK_SAYING(fs::is_empty(out), st.message().c_str());
  }
  // Outside holds what the fuzzer put there and nothing else, unchanged.
  std::map<std::string, std::pair<char, uint64_t>> left;
  Walk(outside, "", left);
  FUZZ_CHECK(Slurp(outside / "secret") == "keep");
  for (const auto& [name, what] : left) {
    FUZZ_CHECK(what.first == 'f' && (name == "secret" || name.starts_with("real-")));
  }
  return 0;
}
