// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: one HTTP/1.1 connection. It reads a request's header,
// hands a declared route whose body streams to a route relay, reads any other
// request whole and has the RequestDispatcher answer it, then reads the next one.
// Everything it does runs on the connection's strand.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "gateway/http_responses.h"
#include "gateway/route_relay.h"

namespace mumba::gateway_internal {

class RequestDispatcher;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `dispatcher` is borrowed and outlives every session.
  HttpSession(boost::asio::ip::tcp::socket socket, RequestDispatcher* dispatcher);

  // Starts reading requests; the session keeps itself alive while it has work.
  void Run();

  // Writes `res`, from any thread, then reads the next request; or, when the
  // response ends the connection (or the write fails), shuts the connection down.
  template <typename Body>
  void Send(http::response<Body> res) {
    boost::asio::dispatch(stream_.get_executor(), [self = shared_from_this(), res = std::move(res)]() mutable {
      auto msg = std::make_shared<http::response<Body>>(std::move(res));
      http::async_write(self->stream_, *msg, [self, msg](beast::error_code ec, size_t) {
        if (ec || msg->need_eof()) {
          self->Close();
          return;
        }
        self->Read();
      });
    });
  }

  // The connection, which leaves the session for good (a WebSocket takes it). Call
  // on the strand, instead of Send.
  beast::tcp_stream TakeStream() { return std::move(stream_); }

 private:
  void Read();
  void OnHeader(beast::error_code ec);
  // Relays the declared route `route` (app id, route request) the header names.
  void RelayStreamedRoute(std::pair<std::string, mumba::app::v1::RouteRequest> route);
  void ReadBody();
  void OnRead(beast::error_code ec);
  void Close();
  // The connection, for a route relay that borrows it.
  RelayConnection Lend();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> header_;
  std::optional<http::request_parser<http::string_body>> parser_;
  RequestDispatcher* dispatcher_;
};

}  // namespace mumba::gateway_internal
