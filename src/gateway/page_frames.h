// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: the frames a page and the gateway exchange over the
// page's socket (/_mumba/events), besides events. A pure format, with no I/O.
//
// Page -> gateway, a text or binary frame: a JSON object on the first line, then
// "\n" and a body (JSON.stringify never writes a raw newline, so the first one
// ends the header):
//   {"id":7,"call":"hello.v1.Greeter/SayHello"}\n{"name":"Ann"}     body: the request
//   {"id":8,"route":"/greet?name=Ann","method":"POST","headers":[["content-type","text/plain"]]}\n<body>
// Gateway -> page:
//   {"hello":{"max_frame":65536,"max_in_flight":64}}   first, to a page that asked for
//                                                      the "mumba.v1" subprotocol
//   {"id":7,"reply":<JSON>}                            a call's reply
//   {"id":7,"error":"...","code":"NOT_FOUND","status":404}   as an HTTP error's body,
//                                                      with the HTTP status it would have
//   {"id":8,"fetch":true}                              not a route: nothing ran, use HTTP
//   binary {"id":8,"status":200,"headers":[[k,v],...]}\n<body>   a route's reply
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/gateway.h"
#include "mumba/app/v1/routes.pb.h"
#include "mumba/status.h"

namespace mumba::gateway_internal {

// The subprotocol a page names to be told the socket's limits (HelloFrame).
inline constexpr std::string_view kPageSocketProtocol = "mumba.v1";

// The largest id a page may give: what a JavaScript number holds exactly.
inline constexpr uint64_t kMaxPageFrameId = (uint64_t{1} << 53) - 1;

// A call of an exported method: the JSON request, as an HTTP call's body.
struct PageCall {
  std::string method;  // "package.Service/Method"
  std::string json;    // "{}" when the frame has no body.
};

// A request of one of the app's routes.
struct PageRoute {
  std::string method = "GET";
  std::string target;  // Path and query, percent-encoded as in an HTTP request line.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct PageRequest {
  uint64_t id = 0;
  std::variant<PageCall, PageRoute> what;
};

// What ParsePageFrame makes of a frame. `request` is the request, or why the frame
// is none (INVALID_ARGUMENT naming the field). `id` is set whenever the frame has a
// valid id, so that even a refused request is answered; a frame without one
// cannot be answered at all.
struct ParsedPageFrame {
  std::optional<uint64_t> id;
  Expected<PageRequest> request = InvalidArgument("empty frame");
};

// Parses a frame a page sent. Never throws, whatever the bytes.
ParsedPageFrame ParsePageFrame(std::string_view frame);

// The first frame of a socket whose page asked for kPageSocketProtocol.
std::string HelloFrame(const GatewayLimits& limits);
// The reply to call `id`; `json` is the reply as JSON (the transcoder's output).
std::string CallReplyFrame(uint64_t id, std::string_view json);
// The error answering request `id`: its message, code name and HTTP status, as
// the HTTP path's error body has them. Bytes of the message that are not UTF-8
// are replaced.
std::string ErrorFrame(uint64_t id, const Status& st);
// Tells the page to make request `id` over HTTP instead; nothing of it ran.
std::string FetchFrame(uint64_t id);
// The reply to route `id` (sent as a binary frame): the status (200 for 0), the
// headers but those the gateway frames itself, text/plain when the daemon names no
// type, and the body.
std::string RouteReplyFrame(uint64_t id, const mumba::app::v1::RouteResponse& reply);

}  // namespace mumba::gateway_internal
