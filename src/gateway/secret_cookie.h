// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: which requests need an app's secret cookie, and whether
// a request carries it. 127.0.0.1 is open to every local process and user; only the
// app's windows (the host puts the cookie in their profiles through DevTools) and
// the owner's own tools (`mumba gateway-session`) hold the secret. Static files and
// mumba.js stay public; everything that reaches the daemon, the app's storage or
// its events, and every request that could change something, needs the cookie.
#pragma once

#include <string>
#include <string_view>

#include "gateway/gateway.h"
#include "gateway/http_responses.h"

namespace mumba::gateway_internal {

// What a request asks of an app, which decides whether it needs the secret.
enum class RequestKind {
  kUiFile,    // A path outside /_mumba/ that is no route: a file of the bundle's ui/.
  kMumbaJs,   // /_mumba/mumba.js, the page's client module.
  kLogin,     // /_mumba/login of an app whose secret guards its UI (home).
  kEvents,    // /_mumba/events.
  kCall,      // /_mumba/call/<Service>/<Method>.
  kOtherApi,  // Any other /_mumba/ path.
  kRoute,     // A route of the app: its manifest's, or under its route_prefix.
};

// The kind of a request with `method` for `path` (the target's path, still
// percent-encoded); `decoded` is that path percent-decoded.
RequestKind ClassifyRequest(const GatewayApp& app, std::string_view method, std::string_view path,
                            const std::string& decoded);

// True when `a` and `b` are equal. Takes the same time for every `a` of the right
// length, so a secret cannot be guessed byte by byte.
bool SameSecret(std::string_view a, std::string_view b);

// True when one of the request's Cookie headers holds `name`=<secret>. Always false
// for an empty secret.
bool HasSecretCookie(const http::request_header<>& req, std::string_view name, std::string_view secret);

// OK when a request of `kind` with header `h`, for `app` on the gateway at `port`,
// may go on as far as the secret is concerned: a GET or HEAD of a UI file or of
// mumba.js (unless the app's secret guards its UI), home's login page (it checks its
// own token), or any request carrying the cookie SecretCookieName(port)=<app's
// secret>. Otherwise the refusal: UNAUTHENTICATED for an app whose secret guards its
// UI, PERMISSION_DENIED (saying that a Mumba window is needed) for any other app.
Status CheckSecret(const GatewayApp& app, RequestKind kind, const http::request_header<>& h, int port);

// The answer to GET /_mumba/login?<query>. With token=<secret>: 303 to the query's
// `next` (a path of this origin; "/" for anything else), setting the cookie
// `cookie_name` HttpOnly and SameSite=Strict. With any other token: 403
// PERMISSION_DENIED.
StringResponse LoginResponse(const Request& req, const std::string& query, const std::string& secret,
                             const std::string& cookie_name);

}  // namespace mumba::gateway_internal
