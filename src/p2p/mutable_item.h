// SPDX-License-Identifier: Apache-2.0
// BEP 44 mutable items as the node puts and reads them, without a session: Mumba's
// key pair turned into libtorrent's, a dictionary of strings bencoded and signed,
// and a received item checked against its signature.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <libtorrent/entry.hpp>
#include <libtorrent/kademlia/types.hpp>

#include "common/keys.h"
#include "mumba/status.h"
#include "p2p/p2p_node.h"

namespace mumba::p2p {

// BEP 44: the bencoded "v" of an item is at most 1000 bytes.
inline constexpr size_t kMaxItemValueBytes = 1000;

// An item ready for lt::session::dht_put_item: what to store, under which key,
// and the signature that lets other nodes accept it.
struct SignedItem {
  std::array<char, 32> public_key{};
  int64_t seq = 0;
  lt::entry value;  // A dictionary of strings.
  lt::dht::signature signature;
};

// A libtorrent key pair from Mumba's. libsodium stores seed || public key;
// libtorrent's ref10 code wants the expanded (hashed, clamped) secret instead.
// Passing libsodium's 64 bytes to libtorrent gives signatures that fail to
// verify, so the secret is re-derived from the 32-byte seed. INVALID_ARGUMENT
// when the seed does not give `key`'s public key.
Expected<std::pair<lt::dht::public_key, lt::dht::secret_key>> LibtorrentKeys(const KeyPair& key);

// What BEP 44 signs for an item without salt: "3:seqi<seq>e1:v<bencoded value>".
std::string SignedText(const std::vector<char>& value, int64_t seq);

// Bencodes `fields` as a dictionary and signs it with `key` for sequence number
// `seq` (no salt). INVALID_ARGUMENT when the key pair's halves do not belong
// together, `seq` is negative, or the value is over kMaxItemValueBytes bencoded.
Expected<SignedItem> SignItem(const KeyPair& key, const std::map<std::string, std::string>& fields,
                              int64_t seq);

// The item a lookup returned, when it is one the node accepts: no salt, a
// dictionary, and `signature` valid for `value` and `seq` under `public_key`.
// libtorrent checked the signature before posting; checking it again here makes
// "valid signature" this module's promise, not only the library's. Values that
// are not strings are left out of the fields. nullopt for anything else.
std::optional<MutableItem> VerifyItem(const std::array<char, 32>& public_key, const std::string& salt,
                                      const lt::entry& value, const std::array<char, 64>& signature,
                                      int64_t seq);

}  // namespace mumba::p2p
