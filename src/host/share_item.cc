// SPDX-License-Identifier: Apache-2.0
#include "host/share_item.h"

#include <charconv>

#include "platform/hex.h"

namespace mumba {
namespace {

bool IsKind(const std::string& kind) { return kind == "kv" || kind == "sql" || kind == "files"; }

// A database name as the store manager takes it (IsValidStoreName: 1-63 of
// a-z, 0-9, '_', '-'); "" only for a file tree.
bool IsDbFor(const std::string& kind, const std::string& db) {
  if (kind == "files") return db.empty();
  if (db.empty() || db.size() > 63) return false;
  for (char c : db) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

// Digits only, at most 19 of them (so the value fits), no sign, no spaces.
bool ParseDecimal(const std::string& text, uint64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool IsLowerHex(const std::string& text, size_t size) {
  if (text.size() != size) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string ShareTorrentName(int64_t seq) { return "mumba-share-" + std::to_string(seq); }

Expected<std::map<std::string, std::string>> EncodeShareItem(const ShareItem& item) {
  if (!IsKind(item.kind) || !IsDbFor(item.kind, item.db)) {
    return InvalidArgument("a share is of kind kv, sql or files, with a valid database name");
  }
  if (!IsLowerHex(item.info_hash, 40) || !IsLowerHex(item.info_hash_v2, 64)) {
    return InvalidArgument("a share's info-hashes are 40 and 64 lowercase hex characters");
  }
  return std::map<std::string, std::string>{
      {"ih", *FromHex(item.info_hash)},
      {"v2", *FromHex(item.info_hash_v2)},
      {"share", item.kind},
      {"db", item.db},
      {"size", std::to_string(item.size)},
  };
}

Expected<ShareItem> DecodeShareItem(const std::string& address, int64_t seq,
                                    const std::map<std::string, std::string>& fields) {
  auto field = [&](const char* k) {
    auto it = fields.find(k);
    return it == fields.end() ? std::string() : it->second;
  };
  ShareItem item;
  item.address = address;
  item.seq = seq;
  item.kind = field("share");
  if (!IsKind(item.kind)) {
    return InvalidArgument(address + " is not a share (its item names no store kind; an app's address?)");
  }
  item.db = field("db");
  if (!IsDbFor(item.kind, item.db)) return InvalidArgument(address + " names a bad database for its share");
  if (!ParseDecimal(field("size"), &item.size)) {
    return InvalidArgument(address + " states no size for its snapshot");
  }
  const std::string ih = field("ih"), ih2 = field("v2");
  if (ih.size() != 20 || ih2.size() != 32) {
    return InvalidArgument(address + " points at no snapshot (its item lacks a 20-byte ih or 32-byte v2)");
  }
  item.info_hash = ToHex(ih);
  item.info_hash_v2 = ToHex(ih2);
  return item;
}

}  // namespace mumba
