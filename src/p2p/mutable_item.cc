// SPDX-License-Identifier: Apache-2.0
#include "p2p/mutable_item.h"

#include <cstring>
#include <iterator>

#include <libtorrent/bencode.hpp>
#include <libtorrent/kademlia/ed25519.hpp>
#include <libtorrent/kademlia/item.hpp>

namespace mumba::p2p {

Expected<std::pair<lt::dht::public_key, lt::dht::secret_key>> LibtorrentKeys(const KeyPair& key) {
  std::array<char, 32> seed;
  std::memcpy(seed.data(), key.secret_key.data(), seed.size());
  auto [pk, sk] = lt::dht::ed25519_create_keypair(seed);
  if (std::memcmp(pk.bytes.data(), key.public_key.data(), 32) != 0) {
    return InvalidArgument("the secret key does not belong to the public key");
  }
  return std::make_pair(pk, sk);
}

std::string SignedText(const std::vector<char>& value, int64_t seq) {
  return "3:seqi" + std::to_string(seq) + "e1:v" + std::string(value.begin(), value.end());
}

Expected<SignedItem> SignItem(const KeyPair& key, const std::map<std::string, std::string>& fields,
                              int64_t seq) {
  MUMBA_ASSIGN_OR_RETURN(auto keys, LibtorrentKeys(key));
  if (seq < 0) return InvalidArgument("sequence number " + std::to_string(seq) + " is negative");
  SignedItem item;
  item.seq = seq;
  item.value = lt::entry(lt::entry::dictionary_t);
  for (const auto& [k, v] : fields) item.value[k] = v;
  std::vector<char> encoded;
  lt::bencode(std::back_inserter(encoded), item.value);
  if (encoded.size() > kMaxItemValueBytes) {
    return InvalidArgument("item is " + std::to_string(encoded.size()) +
                           " bytes bencoded; the DHT takes at most " + std::to_string(kMaxItemValueBytes));
  }
  std::memcpy(item.public_key.data(), key.public_key.data(), item.public_key.size());
  auto [lpk, lsk] = keys;
  item.signature = lt::dht::sign_mutable_item(encoded, {}, lt::dht::sequence_number(seq), lpk, lsk);
  return item;
}

std::optional<MutableItem> VerifyItem(const std::array<char, 32>& public_key, const std::string& salt,
                                      const lt::entry& value, const std::array<char, 64>& signature,
                                      int64_t seq) {
  if (!salt.empty() || value.type() != lt::entry::dictionary_t) return std::nullopt;
  std::vector<char> encoded;
  lt::bencode(std::back_inserter(encoded), value);
  lt::dht::signature sig;
  std::memcpy(sig.bytes.data(), signature.data(), sig.bytes.size());
  lt::dht::public_key pk(public_key.data());
  if (!lt::dht::ed25519_verify(sig, SignedText(encoded, seq), pk)) return std::nullopt;
  MutableItem item;
  std::memcpy(item.public_key.data(), public_key.data(), 32);
  item.seq = seq;
  for (const auto& [k, v] : value.dict()) {
    if (v.type() == lt::entry::string_t) item.fields[k] = v.string();
  }
  return item;
}

}  // namespace mumba::p2p
