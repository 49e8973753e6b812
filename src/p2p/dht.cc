// SPDX-License-Identifier: Apache-2.0
// P2pNodeImpl's own DHT requests and the alerts that answer them: BEP 44 mutable
// items put and looked up (their format is mutable_item.h's), and the count of
// peers that announced a torrent.
#include <algorithm>
#include <cstring>

#include "common/keys.h"
#include "p2p/format.h"
#include "p2p/mutable_item.h"
#include "p2p/p2p_node_impl.h"

namespace mumba::p2p {
namespace {

// How long a lookup goes on after its first valid item, for a newer one.
constexpr auto kSettleAfterFirstItem = std::chrono::milliseconds(1000);
// A put that reached no node is tried again after this long.
constexpr auto kPutRetry = std::chrono::milliseconds(100);
// CountPeers' count is final once no new peer came for this long.
constexpr auto kPeersQuiet = std::chrono::milliseconds(500);

// The key waiters on a public key are filed under.
std::string KeyString(const std::array<char, 32>& k) { return std::string(k.data(), k.size()); }

std::array<char, 32> LibtorrentKey(const std::array<uint8_t, 32>& public_key) {
  std::array<char, 32> pk;
  std::memcpy(pk.data(), public_key.data(), pk.size());
  return pk;
}

// Removes `waiter` (and only it) from the waiters filed under `key`.
template <typename Waiter>
void EraseWaiter(std::multimap<std::string, std::shared_ptr<Waiter>>& waiters, const std::string& key,
                 const std::shared_ptr<Waiter>& waiter) {
  auto [begin, end] = waiters.equal_range(key);
  for (auto it = begin; it != end; ++it) {
    if (it->second == waiter) {
      waiters.erase(it);
      return;
    }
  }
}

}  // namespace

mumba::Status P2pNodeImpl::PutMutable(const KeyPair& key, const std::map<std::string, std::string>& fields,
                                      int64_t seq, std::chrono::milliseconds timeout) {
  const auto deadline = Now() + timeout;
  MUMBA_ASSIGN_OR_RETURN(SignedItem item, SignItem(key, fields, seq));
  const std::string map_key = KeyString(item.public_key);

  // A put that reached no node is retried until the deadline: right after
  // joining, the routing table may still be empty.
  while (true) {
    auto waiter = std::make_shared<PutWaiter>();
    waiter->seq = seq;
    {
      std::lock_guard lock(mu_);
      put_waiters_.emplace(map_key, waiter);
    }
    // Runs on libtorrent's network thread with the newest item the lookup found.
    session_->dht_put_item(item.public_key,
                           [waiter, value = item.value, sig = item.signature, seq](
                               lt::entry& e, std::array<char, 64>& s, std::int64_t& q, const std::string&) {
                             waiter->previous_seq = q;
                             e = value;
                             s = sig.bytes;
                             q = seq;
                           });
    bool done;
    {
      std::unique_lock lock(mu_);
      done = WaitUntil(lock, deadline, [&] { return waiter->done; });
      EraseWaiter(put_waiters_, map_key, waiter);
    }
    if (done && waiter->num_success > 0) return {};
    if (done && waiter->previous_seq > seq) {
      return FailedPrecondition("the DHT holds a newer item (seq " +
                                std::to_string(waiter->previous_seq.load()) + ") than seq " +
                                std::to_string(seq));
    }
    if (!done || Now() + kPutRetry >= deadline) {
      return DeadlineExceeded("no DHT node stored the item within " + std::to_string(timeout.count()) +
                              " ms");
    }
    options_.clock->SleepFor(kPutRetry);
  }
}

Expected<MutableItem> P2pNodeImpl::GetMutable(const std::array<uint8_t, 32>& public_key,
                                              std::chrono::milliseconds timeout) {
  const auto deadline = Now() + timeout;
  const std::array<char, 32> pk = LibtorrentKey(public_key);
  const std::string map_key = KeyString(pk);
  auto waiter = std::make_shared<GetWaiter>();
  {
    std::lock_guard lock(mu_);
    get_waiters_.emplace(map_key, waiter);
  }
  session_->dht_get_item(pk);
  std::optional<MutableItem> best;
  {
    std::unique_lock lock(mu_);
    for (;;) {
      if (waiter->done) break;
      auto until = deadline;
      if (waiter->first_found) until = std::min(until, *waiter->first_found + kSettleAfterFirstItem);
      if (Now() >= until) break;
      WaitUntil(lock, until);
    }
    best = waiter->best;
    EraseWaiter(get_waiters_, map_key, waiter);
  }
  if (!best) {
    return NotFound("no DHT item for " + AddressOf(public_key) + " within " +
                    std::to_string(timeout.count()) + " ms");
  }
  return *best;
}

Expected<int> P2pNodeImpl::CountPeers(const std::string& info_hash_v1, std::chrono::milliseconds timeout) {
  lt::sha1_hash ih;
  if (!FromHex(info_hash_v1, 20, ih.data())) {
    return InvalidArgument("'" + info_hash_v1 + "' is not a 40-char hex v1 info-hash");
  }
  const auto start = Now();
  const auto deadline = start + timeout;
  auto waiter = std::make_shared<PeersWaiter>();
  const std::string key = ih.to_string();
  std::unique_lock lock(mu_);
  auto entry = peers_waiters_.emplace(key, waiter);
  lock.unlock();
  session_->dht_get_peers(ih);
  lock.lock();
  // Until the answers have been quiet for kPeersQuiet (counting from the start,
  // for a torrent no one announced), or the deadline.
  while (true) {
    auto quiet_until = std::max(start, waiter->last_new) + kPeersQuiet;
    auto until = std::min(deadline, quiet_until);
    if (Now() >= until) break;
    WaitUntil(lock, until);
  }
  int n = static_cast<int>(waiter->peers.size());
  peers_waiters_.erase(entry);
  return n;
}

void P2pNodeImpl::OnDhtPut(const lt::dht_put_alert& a) {
  auto [begin, end] = put_waiters_.equal_range(KeyString(a.public_key));
  for (auto it = begin; it != end; ++it) {
    if (it->second->seq == a.seq && !it->second->done) {
      it->second->done = true;
      it->second->num_success = a.num_success;
    }
  }
}

void P2pNodeImpl::OnDhtItem(const lt::dht_mutable_item_alert& a) {
  auto [begin, end] = get_waiters_.equal_range(KeyString(a.key));
  if (begin == end) return;
  // An empty lookup ends with an authoritative alert carrying no item.
  std::optional<MutableItem> item = VerifyItem(a.key, a.salt, a.item, a.signature, a.seq);
  for (auto it = begin; it != end; ++it) {
    auto& w = *it->second;
    if (item && (!w.best || w.best->seq < item->seq)) w.best = item;
    if (item && !w.first_found) w.first_found = Now();
    if (a.authoritative) w.done = true;
  }
}

void P2pNodeImpl::OnDhtPeers(const lt::dht_get_peers_reply_alert& a) {
  auto [begin, end] = peers_waiters_.equal_range(a.info_hash.to_string());
  if (begin == end) return;
  auto peers = a.peers();
  for (auto it = begin; it != end; ++it) {
    for (const auto& ep : peers) {
      std::string key = ep.address().to_string() + ":" + std::to_string(ep.port());
      if (it->second->peers.insert(key).second) it->second->last_new = Now();
    }
  }
}

}  // namespace mumba::p2p
