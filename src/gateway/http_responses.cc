// SPDX-License-Identifier: Apache-2.0
#include "gateway/http_responses.h"

#include <iterator>

#include <nlohmann/json.hpp>

namespace mumba::gateway_internal {

const char* CodeName(Code code) {
  static constexpr const char* kNames[] = {
      "OK",           "CANCELLED",         "UNKNOWN",           "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND",    "ALREADY_EXISTS",    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED",    "OUT_OF_RANGE",      "UNIMPLEMENTED",    "INTERNAL",
      "UNAVAILABLE",  "DATA_LOSS",         "UNAUTHENTICATED"};
  auto i = static_cast<size_t>(code);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

http::status HttpStatusFor(Code code) {
  switch (code) {
    case Code::kInvalidArgument: return http::status::bad_request;
    case Code::kNotFound: return http::status::not_found;
    case Code::kPermissionDenied: return http::status::forbidden;
    case Code::kUnauthenticated: return http::status::unauthorized;
    case Code::kUnimplemented: return http::status::not_implemented;
    case Code::kFailedPrecondition: return http::status::conflict;
    case Code::kResourceExhausted: return http::status::payload_too_large;
    case Code::kDeadlineExceeded: return http::status::gateway_timeout;
    case Code::kUnavailable: return http::status::service_unavailable;
    default: return http::status::internal_server_error;
  }
}

StringResponse TextResponse(const Request& req, http::status status, std::string body, const std::string& type) {
  StringResponse res{status, req.version()};
  res.set(http::field::server, "mumba");
  res.set(http::field::content_type, type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

StringResponse ErrorResponse(const Request& req, const Status& st) {
  nlohmann::json j{{"error", st.message()}, {"code", CodeName(st.code())}};
  // Messages quote what the client sent (a decoded path), which need not be UTF-8:
  // replaced, since the default would throw and end the host.
  std::string body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return TextResponse(req, HttpStatusFor(st.code()), body + "\n", "application/json");
}

}  // namespace mumba::gateway_internal
