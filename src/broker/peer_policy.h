// SPDX-License-Identifier: Apache-2.0
// What a host decides about a call from another node before the daemon sees it.
//
// A call from another node is a stranger's input: it may name any app and any
// method, as often as it likes. The receiving host lets it through only to an app
// that is installed, whose owner granted it peer calls, and whose manifest lists the
// service under [[exports.peers]]; and only as often as that entry's rate allows
// for the calling node. A node that keeps being refused is cut off for a while, so a
// flood costs the host a table lookup per call and never reaches a daemon. Pure:
// time is passed in, and nothing here is thread-safe (the caller holds a lock).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "bundle/manifest.h"
#include "mumba/status.h"
#include "platform/clock.h"

namespace mumba {

// "pkg.Service" of a method path "/pkg.Service/Method"; INVALID_ARGUMENT for any
// other shape.
Expected<std::string> ServiceOfMethod(std::string_view method_path);

// The [[exports.peers]] entry that lets other nodes call `method_path` of the app
// described by `manifest` (nullptr: not installed here). NOT_FOUND when the app is
// not installed, PERMISSION_DENIED when its owner has not granted peer calls or the
// service is not peer-callable, INVALID_ARGUMENT for a malformed method path. Each
// message names what was refused, never more than the caller already said.
Expected<PeerExportDecl> DecidePeerCall(const Manifest* manifest, bool peers_granted, std::string_view method_path);

struct PeerLimitsOptions {
  // A node refused this many times within `window` (over its rate, or for a call it
  // may not make) is cut off for `cut_off`.
  int strikes = 50;
  std::chrono::milliseconds window{10'000};
  std::chrono::milliseconds cut_off{60'000};
  // At most this many (node, service) buckets and nodes are remembered; the ones
  // idle longest are forgotten first, so memory stays bounded whatever callers do.
  size_t max_entries = 4096;
};

class PeerLimits {
 public:
  explicit PeerLimits(PeerLimitsOptions options = {}) : options_(options) {}

  // Whether `node` may make one more call of `service` at `now`, at most
  // `per_second` a second with a burst of as many. A refusal counts as a strike.
  bool Allow(const std::string& node, const std::string& service, int per_second, Clock::time_point now);

  // Counts a refused call against `node` (a call it may not make, or garbage).
  void Strike(const std::string& node, Clock::time_point now);

  // Whether `node` is cut off at `now`.
  bool CutOff(const std::string& node, Clock::time_point now) const;

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last;
  };
  struct Record {
    int strikes = 0;
    Clock::time_point window_start;
    Clock::time_point cut_off_until;
    Clock::time_point last;
  };
  template <typename Map>
  void Bound(Map& map);

  PeerLimitsOptions options_;
  std::map<std::string, Bucket> buckets_;  // node + '\n' + service.
  std::map<std::string, Record> nodes_;
};

}  // namespace mumba
