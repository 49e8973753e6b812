// SPDX-License-Identifier: Apache-2.0
// Fuzzes what PutMutable reads of other DHT nodes (src/p2p/dht_lookup.h): a whole
// DHT message, decoded with the limits libtorrent's DHT applies, read as a "get"
// answer (ReadGetAnswer, IsAnswer) and fed to the lookup's state machine as the
// answer of the node asked first; the input also goes to CompactNodes as a
// "nodes" string. The lookup must stay bounded whatever nodes an answer names,
// and an item is taken only when it is validly signed by the key asked about.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <libtorrent/bdecode.hpp>
#include <libtorrent/entry.hpp>

#include "common/keys.h"
#include "fuzz_check.h"
#include "p2p/dht_lookup.h"

namespace {

// libtorrent's DHT decodes every message with these (dht_tracker.cpp).
constexpr int kDepthLimit = 10;
constexpr int kTokenLimit = 500;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto nodes = mumba::p2p::CompactNodes(text);
  FUZZ_CHECK(nodes.size() <= size / 26);

  lt::error_code ec;
  int error_pos = 0;
  lt::bdecode_node node = lt::bdecode({text.data(), static_cast<std::ptrdiff_t>(text.size())}, ec, &error_pos,
                                      kDepthLimit, kTokenLimit);
  if (ec) return 0;
  lt::entry message;
  message = node;
  // A fixed key no input can sign for: no item from the input may be taken.
  std::array<char, 32> public_key{};
  public_key[0] = 1;
  auto answer = mumba::p2p::ReadGetAnswer(message, public_key);
  FUZZ_CHECK(answer.has_value() == mumba::p2p::IsAnswer(message));
  if (!answer) return 0;
  FUZZ_CHECK(!answer->item);

  const mumba::Clock::time_point t0{};
  mumba::p2p::ClosestNodesLookup lookup{lt::sha1_hash()};
  const lt::udp::endpoint first(lt::make_address_v4("127.0.0.1"), 1);
  lookup.Add({{lt::sha1_hash::max(), first}});
  FUZZ_CHECK(lookup.NextToAsk(t0).size() == 1);
  FUZZ_CHECK(lookup.Answered(first, answer, t0));
  FUZZ_CHECK(!lookup.Answered(first, answer, t0));
  auto asked = lookup.NextToAsk(t0);
  FUZZ_CHECK(asked.size() <= mumba::p2p::kClosestNodes + 4);
  FUZZ_CHECK(asked.empty() == lookup.Over(t0));
  // Whatever was asked and never answered is given up on in bounded time.
  FUZZ_CHECK(lookup.Over(t0 + std::chrono::seconds(1)));
  FUZZ_CHECK(lookup.Closest().size() <= mumba::p2p::kClosestNodes);
  return 0;
}
