// SPDX-License-Identifier: Apache-2.0
// What an app asks for and what a grant lets it reach: the broker's policy, pure
// (no sockets, no registry), so every rule is tested on its own.
//
// An app's manifest asks; the owner grants; the broker hands out a connection only
// where both agree. An ask is a short key:
//   "network"                       the network
//   "peers"                         calls from and to the same app on other nodes
//   "call:mumba://<id>"             every service app <id> exports, and its routes
//   "call:mumba://<id>/pkg.Service" that one service of app <id>
//   "call:pkg.Service"              that service of any app that exports it
// A grant is an ask the owner said yes to. Nothing here trusts what a caller says
// about itself: the caller's id comes from the socket it asked on.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/manifest.h"
#include "mumba/status.h"

namespace mumba {

// The service every SDK daemon serves its routes on; a connection that allows it
// lets the caller fetch the callee's routes.
inline constexpr std::string_view kRoutesService = "mumba.app.v1.Routes";

// In the message of an install refused for asks the owner has not granted:
// "<name> <version> asks for: <ask>; <ask> (...)".
inline constexpr std::string_view kAsksFor = " asks for: ";

// Every ask of `manifest`, in the manifest's order: network, peers, then calls.
std::vector<std::string> AsksOf(const Manifest& manifest);

// What `ask` means in words, for prompts and `mumba permissions`: "the network",
// "to call mumba://<id>", "to use any app that implements mail.v1.Mailer", ...
std::string DescribeAsk(std::string_view ask);

// The asks of `manifest` that `granted` does not hold, in the manifest's order.
std::vector<std::string> UngrantedAsks(const Manifest& manifest, const std::set<std::string>& granted);

// An installed app as the broker sees a possible callee.
struct Callee {
  std::string id;
  std::string name;
  std::vector<std::string> services;  // What its manifest exports.
  bool routes = false;                // Whether it declares routes.
};

// The services of `callee` a caller holding `granted` may use, sorted: all it
// exports (and its routes) for a grant of the app, one service for a grant of that
// service of the app or of that interface. Empty when none.
std::vector<std::string> AllowedServices(const std::set<std::string>& granted, const Callee& callee);

// A connection the broker may hand out.
struct BrokerDecision {
  Callee callee;
  std::vector<std::string> services;  // What the callee serves on it (AllowedServices).
  std::string note;                   // Which provider was picked when several were granted.
};

// Where a connection request for `target` from app `caller_id` (holding
// `granted`) goes, among the installed `apps`. target: an address (mumba://<id>
// or the bare key), an app's name, or a service name (an interface: the granted
// providers are sorted by name and the first is picked, the note says which and
// lists the others). NOT_FOUND when no installed app is (or implements) the
// target; FAILED_PRECONDITION when two apps share the name; PERMISSION_DENIED when
// the caller holds no grant for the callee (nothing may reach it); INVALID_ARGUMENT
// for an empty target or one that is the caller itself.
Expected<BrokerDecision> DecideConnection(std::string_view target, const std::string& caller_id,
                                          const std::set<std::string>& granted, const std::vector<Callee>& apps);

}  // namespace mumba
