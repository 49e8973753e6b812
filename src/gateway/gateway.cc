// SPDX-License-Identifier: Apache-2.0
// The gateway on Boost.Beast: an acceptor and the threads that run every
// connection. Each connection is an HttpSession on its own strand (http_session.h),
// whose requests a RequestDispatcher answers (request_dispatcher.h); a page's
// /_mumba/events connection becomes an EventsSession (events_session.h). The
// GatewayBudget (gateway_budget.h) counts the connections: one over the cap is
// answered 503 here and closed.
#include "gateway/gateway.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "gateway/events_session.h"
#include "gateway/gateway_budget.h"
#include "gateway/http_session.h"
#include "gateway/request_dispatcher.h"

namespace mumba {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using gateway_internal::EventListeners;
using gateway_internal::Frame;
using gateway_internal::GatewayBudget;
using gateway_internal::HttpSession;
using gateway_internal::RequestDispatcher;
using gateway_internal::Reservation;

// How long a refused connection is given to take its answer.
constexpr auto kRefusalLinger = std::chrono::seconds(1);

const std::string& BusyResponse() {
  static const std::string body =
      "{\"error\":\"the gateway has too many connections open; try again\",\"code\":\"UNAVAILABLE\"}\n";
  static const std::string response = "HTTP/1.1 503 Service Unavailable\r\nServer: mumba\r\n"
                                      "Content-Type: application/json\r\nConnection: close\r\nRetry-After: 1\r\n"
                                      "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return response;
}

// A connection over the cap: answered 503 without reading its request, then
// closed. What the client sent is read and dropped until it closes or a moment
// passes, because closing a socket with unread bytes resets it, and a reset may
// destroy the answer before the client reads it.
class Refusal : public std::enable_shared_from_this<Refusal> {
 public:
  Refusal(tcp::socket socket, Reservation place) : stream_(std::move(socket)), place_(std::move(place)) {}

  void Run() {
    stream_.expires_after(kRefusalLinger);
    net::async_write(stream_, net::buffer(BusyResponse()), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->Drain();
    });
  }

 private:
  void Drain() {
    stream_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->Drain();
    });
  }

  beast::tcp_stream stream_;
  Reservation place_;
  char scratch_[4096];
};

class GatewayImpl final : public Gateway {
 public:
  explicit GatewayImpl(GatewayOptions o) : options_(o), budget_(o.limits), acceptor_(ioc_) {}
  ~GatewayImpl() override { Stop(); }

  // Binds 127.0.0.1:<port> and starts the threads. UNAVAILABLE when it cannot.
  Status Listen() {
    beast::error_code ec;
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(options_.port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("gateway cannot listen on 127.0.0.1:" + std::to_string(options_.port) + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    dispatcher_ = std::make_unique<RequestDispatcher>(options_.backend, port_, &listeners_, &budget_);
    Accept();
    for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { ioc_.run(); });
    return {};
  }

  int port() const override { return port_; }

  Status Emit(const std::string& app_id, const std::string& name, const std::string& json) override {
    auto frame = std::make_shared<const std::string>("{\"event\":" + nlohmann::json(name).dump() +
                                                     ",\"data\":" + json + "}");
    if (frame->size() > budget_.limits().max_event_bytes) {
      return ResourceExhausted("event '" + name + "' is " + std::to_string(frame->size()) +
                               " bytes; the gateway sends at most " +
                               std::to_string(budget_.limits().max_event_bytes));
    }
    listeners_.Send(app_id, std::move(frame));
    return {};
  }

  int Listeners(const std::string& app_id) const override { return listeners_.Count(app_id); }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    net::post(ioc_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    listeners_.CloseAll();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec != net::error::operation_aborted) Accept();
        return;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (Reservation slot = budget_.TakeConnection()) {
        std::make_shared<HttpSession>(std::move(socket), dispatcher_.get(), &budget_, std::move(slot))->Run();
      } else if (Reservation place = budget_.TakeRefusal()) {
        std::make_shared<Refusal>(std::move(socket), std::move(place))->Run();
      }
      Accept();
    });
  }

  GatewayOptions options_;
  // Before the io_context, so that it outlives every session, which borrows it.
  GatewayBudget budget_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
  EventListeners listeners_;
  std::unique_ptr<RequestDispatcher> dispatcher_;  // Once listening: it needs the port.
};

}  // namespace

Expected<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options) {
  if (!options.backend) return InvalidArgument("gateway without a backend");
  auto gw = std::make_unique<GatewayImpl>(options);
  MUMBA_TRY(gw->Listen());
  return std::unique_ptr<Gateway>(std::move(gw));
}

}  // namespace mumba
