// SPDX-License-Identifier: Apache-2.0
#include "broker/route_url.h"

#include "bundle/manifest.h"
#include "common/keys.h"

namespace mumba {

Expected<RouteUrl> ParseRouteUrl(std::string_view url) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return InvalidArgument("'" + std::string(url) + "' is not a route URL (APP://path?query)");
  }
  std::string scheme(url.substr(0, sep));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = url.substr(sep + 3);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  RouteUrl out;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    out.query = std::string(rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  if (scheme == "mumba") {
    auto slash = rest.find('/');
    std::string_view key = rest.substr(0, slash);
    auto address = NormalizeAddress(key);
    if (!address.ok()) return InvalidArgument("'" + std::string(url) + "': " + address.status().message());
    out.app = *address;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  } else {
    if (!IsValidAppName(scheme)) {
      return InvalidArgument("'" + std::string(url) + "': '" + scheme +
                             "' is not an app name (a-z, 0-9 and '-')");
    }
    out.app = scheme;
  }
  while (rest.starts_with("/")) rest.remove_prefix(1);
  out.path = "/" + std::string(rest);
  return out;
}

}  // namespace mumba
