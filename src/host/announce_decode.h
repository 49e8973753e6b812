// SPDX-License-Identifier: Apache-2.0
// Reading what an app's mutable DHT item announces: which bundle (info-hashes),
// which app (name, version) and how big. Any DHT node may answer a lookup, and the
// publisher of an address may be hostile, so every field is checked here before the
// host shows, bounds or fetches anything by it. The item's signature was verified
// by src/p2p (VerifyItem) before; this is a pure function of the item's fields, so
// it is unit-tested and fuzzed (fuzz/announce_fuzzer.cc) without a network.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "mumba/status.h"

namespace mumba {

// What a mutable item says about an app: where its newest bundle is.
struct ResolvedApp {
  std::string address;
  std::string name;
  std::string version;
  int64_t seq = 0;
  uint64_t size = 0;
  std::string info_hash;     // v1, hex.
  std::string info_hash_v2;  // hex.
  std::string magnet;
};

// An app's address in canonical form ("mumba://<52 chars>") and the public key it
// names.
struct AppAddress {
  std::string canonical;
  std::array<uint8_t, 32> public_key{};
};

// Parses an address as users and pages give it ("mumba://<52>" or the bare 52
// base32 characters). INVALID_ARGUMENT saying what is wrong for anything else.
Expected<AppAddress> DecodeAddress(std::string_view address);

// The app the item at `canonical`, of sequence number `seq`, announces with its
// string `fields` ("ih": the raw 20-byte v1 info-hash; "v2": the raw 32-byte v2
// one, optional; "name", "version", "size": a decimal byte count). On success
// every field of the result but `magnet` is set: a valid app name and version,
// lowercase hex info-hashes (v2 empty when the item has none of 32 bytes).
// INVALID_ARGUMENT, naming `canonical`, for an item without a plain decimal size,
// a 20-byte "ih", a valid name or a valid version; what the message quotes of the
// item is cut short and shows only printable ASCII (other bytes as \xNN), so a
// hostile item cannot write control sequences to the owner's terminal.
Expected<ResolvedApp> DecodeAnnounce(const std::string& canonical, int64_t seq,
                                     const std::map<std::string, std::string>& fields);

}  // namespace mumba
