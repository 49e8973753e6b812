// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: one route request relayed to its daemon's Routes.Stream
// with both bodies streamed: the request body goes up in chunks as it arrives, the
// reply goes down as HTTP chunks as the daemon writes it. Neither is held whole.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <grpcpp/grpcpp.h>

#include "mumba/app/v1/routes.pb.h"
#include "mumba/status.h"

namespace mumba::gateway_internal {

namespace beast = boost::beast;
namespace http = beast::http;

// The connection a relay borrows. Every callback runs on the connection's strand.
struct RelayConnection {
  beast::tcp_stream* stream;
  beast::flat_buffer* buffer;
  // How long each wait on the client may last: for the next part of the request
  // body, and for the client to take the next part of the reply. Past it the
  // connection is closed and the daemon's call cancelled.
  std::chrono::milliseconds idle_timeout{0};
  // The exchange is over and the connection is the session's again: it reads the
  // next request (keep_alive) or closes.
  std::function<void(bool keep_alive)> done;
  // Nothing was sent yet and the relay failed: the session answers with this error
  // and closes the connection (part of the request body may be unread).
  std::function<void(const Status&)> fail;
};

// Hop-by-hop and framing headers a daemon's reply may not set: the gateway frames
// replies itself.
bool IsFramingHeader(std::string name);

// Puts the status and headers of a daemon's reply on `res` (200 for status 0;
// framing headers dropped; text/plain when the daemon names no type).
template <typename Body>
void SetReplyHead(http::response<Body>& res, const mumba::app::v1::RouteResponse* head) {
  res.result(static_cast<http::status>(head && head->status() ? head->status() : 200));
  res.version(11);
  res.set(http::field::server, "mumba");
  if (head) {
    for (const auto& h : head->headers()) {
      if (!IsFramingHeader(h.name())) res.insert(h.name(), h.value());
    }
  }
  if (res[http::field::content_type].empty()) res.set(http::field::content_type, "text/plain; charset=utf-8");
}

// Relays the request whose header `header` has read (its body not yet) to the
// daemon on `channel`. `head` is the route request (method, path, query, headers).
void RelayRoute(RelayConnection connection, http::request_parser<http::empty_body>&& header,
                mumba::app::v1::RouteRequest head, std::shared_ptr<grpc::Channel> channel);

}  // namespace mumba::gateway_internal
