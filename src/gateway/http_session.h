// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: one HTTP/1.1 connection. It reads a request's header,
// hands a declared route whose body streams to a route relay, reads any other
// request whole and has the RequestDispatcher answer it, then reads the next one.
// Everything it does runs on the connection's strand. Every wait on the client is
// bounded (GatewayLimits): the next request's first byte and a reply the client
// does not read by idle_timeout, a header by header_timeout, a body read whole by
// body_timeout, its size by max_body_bytes and the gateway's max_buffered_bytes.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "gateway/gateway_budget.h"
#include "gateway/http_responses.h"
#include "gateway/route_relay.h"

namespace mumba::gateway_internal {

class RequestDispatcher;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `dispatcher` and `budget` are borrowed and outlive every session; `slot` is
  // the connection's place in the budget, held while the connection is open.
  HttpSession(boost::asio::ip::tcp::socket socket, RequestDispatcher* dispatcher, const GatewayBudget* budget,
              Reservation slot);

  // Starts reading requests; the session keeps itself alive while it has work.
  void Run();

  // Writes `res`, from any thread, then reads the next request; or, when the
  // response ends the connection (or the write fails), shuts the connection down.
  template <typename Body>
  void Send(http::response<Body> res) {
    boost::asio::dispatch(stream_.get_executor(), [self = shared_from_this(), res = std::move(res)]() mutable {
      auto msg = std::make_shared<http::response<Body>>(std::move(res));
      self->WriteSome(msg, std::make_shared<http::response_serializer<Body>>(*msg));
    });
  }

  // The connection and its place in the budget, which leave the session for good
  // (a WebSocket takes them). Call on the strand, instead of Send.
  std::pair<beast::tcp_stream, Reservation> TakeStream() { return {std::move(stream_), std::move(slot_)}; }

 private:
  // Writes the next part of `msg`; a client that reads none of it for idle_timeout
  // loses the connection.
  template <typename Body>
  void WriteSome(std::shared_ptr<http::response<Body>> msg, std::shared_ptr<http::response_serializer<Body>> sr) {
    stream_.expires_after(budget_->limits().idle_timeout);
    http::async_write_some(stream_, *sr, [self = shared_from_this(), msg, sr](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      if (!sr->is_done()) return self->WriteSome(msg, sr);
      if (msg->need_eof()) return self->Close();
      self->Read();
    });
  }

  void ReadHeader();
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
  const GatewayBudget* budget_;
  Reservation slot_;
  Reservation body_;  // The body read whole, until its request is answered.
};

}  // namespace mumba::gateway_internal
