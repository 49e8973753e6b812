// SPDX-License-Identifier: Apache-2.0
#include "gateway/socket_calls.h"

#include "gateway/secret_cookie.h"
#include "gateway/static_files.h"

namespace mumba::gateway_internal {

namespace av1 = mumba::app::v1;

Expected<GatewayApp> SocketCalls::Recheck() const {
  auto app = backend_->FindApp(app_.label);
  if (!app.ok() || app->id != app_.id || !SameSecret(app->secret, app_.secret) || app->secret.empty()) {
    return PermissionDenied("the app this page's socket was opened for is gone or has a new secret; reload the page");
  }
  return app;
}

void SocketCalls::Answer(const GatewayApp& app, PageRequest request,
                         std::function<void(std::string frame, bool binary)> reply) const {
  const uint64_t id = request.id;
  if (auto* call = std::get_if<PageCall>(&request.what)) {
    backend_->Call(app.id, call->method, std::move(call->json),
                   [id, reply = std::move(reply)](Expected<std::string> answer) {
                     if (!answer.ok()) return reply(ErrorFrame(id, answer.status()), false);
                     reply(CallReplyFrame(id, *answer), false);
                   });
    return;
  }
  auto& route = std::get<PageRoute>(request.what);
  const auto qmark = route.target.find('?');
  const std::string path = route.target.substr(0, qmark);
  std::string decoded;
  // What is not one of the app's routes (a file, a malformed path) is the HTTP
  // path's to answer; nothing has run yet.
  if (!PercentDecode(path, &decoded) || ClassifyRequest(app, route.method, path, decoded) != RequestKind::kRoute) {
    return reply(FetchFrame(id), false);
  }
  av1::RouteRequest out;
  out.set_method(route.method);
  out.set_path(decoded);
  out.set_query(qmark == std::string::npos ? std::string() : route.target.substr(qmark + 1));
  for (auto& [name, value] : route.headers) {
    auto* h = out.add_headers();
    h->set_name(std::move(name));
    h->set_value(std::move(value));
  }
  auto* host = out.add_headers();
  host->set_name("Host");
  host->set_value(app_.label + ".localhost:" + std::to_string(port_));
  out.set_body(std::move(route.body));
  backend_->Route(app.id, std::move(out), [id, reply = std::move(reply)](Expected<av1::RouteResponse> answer) {
    if (!answer.ok()) return reply(ErrorFrame(id, answer.status()), false);
    reply(RouteReplyFrame(id, *answer), true);
  });
}

}  // namespace mumba::gateway_internal
