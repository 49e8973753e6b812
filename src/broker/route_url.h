// SPDX-License-Identifier: Apache-2.0
// Route URLs: every app is a URL scheme named after it.
//   hello://greet?name=Ann        -> app "hello", path "/greet", query "name=Ann"
//   mumba://<52 chars>/greet?x=1  -> app by address
#pragma once

#include <string>
#include <string_view>

#include "mumba/status.h"

namespace mumba {

struct RouteUrl {
  std::string app;    // A name, or a canonical address "mumba://<52>".
  std::string path;   // Starts with "/".
  std::string query;  // Without "?".
};

Expected<RouteUrl> ParseRouteUrl(std::string_view url);

}  // namespace mumba
