// SPDX-License-Identifier: Apache-2.0
#include "gateway/request_dispatcher.h"

#include <string_view>
#include <tuple>

#include <boost/beast/websocket.hpp>

#include "bundle/manifest.h"
#include "gateway/http_session.h"
#include "gateway/origin.h"
#include "gateway/secret_cookie.h"
#include "gateway/static_files.h"

namespace mumba::gateway_internal {
namespace {

namespace av1 = mumba::app::v1;
namespace websocket = beast::websocket;

using FileResponse = http::response<http::file_body>;

constexpr std::string_view kApiPrefix = "/_mumba/";
constexpr std::string_view kLoginPath = "/_mumba/login";
constexpr std::string_view kMumbaJsPath = "/_mumba/mumba.js";
constexpr std::string_view kEventsPath = "/_mumba/events";
constexpr std::string_view kCallPrefix = "/_mumba/call/";

bool StartsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// A request target split at its '?': the path (still percent-encoded) and the query.
std::pair<std::string, std::string> SplitTarget(const std::string& target) {
  const auto qmark = target.find('?');
  return {target.substr(0, qmark), qmark == std::string::npos ? std::string() : target.substr(qmark + 1)};
}

bool IsSameOrigin(const http::request_header<>& h) {
  return IsSameOriginRequest(std::string(h[http::field::host]), std::string(h[http::field::origin]),
                             std::string(h["Sec-Fetch-Site"]));
}

// The route request a daemon gets for the request `h` (its body not included).
av1::RouteRequest RouteRequestFor(const http::request_header<>& h, const std::string& decoded_path,
                                  const std::string& query) {
  av1::RouteRequest route;
  route.set_method(std::string(h.method_string()));
  route.set_path(decoded_path);
  route.set_query(query);
  for (const auto& f : h) {
    auto* header = route.add_headers();
    header->set_name(std::string(f.name_string()));
    header->set_value(std::string(f.value()));
  }
  return route;
}

}  // namespace

// One request on its way through Handle's steps.
struct RequestDispatcher::Exchange {
  std::shared_ptr<HttpSession> session;
  Request req;
  GatewayApp app;
  std::string path;     // The target's path, still percent-encoded.
  std::string query;    // The target after '?', still percent-encoded.
  std::string decoded;  // The path percent-decoded (as it is when malformed).
  bool same_origin = false;

  void Fail(const Status& st) { session->Send(ErrorResponse(req, st)); }
};

RequestDispatcher::RequestDispatcher(GatewayBackend* backend, int port, EventListeners* listeners)
    : backend_(backend), port_(port), listeners_(listeners) {}

std::optional<std::pair<std::string, av1::RouteRequest>> RequestDispatcher::StreamedRoute(
    const http::request_header<>& h) const {
  auto label = AppLabelFromHost(std::string(h[http::field::host]), port_);
  if (!label.ok()) return std::nullopt;
  auto app = backend_->FindApp(*label);
  if (!app.ok() || !app->manifest) return std::nullopt;
  if (!app->secret.empty() && !HasSecretCookie(h, app->secret)) return std::nullopt;
  if (!IsSameOrigin(h)) return std::nullopt;
  auto [path, query] = SplitTarget(std::string(h.target()));
  std::string decoded;
  if (!PercentDecode(path, &decoded)) return std::nullopt;
  if (!app->manifest->FindRoute(std::string(h.method_string()), decoded)) return std::nullopt;
  return std::make_pair(app->id, RouteRequestFor(h, decoded, query));
}

void RequestDispatcher::Handle(const std::shared_ptr<HttpSession>& session, Request req) const {
  Exchange x;
  x.session = session;
  x.req = std::move(req);
  if (!ResolveApp(x) || !Authenticate(x)) return;
  x.same_origin = IsSameOrigin(x.req);
  if (x.path == kMumbaJsPath) return ServeMumbaJs(x);
  if (x.path == kEventsPath) return OpenEvents(x);
  if (StartsWith(x.path, kCallPrefix)) return ServeCall(x);
  if (StartsWith(x.path, kApiPrefix)) return x.Fail(NotFound("no " + x.path));
  if (!PercentDecode(x.path, &x.decoded)) x.decoded = x.path;
  if (IsRoute(x)) return ServeRoute(x);
  ServeStaticFile(x);
}

bool RequestDispatcher::ResolveApp(Exchange& x) const {
  auto label = AppLabelFromHost(std::string(x.req[http::field::host]), port_);
  if (!label.ok()) {
    x.Fail(label.status());
    return false;
  }
  auto app = backend_->FindApp(*label);
  if (!app.ok()) {
    x.Fail(app.status());
    return false;
  }
  x.app = std::move(*app);
  std::tie(x.path, x.query) = SplitTarget(std::string(x.req.target()));
  return true;
}

bool RequestDispatcher::Authenticate(Exchange& x) const {
  if (x.app.secret.empty()) return true;
  if (x.path == kLoginPath) {
    x.session->Send(LoginResponse(x.req, x.query, x.app.secret));
    return false;
  }
  if (!HasSecretCookie(x.req, x.app.secret)) {
    x.Fail(Status(Code::kUnauthenticated, x.app.name + " opens only from `mumba launch " + x.app.name + "`"));
    return false;
  }
  return true;
}

void RequestDispatcher::RefuseForeign(Exchange& x) const {
  x.Fail(PermissionDenied(x.app.name + " accepts this only from its own pages"));
}

void RequestDispatcher::ServeMumbaJs(Exchange& x) const {
  auto res = TextResponse(x.req, http::status::ok, MumbaJs(), "text/javascript; charset=utf-8");
  res.set(http::field::cache_control, "no-cache");
  x.session->Send(std::move(res));
}

void RequestDispatcher::OpenEvents(Exchange& x) const {
  if (!x.same_origin) return RefuseForeign(x);
  if (!websocket::is_upgrade(x.req)) return x.Fail(InvalidArgument("/_mumba/events is a WebSocket"));
  // The connection leaves the HTTP session for good.
  auto events = std::make_shared<EventsSession>(x.session->TakeStream());
  events->Accept(std::move(x.req), [listeners = listeners_, id = x.app.id](std::shared_ptr<EventsSession> s) {
    listeners->Add(id, s);
  });
}

void RequestDispatcher::ServeCall(Exchange& x) const {
  if (!x.same_origin) return RefuseForeign(x);
  if (x.req.method() != http::verb::post) return x.Fail(InvalidArgument("calls are POSTs with a JSON body"));
  std::string method = x.path.substr(kCallPrefix.size());
  std::string body = x.req.body().empty() ? "{}" : x.req.body();
  backend_->Call(x.app.id, method, std::move(body),
                 [session = x.session, req = std::move(x.req)](Expected<std::string> reply) {
                   if (!reply.ok()) return session->Send(ErrorResponse(req, reply.status()));
                   session->Send(TextResponse(req, http::status::ok, std::move(*reply), "application/json"));
                 });
}

bool RequestDispatcher::IsRoute(const Exchange& x) const {
  if (x.app.manifest) return x.app.manifest->FindRoute(std::string(x.req.method_string()), x.decoded) != nullptr;
  return !x.app.route_prefix.empty() && StartsWith(x.decoded, x.app.route_prefix);
}

void RequestDispatcher::ServeRoute(Exchange& x) const {
  if (!x.same_origin) return RefuseForeign(x);
  av1::RouteRequest route = RouteRequestFor(x.req, x.decoded, x.query);
  route.set_body(std::move(x.req.body()));
  backend_->Route(x.app.id, std::move(route),
                  [session = x.session, req = std::move(x.req)](Expected<av1::RouteResponse> reply) {
                    if (!reply.ok()) return session->Send(ErrorResponse(req, reply.status()));
                    StringResponse res;
                    SetReplyHead(res, &*reply);
                    res.version(req.version());
                    res.keep_alive(req.keep_alive());
                    res.body() = std::move(*reply->mutable_body());
                    res.prepare_payload();
                    session->Send(std::move(res));
                  });
}

void RequestDispatcher::ServeStaticFile(Exchange& x) const {
  const Request& req = x.req;
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    return x.Fail(NotFound(x.app.name + " has no route " + std::string(req.method_string()) + " " + x.decoded));
  }
  std::string file_path = x.path;
  if (x.path == "/" && !x.app.ui_entry.empty()) file_path = "/" + x.app.ui_entry;
  auto file = FindStaticFile(x.app.ui_dir, file_path);
  if (!file.ok()) return x.Fail(NotFound(x.app.name + " has no page " + x.decoded));
  if (std::string(req[http::field::if_none_match]) == file->etag) {
    StringResponse res{http::status::not_modified, req.version()};
    res.set(http::field::server, "mumba");
    res.set(http::field::etag, file->etag);
    res.keep_alive(req.keep_alive());
    return x.session->Send(std::move(res));
  }
  if (req.method() == http::verb::head) {
    StringResponse res{http::status::ok, req.version()};
    res.set(http::field::server, "mumba");
    res.set(http::field::content_type, file->mime);
    res.set(http::field::etag, file->etag);
    res.set(http::field::cache_control, "no-cache");
    res.content_length(file->size);
    res.keep_alive(req.keep_alive());
    return x.session->Send(std::move(res));
  }
  beast::error_code ec;
  http::file_body::value_type body;
  body.open(file->path.c_str(), beast::file_mode::scan, ec);
  if (ec) return x.Fail(NotFound(x.app.name + " has no page " + x.decoded));
  FileResponse res{std::piecewise_construct, std::make_tuple(std::move(body)),
                   std::make_tuple(http::status::ok, req.version())};
  res.set(http::field::server, "mumba");
  res.set(http::field::content_type, file->mime);
  res.set(http::field::etag, file->etag);
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  x.session->Send(std::move(res));
}

}  // namespace mumba::gateway_internal
