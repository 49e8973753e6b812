// SPDX-License-Identifier: Apache-2.0
// A share's DHT item, both ways: what a publishing host signs for a snapshot of a
// store, and what a following host accepts of an item a stranger signed. Pure
// functions, so the decoding of what strangers send is fuzzed on its own.
//
// An item's fields (all strings, BEP 44 mutable item, no salt):
//   "ih"     the snapshot torrent's v1 info-hash, 20 raw bytes (BEP 46)
//   "v2"     its v2 info-hash, 32 raw bytes
//   "share"  "kv", "sql" or "files": what kind of store it is (and that it is a
//            share, not an app: an app's item has no "share")
//   "db"     the database's name ("" for files)
//   "size"   the torrent's size in bytes, decimal: every fetch of it is held to it
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "mumba/status.h"

namespace mumba {

// A snapshot of a share as its item describes it.
struct ShareItem {
  std::string address;  // Canonical "mumba://...".
  int64_t seq = 0;
  std::string kind;     // "kv", "sql" or "files".
  std::string db;       // "" for files.
  uint64_t size = 0;
  std::string info_hash;     // v1, 40 lowercase hex.
  std::string info_hash_v2;  // 64 lowercase hex.
};

// The fields to sign for `item` (its address and seq are the key's and the
// item's own). INVALID_ARGUMENT for a kind, db or hash that DecodeShareItem would
// refuse: a host never publishes what its followers would turn down.
Expected<std::map<std::string, std::string>> EncodeShareItem(const ShareItem& item);

// The share described by a validly signed item of `address` (canonical) with
// sequence number `seq`. INVALID_ARGUMENT, with a short printable message, for
// an item that is not a share (an app's), or whose kind, db, size or hashes are
// not what EncodeShareItem makes.
Expected<ShareItem> DecodeShareItem(const std::string& address, int64_t seq,
                                    const std::map<std::string, std::string>& fields);

// The torrent name of a share's snapshot: the same on every host that holds it,
// so that a follower seeding its copy serves the same info-hashes.
std::string ShareTorrentName(int64_t seq);

}  // namespace mumba
