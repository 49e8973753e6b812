// SPDX-License-Identifier: Apache-2.0
// PutMutable's own BEP 44 lookup and put, without a session: reading the answers
// of other DHT nodes (untrusted input), and the two state machines the caller
// drives with those answers and the time. The caller (dht.cc) sends the requests
// they name over libtorrent's direct requests.
//
// Why not libtorrent's dht_put_item: libtorrent 2.0.8 reports a put only when its
// lookup ends, and a lookup waits for every node it asked among the closest until
// its fixed 15 s timeout; the real DHT is full of nodes that never answer. Here a
// node is given up on after a few times the slowest answer so far.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <libtorrent/address.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/sha1_hash.hpp>
#include <libtorrent/socket.hpp>

#include "p2p/p2p_node.h"

namespace mumba::p2p {

// BEP 5's k: a put goes to the k closest nodes that answer, as libtorrent's does.
inline constexpr size_t kClosestNodes = 8;

using DhtNode = std::pair<lt::sha1_hash, lt::udp::endpoint>;  // Node id, where it listens.

// What a BEP 44 "get" answer carries that the lookup uses.
struct GetAnswer {
  std::string token;  // What a put to that node must carry; empty if none.
  std::vector<DhtNode> nodes;
  // The item it holds for the public key asked about, when its signature is
  // valid (VerifyItem); nullopt for none or a forged one.
  std::optional<MutableItem> item;
};

// The IPv4 nodes of a compact "nodes" string (20-byte id, 4-byte address, 2-byte
// port, repeated); a trailing partial entry and port 0 are left out.
std::vector<DhtNode> CompactNodes(const std::string& nodes);

// Reads a whole DHT message as a "get" answer about `public_key`'s item. nullopt
// when it is not an answer (no "r" dictionary): an error, or no message at all.
std::optional<GetAnswer> ReadGetAnswer(const lt::entry& message, const std::array<char, 32>& public_key);

// Whether a whole DHT message is an answer (a put's confirmation), not an error.
bool IsAnswer(const lt::entry& message);

// How long to wait for a node before giving up on it: a few times the slowest
// answer so far, within 20 ms and 1 s (libtorrent's own "short timeout", after
// which its lookups ask further nodes too).
Clock::duration SilentAfter(Clock::duration slowest_answer);

// The search for the k closest nodes to `target` that answer. Candidates are
// kept by distance (at most 100, as libtorrent keeps); from the closest, those
// never asked are handed out to ask while fewer than k + 4 are answered or
// awaited (a few more than k, so that silent ones among the closest cost no
// second round). It is over once the k closest that answered are known and no
// node closer than the k-th is still awaited.
class ClosestNodesLookup {
 public:
  explicit ClosestNodesLookup(const lt::sha1_hash& target) : target_(target) {}

  // Adds nodes not yet known (by endpoint).
  void Add(const std::vector<DhtNode>& nodes);
  // The nodes to ask now, marked asked at `now`.
  std::vector<lt::udp::endpoint> NextToAsk(Clock::time_point now);
  // Files the answer of `from` (nullopt: an error or no answer); false when
  // `from` was not awaited (asked by no one, or already answered).
  bool Answered(const lt::udp::endpoint& from, const std::optional<GetAnswer>& answer, Clock::time_point now);
  // Whether nothing is left to ask or await (call after NextToAsk).
  bool Over(Clock::time_point now) const;
  // When the next awaited node will be given up on; max() when none is awaited.
  Clock::time_point NextGiveUp(Clock::time_point now) const;
  // Up to k of the closest nodes that answered with a token, and their tokens.
  std::vector<std::pair<lt::udp::endpoint, std::string>> Closest() const;
  Clock::duration slowest_answer() const { return slowest_; }

 private:
  struct Candidate {
    enum class State { kNew, kAsked, kAnswered, kFailed };
    lt::sha1_hash distance;
    lt::udp::endpoint endpoint;
    State state = State::kNew;
    Clock::time_point asked{};
    std::string token;
  };
  bool GivenUp(const Candidate& c, Clock::time_point now) const;
  // Walks the candidates from the closest until k answered; counts those
  // awaited and, with `ask`, hands out those to ask.
  size_t Walk(Clock::time_point now, std::vector<size_t>* ask) const;

  lt::sha1_hash target_;
  std::vector<Candidate> candidates_;  // By distance.
  Clock::duration slowest_{};
};

// The put to the closest nodes: over once most of them confirmed, or once each
// confirmed or was given up on (SilentAfter the slowest answer).
class PutRound {
 public:
  PutRound(std::vector<lt::udp::endpoint> targets, Clock::duration slowest_answer, Clock::time_point sent);

  // Files the message of `from`: a confirmation when IsAnswer, otherwise a refusal.
  void Answered(const lt::udp::endpoint& from, bool confirmed, Clock::time_point now);
  bool Over(Clock::time_point now) const;
  Clock::time_point NextGiveUp(Clock::time_point now) const;
  int confirmed() const { return confirmed_; }

 private:
  struct Target {
    lt::udp::endpoint endpoint;
    bool settled = false;
  };
  std::vector<Target> targets_;
  Clock::duration slowest_;
  Clock::time_point sent_;
  int confirmed_ = 0;
};

}  // namespace mumba::p2p
