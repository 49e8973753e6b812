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

constexpr std::string_view kCallPrefix = "/_mumba/call/";

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

// The app a request is for, and what it asks of it.
struct RequestDispatcher::Target {
  std::string label;        // The Host header's app label.
  GatewayApp app;
  std::string path;         // The target's path, still percent-encoded.
  std::string query;        // The target after '?', still percent-encoded.
  std::string decoded;      // The path percent-decoded (as it is when malformed).
  bool decoded_ok = false;  // False when the path holds a malformed escape.
  RequestKind kind = RequestKind::kUiFile;
};

// One request on its way through Handle's steps.
struct RequestDispatcher::Exchange {
  std::shared_ptr<HttpSession> session;
  Request req;
  Target target;
  bool same_origin = false;

  const GatewayApp& app() const { return target.app; }
  void Fail(const Status& st) { session->Send(ErrorResponse(req, st)); }
};

RequestDispatcher::RequestDispatcher(GatewayBackend* backend, int port, EventListeners* listeners,
                                     const GatewayBudget* budget)
    : backend_(backend), port_(port), listeners_(listeners), budget_(budget) {}

Expected<RequestDispatcher::Target> RequestDispatcher::Resolve(const http::request_header<>& h) const {
  MUMBA_ASSIGN_OR_RETURN(std::string label, AppLabelFromHost(std::string(h[http::field::host]), port_));
  Target t;
  MUMBA_ASSIGN_OR_RETURN(t.app, backend_->FindApp(label));
  t.label = std::move(label);
  std::tie(t.path, t.query) = SplitTarget(std::string(h.target()));
  t.decoded_ok = PercentDecode(t.path, &t.decoded);
  if (!t.decoded_ok) t.decoded = t.path;
  t.kind = ClassifyRequest(t.app, std::string_view(h.method_string().data(), h.method_string().size()), t.path,
                           t.decoded);
  return t;
}

RequestDispatcher::Admission RequestDispatcher::Admit(const http::request_header<>& h) const {
  auto t = Resolve(h);
  if (!t.ok()) return {t.status(), std::nullopt};
  if (Status st = CheckSecret(t->app, t->kind, h, port_); !st.ok()) return {st, std::nullopt};
  if (t->kind != RequestKind::kRoute || !t->app.manifest || !t->decoded_ok || !IsSameOrigin(h)) return {};
  return {Status(), std::make_pair(t->app.id, RouteRequestFor(h, t->decoded, t->query))};
}

void RequestDispatcher::Handle(const std::shared_ptr<HttpSession>& session, Request req) const {
  Exchange x;
  x.session = session;
  x.req = std::move(req);
  // Admit checked the header already; a request read whole is checked again here,
  // so that no path through the gateway skips the checks.
  auto target = Resolve(x.req);
  if (!target.ok()) return x.Fail(target.status());
  x.target = std::move(*target);
  if (x.target.kind == RequestKind::kLogin) {
    return x.session->Send(LoginResponse(x.req, x.target.query, x.app().secret, SecretCookieName(port_)));
  }
  if (Status st = CheckSecret(x.app(), x.target.kind, x.req, port_); !st.ok()) return x.Fail(st);
  x.same_origin = IsSameOrigin(x.req);
  switch (x.target.kind) {
    case RequestKind::kMumbaJs: return ServeMumbaJs(x);
    case RequestKind::kEvents: return OpenEvents(x);
    case RequestKind::kCall: return ServeCall(x);
    case RequestKind::kRoute: return ServeRoute(x);
    case RequestKind::kUiFile: return ServeStaticFile(x);
    case RequestKind::kLogin:
    case RequestKind::kOtherApi: break;
  }
  x.Fail(NotFound("no " + x.target.path));
}

void RequestDispatcher::RefuseForeign(Exchange& x) const {
  x.Fail(PermissionDenied(x.app().name + " accepts this only from its own pages"));
}

void RequestDispatcher::ServeMumbaJs(Exchange& x) const {
  auto res = TextResponse(x.req, http::status::ok, MumbaJs(), "text/javascript; charset=utf-8");
  res.set(http::field::cache_control, "no-cache");
  x.session->Send(std::move(res));
}

void RequestDispatcher::OpenEvents(Exchange& x) const {
  if (!x.same_origin) return RefuseForeign(x);
  if (!websocket::is_upgrade(x.req)) return x.Fail(InvalidArgument("/_mumba/events is a WebSocket"));
  // The connection leaves the HTTP session for good, and takes its place in the
  // gateway's budget along. Its calls are this app's alone, as the checks above
  // found it.
  auto [stream, slot] = x.session->TakeStream();
  SocketCalls calls(backend_, port_, SocketApp{x.target.label, x.app().id, x.app().secret});
  auto events = std::make_shared<EventsSession>(std::move(stream), std::move(slot), budget_, std::move(calls));
  events->Accept(std::move(x.req), [listeners = listeners_, id = x.app().id](std::shared_ptr<EventsSession> s) {
    listeners->Add(id, s);
  });
}

void RequestDispatcher::ServeCall(Exchange& x) const {
  if (!x.same_origin) return RefuseForeign(x);
  if (x.req.method() != http::verb::post) return x.Fail(InvalidArgument("calls are POSTs with a JSON body"));
  std::string method = x.target.path.substr(kCallPrefix.size());
  std::string body = x.req.body().empty() ? "{}" : x.req.body();
  backend_->Call(x.app().id, method, std::move(body),
                 [session = x.session, req = std::move(x.req)](Expected<std::string> reply) {
                   if (!reply.ok()) return session->Send(ErrorResponse(req, reply.status()));
                   session->Send(TextResponse(req, http::status::ok, std::move(*reply), "application/json"));
                 });
}

void RequestDispatcher::ServeRoute(Exchange& x) const {
  if (!x.same_origin) return RefuseForeign(x);
  av1::RouteRequest route = RouteRequestFor(x.req, x.target.decoded, x.target.query);
  route.set_body(std::move(x.req.body()));
  backend_->Route(x.app().id, std::move(route),
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
    return x.Fail(NotFound(x.app().name + " has no route " + std::string(req.method_string()) + " " +
                           x.target.decoded));
  }
  std::string file_path = x.target.path;
  if (file_path == "/" && !x.app().ui_entry.empty()) file_path = "/" + x.app().ui_entry;
  auto file = FindStaticFile(x.app().ui_dir, file_path);
  if (!file.ok()) return x.Fail(NotFound(x.app().name + " has no page " + x.target.decoded));
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
  if (ec) return x.Fail(NotFound(x.app().name + " has no page " + x.target.decoded));
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
