// SPDX-License-Identifier: Apache-2.0
// Decoding app addresses and what their DHT items announce; see announce_decode.h.
#include "host/announce_decode.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include "bundle/manifest.h"
#include "common/base32.h"
#include "common/keys.h"
#include "platform/hex.h"

namespace mumba {
namespace {

// How much of a field a refusal quotes: enough to recognise, not a flood.
constexpr size_t kQuotedBytes = 24;

// A decimal byte count with nothing around it; nullopt for anything else.
std::optional<uint64_t> ParseSize(std::string_view text) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

// The start of `text` for a message: printable ASCII as it is, other bytes as \xNN.
std::string Quote(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, kQuotedBytes)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    }
  }
  if (text.size() > kQuotedBytes) out += "...";
  return out;
}

}  // namespace

Expected<AppAddress> DecodeAddress(std::string_view address) {
  MUMBA_ASSIGN_OR_RETURN(std::string canonical, NormalizeAddress(address));
  auto key = Base32Decode(std::string_view(canonical).substr(kAddressScheme.size()));
  if (!key.ok() || key->size() != 32) return InvalidArgument("bad address " + Quote(address));
  AppAddress out;
  out.canonical = std::move(canonical);
  std::copy(key->begin(), key->end(), out.public_key.begin());
  return out;
}

Expected<ResolvedApp> DecodeAnnounce(const std::string& canonical, int64_t seq,
                                     const std::map<std::string, std::string>& fields) {
  auto field = [&](const char* k) {
    auto it = fields.find(k);
    return it == fields.end() ? std::string() : it->second;
  };
  ResolvedApp item;
  item.address = canonical;
  item.seq = seq;
  item.name = field("name");
  item.version = field("version");
  // The size bounds the download (Fetch): an item that does not state it
  // points at a bundle of unknown size, which no host fetches.
  std::optional<uint64_t> size = ParseSize(field("size"));
  if (!size) {
    return InvalidArgument(canonical + " points at a bundle of no stated size (its item's size is '" +
                           Quote(field("size")) + "')");
  }
  item.size = *size;
  const std::string ih = field("ih"), ih2 = field("v2");
  if (ih.size() != 20) return InvalidArgument(canonical + " points at no bundle (its item has no 20-byte ih)");
  item.info_hash = ToHex(ih);
  if (ih2.size() == 32) item.info_hash_v2 = ToHex(ih2);
  if (!IsValidAppName(item.name) || !IsValidSemver(item.version)) {
    return InvalidArgument(canonical + " points at a bundle with a bad name or version");
  }
  return item;
}

}  // namespace mumba
