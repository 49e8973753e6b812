// SPDX-License-Identifier: Apache-2.0
#include "common/host_port.h"

#include <algorithm>
#include <cctype>

namespace mumba {

Expected<HostPort> SplitHostPort(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgument("'" + text + "' is not [IPv6]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      return InvalidArgument("'" + text + "' is not HOST:PORT");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return InvalidArgument("'" + text + "' has no host");
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return InvalidArgument("'" + text + "' has no valid port");
  }
  int p = std::stoi(port);
  if (p > 65535) return InvalidArgument("'" + text + "' has a port above 65535");
  return HostPort{host, p};
}

}  // namespace mumba
