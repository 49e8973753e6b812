// SPDX-License-Identifier: Apache-2.0
// A host's long-lived identity: its ed25519 node key, the file that keeps it, and
// the node id other hosts know it by.
//
// A node id is the 52-char lowercase base32 (the alphabet of app addresses,
// common/base32.h) of the node's 32-byte public key, bare: no scheme, no prefix.
// Ids are compared as strings, so there is exactly one spelling of each.
//
// The key file holds the 64-byte libsodium secret key (seed || public key), raw,
// like an unprotected key of the app key store (common/keys.h). Its two halves
// check each other: the public half must be the one the seed derives, so a damaged
// file is told from a good one.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/keys.h"
#include "mumba/status.h"

namespace mumba {

// The length of a node id.
inline constexpr size_t kNodeIdChars = 52;

// A host's identity. A value; copies hold the secret too, and each wipes it when
// it goes (KeyPair's destructor).
struct NodeKey {
  KeyPair pair;

  // The node id of `pair.public_key`.
  std::string id() const;
};

// The node id of `public_key`: 52 lowercase base32 characters.
std::string NodeIdOf(const std::array<uint8_t, 32>& public_key);

// The public key `id` names. INVALID_ARGUMENT, saying what is wrong, unless `id`
// is exactly 52 characters of the lowercase base32 alphabet decoding to 32 bytes
// (so the id NodeIdOf gives back is `id` itself).
Expected<std::array<uint8_t, 32>> ParseNodeId(std::string_view id);

// The node key kept in `file`, created on first use.
//
// When `file` exists it is read: DATA_LOSS if it is not a node key (wrong size, or
// its public half is not the seed's), FAILED_PRECONDITION if it is not a regular
// file, and the errno's code (platform/errno_status.h) if it cannot be read.
//
// When it does not, a fresh key is written to it with mode 0600, atomically (a
// temporary file in the same folder, synced, then linked into place, so a crash
// never leaves a partial key and two processes creating it at once end up with
// the same key, whichever linked first). Missing folders are created with mode
// 0700; an existing folder keeps its mode. On error nothing is left behind.
//
// The secret is never logged, and every buffer that held it is wiped.
// Thread-compatible; safe to race with other processes on the same file.
Expected<NodeKey> LoadOrCreateNodeKey(const std::filesystem::path& file);

}  // namespace mumba
