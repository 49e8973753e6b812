// SPDX-License-Identifier: Apache-2.0
// P2pNodeImpl's own DHT requests and the alerts that answer them: BEP 44 mutable
// items put and looked up (their format is mutable_item.h's), and the count of
// peers that announced a torrent.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include <libtorrent/bdecode.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/session_params.hpp>

#include "common/keys.h"
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
// BEP 5's k: a put goes to the k closest nodes that answer, as libtorrent's does.
constexpr size_t kClosest = 8;
// PutMutable's lookup keeps this many of the closest nodes asked or answered at
// once: a few more than k, so that the silent ones among the closest do not
// cost a second round.
constexpr size_t kAskAhead = kClosest + 4;
// PutMutable stops waiting for a node after this many times the slowest answer
// it had so far, within these bounds (the upper one is libtorrent's own "short
// timeout", after which its lookups ask further nodes too).
constexpr int kSilentAfterRtts = 4;
constexpr auto kMinSilentAfter = milliseconds(20);
constexpr auto kMaxSilentAfter = milliseconds(1000);
// How long PutMutable waits for the routing table's nodes (a local answer).
constexpr auto kLiveNodesWait = milliseconds(1000);
// At most this many candidates in PutMutable's lookup, as in libtorrent's.
constexpr size_t kMaxCandidates = 100;
// The newest item seen is remembered for at most this many keys.
constexpr size_t kMaxRemembered = 4096;

// The key waiters on a public key are filed under.
std::string KeyString(const std::array<char, 32>& k) { return std::string(k.data(), k.size()); }
std::string KeyString(const std::array<uint8_t, 32>& k) {
  return std::string(reinterpret_cast<const char*>(k.data()), k.size());
}

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

// A node PutMutable's lookup knows of, by its distance to the item's target.
struct Candidate {
  enum class State { kNew, kAsked, kAnswered, kFailed };
  lt::sha1_hash distance;
  lt::udp::endpoint endpoint;
  State state = State::kNew;
  Clock::time_point asked{};
  std::string token;  // From its answer: what a put to it must carry.
};

// The "r" dictionary of a DHT answer; null for anything else.
const lt::entry* AnswerDict(const std::optional<lt::entry>& message) {
  if (!message || message->type() != lt::entry::dictionary_t) return nullptr;
  const lt::entry* r = message->find_key("r");
  return r && r->type() == lt::entry::dictionary_t ? r : nullptr;
}

const std::string* StringField(const lt::entry& dict, const char* key) {
  const lt::entry* e = dict.find_key(key);
  return e && e->type() == lt::entry::string_t ? &e->string() : nullptr;
}

// The IPv4 nodes of a compact "nodes" string: 20-byte id, 4-byte address,
// 2-byte port, repeated.
std::vector<std::pair<lt::sha1_hash, lt::udp::endpoint>> CompactNodes(const std::string& nodes) {
  std::vector<std::pair<lt::sha1_hash, lt::udp::endpoint>> out;
  const auto* p = reinterpret_cast<const uint8_t*>(nodes.data());
  for (size_t at = 0; at + 26 <= nodes.size(); at += 26) {
    lt::sha1_hash id(reinterpret_cast<const char*>(p + at));
    uint32_t ip = (uint32_t{p[at + 20]} << 24) | (uint32_t{p[at + 21]} << 16) | (uint32_t{p[at + 22]} << 8) |
                  p[at + 23];
    auto port = static_cast<uint16_t>((p[at + 24] << 8) | p[at + 25]);
    if (port != 0) out.emplace_back(id, lt::udp::endpoint(lt::address_v4(ip), port));
  }
  return out;
}

// Adds the nodes not yet known (by endpoint) and keeps the list sorted by
// distance and at most kMaxCandidates long (dropping only nodes never asked).
void AddCandidates(std::vector<Candidate>& candidates, const lt::sha1_hash& target,
                   const std::vector<std::pair<lt::sha1_hash, lt::udp::endpoint>>& nodes) {
  for (const auto& [id, ep] : nodes) {
    bool known = std::any_of(candidates.begin(), candidates.end(),
                             [&](const Candidate& c) { return c.endpoint == ep; });
    if (known) continue;
    Candidate c;
    c.distance = id ^ target;
    c.endpoint = ep;
    candidates.push_back(c);
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.distance < b.distance; });
  while (candidates.size() > kMaxCandidates && candidates.back().state == Candidate::State::kNew) {
    candidates.pop_back();
  }
}

// Whether PutMutable has stopped waiting for the node it asked.
bool GivenUp(const Candidate& c, Clock::time_point now, Clock::duration silent_after) {
  return c.state == Candidate::State::kFailed ||
         (c.state == Candidate::State::kAsked && now - c.asked >= silent_after);
}

// Walks the candidates from the closest until k of them answered: the ones
// never asked are to be asked now (while fewer than kAskAhead are answered or
// awaited), the ones asked and not given up on are awaited. The lookup is over
// when nothing is to be asked or awaited.
std::vector<size_t> NextToAsk(const std::vector<Candidate>& candidates, Clock::time_point now,
                              Clock::duration silent_after, size_t* awaited) {
  std::vector<size_t> ask;
  size_t answered = 0;
  *awaited = 0;
  for (size_t i = 0; i < candidates.size() && answered < kClosest; ++i) {
    const Candidate& c = candidates[i];
    if (c.state == Candidate::State::kAnswered) {
      ++answered;
    } else if (c.state == Candidate::State::kNew && answered + *awaited < kAskAhead) {
      ask.push_back(i);
      ++*awaited;
    } else if (c.state == Candidate::State::kAsked && !GivenUp(c, now, silent_after)) {
      ++*awaited;
    }
  }
  return ask;
}

Clock::duration SilentAfter(Clock::duration slowest) {
  return std::clamp<Clock::duration>(slowest * kSilentAfterRtts, kMinSilentAfter, kMaxSilentAfter);
}

// When the next node still awaited will be given up on (max() when none is).
Clock::time_point NextGiveUp(const std::vector<Candidate>& nodes, Clock::time_point now,
                             Clock::duration silent_after) {
  Clock::time_point next = Clock::time_point::max();
  for (const Candidate& c : nodes) {
    if (c.state == Candidate::State::kAsked && !GivenUp(c, now, silent_after)) {
      next = std::min(next, c.asked + silent_after);
    }
  }
  return next;
}

}  // namespace

// What one StoreOnClosest did.
struct P2pNodeImpl::Stored {
  int acks = 0;           // Nodes that confirmed the put.
  int64_t newer_seq = -1;  // The highest valid seq the lookup saw, if above the item's (then nothing was put).
};

P2pNodeImpl::Stored P2pNodeImpl::StoreOnClosest(const SignedItem& item, Clock::time_point deadline) {
  Stored out;
  const lt::sha1_hash target = lt::hasher(item.public_key.data(), static_cast<int>(item.public_key.size())).final();
  auto waiter = std::make_shared<DirectWaiter>();
  uint64_t tag;
  {
    std::lock_guard lock(mu_);
    tag = ++last_direct_tag_;
    direct_waiters_.emplace(tag, waiter);
  }
  struct Unregister {
    P2pNodeImpl* self;
    uint64_t tag;
    ~Unregister() {
      std::lock_guard lock(self->mu_);
      self->direct_waiters_.erase(tag);
    }
  } unregister{this, tag};

  // The lookup starts from the routing table's live nodes.
  const lt::session_params state = session_->session_state(lt::session_handle::save_dht_state);
  const auto& nids = state.dht_state.nids;
  for (const auto& nid : nids) session_->dht_live_nodes(nid.second);
  std::vector<Candidate> candidates;
  {
    std::unique_lock lock(mu_);
    WaitUntil(lock, std::min(deadline, Now() + kLiveNodesWait),
              [&] { return waiter->live_node_lists >= static_cast<int>(nids.size()); });
    AddCandidates(candidates, target, waiter->live_nodes);
  }

  // The lookup: BEP 44 "get" to the closest nodes until the k closest that
  // answer are known, each answer naming nodes closer still.
  Clock::duration slowest{};
  lt::entry get_query;
  get_query["q"] = "get";
  get_query["a"]["target"] = target.to_string();
  auto find = [&](const lt::udp::endpoint& ep) {
    return std::find_if(candidates.begin(), candidates.end(), [&](const Candidate& c) { return c.endpoint == ep; });
  };
  for (;;) {
    std::vector<std::pair<lt::udp::endpoint, std::optional<lt::entry>>> answers;
    {
      std::unique_lock lock(mu_);
      answers.swap(waiter->answers);
      const auto now = Now();
      for (auto& [ep, message] : answers) {
        auto c = find(ep);
        if (c == candidates.end() || c->state != Candidate::State::kAsked) continue;
        const lt::entry* r = AnswerDict(message);
        if (!r) {
          c->state = Candidate::State::kFailed;
          continue;
        }
        c->state = Candidate::State::kAnswered;
        slowest = std::max(slowest, now - c->asked);
        if (const std::string* token = StringField(*r, "token")) c->token = *token;
        if (const std::string* nodes = StringField(*r, "nodes")) AddCandidates(candidates, target, CompactNodes(*nodes));
        const lt::entry* v = r->find_key("v");
        const lt::entry* seq = r->find_key("seq");
        const std::string* sig = StringField(*r, "sig");
        if (v && seq && seq->type() == lt::entry::int_t && sig && sig->size() == 64) {
          std::array<char, 64> signature;
          std::memcpy(signature.data(), sig->data(), signature.size());
          if (auto found = VerifyItem(item.public_key, "", *v, signature, seq->integer())) {
            RememberSeen(*found);
            if (found->seq > item.seq) out.newer_seq = std::max(out.newer_seq, found->seq);
          }
        }
      }
    }
    if (out.newer_seq > item.seq) return out;
    const auto now = Now();
    size_t awaited = 0;
    std::vector<size_t> ask = NextToAsk(candidates, now, SilentAfter(slowest), &awaited);
    for (size_t i : ask) {
      candidates[i].state = Candidate::State::kAsked;
      candidates[i].asked = now;
      session_->dht_direct_request(candidates[i].endpoint, get_query, TagData(tag));
    }
    if (awaited == 0 || now >= deadline) break;
    // Until an answer comes or an awaited node is given up on.
    const Clock::time_point wake = std::min(deadline, NextGiveUp(candidates, now, SilentAfter(slowest)));
    std::unique_lock lock(mu_);
    WaitUntil(lock, wake, [&] { return !waiter->answers.empty(); });
  }

  // The put: to the k closest that answered, with the token each gave. Success
  // once most of them confirmed; otherwise once each confirmed or was given up on.
  lt::entry put_query;
  put_query["q"] = "put";
  lt::entry& args = put_query["a"];
  args["k"] = KeyString(item.public_key);
  args["seq"] = item.seq;
  args["sig"] = std::string(item.signature.bytes.data(), item.signature.bytes.size());
  args["v"] = item.value;
  std::vector<Candidate> targets;
  for (const Candidate& c : candidates) {
    if (targets.size() == kClosest) break;
    if (c.state == Candidate::State::kAnswered && !c.token.empty()) targets.push_back(c);
  }
  {
    std::lock_guard lock(mu_);
    tag = ++last_direct_tag_;
    direct_waiters_.erase(unregister.tag);
    unregister.tag = tag;
    waiter->answers.clear();
    direct_waiters_.emplace(tag, waiter);
  }
  const auto sent = Now();
  for (Candidate& t : targets) {
    args["token"] = t.token;
    t.state = Candidate::State::kAsked;
    t.asked = sent;
    session_->dht_direct_request(t.endpoint, put_query, TagData(tag));
  }
  const size_t enough = std::max<size_t>((targets.size() + 1) / 2, 1);
  std::unique_lock lock(mu_);
  for (;;) {
    const auto now = Now();
    for (auto& [ep, message] : waiter->answers) {
      auto t = std::find_if(targets.begin(), targets.end(), [&](const Candidate& c) { return c.endpoint == ep; });
      if (t == targets.end() || t->state != Candidate::State::kAsked) continue;
      t->state = AnswerDict(message) ? Candidate::State::kAnswered : Candidate::State::kFailed;
      if (t->state == Candidate::State::kAnswered) {
        ++out.acks;
        slowest = std::max(slowest, now - t->asked);
      }
    }
    waiter->answers.clear();
    const bool settled = std::none_of(targets.begin(), targets.end(), [&](const Candidate& c) {
      return c.state == Candidate::State::kAsked && !GivenUp(c, now, SilentAfter(slowest));
    });
    if (static_cast<size_t>(out.acks) >= enough || settled || now >= deadline) break;
    const Clock::time_point wake = std::min(deadline, NextGiveUp(targets, now, SilentAfter(slowest)));
    WaitUntil(lock, wake, [&] { return !waiter->answers.empty(); });
  }
  return out;
}

void P2pNodeImpl::RememberSeen(const MutableItem& item) {
  const std::string key = KeyString(item.public_key);
  auto it = newest_seen_.find(key);
  if (it != newest_seen_.end()) {
    if (it->second.seq < item.seq) it->second = item;
    return;
  }
  if (newest_seen_.size() >= kMaxRemembered) newest_seen_.erase(newest_seen_.begin());
  newest_seen_.emplace(key, item);
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
    if (stored.acks > 0) {
      MutableItem mine;
      mine.public_key = key.public_key;
      mine.seq = seq;
      mine.fields = fields;
      std::lock_guard lock(mu_);
      RememberSeen(mine);
      return {};
    }
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
    // Never older than what this node saw before: an answer cut short may have
    // missed the nodes that hold the newest item, which an earlier lookup (or
    // this node's own put) met.
    auto seen = newest_seen_.find(map_key);
    if (best && seen != newest_seen_.end() && seen->second.seq > best->seq) best = seen->second;
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
  // An empty lookup ends with an authoritative alert carrying no item.
  std::optional<MutableItem> item = VerifyItem(a.key, a.salt, a.item, a.signature, a.seq);
  // Lookups go on after GetMutable returned; what they find later is kept for
  // the next call.
  if (item) RememberSeen(*item);
  auto [begin, end] = get_waiters_.equal_range(KeyString(a.key));
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
