// SPDX-License-Identifier: Apache-2.0
#include "broker/peer_policy.h"

#include <algorithm>

namespace mumba {

Expected<std::string> ServiceOfMethod(std::string_view method_path) {
  // "/pkg.Service/Method": one leading slash, one more, both parts non-empty.
  if (method_path.size() < 4 || method_path[0] != '/') {
    return InvalidArgument("'" + std::string(method_path.substr(0, 200)) + "' is not a method path");
  }
  size_t slash = method_path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == method_path.size() ||
      method_path.find('/', slash + 1) != std::string_view::npos) {
    return InvalidArgument("'" + std::string(method_path.substr(0, 200)) + "' is not a method path");
  }
  return std::string(method_path.substr(1, slash - 1));
}

Expected<PeerExportDecl> DecidePeerCall(const Manifest* manifest, bool peers_granted, std::string_view method_path) {
  auto service = ServiceOfMethod(method_path);
  if (!service.ok()) return service.status();
  if (!manifest) return NotFound("this node does not run the app");
  if (!peers_granted) return PermissionDenied("the owner of this node has not granted " + manifest->name + " peer calls");
  for (const auto& e : manifest->peer_exports) {
    if (e.service == *service) return e;
  }
  return PermissionDenied(*service + " of " + manifest->name + " is not callable from other nodes");
}

template <typename Map>
void PeerLimits::Bound(Map& map) {
  while (map.size() > options_.max_entries) {
    auto oldest = std::min_element(map.begin(), map.end(),
                                   [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
    map.erase(oldest);
  }
}

bool PeerLimits::Allow(const std::string& node, const std::string& service, int per_second, Clock::time_point now) {
  const double rate = std::max(1, per_second);
  auto [it, fresh] = buckets_.try_emplace(node + '\n' + service);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = rate;
  } else {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(rate, b.tokens + std::max(0.0, elapsed) * rate);
  }
  b.last = now;
  const bool ok = b.tokens >= 1;
  if (ok) b.tokens -= 1;
  if (fresh) Bound(buckets_);
  if (!ok) Strike(node, now);
  return ok;
}

void PeerLimits::Strike(const std::string& node, Clock::time_point now) {
  auto [it, fresh] = nodes_.try_emplace(node);
  Record& r = it->second;
  if (fresh || now - r.window_start > options_.window) {
    r.window_start = now;
    r.strikes = 0;
  }
  r.last = now;
  if (++r.strikes >= options_.strikes) {
    r.cut_off_until = now + options_.cut_off;
    r.strikes = 0;
    r.window_start = now;
  }
  if (fresh) Bound(nodes_);
}

bool PeerLimits::CutOff(const std::string& node, Clock::time_point now) const {
  auto it = nodes_.find(node);
  return it != nodes_.end() && now < it->second.cut_off_until;
}

}  // namespace mumba
