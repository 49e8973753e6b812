// SPDX-License-Identifier: Apache-2.0
// The gateway on Boost.Beast: an acceptor, one HttpSession per connection (on its
// own strand), which becomes an EventsSession when a page opens /_mumba/events.
#include "gateway/gateway.h"

#include <atomic>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "bundle/manifest.h"
#include "gateway/origin.h"
#include "gateway/route_relay.h"
#include "gateway/static_files.h"

namespace mumba {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
namespace av1 = mumba::app::v1;

constexpr size_t kMaxBodyBytes = 64u << 20;
constexpr size_t kMaxQueuedEvents = 1024;  // Per page; older events are dropped beyond it.
constexpr auto kIdleTimeout = std::chrono::seconds(120);

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

using Request = http::request<http::string_body>;
using StringResponse = http::response<http::string_body>;
using FileResponse = http::response<http::file_body>;

class GatewayImpl;

// One page's /_mumba/events socket. Writes are queued on its strand.
class EventsSession : public std::enable_shared_from_this<EventsSession> {
 public:
  explicit EventsSession(beast::tcp_stream stream) : ws_(std::move(stream)) {}

  void Accept(Request req, std::function<void(std::shared_ptr<EventsSession>)> on_open);
  void Send(std::string text) {
    net::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
      if (self->closed_) return;
      if (self->queue_.size() >= kMaxQueuedEvents) self->queue_.pop_front();
      self->queue_.push_back(std::move(text));
      if (self->queue_.size() == 1) self->WriteNext();
    });
  }
  void Close() {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      if (self->closed_) return;
      self->closed_ = true;
      beast::error_code ec;
      beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(self->ws_).close();
    });
  }
  bool closed() const { return closed_; }

 private:
  void ReadLoop() {
    // Pages send nothing; reading notices when they go.
    ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->closed_ = true;
        return;
      }
      self->in_.clear();
      self->ReadLoop();
    });
  }
  void WriteNext() {
    ws_.text(true);
    ws_.async_write(net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->closed_ = true;
        self->queue_.clear();
        return;
      }
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->WriteNext();
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer in_;
  std::deque<std::string> queue_;
  std::atomic<bool> closed_{false};
};

void EventsSession::Accept(Request req, std::function<void(std::shared_ptr<EventsSession>)> on_open) {
  beast::get_lowest_layer(ws_).expires_never();
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.async_accept(req, [self = shared_from_this(), on_open = std::move(on_open)](beast::error_code ec) {
    if (ec) return;
    on_open(self);
    self->ReadLoop();
  });
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, GatewayImpl* gw) : stream_(std::move(socket)), gw_(gw) {}
  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

  // The connection, for a route relay that borrows it.
  gateway_internal::RelayConnection Lend();

  template <typename Body>
  void Send(http::response<Body> res) {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), res = std::move(res)]() mutable {
      auto msg = std::make_shared<http::response<Body>>(std::move(res));
      http::async_write(self->stream_, *msg, [self, msg](beast::error_code ec, size_t) {
        if (ec || msg->need_eof()) {
          beast::error_code ignored;
          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
          return;
        }
        self->Read();
      });
    });
  }

 private:
  void Read();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  void OnRead(beast::error_code ec);
  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> header_;
  std::optional<http::request_parser<http::string_body>> parser_;
  GatewayImpl* gw_;
  friend class GatewayImpl;
};

class GatewayImpl final : public Gateway {
 public:
  explicit GatewayImpl(GatewayOptions o) : options_(o), acceptor_(ioc_) {}
  ~GatewayImpl() override { Stop(); }

  Status Listen() {
    beast::error_code ec;
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(options_.port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("gateway cannot listen on 127.0.0.1:" + std::to_string(options_.port) + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { ioc_.run(); });
    return {};
  }

  int port() const override { return port_; }

  void Emit(const std::string& app_id, const std::string& name, const std::string& json) override {
    std::string frame = "{\"event\":" + nlohmann::json(name).dump() + ",\"data\":" + json + "}";
    std::lock_guard lock(mu_);
    auto [begin, end] = listeners_.equal_range(app_id);
    for (auto it = begin; it != end;) {
      auto s = it->second.lock();
      if (!s || s->closed()) {
        it = listeners_.erase(it);
        continue;
      }
      s->Send(frame);
      ++it;
    }
  }

  int Listeners(const std::string& app_id) const override {
    std::lock_guard lock(mu_);
    int n = 0;
    auto [begin, end] = listeners_.equal_range(app_id);
    for (auto it = begin; it != end; ++it) {
      auto s = it->second.lock();
      if (s && !s->closed()) ++n;
    }
    return n;
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    net::post(ioc_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    {
      std::lock_guard lock(mu_);
      for (auto& [id, w] : listeners_) {
        if (auto s = w.lock()) s->Close();
      }
      listeners_.clear();
    }
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  // The route request a header names, when it is a declared route of an app that
  // the request may use (host, origin): its body streams to the daemon. Otherwise
  // nullopt, and the request is read whole and answered by Handle.
  std::optional<std::pair<std::string, av1::RouteRequest>> StreamedRoute(const http::request_header<>& h);
  GatewayBackend* backend() const { return options_.backend; }

  // Answers one request; `session` gets exactly one response (or becomes a WebSocket).
  void Handle(const std::shared_ptr<HttpSession>& session, Request req, beast::tcp_stream* stream);

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec != net::error::operation_aborted) Accept();
        return;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<HttpSession>(std::move(socket), this)->Run();
      Accept();
    });
  }

  GatewayOptions options_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::atomic<bool> stopped_{false};

  mutable std::mutex mu_;
  std::multimap<std::string, std::weak_ptr<EventsSession>> listeners_;  // By app id.
  friend class HttpSession;
};

StringResponse TextResponse(const Request& req, http::status status, std::string body,
                            const std::string& type = "text/plain; charset=utf-8") {
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
  return TextResponse(req, HttpStatusFor(st.code()), j.dump() + "\n", "application/json");
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

gateway_internal::RelayConnection HttpSession::Lend() {
  auto self = shared_from_this();
  gateway_internal::RelayConnection c;
  c.stream = &stream_;
  c.buffer = &buffer_;
  c.done = [self](bool keep_alive) {
    if (keep_alive) {
      self->Read();
    } else {
      self->Close();
    }
  };
  c.fail = [self](const Status& st) {
    Request req;
    req.version(11);
    req.keep_alive(false);
    self->Send(ErrorResponse(req, st));
  };
  return c;
}

void HttpSession::OnHeader(beast::error_code ec) {
  if (ec) return Close();
  // A client that waits for leave to send its body gets it before the body is read.
  const bool expects_continue = beast::iequals(header_->get()[http::field::expect], "100-continue");
  auto proceed = [self = shared_from_this()] {
    auto route = self->gw_->StreamedRoute(self->header_->get());
    if (!route) return self->ReadBody();
    // The daemon answers as the body streams in; the stream's time limits are the
    // call's, not the idle timeout's.
    self->stream_.expires_never();
    self->gw_->backend()->DaemonChannel(
        route->first, [self, head = std::move(route->second)](Expected<std::shared_ptr<grpc::Channel>> channel) mutable {
          net::post(self->stream_.get_executor(), [self, head = std::move(head), channel = std::move(channel)]() mutable {
            if (!channel.ok()) return self->Lend().fail(channel.status());
            gateway_internal::RelayRoute(self->Lend(), std::move(*self->header_), std::move(head), *channel);
          });
        });
  };
  if (!expects_continue) return proceed();
  auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
  http::async_write(stream_, *cont, [self = shared_from_this(), cont, proceed](beast::error_code ec, size_t) {
    if (ec) return self->Close();
    proceed();
  });
}

void HttpSession::ReadBody() {
  if (auto length = header_->content_length(); length && *length > kMaxBodyBytes) {
    Request req;
    req.version(11);
    req.keep_alive(false);
    return Send(TextResponse(req, http::status::payload_too_large, "body too large\n"));
  }
  parser_.emplace(std::move(*header_));
  parser_->body_limit(kMaxBodyBytes);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
}

void HttpSession::OnRead(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    Request req;
    req.version(11);
    req.keep_alive(false);
    return Send(TextResponse(req, http::status::payload_too_large, "body too large\n"));
  }
  if (ec) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    return;
  }
  gw_->Handle(shared_from_this(), parser_->release(), &stream_);
}

bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;  // Constant time: the secret is not guessed byte by byte.
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

constexpr std::string_view kSecretCookie = "mumba_secret";

bool HasSecretCookie(const http::request_header<>& req, const std::string& secret) {
  for (const auto& f : req) {
    if (f.name() != http::field::cookie) continue;
    std::string_view cookies(f.value().data(), f.value().size());
    while (!cookies.empty()) {
      auto semi = cookies.find(';');
      std::string_view c = cookies.substr(0, semi);
      while (!c.empty() && c.front() == ' ') c.remove_prefix(1);
      if (c.size() > kSecretCookie.size() && c.substr(0, kSecretCookie.size()) == kSecretCookie &&
          c[kSecretCookie.size()] == '=' && SameSecret(c.substr(kSecretCookie.size() + 1), secret)) {
        return true;
      }
      if (semi == std::string_view::npos) break;
      cookies.remove_prefix(semi + 1);
    }
  }
  return false;
}


StringResponse Login(const Request& req, const std::string& query, const std::string& secret) {
  if (!SameSecret(QueryParam(query, "token"), secret)) {
    return ErrorResponse(req, PermissionDenied("wrong token"));
  }
  std::string next = QueryParam(query, "next");
  // Only a path of this origin: never a redirect elsewhere.
  if (next.empty() || next[0] != '/' || next.rfind("//", 0) == 0 || next.find('\\') != std::string::npos) next = "/";
  StringResponse res = TextResponse(req, http::status::see_other, "");
  res.set(http::field::location, next);
  res.set(http::field::set_cookie,
          std::string(kSecretCookie) + "=" + secret + "; Path=/; HttpOnly; SameSite=Strict");
  res.set(http::field::cache_control, "no-store");
  return res;
}


std::optional<std::pair<std::string, av1::RouteRequest>> GatewayImpl::StreamedRoute(const http::request_header<>& h) {
  const std::string host(h[http::field::host]);
  auto label = AppLabelFromHost(host, port_);
  if (!label.ok()) return std::nullopt;
  auto app = options_.backend->FindApp(*label);
  if (!app.ok() || !app->manifest) return std::nullopt;
  if (!app->secret.empty() && !HasSecretCookie(h, app->secret)) return std::nullopt;
  if (!IsSameOriginRequest(host, std::string(h[http::field::origin]), std::string(h["Sec-Fetch-Site"]))) {
    return std::nullopt;
  }
  const std::string target(h.target());
  const auto qmark = target.find('?');
  std::string decoded;
  if (!PercentDecode(target.substr(0, qmark), &decoded)) return std::nullopt;
  const std::string method(h.method_string());
  if (!app->manifest->FindRoute(method, decoded)) return std::nullopt;
  av1::RouteRequest route;
  route.set_method(method);
  route.set_path(decoded);
  route.set_query(qmark == std::string::npos ? "" : target.substr(qmark + 1));
  for (const auto& f : h) {
    auto* hd = route.add_headers();
    hd->set_name(std::string(f.name_string()));
    hd->set_value(std::string(f.value()));
  }
  return std::make_pair(app->id, std::move(route));
}

void GatewayImpl::Handle(const std::shared_ptr<HttpSession>& session, Request req, beast::tcp_stream* stream) {
  const std::string host(req[http::field::host]);
  auto label = AppLabelFromHost(host, port_);
  if (!label.ok()) return session->Send(ErrorResponse(req, label.status()));
  auto app = options_.backend->FindApp(*label);
  if (!app.ok()) return session->Send(ErrorResponse(req, app.status()));

  const std::string target(req.target());
  const auto qmark = target.find('?');
  const std::string path = target.substr(0, qmark);
  const std::string query = qmark == std::string::npos ? "" : target.substr(qmark + 1);
  if (!app->secret.empty()) {
    if (path == "/_mumba/login") return session->Send(Login(req, query, app->secret));
    if (!HasSecretCookie(req, app->secret)) {
      return session->Send(ErrorResponse(
          req, Status(Code::kUnauthenticated, app->name + " opens only from `mumba launch " + app->name + "`")));
    }
  }
  const bool same_origin = IsSameOriginRequest(host, std::string(req[http::field::origin]),
                                                 std::string(req["Sec-Fetch-Site"]));
  auto refuse_foreign = [&] {
    session->Send(ErrorResponse(req, PermissionDenied(app->name + " accepts this only from its own pages")));
  };

  if (path == "/_mumba/mumba.js") {
    auto res = TextResponse(req, http::status::ok, MumbaJs(), "text/javascript; charset=utf-8");
    res.set(http::field::cache_control, "no-cache");
    return session->Send(std::move(res));
  }
  if (path == "/_mumba/events") {
    if (!same_origin) return refuse_foreign();
    if (!websocket::is_upgrade(req)) {
      return session->Send(ErrorResponse(req, InvalidArgument("/_mumba/events is a WebSocket")));
    }
    // The connection leaves the HTTP session for good.
    auto events = std::make_shared<EventsSession>(std::move(*stream));
    events->Accept(std::move(req), [this, id = app->id](std::shared_ptr<EventsSession> s) {
      std::lock_guard lock(mu_);
      listeners_.emplace(id, s);
    });
    return;
  }
  if (path.rfind("/_mumba/call/", 0) == 0) {
    if (!same_origin) return refuse_foreign();
    if (req.method() != http::verb::post) {
      return session->Send(ErrorResponse(req, InvalidArgument("calls are POSTs with a JSON body")));
    }
    std::string method = path.substr(std::string("/_mumba/call/").size());
    std::string body = req.body().empty() ? "{}" : req.body();
    options_.backend->Call(app->id, method, std::move(body),
                           [session, req = std::move(req)](Expected<std::string> reply) {
                             if (!reply.ok()) return session->Send(ErrorResponse(req, reply.status()));
                             session->Send(TextResponse(req, http::status::ok, std::move(*reply), "application/json"));
                           });
    return;
  }
  if (path.rfind("/_mumba/", 0) == 0) {
    return session->Send(ErrorResponse(req, NotFound("no " + path)));
  }

  const std::string method(req.method_string());
  std::string decoded;
  if (!PercentDecode(path, &decoded)) decoded = path;
  const bool routed = app->manifest ? app->manifest->FindRoute(method, decoded) != nullptr
                                    : !app->route_prefix.empty() && decoded.rfind(app->route_prefix, 0) == 0;
  if (routed) {
    if (!same_origin) return refuse_foreign();
    av1::RouteRequest route;
    route.set_method(method);
    route.set_path(decoded);
    route.set_query(query);
    for (const auto& f : req) {
      auto* h = route.add_headers();
      h->set_name(std::string(f.name_string()));
      h->set_value(std::string(f.value()));
    }
    route.set_body(std::move(req.body()));
    options_.backend->Route(app->id, std::move(route),
                            [session, req = std::move(req)](Expected<av1::RouteResponse> reply) {
                              if (!reply.ok()) return session->Send(ErrorResponse(req, reply.status()));
                              StringResponse res;
                              gateway_internal::SetReplyHead(res, &*reply);
                              res.version(req.version());
                              res.keep_alive(req.keep_alive());
                              res.body() = std::move(*reply->mutable_body());
                              res.prepare_payload();
                              session->Send(std::move(res));
                            });
    return;
  }

  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    return session->Send(ErrorResponse(req, NotFound(app->name + " has no route " + method + " " + decoded)));
  }
  std::string file_path = path;
  if (path == "/" && !app->ui_entry.empty()) file_path = "/" + app->ui_entry;
  auto file = FindStaticFile(app->ui_dir, file_path);
  if (!file.ok()) return session->Send(ErrorResponse(req, NotFound(app->name + " has no page " + decoded)));
  if (std::string(req[http::field::if_none_match]) == file->etag) {
    StringResponse res{http::status::not_modified, req.version()};
    res.set(http::field::server, "mumba");
    res.set(http::field::etag, file->etag);
    res.keep_alive(req.keep_alive());
    return session->Send(std::move(res));
  }
  if (req.method() == http::verb::head) {
    StringResponse res{http::status::ok, req.version()};
    res.set(http::field::server, "mumba");
    res.set(http::field::content_type, file->mime);
    res.set(http::field::etag, file->etag);
    res.set(http::field::cache_control, "no-cache");
    res.content_length(file->size);
    res.keep_alive(req.keep_alive());
    return session->Send(std::move(res));
  }
  beast::error_code ec;
  http::file_body::value_type body;
  body.open(file->path.c_str(), beast::file_mode::scan, ec);
  if (ec) return session->Send(ErrorResponse(req, NotFound(app->name + " has no page " + decoded)));
  FileResponse res{std::piecewise_construct, std::make_tuple(std::move(body)),
                   std::make_tuple(http::status::ok, req.version())};
  res.set(http::field::server, "mumba");
  res.set(http::field::content_type, file->mime);
  res.set(http::field::etag, file->etag);
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  session->Send(std::move(res));
}

}  // namespace

Expected<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options) {
  if (!options.backend) return InvalidArgument("gateway without a backend");
  auto gw = std::make_unique<GatewayImpl>(options);
  MUMBA_TRY(gw->Listen());
  return std::unique_ptr<Gateway>(std::move(gw));
}

}  // namespace mumba
