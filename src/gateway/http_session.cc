// SPDX-License-Identifier: Apache-2.0
#include "gateway/http_session.h"

#include <cstdint>
#include <limits>

#include "gateway/request_dispatcher.h"

namespace mumba::gateway_internal {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// What one read takes in while the connection waits for a request's first byte.
constexpr size_t kFirstReadBytes = 4096;

// What a connection closing on an error answers: HTTP/1.1, and the connection ends.
Request ClosingRequest() {
  Request req;
  req.version(11);
  req.keep_alive(false);
  return req;
}

}  // namespace

HttpSession::HttpSession(tcp::socket socket, RequestDispatcher* dispatcher, const GatewayBudget* budget,
                         Reservation slot)
    : stream_(std::move(socket)), dispatcher_(dispatcher), budget_(budget), slot_(std::move(slot)) {}

void HttpSession::Run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
}

void HttpSession::Close() {
  body_.Release();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void HttpSession::Read() {
  // The previous request is answered: its body is no longer held.
  body_.Release();
  if (buffer_.size() > 0) return ReadHeader();
  // Between requests the connection is idle; the header's own, shorter timeout
  // starts with its first byte.
  stream_.expires_after(budget_->limits().idle_timeout);
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            if (ec) return self->Close();
                            self->buffer_.commit(n);
                            self->ReadHeader();
                          });
}

void HttpSession::ReadHeader() {
  header_.emplace();
  header_->header_limit(64 * 1024);
  // Beast checks a Content-Length against the limit as the header ends; the limit
  // that applies is decided once the request is known (streamed routes have none).
  // (Not boost::none: Boost 1.74 compares lengths against an empty optional as
  // against 0, refusing every body.)
  header_->body_limit(std::numeric_limits<std::uint64_t>::max());
  stream_.expires_after(budget_->limits().header_timeout);
  http::async_read_header(stream_, buffer_, *header_,
                          [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

RelayConnection HttpSession::Lend() {
  auto self = shared_from_this();
  RelayConnection c;
  c.stream = &stream_;
  c.buffer = &buffer_;
  c.idle_timeout = budget_->limits().idle_timeout;
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
  // The daemon answers as the body streams in: the relay bounds each wait on the
  // client by the idle timeout, and nothing here waits on it meanwhile.
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
  const GatewayLimits& limits = budget_->limits();
  const auto length = header_->content_length();
  if (length && *length > limits.max_body_bytes) {
    return Send(TextResponse(ClosingRequest(), http::status::payload_too_large, "body too large\n"));
  }
  // Room for the whole body is taken before any of it is read: a chunked body
  // (no length) may grow to the limit.
  body_ = budget_->ReserveBody(header_->is_done() ? 0 : length.value_or(limits.max_body_bytes));
  if (!body_) {
    return Send(ErrorResponse(ClosingRequest(), Unavailable("the gateway holds too many request bodies now; "
                                                            "try again")));
  }
  parser_.emplace(std::move(*header_));
  parser_->body_limit(limits.max_body_bytes);
  stream_.expires_after(limits.body_timeout);
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
