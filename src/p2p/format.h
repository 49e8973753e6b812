// SPDX-License-Identifier: Apache-2.0
// The pure rules of the node's formats, kept apart so a test can check them
// without a session: info-hashes in hex, magnet links, "HOST:PORT", torrent names
// the piece size every torrent is made with, and what a fetch may bring in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "mumba/status.h"
#include "p2p/p2p_node.h"

namespace mumba::p2p {

// Lowercase hex of `n` bytes at `data`. Never fails.
std::string ToHex(const char* data, size_t n);

// Lowercase hex of a libtorrent hash (sha1_hash, sha256_hash) or any other
// container of chars with data() and size().
template <typename Hash>
std::string HashHex(const Hash& h) {
  return ToHex(h.data(), h.size());
}

// Decodes exactly `n` bytes of hex (either case) into `out`. Returns false, with
// `out` partly written, for text of any other length or with a non-hex digit.
bool FromHex(const std::string& hex, size_t n, char* out);

// Percent-encodes every byte but RFC 3986's unreserved characters, with
// uppercase digits. Never fails.
std::string UrlEncode(const std::string& s);

// "magnet:?xt=urn:btih:<v1>&xt=urn:btmh:1220<v2>&dn=<name, URL-encoded>" for a
// hybrid torrent whose info-hashes are given in hex. Never fails.
std::string MagnetLink(const std::string& info_hash_v1, const std::string& info_hash_v2,
                       const std::string& name);

// Piece size of every torrent the node makes, a function of the total size only:
// 256 KiB, doubled while there would be more than 2048 pieces, at most 16 MiB.
// It is part of the torrent format: changing it changes every info-hash.
int PieceSizeFor(uint64_t total);

// Whether `name` can be a torrent's top folder: not empty, "." or "..", and
// without '/', '\\' or NUL, so joining it to a folder stays inside that folder.
bool IsSafeName(const std::string& name);

// Whether a torrent of `bytes` in `files` files (pad files left out) fits
// `limits`. OK, or RESOURCE_EXHAUSTED naming torrent `label`, what it holds and
// what was announced or allowed.
mumba::Status CheckFetchLimits(const std::string& label, uint64_t bytes, uint64_t files,
                               const FetchLimits& limits);

}  // namespace mumba::p2p
