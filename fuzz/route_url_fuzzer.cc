// SPDX-License-Identifier: Apache-2.0
// Fuzzes route URLs (src/broker/route_url.h): `hello://greet?x=1` comes from pages,
// other apps and the command line. A URL that parses names a valid app (a name or
// a canonical address) and a path that starts with "/", and parsing what it says
// again gives the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/route_url.h"
#include "bundle/manifest.h"
#include "common/keys.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view url(reinterpret_cast<const char*>(data), size);
  auto parsed = mumba::ParseRouteUrl(url);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == mumba::Code::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(parsed->path.starts_with("/"));
  FUZZ_CHECK(parsed->path.find('?') == std::string::npos && parsed->path.find('#') == std::string::npos);
  if (parsed->app.starts_with(mumba::kAddressScheme)) {
    auto address = mumba::NormalizeAddress(parsed->app);
    FUZZ_CHECK(address.ok() && *address == parsed->app);
  } else {
    FUZZ_CHECK(mumba::IsValidAppName(parsed->app));
  }
  // The canonical form parses back to the same route.
  const bool by_address = parsed->app.starts_with(mumba::kAddressScheme);
  std::string again = by_address ? parsed->app + parsed->path : parsed->app + "://" + parsed->path.substr(1);
  if (!parsed->query.empty()) again += "?" + parsed->query;
  auto reparsed = mumba::ParseRouteUrl(again);
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK(reparsed->app == parsed->app && reparsed->path == parsed->path && reparsed->query == parsed->query);
  return 0;
}
