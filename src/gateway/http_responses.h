// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: the request and response types every part shares, and
// the one way a Status becomes an HTTP answer (its status line and JSON body).
#pragma once

#include <string>

#include <boost/beast/http.hpp>

#include "mumba/status.h"

namespace mumba::gateway_internal {

namespace http = boost::beast::http;

using Request = http::request<http::string_body>;
using StringResponse = http::response<http::string_body>;

// The canonical name of `code` ("NOT_FOUND"), as pages see it in an error's "code".
const char* CodeName(Code code);

// The HTTP status an error of `code` is answered with; 500 for codes without one.
http::status HttpStatusFor(Code code);

// A complete response to `req` (its version and keep-alive) with `body` of `type`.
StringResponse TextResponse(const Request& req, http::status status, std::string body,
                            const std::string& type = "text/plain; charset=utf-8");

// The answer to `req` for the error `st`: HttpStatusFor its code, and the body
// {"error": <message>, "code": <CodeName>} as JSON.
StringResponse ErrorResponse(const Request& req, const Status& st);

}  // namespace mumba::gateway_internal
