// SPDX-License-Identifier: Apache-2.0
#include "p2p/dht_lookup.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "p2p/mutable_item.h"

namespace mumba::p2p {
namespace {

using std::chrono::milliseconds;

constexpr size_t kAskAhead = kClosestNodes + 4;
constexpr size_t kMaxCandidates = 100;
constexpr int kSilentAfterAnswers = 4;
constexpr auto kMinSilentAfter = milliseconds(20);
constexpr auto kMaxSilentAfter = milliseconds(1000);

// The "r" dictionary of a whole DHT message; null for anything else.
const lt::entry* AnswerDict(const lt::entry& message) {
  if (message.type() != lt::entry::dictionary_t) return nullptr;
  const lt::entry* r = message.find_key("r");
  return r && r->type() == lt::entry::dictionary_t ? r : nullptr;
}

const std::string* StringField(const lt::entry& dict, const char* key) {
  const lt::entry* e = dict.find_key(key);
  return e && e->type() == lt::entry::string_t ? &e->string() : nullptr;
}

}  // namespace

std::vector<DhtNode> CompactNodes(const std::string& nodes) {
  constexpr size_t kEntry = 26;
  std::vector<DhtNode> out;
  const auto* p = reinterpret_cast<const uint8_t*>(nodes.data());
  for (size_t at = 0; at + kEntry <= nodes.size(); at += kEntry) {
    lt::sha1_hash id(reinterpret_cast<const char*>(p + at));
    uint32_t ip = (uint32_t{p[at + 20]} << 24) | (uint32_t{p[at + 21]} << 16) | (uint32_t{p[at + 22]} << 8) |
                  uint32_t{p[at + 23]};
    auto port = static_cast<uint16_t>((p[at + 24] << 8) | p[at + 25]);
    if (port != 0) out.emplace_back(id, lt::udp::endpoint(lt::address_v4(ip), port));
  }
  return out;
}

std::optional<GetAnswer> ReadGetAnswer(const lt::entry& message, const std::array<char, 32>& public_key) {
  const lt::entry* r = AnswerDict(message);
  if (!r) return std::nullopt;
  GetAnswer answer;
  if (const std::string* token = StringField(*r, "token")) answer.token = *token;
  if (const std::string* nodes = StringField(*r, "nodes")) answer.nodes = CompactNodes(*nodes);
  const lt::entry* v = r->find_key("v");
  const lt::entry* seq = r->find_key("seq");
  const std::string* sig = StringField(*r, "sig");
  if (v && seq && seq->type() == lt::entry::int_t && sig && sig->size() == 64) {
    std::array<char, 64> signature;
    std::memcpy(signature.data(), sig->data(), signature.size());
    answer.item = VerifyItem(public_key, "", *v, signature, seq->integer());
  }
  return answer;
}

bool IsAnswer(const lt::entry& message) { return AnswerDict(message) != nullptr; }

Clock::duration SilentAfter(Clock::duration slowest_answer) {
  return std::clamp<Clock::duration>(slowest_answer * kSilentAfterAnswers, kMinSilentAfter, kMaxSilentAfter);
}

void ClosestNodesLookup::Add(const std::vector<DhtNode>& nodes) {
  for (const DhtNode& node : nodes) {
    bool known = std::any_of(candidates_.begin(), candidates_.end(),
                             [&](const Candidate& c) { return c.endpoint == node.second; });
    if (known) continue;
    Candidate c;
    c.distance = node.first ^ target_;
    c.endpoint = node.second;
    candidates_.push_back(c);
  }
  std::stable_sort(candidates_.begin(), candidates_.end(),
                   [](const Candidate& a, const Candidate& b) { return a.distance < b.distance; });
  // Only nodes never asked are dropped: an awaited one must stay to be matched.
  for (size_t i = candidates_.size(); i > kMaxCandidates; --i) {
    if (candidates_[i - 1].state == Candidate::State::kNew) candidates_.erase(candidates_.begin() + (i - 1));
  }
}

bool ClosestNodesLookup::GivenUp(const Candidate& c, Clock::time_point now) const {
  return c.state == Candidate::State::kFailed ||
         (c.state == Candidate::State::kAsked && now - c.asked >= SilentAfter(slowest_));
}

size_t ClosestNodesLookup::Walk(Clock::time_point now, std::vector<size_t>* ask) const {
  size_t answered = 0, awaited = 0;
  for (size_t i = 0; i < candidates_.size() && answered < kClosestNodes; ++i) {
    const Candidate& c = candidates_[i];
    if (c.state == Candidate::State::kAnswered) {
      ++answered;
    } else if (c.state == Candidate::State::kNew && ask && answered + awaited < kAskAhead) {
      ask->push_back(i);
      ++awaited;
    } else if (c.state == Candidate::State::kAsked && !GivenUp(c, now)) {
      ++awaited;
    }
  }
  return awaited;
}

std::vector<lt::udp::endpoint> ClosestNodesLookup::NextToAsk(Clock::time_point now) {
  std::vector<size_t> ask;
  Walk(now, &ask);
  std::vector<lt::udp::endpoint> out;
  for (size_t i : ask) {
    candidates_[i].state = Candidate::State::kAsked;
    candidates_[i].asked = now;
    out.push_back(candidates_[i].endpoint);
  }
  return out;
}

bool ClosestNodesLookup::Answered(const lt::udp::endpoint& from, const std::optional<GetAnswer>& answer,
                                  Clock::time_point now) {
  auto c = std::find_if(candidates_.begin(), candidates_.end(),
                        [&](const Candidate& n) { return n.endpoint == from; });
  // A late answer from a node given up on still counts: it is as good as any.
  if (c == candidates_.end() || c->state != Candidate::State::kAsked) return false;
  if (!answer) {
    c->state = Candidate::State::kFailed;
    return true;
  }
  c->state = Candidate::State::kAnswered;
  c->token = answer->token;
  slowest_ = std::max(slowest_, now - c->asked);
  Add(answer->nodes);
  return true;
}

bool ClosestNodesLookup::Over(Clock::time_point now) const { return Walk(now, nullptr) == 0; }

Clock::time_point ClosestNodesLookup::NextGiveUp(Clock::time_point now) const {
  Clock::time_point next = Clock::time_point::max();
  for (const Candidate& c : candidates_) {
    if (c.state == Candidate::State::kAsked && !GivenUp(c, now)) next = std::min(next, c.asked + SilentAfter(slowest_));
  }
  return next;
}

std::vector<std::pair<lt::udp::endpoint, std::string>> ClosestNodesLookup::Closest() const {
  std::vector<std::pair<lt::udp::endpoint, std::string>> out;
  for (const Candidate& c : candidates_) {
    if (out.size() == kClosestNodes) break;
    if (c.state == Candidate::State::kAnswered && !c.token.empty()) out.emplace_back(c.endpoint, c.token);
  }
  return out;
}

PutRound::PutRound(std::vector<lt::udp::endpoint> targets, Clock::duration slowest_answer, Clock::time_point sent)
    : slowest_(slowest_answer), sent_(sent) {
  for (auto& ep : targets) targets_.push_back({ep});
}

void PutRound::Answered(const lt::udp::endpoint& from, bool confirmed, Clock::time_point now) {
  auto t = std::find_if(targets_.begin(), targets_.end(), [&](const Target& x) { return x.endpoint == from; });
  if (t == targets_.end() || t->settled) return;
  t->settled = true;
  if (confirmed) {
    ++confirmed_;
    slowest_ = std::max(slowest_, now - sent_);
  }
}

bool PutRound::Over(Clock::time_point now) const {
  const size_t most = targets_.size() / 2 + 1;
  if (static_cast<size_t>(confirmed_) >= most) return true;
  return now - sent_ >= SilentAfter(slowest_) ||
         std::all_of(targets_.begin(), targets_.end(), [](const Target& t) { return t.settled; });
}

Clock::time_point PutRound::NextGiveUp(Clock::time_point now) const {
  const Clock::time_point give_up = sent_ + SilentAfter(slowest_);
  bool awaited = std::any_of(targets_.begin(), targets_.end(), [](const Target& t) { return !t.settled; });
  return awaited && now < give_up ? give_up : Clock::time_point::max();
}

}  // namespace mumba::p2p
