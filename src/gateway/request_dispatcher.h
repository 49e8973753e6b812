// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: what a request is for and who answers it. In order:
// the Host header names the app (else 403), the app's secret cookie is checked (its
// login page sets it), then /_mumba/mumba.js, the events WebSocket, calls, the
// app's routes (its daemon answers) and last its static files. Routes, calls and
// events are refused to pages of other origins.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "gateway/events_session.h"
#include "gateway/gateway.h"
#include "gateway/http_responses.h"

namespace mumba::gateway_internal {

class HttpSession;

class RequestDispatcher {
 public:
  // `backend` and `listeners` are borrowed and outlive the dispatcher; `port` is
  // the gateway's, which every Host header must name. Thread-safe.
  RequestDispatcher(GatewayBackend* backend, int port, EventListeners* listeners);

  // The backend that answers for the apps, borrowed.
  GatewayBackend* backend() const { return backend_; }

  // The app id and route request when the header `h` names a declared route of an
  // app's manifest that the request may use (host, secret cookie, origin): its body
  // then streams to the daemon. Otherwise nullopt, and the request is read whole
  // and answered by Handle (which also answers any refusal).
  std::optional<std::pair<std::string, mumba::app::v1::RouteRequest>> StreamedRoute(
      const http::request_header<>& h) const;

  // Answers `req`, read whole on `session`'s strand: the session gets exactly one
  // response, now or when the backend answers, or its connection becomes an events
  // WebSocket.
  void Handle(const std::shared_ptr<HttpSession>& session, Request req) const;

 private:
  struct Exchange;

  // The steps of Handle. The two checks return true when the request goes on,
  // and answer it otherwise; every other step answers it.
  bool ResolveApp(Exchange& x) const;    // The Host header names a known app.
  bool Authenticate(Exchange& x) const;  // The login page, and the secret cookie.
  void ServeMumbaJs(Exchange& x) const;
  void OpenEvents(Exchange& x) const;
  void ServeCall(Exchange& x) const;
  bool IsRoute(const Exchange& x) const;
  void ServeRoute(Exchange& x) const;
  void ServeStaticFile(Exchange& x) const;
  // Answers with PERMISSION_DENIED: the request came from another origin's page.
  void RefuseForeign(Exchange& x) const;

  GatewayBackend* backend_;
  int port_;
  EventListeners* listeners_;
};

}  // namespace mumba::gateway_internal
