// SPDX-License-Identifier: Apache-2.0
// "host:port" text, as configuration and peers give it (the BitTorrent node's
// listen address and DHT nodes, the links between hosts): split, not resolved.
#pragma once

#include <string>

#include "mumba/status.h"

namespace mumba {

struct HostPort {
  std::string host;  // Without the brackets of an IPv6 literal.
  int port = 0;
};

// Splits "host:port" or "[v6]:port" (port 0 to 65535). Says nothing about
// whether host is an IP. INVALID_ARGUMENT, naming `text`, for anything else.
Expected<HostPort> SplitHostPort(const std::string& text);

}  // namespace mumba
