// SPDX-License-Identifier: Apache-2.0
// Which app a request is for, from its Host header, and whether a browser sent it
// from that app's own page.
#pragma once

#include <string>
#include <string_view>

#include "mumba/status.h"

namespace mumba {

// "hello.localhost:8080" with gateway port 8080 -> "hello". The port must be the
// gateway's and the name a single lowercase label under "localhost"; anything else
// (another port, "evil.example", "localhost" alone, an IP) is PERMISSION_DENIED, so
// a site whose DNS name resolves to 127.0.0.1 cannot reach any app (DNS rebinding).
Expected<std::string> AppLabelFromHost(std::string_view host, int port);

// True when the request may act on the app at `host`: a browser tells where a
// request comes from (Origin, Sec-Fetch-Site); one from another origin, e.g. another
// app's page, may not. Requests with neither header (the CLI, curl) pass.
bool IsSameOriginRequest(std::string_view host, std::string_view origin, std::string_view sec_fetch_site);

}  // namespace mumba
