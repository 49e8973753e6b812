// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: the secret cookie that guards an app with a `secret`
// (the host's home app). Only a page opened through GET /_mumba/login?token=<secret>
// carries it, so another local user's browser cannot drive that app.
#pragma once

#include <string>
#include <string_view>

#include "gateway/gateway.h"
#include "gateway/http_responses.h"

namespace mumba::gateway_internal {

// The cookie's name: mumba_secret=<secret>.
inline constexpr std::string_view kSecretCookie = kSecretCookieName;

// True when `a` and `b` are equal. Takes the same time for every `a` of the right
// length, so a secret cannot be guessed byte by byte.
bool SameSecret(std::string_view a, std::string_view b);

// True when one of the request's Cookie headers holds mumba_secret=<secret>.
bool HasSecretCookie(const http::request_header<>& req, const std::string& secret);

// The answer to GET /_mumba/login?<query>. With token=<secret>: 303 to the query's
// `next` (a path of this origin; "/" for anything else), setting the cookie
// HttpOnly and SameSite=Strict. With any other token: 403 PERMISSION_DENIED.
StringResponse LoginResponse(const Request& req, const std::string& query, const std::string& secret);

}  // namespace mumba::gateway_internal
