// SPDX-License-Identifier: Apache-2.0
#include "broker/grants.h"

#include <algorithm>

#include "common/keys.h"

namespace mumba {
namespace {

constexpr std::string_view kCall = "call:";

bool Exports(const Callee& c, std::string_view service) {
  return std::find(c.services.begin(), c.services.end(), service) != c.services.end();
}

}  // namespace

std::vector<std::string> AsksOf(const Manifest& m) {
  std::vector<std::string> out;
  if (m.permissions.network) out.push_back("network");
  if (m.permissions.peers) out.push_back("peers");
  for (const auto& target : m.permissions.call) out.push_back(std::string(kCall) + target);
  return out;
}

std::string DescribeAsk(std::string_view ask) {
  if (ask == "network") return "the network";
  if (ask == "peers") return "calls between this app and the same app on other nodes";
  if (!ask.starts_with(kCall)) return std::string(ask);
  std::string_view target = ask.substr(kCall.size());
  if (!target.starts_with(kAddressScheme)) return "to use any app that implements " + std::string(target);
  size_t slash = target.find('/', kAddressScheme.size());
  if (slash == std::string_view::npos) return "to call app " + std::string(target);
  return "to call " + std::string(target.substr(slash + 1)) + " of app " + std::string(target.substr(0, slash));
}

std::vector<std::string> UngrantedAsks(const Manifest& m, const std::set<std::string>& granted) {
  std::vector<std::string> out;
  for (auto& ask : AsksOf(m)) {
    if (!granted.contains(ask)) out.push_back(std::move(ask));
  }
  return out;
}

std::vector<std::string> AllowedServices(const std::set<std::string>& granted, const Callee& callee) {
  std::set<std::string> out;
  const std::string whole = std::string(kCall) + callee.id;
  if (granted.contains(whole)) {
    out.insert(callee.services.begin(), callee.services.end());
    if (callee.routes) out.insert(std::string(kRoutesService));
  }
  for (const auto& service : callee.services) {
    if (granted.contains(whole + "/" + service) || granted.contains(std::string(kCall) + service)) {
      out.insert(service);
    }
  }
  return {out.begin(), out.end()};
}

Expected<BrokerDecision> DecideConnection(std::string_view target, const std::string& caller_id,
                                          const std::set<std::string>& granted, const std::vector<Callee>& apps) {
  if (target.empty()) return InvalidArgument("connect: no target (an address, an app name or a service name)");
  std::vector<const Callee*> candidates;
  const bool is_interface = target.find('.') != std::string_view::npos && !target.starts_with(kAddressScheme);
  if (is_interface) {
    for (const auto& app : apps) {
      if (Exports(app, target)) candidates.push_back(&app);
    }
    if (candidates.empty()) return NotFound("no installed app implements " + std::string(target));
  } else if (auto address = NormalizeAddress(target); address.ok()) {
    for (const auto& app : apps) {
      if (app.id == *address) candidates.push_back(&app);
    }
    if (candidates.empty()) return NotFound("app " + *address + " is not installed");
  } else {
    for (const auto& app : apps) {
      if (app.name == target) candidates.push_back(&app);
    }
    if (candidates.empty()) return NotFound("no app named '" + std::string(target) + "' is installed");
    if (candidates.size() > 1) {
      return FailedPrecondition("two apps are named '" + std::string(target) + "': connect by address");
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Callee* a, const Callee* b) { return std::tie(a->name, a->id) < std::tie(b->name, b->id); });
  std::vector<BrokerDecision> granted_ones;
  for (const Callee* c : candidates) {
    if (c->id == caller_id) continue;
    auto services = AllowedServices(granted, *c);
    // Through an interface, the connection serves that interface alone.
    if (is_interface) std::erase_if(services, [&](const std::string& s) { return s != target; });
    if (!services.empty()) granted_ones.push_back({*c, std::move(services), ""});
  }
  if (granted_ones.empty()) {
    if (candidates.size() == 1 && candidates[0]->id == caller_id) {
      return InvalidArgument("connect: " + std::string(target) + " is the calling app itself");
    }
    return PermissionDenied("no grant to call " + std::string(target) +
                            " (the manifest's [permissions] call, granted by the owner: mumba permissions)");
  }
  BrokerDecision picked = std::move(granted_ones.front());
  if (granted_ones.size() > 1) {
    picked.note = "picked " + picked.callee.name + " (" + picked.callee.id + ") of " +
                  std::to_string(granted_ones.size()) + " granted apps implementing " + std::string(target) + ":";
    for (const auto& d : granted_ones) picked.note += " " + d.callee.name;
  }
  return picked;
}

}  // namespace mumba
