// SPDX-License-Identifier: Apache-2.0
// The index file's text, both ways, and the rules every index must keep
// (FormatIndex, ParseIndex, CheckIndex; see chunked_tree.h and README.md).
#include <charconv>
#include <optional>
#include <unordered_set>

#include "share/chunked_tree.h"
#include "storage/safe_path.h"

namespace mumba::share {
namespace {

constexpr std::string_view kMagicLine = "mumba-share-index 1";
constexpr size_t kShownPathBytes = 80;

bool IsKnownKind(std::string_view kind) { return kind == "sql" || kind == "kv" || kind == "files"; }

bool IsValidChunkBytes(uint64_t n) { return n > 0 && n <= kMaxChunkBytes && (n & (n - 1)) == 0; }

bool IsChunkName(std::string_view name) {
  if (name.size() != 64) return false;
  for (char c : name) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

uint64_t ChunkCount(uint64_t size, uint64_t chunk_bytes) {
  return size == 0 ? 0 : (size - 1) / chunk_bytes + 1;
}

// A byte a path carries as itself in the index; every other byte is written as
// %xx (lowercase hex), so the index is printable ASCII and one line per entry
// whatever the names hold.
bool IsPlainPathByte(unsigned char c) { return c > 0x20 && c < 0x7f && c != '%'; }

std::string EncodePath(std::string_view path) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : path) {
    if (IsPlainPathByte(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

int LowerHexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The path `text` spells, or nullopt unless it is the canonical encoding: plain
// bytes as themselves, the others as %xx in lowercase.
std::optional<std::string> DecodePath(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c != '%') {
      if (!IsPlainPathByte(c)) return std::nullopt;
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (text.size() - i < 3) return std::nullopt;
    int hi = LowerHexDigit(text[i + 1]);
    int lo = LowerHexDigit(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    auto byte = static_cast<unsigned char>(hi << 4 | lo);
    if (IsPlainPathByte(byte)) return std::nullopt;
    out.push_back(static_cast<char>(byte));
    i += 2;
  }
  return out;
}

// A path for a message: encoded (so printable ASCII) and cut short.
std::string Shown(std::string_view path) {
  std::string encoded = EncodePath(path);
  if (encoded.size() > kShownPathBytes) encoded = encoded.substr(0, kShownPathBytes) + "...";
  return "'" + encoded + "'";
}

// A plain decimal: digits only, no sign, no leading zero, no overflow.
std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Why `path` cannot name an entry of a tree, or "" if it can. The rules are a file
// store's (storage/safe_path.h), so a replica is a tree a file store could hold.
std::string PathProblem(std::string_view path) {
  if (path.empty()) return "is empty";
  if (path.size() > engine::kMaxPathBytes) return "is longer than 4096 bytes";
  if (path.find('\0') != std::string_view::npos) return "contains NUL";
  if (path.find('\\') != std::string_view::npos) return "contains a backslash";
  if (path.front() == '/') return "is absolute";
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    std::string_view why = engine::ComponentProblem(path.substr(start, end - start));
    if (!why.empty()) return std::string(why);
    if (end == std::string_view::npos) return {};
    start = end + 1;
  }
}

// Reads the text one '\n'-terminated line at a time.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}

  // The next line without its '\n', or nullopt at the end or for a last line
  // with no '\n'.
  std::optional<std::string_view> Next() {
    if (pos_ >= text_.size()) return std::nullopt;
    size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    ++number_;
    return line;
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  size_t number() const { return number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  size_t number_ = 0;
};

}  // namespace

std::string FormatIndex(const ChunkedIndex& index) {
  std::string out;
  out += kMagicLine;
  out += "\nkind " + index.kind;
  out += "\nchunk-bytes " + std::to_string(index.chunk_bytes);
  out += index.single_file ? "\nlayout file\n" : "\nlayout tree\n";
  for (const IndexEntry& e : index.entries) {
    if (e.is_dir) {
      out += "d " + EncodePath(e.path) + "\n";
      continue;
    }
    out += e.executable ? "x " : "f ";
    out += std::to_string(e.size);
    if (!index.single_file) out += " " + EncodePath(e.path);
    out += "\n";
    for (const std::string& chunk : e.chunks) out += "c " + chunk + "\n";
  }
  out += "end\n";
  return out;
}

Expected<ChunkedIndex> ParseIndex(std::string_view text, const IndexLimits& limits) {
  if (text.size() > limits.max_index_bytes) {
    return ResourceExhausted("index is larger than " + std::to_string(limits.max_index_bytes) + " bytes");
  }
  LineReader lines(text);
  auto bad = [&](std::string_view why) {
    return InvalidArgument("index line " + std::to_string(lines.number()) + ": " + std::string(why));
  };
  // The header: four lines in a fixed order.
  auto header = [&](std::string_view key) -> std::optional<std::string_view> {
    auto line = lines.Next();
    if (!line || !line->starts_with(key) || line->size() <= key.size() || (*line)[key.size()] != ' ') {
      return std::nullopt;
    }
    return line->substr(key.size() + 1);
  };
  auto magic = lines.Next();
  if (!magic || *magic != kMagicLine) return bad("not a share index (version 1)");
  ChunkedIndex index;
  auto kind = header("kind");
  if (!kind || !IsKnownKind(*kind)) return bad("expected 'kind sql', 'kind kv' or 'kind files'");
  index.kind = std::string(*kind);
  auto chunk_text = header("chunk-bytes");
  auto chunk_bytes = chunk_text ? ParseDecimal(*chunk_text) : std::nullopt;
  if (!chunk_bytes || !IsValidChunkBytes(*chunk_bytes)) {
    return bad("expected 'chunk-bytes N', N a power of two up to " + std::to_string(kMaxChunkBytes));
  }
  index.chunk_bytes = *chunk_bytes;
  auto layout = header("layout");
  if (!layout || (*layout != "file" && *layout != "tree")) return bad("expected 'layout file' or 'layout tree'");
  index.single_file = *layout == "file";

  // The entries, each file followed by its chunk lines, then "end".
  while (true) {
    auto line = lines.Next();
    if (!line) return bad("the index ends before its 'end' line");
    if (*line == "end") break;
    if (index.entries.size() >= limits.max_entries) {
      return ResourceExhausted("index has more than " + std::to_string(limits.max_entries) + " entries");
    }
    if (line->size() < 2 || (*line)[1] != ' ') return bad("expected an entry ('d', 'f' or 'x') or 'end'");
    const char type = (*line)[0];
    std::string_view rest = line->substr(2);
    IndexEntry entry;
    if (type == 'd') {
      if (index.single_file) return bad("a single file has no folders");
      auto path = DecodePath(rest);
      if (!path) return bad("a path that is not in canonical %-encoding");
      entry.path = std::move(*path);
      entry.is_dir = true;
      index.entries.push_back(std::move(entry));
      continue;
    }
    if (type != 'f' && type != 'x') return bad("expected an entry ('d', 'f' or 'x') or 'end'");
    entry.executable = type == 'x';
    size_t space = rest.find(' ');
    if (index.single_file != (space == std::string_view::npos)) {
      return bad(index.single_file ? "a single file's entry has no path" : "a file entry needs a size and a path");
    }
    auto size = ParseDecimal(rest.substr(0, space));
    if (!size) return bad("a size that is not a plain decimal");
    if (!index.single_file) {
      auto path = DecodePath(rest.substr(space + 1));
      if (!path) return bad("a path that is not in canonical %-encoding");
      entry.path = std::move(*path);
    }
    entry.size = *size;
    if (entry.size > limits.max_total_bytes - index.total_bytes) {
      return ResourceExhausted("index's files hold more than " + std::to_string(limits.max_total_bytes) +
                               " bytes");
    }
    index.total_bytes += entry.size;
    const uint64_t count = ChunkCount(entry.size, index.chunk_bytes);
    for (uint64_t i = 0; i < count; ++i) {
      auto chunk = lines.Next();
      if (!chunk || !chunk->starts_with("c ")) {
        return bad("a file of " + std::to_string(entry.size) + " bytes needs " + std::to_string(count) +
                   " chunk lines");
      }
      entry.chunks.emplace_back(chunk->substr(2));
    }
    index.entries.push_back(std::move(entry));
  }
  if (!lines.AtEnd()) return bad("text after the 'end' line");
  MUMBA_TRY(CheckIndex(index, limits));
  return index;
}

Status CheckIndex(const ChunkedIndex& index, const IndexLimits& limits) {
  if (!IsKnownKind(index.kind)) return InvalidArgument("index: unknown kind");
  if (!IsValidChunkBytes(index.chunk_bytes)) {
    return InvalidArgument("index: chunk size is not a power of two up to 16 MiB");
  }
  if (index.entries.size() > limits.max_entries) {
    return ResourceExhausted("index has more than " + std::to_string(limits.max_entries) + " entries");
  }
  if (index.single_file) {
    if (index.entries.size() != 1 || index.entries[0].is_dir || !index.entries[0].path.empty()) {
      return InvalidArgument("index: a single file needs exactly one file entry with no path");
    }
  }
  uint64_t total = 0;
  std::unordered_set<std::string_view> folders;
  const IndexEntry* previous = nullptr;
  for (const IndexEntry& e : index.entries) {
    auto bad = [&](std::string_view why) {
      return InvalidArgument("index entry " + Shown(e.path) + ": " + std::string(why));
    };
    if (!index.single_file) {
      if (std::string why = PathProblem(e.path); !why.empty()) return bad("its path " + why);
      if (previous != nullptr && !(previous->path < e.path)) {
        return bad(previous->path == e.path ? "is listed twice" : "is out of order (paths are sorted)");
      }
      size_t slash = e.path.rfind('/');
      if (slash != std::string::npos && !folders.contains(std::string_view(e.path).substr(0, slash))) {
        return bad("its folder is not listed before it as a folder");
      }
      previous = &e;
    }
    if (e.is_dir) {
      if (e.executable || e.size != 0 || !e.chunks.empty()) return bad("a folder has no size, mode or chunks");
      folders.insert(e.path);
      continue;
    }
    if (e.size > limits.max_total_bytes - total) {
      return ResourceExhausted("index's files hold more than " + std::to_string(limits.max_total_bytes) +
                               " bytes");
    }
    total += e.size;
    if (e.chunks.size() != ChunkCount(e.size, index.chunk_bytes)) {
      return bad("its size does not match its number of chunks");
    }
    for (const std::string& chunk : e.chunks) {
      if (!IsChunkName(chunk)) return bad("a chunk name is not 64 lowercase hex digits");
    }
  }
  if (total != index.total_bytes) return InvalidArgument("index: total_bytes is not the sum of the sizes");
  return Status();
}

}  // namespace mumba::share
