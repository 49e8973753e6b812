// SPDX-License-Identifier: Apache-2.0
// Fuzzes DecodeAnnounce and DecodeAddress (src/host/announce_decode.h), and
// DecodeShareItem (src/host/share_item.h) on the same items: how the host
// reads what an app's DHT item announces (name, version, size, info-hashes) before
// it shows, bounds or fetches anything by it. Any DHT node may answer a lookup, and
// an address's publisher may be hostile.
//
// The input is an 8-byte sequence number and the item's value in bencoding, decoded
// with the limits libtorrent's DHT applies to a message; its string values become
// the item's fields, as VerifyItem hands them on. The input read as text is also an
// address. Beyond not crashing: an accepted item names a valid app and version,
// states its size in plain decimal and gives well-formed hex info-hashes of the
// raw ones, so the torrent name and magnet link made of them are safe; a refused
// one is INVALID_ARGUMENT with a short message of printable ASCII. An accepted
// address is canonical and round-trips.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include <libtorrent/bdecode.hpp>

#include "common/keys.h"
#include "fuzz_check.h"
#include "host/announce_decode.h"
#include "host/share_item.h"
#include "p2p/format.h"
#include "platform/hex.h"

namespace {

// libtorrent's DHT decodes every message with these (dht_tracker.cpp).
constexpr int kDepthLimit = 10;
constexpr int kTokenLimit = 500;

const std::string& Address() {
  static const std::string address = mumba::AddressOf(mumba::GenerateKeyPair().public_key);
  return address;
}

bool IsLowerHex(const std::string& text, size_t size) {
  if (text.size() != size) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void CheckAddress(std::string_view text) {
  auto decoded = mumba::DecodeAddress(text);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().code() == mumba::Code::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(decoded->canonical == mumba::AddressOf(decoded->public_key));
  auto again = mumba::DecodeAddress(decoded->canonical);
  FUZZ_CHECK(again.ok() && again->public_key == decoded->public_key);
}

// The same item read as a share's (share_item.h): an accepted one is what a
// publishing host would sign for it, field for field, and names a torrent whose
// name is safe.
void CheckShareItem(int64_t seq, const std::map<std::string, std::string>& fields) {
  auto share = mumba::DecodeShareItem(Address(), seq, fields);
  if (!share.ok()) {
    FUZZ_CHECK(share.status().code() == mumba::Code::kInvalidArgument);
    // A copy: status() is a temporary, and the loop would outlive its message.
    const std::string message = share.status().message();
    for (unsigned char c : message) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    return;
  }
  FUZZ_CHECK(share->kind == "kv" || share->kind == "sql" || share->kind == "files");
  auto encoded = mumba::EncodeShareItem(*share);
  FUZZ_CHECK(encoded.ok());
  for (const auto& [key, value] : *encoded) {
    const auto it = fields.find(key);
    FUZZ_CHECK(it != fields.end());
    FUZZ_CHECK(key == "size" ? std::to_string(share->size) == value : it->second == value);
  }
  FUZZ_CHECK(mumba::p2p::IsSafeName(mumba::ShareTorrentName(seq)) || seq < 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckAddress({reinterpret_cast<const char*>(data), size});
  if (size < 8) return 0;
  int64_t seq;
  std::memcpy(&seq, data, 8);
  lt::error_code ec;
  int error_pos = 0;
  lt::bdecode_node node = lt::bdecode({reinterpret_cast<const char*>(data) + 8, static_cast<std::ptrdiff_t>(size - 8)},
                                      ec, &error_pos, kDepthLimit, kTokenLimit);
  if (ec || node.type() != lt::bdecode_node::dict_t) return 0;
  std::map<std::string, std::string> fields;
  for (int i = 0; i < node.dict_size(); ++i) {
    auto [key, value] = node.dict_at(i);
    if (value.type() == lt::bdecode_node::string_t) fields[std::string(key)] = std::string(value.string_value());
  }

  CheckShareItem(seq, fields);
  auto item = mumba::DecodeAnnounce(Address(), seq, fields);
  if (!item.ok()) {
    FUZZ_CHECK(item.status().code() == mumba::Code::kInvalidArgument);
    const std::string message = item.status().message();
    FUZZ_CHECK_SAYING(message.size() < Address().size() + 200, message.c_str());
    for (unsigned char c : message) FUZZ_CHECK_SAYING(c >= 0x20 && c < 0x7f, message.c_str());
    return 0;
  }
  FUZZ_CHECK(item->address == Address() && item->seq == seq && item->magnet.empty());
  FUZZ_CHECK(item->name == fields["name"] && item->version == fields["version"]);
  const std::string& stated = fields["size"];
  FUZZ_CHECK(!stated.empty() && stated.find_first_not_of("0123456789") == std::string::npos);
  const size_t zeros = std::min(stated.find_first_not_of('0'), stated.size() - 1);
  FUZZ_CHECK(std::to_string(item->size) == stated.substr(zeros));
  FUZZ_CHECK(IsLowerHex(item->info_hash, 40) && mumba::FromHex(item->info_hash) == fields["ih"]);
  FUZZ_CHECK(item->info_hash_v2.empty() ||
             (IsLowerHex(item->info_hash_v2, 64) && mumba::FromHex(item->info_hash_v2) == fields["v2"]));
  // What Distribution makes of it: the bundle's torrent name and magnet link.
  const std::string torrent_name = "mumba-" + item->name + "-" + item->version;
  FUZZ_CHECK(mumba::p2p::IsSafeName(torrent_name));
  for (unsigned char c : torrent_name) FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '&' && c != '%');
  return 0;
}
