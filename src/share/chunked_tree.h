// SPDX-License-Identifier: Apache-2.0
// A store (one file, or a folder tree) cut into content-addressed chunks, and put
// back together: the on-disk form of one version of a share.
//
// A version is a folder holding `index` (what the store was: its files, their
// sizes, and the SHA-256 of each fixed-size chunk of each file, see README.md for
// the format) and `chunks/<sha256 hex>`, one file per distinct chunk. That folder
// is what a share's torrent carries. A chunk that did not change between two
// versions has the same name in both, so a follower that holds the previous
// version already has it and downloads only the chunks that are new.
//
// Why fixed-size chunks aligned at offset 0: SQLite and LMDB files change in place
// one 4 KiB page at a time and grow at the end, so every chunk whose pages did not
// change stays byte-identical; content-defined chunking buys nothing for them.
//
// The index of a version that came from another node is hostile input: ReadIndex
// and ParseIndex accept only the one canonical text of a safe index, and Assemble
// checks every chunk against its name before any of it is used. All functions are
// thread-compatible (no shared state).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mumba/status.h"

namespace mumba::share {

inline constexpr uint64_t kDefaultChunkBytes = 64 * 1024;
// chunk_bytes is a power of two in [1, kMaxChunkBytes]: a power of two keeps chunk
// boundaries on database page boundaries; the cap bounds the buffer a chunk needs.
inline constexpr uint64_t kMaxChunkBytes = 16 * 1024 * 1024;
// The names inside a version folder.
inline constexpr std::string_view kIndexFileName = "index";
inline constexpr std::string_view kChunksFolderName = "chunks";

// One file or folder of the store.
struct IndexEntry {
  std::string path;  // Relative, '/'-separated; "" for the one entry of a single file.
  bool is_dir = false;
  bool executable = false;  // Files only: whether the owner may execute it.
  uint64_t size = 0;        // Files only, in bytes.
  // Files only: the lowercase SHA-256 hex of each chunk, in order; chunk i holds
  // bytes [i * chunk_bytes, min(size, (i + 1) * chunk_bytes)).
  std::vector<std::string> chunks;

  bool operator==(const IndexEntry&) const = default;
};

struct ChunkedIndex {
  std::string kind;  // "sql", "kv" or "files": what the store is, as the publisher said.
  uint64_t chunk_bytes = 0;
  bool single_file = false;  // One entry with path "", else a tree.
  std::vector<IndexEntry> entries;  // A tree's: sorted by path (bytewise), each folder listed.
  uint64_t total_bytes = 0;         // The sum of the files' sizes.

  bool operator==(const ChunkedIndex&) const = default;
};

// What a stranger's index may ask of this node.
struct IndexLimits {
  uint64_t max_total_bytes = 1ull << 30;   // Sum of the files' sizes.
  uint64_t max_entries = 100000;           // Files and folders.
  uint64_t max_index_bytes = 8ull << 20;   // The index file itself.
};

// Cuts `source` into `version_dir`/index and `version_dir`/chunks/<hex>, each
// distinct chunk stored once. `source` is a regular file (single_file: one entry,
// path "") or a folder (one entry per file and per folder below it, empty folders
// kept, sorted by path). The source is read without following any symlink; names
// starting with ".mumba" (a file store's own temporary folder) are skipped.
// `version_dir` must not exist (it is created, with its parents) or be an empty
// folder. `kind` is "sql", "kv" or "files" and is recorded. Everything written is
// synced to disk before this returns. With `reuse_from` (a version folder this
// node wrote before, e.g. the share's previous one), a chunk that its chunks
// folder holds as a regular file of the right size is hard-linked from there
// instead of written: a 1 % change then writes about 1 % of the store. A
// `reuse_from` that is missing, or on another filesystem, only costs that saving.
// Returns the index written. Errors: INVALID_ARGUMENT for a bad kind or
// chunk_bytes, a source that is a symlink or holds one, or a special file, or a
// name no index may carry (see ParseIndex); ALREADY_EXISTS when `version_dir` is
// not empty; others as ErrnoStatus maps the failing system call. On error the
// index and chunks written are removed (and `version_dir` if this made it).
Expected<ChunkedIndex> WriteChunked(const std::filesystem::path& source,
                                    const std::filesystem::path& version_dir, std::string_view kind,
                                    uint64_t chunk_bytes = kDefaultChunkBytes,
                                    const std::filesystem::path& reuse_from = {});

// Reads `version_dir`/index, a file a stranger may have written: opened without
// following a symlink, refused unread when over limits.max_index_bytes, then
// ParseIndex. Returns the index; errors as ParseIndex, plus NOT_FOUND when there is
// no index and INVALID_ARGUMENT when it is not a regular file.
Expected<ChunkedIndex> ReadIndex(const std::filesystem::path& version_dir, const IndexLimits& limits);

// The index as the text of the index file; CheckIndex must hold for `index`.
std::string FormatIndex(const ChunkedIndex& index);

// Parses an index file's text. Only the canonical text is accepted, so that
// FormatIndex(ParseIndex(t)) == t for every t accepted. Returns the index, for
// which CheckIndex holds. Errors: INVALID_ARGUMENT for anything malformed (with a
// short message of printable ASCII naming the line); RESOURCE_EXHAUSTED when the
// text, the entries or the total size exceed `limits`.
Expected<ChunkedIndex> ParseIndex(std::string_view text, const IndexLimits& limits);

// Whether `index` is one Assemble may act on, however it was built: a known kind;
// chunk_bytes a power of two up to kMaxChunkBytes; a single file with path "", or
// a tree whose paths are safe (relative, no "", "." or ".." component, no
// component over 255 bytes or starting with ".mumba", no NUL or backslash, at most
// 4096 bytes), strictly increasing (so no duplicates), each below a folder listed
// before it; folders with no size or chunks; each file with ceil(size /
// chunk_bytes) chunk names of 64 lowercase hex digits; total_bytes the sum of the
// sizes. OK, or INVALID_ARGUMENT saying what is wrong; RESOURCE_EXHAUSTED over
// `limits`.
Status CheckIndex(const ChunkedIndex& index, const IndexLimits& limits);

// Rebuilds the store at `dest` from `version_dir`: a file for a single-file index,
// else a folder holding every entry (folders 0755, files 0644 or 0755). `dest`
// must not exist; its parent must. Each chunk is opened below `version_dir`/chunks
// without following a symlink, must be a regular file of exactly its size, and its
// SHA-256 must equal its name before any of it is written. Files under chunks/
// that the index does not name are ignored. The result is built beside `dest`,
// synced, and renamed into place, so on any error nothing is left at `dest`.
// Returns OK. Errors: what CheckIndex says of `index`; ALREADY_EXISTS when `dest`
// exists; NOT_FOUND for a missing chunk; INVALID_ARGUMENT for a chunk that is a
// symlink or not a regular file; DATA_LOSS for a chunk whose size or SHA-256 does
// not match its name; others as ErrnoStatus maps the failing system call.
Status Assemble(const std::filesystem::path& version_dir, const ChunkedIndex& index,
                const std::filesystem::path& dest);

// The bytes a follower holding `prev` must download to get `next`: the sizes of
// the distinct chunks of `next` whose names `prev` does not list. For reporting.
uint64_t NewChunkBytes(const ChunkedIndex& prev, const ChunkedIndex& next);

// The lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

}  // namespace mumba::share
