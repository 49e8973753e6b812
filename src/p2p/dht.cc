// SPDX-License-Identifier: Apache-2.0
// P2pNodeImpl's own DHT requests and the alerts that answer them: BEP 44 mutable
// items put (a lookup and put of our own over libtorrent's direct requests, whose
// logic is dht_lookup.h's) and looked up (libtorrent's lookup, cut short once its
// answers have settled), and the count of peers that announced a torrent. Item
// format: mutable_item.h.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include <libtorrent/bdecode.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/session_params.hpp>

#include "common/keys.h"
#include "p2p/dht_lookup.h"
#include "p2p/format.h"
#include "p2p/mutable_item.h"
#include "p2p/p2p_node_impl.h"

namespace mumba::p2p {
namespace {

using std::chrono::milliseconds;

// GetMutable goes on after its first valid item for twice the time that item
// took to come, within these bounds: nodes about as close answer within that
// span, while the nodes that never answer would hold a lookup for 15 s.
constexpr auto kMinSettle = milliseconds(20);
constexpr auto kMaxSettle = milliseconds(1000);
// A put that reached no node is tried again after this long.
constexpr auto kPutRetry = milliseconds(100);
// CountPeers' count is final once no new peer came for this long.
constexpr auto kPeersQuiet = milliseconds(500);
// How long PutMutable waits for the routing table's nodes (a local answer).
constexpr auto kLiveNodesWait = milliseconds(1000);

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

// The userdata of PutMutable's direct requests is a number, never a pointer to
// anything: an answer that comes after its step ended (libtorrent reports a
// silent node after 15 s) finds no waiter under the number and is dropped, and
// numbers are not reused as freed addresses would be.
struct DirectTag;
lt::client_data_t TagData(uint64_t tag) {
  return lt::client_data_t(reinterpret_cast<DirectTag*>(static_cast<uintptr_t>(tag)));
}
uint64_t TagOf(const lt::client_data_t& data) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data.get<DirectTag>()));
}

}  // namespace

// What one StoreOnClosest did.
struct P2pNodeImpl::Stored {
  int acks = 0;  // Nodes that confirmed the put.
  // The highest valid seq the lookup saw (-1: none); above the item's, nothing was put.
  int64_t newer_seq = -1;
};

P2pNodeImpl::Stored P2pNodeImpl::StoreOnClosest(const SignedItem& item, Clock::time_point deadline) {
  Stored out;
  auto waiter = std::make_shared<DirectWaiter>();
  // Each step files its answers under a tag of its own, so that a late answer
  // to the lookup is not taken for a put's confirmation.
  struct Registration {
    P2pNodeImpl* self;
    std::shared_ptr<DirectWaiter> waiter;
    uint64_t tag = 0;
    uint64_t Next() {
      std::lock_guard lock(self->mu_);
      if (tag) self->direct_waiters_.erase(tag);
      tag = ++self->last_direct_tag_;
      waiter->answers.clear();
      self->direct_waiters_.emplace(tag, waiter);
      return tag;
    }
    ~Registration() {
      std::lock_guard lock(self->mu_);
      self->direct_waiters_.erase(tag);
    }
  } registration{this, waiter};
  uint64_t tag = registration.Next();
  auto take_answers = [&] {
    std::vector<std::pair<lt::udp::endpoint, std::optional<lt::entry>>> answers;
    answers.swap(waiter->answers);
    return answers;
  };

  // The lookup starts from the routing table's live nodes.
  const lt::sha1_hash target = lt::hasher(item.public_key.data(), static_cast<int>(item.public_key.size())).final();
  ClosestNodesLookup lookup(target);
  const lt::session_params state = session_->session_state(lt::session_handle::save_dht_state);
  const auto& nids = state.dht_state.nids;
  for (const auto& nid : nids) session_->dht_live_nodes(nid.second);
  {
    std::unique_lock lock(mu_);
    WaitUntil(lock, std::min(deadline, Now() + kLiveNodesWait),
              [&] { return waiter->live_node_lists >= static_cast<int>(nids.size()); });
    lookup.Add(waiter->live_nodes);
  }

  // BEP 44 "get" to the closest nodes until the k closest that answer are
  // known, each answer naming nodes closer still.
  lt::entry get_query;
  get_query["q"] = "get";
  get_query["a"]["target"] = target.to_string();
  for (;;) {
    auto now = Now();
    for (const auto& ep : lookup.NextToAsk(now)) session_->dht_direct_request(ep, get_query, TagData(tag));
    if (lookup.Over(now) || now >= deadline) break;
    std::unique_lock lock(mu_);
    // Until an answer comes or an awaited node is given up on.
    WaitUntil(lock, std::min(deadline, lookup.NextGiveUp(now)), [&] { return !waiter->answers.empty(); });
    now = Now();
    for (auto& [ep, message] : take_answers()) {
      std::optional<GetAnswer> answer;
      if (message) answer = ReadGetAnswer(*message, item.public_key);
      if (!lookup.Answered(ep, answer, now) || !answer || !answer->item) continue;
      out.newer_seq = std::max(out.newer_seq, answer->item->seq);
    }
    if (out.newer_seq > item.seq) return out;
  }

  // The put, to the k closest that answered, with the token each gave.
  lt::entry put_query;
  put_query["q"] = "put";
  lt::entry& args = put_query["a"];
  args["k"] = KeyString(item.public_key);
  args["seq"] = item.seq;
  args["sig"] = std::string(item.signature.bytes.data(), item.signature.bytes.size());
  args["v"] = item.value;
  tag = registration.Next();
  std::vector<lt::udp::endpoint> targets;
  for (const auto& [ep, token] : lookup.Closest()) {
    args["token"] = token;
    session_->dht_direct_request(ep, put_query, TagData(tag));
    targets.push_back(ep);
  }
  PutRound round(std::move(targets), lookup.slowest_answer(), Now());
  std::unique_lock lock(mu_);
  for (;;) {
    const auto now = Now();
    for (auto& [ep, message] : take_answers()) round.Answered(ep, message && IsAnswer(*message), now);
    if (round.Over(now) || now >= deadline) break;
    WaitUntil(lock, std::min(deadline, round.NextGiveUp(now)), [&] { return !waiter->answers.empty(); });
  }
  out.acks = round.confirmed();
  return out;
}

mumba::Status P2pNodeImpl::PutMutable(const KeyPair& key, const std::map<std::string, std::string>& fields,
                                      int64_t seq, std::chrono::milliseconds timeout) {
  const auto deadline = Now() + timeout;
  MUMBA_ASSIGN_OR_RETURN(SignedItem item, SignItem(key, fields, seq));
  // A put that reached no node is retried until the deadline: right after
  // joining, the routing table may still be empty.
  while (true) {
    Stored stored = StoreOnClosest(item, deadline);
    if (stored.newer_seq > seq) {
      return FailedPrecondition("the DHT holds a newer item (seq " + std::to_string(stored.newer_seq) +
                                ") than seq " + std::to_string(seq));
    }
    if (stored.acks > 0) return {};
    if (Now() + kPutRetry >= deadline) {
      return DeadlineExceeded("no DHT node stored the item within " + std::to_string(timeout.count()) + " ms");
    }
    options_.clock->SleepFor(kPutRetry);
  }
}

Expected<MutableItem> P2pNodeImpl::GetMutable(const std::array<uint8_t, 32>& public_key,
                                              std::chrono::milliseconds timeout) {
  const auto start = Now();
  const auto deadline = start + timeout;
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
      if (waiter->first_found) {
        const auto settle =
            std::clamp<Clock::duration>(2 * (*waiter->first_found - start), kMinSettle, kMaxSettle);
        until = std::min(until, *waiter->first_found + settle);
      }
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

void P2pNodeImpl::OnDhtDirect(const lt::dht_direct_response_alert& a) {
  auto it = direct_waiters_.find(TagOf(a.userdata));
  if (it == direct_waiters_.end()) return;
  lt::bdecode_node response = a.response();
  std::optional<lt::entry> message;
  if (response.type() == lt::bdecode_node::dict_t) message = lt::entry(response);
  it->second->answers.emplace_back(a.endpoint, std::move(message));
}

void P2pNodeImpl::OnDhtLiveNodes(const lt::dht_live_nodes_alert& a) {
  auto nodes = a.nodes();
  for (auto& [tag, waiter] : direct_waiters_) {
    ++waiter->live_node_lists;
    waiter->live_nodes.insert(waiter->live_nodes.end(), nodes.begin(), nodes.end());
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
