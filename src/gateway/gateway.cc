// SPDX-License-Identifier: Apache-2.0
// The gateway on Boost.Beast: an acceptor and the threads that run every
// connection. Each connection is an HttpSession on its own strand (http_session.h),
// whose requests a RequestDispatcher answers (request_dispatcher.h); a page's
// /_mumba/events connection becomes an EventsSession (events_session.h).
#include "gateway/gateway.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "gateway/events_session.h"
#include "gateway/http_session.h"
#include "gateway/request_dispatcher.h"

namespace mumba {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using gateway_internal::EventListeners;
using gateway_internal::HttpSession;
using gateway_internal::RequestDispatcher;

class GatewayImpl final : public Gateway {
 public:
  explicit GatewayImpl(GatewayOptions o) : options_(o), acceptor_(ioc_) {}
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
    dispatcher_ = std::make_unique<RequestDispatcher>(options_.backend, port_, &listeners_);
    Accept();
    for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { ioc_.run(); });
    return {};
  }

  int port() const override { return port_; }

  void Emit(const std::string& app_id, const std::string& name, const std::string& json) override {
    listeners_.Send(app_id, "{\"event\":" + nlohmann::json(name).dump() + ",\"data\":" + json + "}");
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
      std::make_shared<HttpSession>(std::move(socket), dispatcher_.get())->Run();
      Accept();
    });
  }

  GatewayOptions options_;
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
