// SPDX-License-Identifier: Apache-2.0
#include "gateway/http_session.h"

#include <chrono>
#include <cstdint>
#include <limits>

#include "gateway/request_dispatcher.h"

namespace mumba::gateway_internal {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr size_t kMaxBodyBytes = 64u << 20;
constexpr auto kIdleTimeout = std::chrono::seconds(120);

// What a connection closing on an error answers: HTTP/1.1, and the connection ends.
Request ClosingRequest() {
  Request req;
  req.version(11);
  req.keep_alive(false);
  return req;
}

}  // namespace

HttpSession::HttpSession(tcp::socket socket, RequestDispatcher* dispatcher)
    : stream_(std::move(socket)), dispatcher_(dispatcher) {}

void HttpSession::Run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
}

void HttpSession::Close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void HttpSession::Read() {
  header_.emplace();
  header_->header_limit(64 * 1024);
  // Beast checks a Content-Length against the limit as the header ends; the limit
  // that applies is decided once the request is known (streamed routes have none).
  // (Not boost::none: Boost 1.74 compares lengths against an empty optional as
  // against 0, refusing every body.)
  header_->body_limit(std::numeric_limits<std::uint64_t>::max());
  stream_.expires_after(kIdleTimeout);
  http::async_read_header(stream_, buffer_, *header_,
                          [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

RelayConnection HttpSession::Lend() {
  auto self = shared_from_this();
  RelayConnection c;
  c.stream = &stream_;
  c.buffer = &buffer_;
  c.done = [self](bool keep_alive) {
    if (keep_alive) {
      self->Read();
    } else {
      self->Close();
    }
  };
  c.fail = [self](const Status& st) { self->Send(ErrorResponse(ClosingRequest(), st)); };
  return c;
}

void HttpSession::OnHeader(beast::error_code ec) {
  if (ec) return Close();
  auto admission = dispatcher_->Admit(header_->get());
  if (!admission.refusal.ok()) {
    // Answered from the header: a stranger cannot make the host read a body, and a
    // connection whose body was left unread cannot carry another request.
    Request req;
    req.version(header_->get().version());
    req.keep_alive(header_->get().keep_alive() && header_->is_done());
    return Send(ErrorResponse(req, admission.refusal));
  }
  // A client that waits for leave to send its body gets it before the body is read.
  const bool expects_continue = beast::iequals(header_->get()[http::field::expect], "100-continue");
  auto proceed = [self = shared_from_this(), route = std::move(admission.route)]() mutable {
    if (!route) return self->ReadBody();
    self->RelayStreamedRoute(std::move(*route));
  };
  if (!expects_continue) return proceed();
  auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
  http::async_write(stream_, *cont,
                    [self = shared_from_this(), cont, proceed = std::move(proceed)](beast::error_code ec, size_t) mutable {
                      if (ec) return self->Close();
                      proceed();
                    });
}

void HttpSession::RelayStreamedRoute(std::pair<std::string, mumba::app::v1::RouteRequest> route) {
  // The daemon answers as the body streams in; the stream's time limits are the
  // call's, not the idle timeout's.
  stream_.expires_never();
  dispatcher_->backend()->DaemonChannel(
      route.first, [self = shared_from_this(), head = std::move(route.second)](
                       Expected<std::shared_ptr<grpc::Channel>> channel) mutable {
        net::post(self->stream_.get_executor(), [self, head = std::move(head), channel = std::move(channel)]() mutable {
          if (!channel.ok()) return self->Lend().fail(channel.status());
          RelayRoute(self->Lend(), std::move(*self->header_), std::move(head), *channel);
        });
      });
}

void HttpSession::ReadBody() {
  if (auto length = header_->content_length(); length && *length > kMaxBodyBytes) {
    return Send(TextResponse(ClosingRequest(), http::status::payload_too_large, "body too large\n"));
  }
  parser_.emplace(std::move(*header_));
  parser_->body_limit(kMaxBodyBytes);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
}

void HttpSession::OnRead(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    return Send(TextResponse(ClosingRequest(), http::status::payload_too_large, "body too large\n"));
  }
  if (ec) return Close();
  dispatcher_->Handle(shared_from_this(), parser_->release());
}

}  // namespace mumba::gateway_internal
