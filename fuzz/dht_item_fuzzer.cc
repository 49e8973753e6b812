// SPDX-License-Identifier: Apache-2.0
// Fuzzes DHT mutable items (src/p2p/mutable_item.h) and the node's formats
// (src/p2p/format.h): an item is what any DHT node answers for an app's address.
// The input is a 64-byte signature, an 8-byte sequence number and the item's value
// in bencoding, decoded with the limits libtorrent's DHT applies to a message.
// VerifyItem must refuse whatever the signature does not cover; a dictionary of
// strings signed with a real key must verify to the same fields, and no longer once
// one byte of its signature changes. The value's text also goes through the
// format helpers a stranger's text reaches (hex hashes, torrent names, HOST:PORT).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include <libtorrent/bdecode.hpp>
#include <libtorrent/entry.hpp>

#include "common/keys.h"
#include "fuzz_check.h"
#include "common/host_port.h"
#include "p2p/format.h"
#include "p2p/mutable_item.h"

namespace {

// libtorrent's DHT decodes every message with these (dht_tracker.cpp).
constexpr int kDepthLimit = 10;
constexpr int kTokenLimit = 500;

const mumba::KeyPair& Key() {
  static const mumba::KeyPair key = mumba::GenerateKeyPair();
  return key;
}

void CheckFormats(const std::string& text) {
  char bytes[32];
  if (mumba::p2p::FromHex(text, 20, bytes)) FUZZ_CHECK(mumba::p2p::ToHex(bytes, 20).size() == 40);
  auto hp = mumba::SplitHostPort(text);
  if (hp.ok()) FUZZ_CHECK(!hp->host.empty() && hp->port >= 0 && hp->port <= 65535);
  if (mumba::p2p::IsSafeName(text)) {
    FUZZ_CHECK(text.find('/') == std::string::npos && text != ".." && text != ".");
  }
  (void)mumba::p2p::MagnetLink("00", "00", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 72) return 0;
  std::array<char, 64> signature;
  std::memcpy(signature.data(), data, 64);
  int64_t seq;
  std::memcpy(&seq, data + 64, 8);
  const char* value_text = reinterpret_cast<const char*>(data + 72);
  const size_t value_size = size - 72;
  CheckFormats(std::string(value_text, value_size));

  lt::error_code ec;
  int error_pos = 0;
  lt::bdecode_node node = lt::bdecode({value_text, static_cast<std::ptrdiff_t>(value_size)}, ec, &error_pos,
                                      kDepthLimit, kTokenLimit);
  if (ec) return 0;
  lt::entry value;
  value = node;

  std::array<char, 32> public_key;
  std::memcpy(public_key.data(), Key().public_key.data(), 32);
  // A signature from the input covers nothing a real key signed (a forgery would
  // be a finding in ed25519, not here): refused, salted or not.
  FUZZ_CHECK(!mumba::p2p::VerifyItem(public_key, "", value, signature, seq));
  FUZZ_CHECK(!mumba::p2p::VerifyItem(public_key, "salt", value, signature, seq));

  if (value.type() != lt::entry::dictionary_t) return 0;
  std::map<std::string, std::string> fields;
  for (const auto& [k, v] : value.dict()) {
    if (v.type() == lt::entry::string_t) fields[k] = v.string();
  }
  auto signed_item = mumba::p2p::SignItem(Key(), fields, seq);
  if (!signed_item.ok()) {
    FUZZ_CHECK(signed_item.status().code() == mumba::Code::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(seq >= 0);
  std::array<char, 64> good;
  std::memcpy(good.data(), signed_item->signature.bytes.data(), 64);
  auto item = mumba::p2p::VerifyItem(signed_item->public_key, "", signed_item->value, good, seq);
  FUZZ_CHECK(item && item->seq == seq && item->fields == fields);
  good[data[0] % 64] ^= static_cast<char>(1 << (data[1] % 8));
  FUZZ_CHECK(!mumba::p2p::VerifyItem(signed_item->public_key, "", signed_item->value, good, seq));
  if (seq < INT64_MAX) {
    std::memcpy(good.data(), signed_item->signature.bytes.data(), 64);
    FUZZ_CHECK(!mumba::p2p::VerifyItem(signed_item->public_key, "", signed_item->value, good, seq + 1));
  }
  return 0;
}
