// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: what a request is for and who answers it. In order:
// the Host header names the app (else 403), the request is classified (secret_cookie.h)
// and refused without the app's secret cookie where it needs one (home's login page
// sets that cookie), then /_mumba/mumba.js, the events WebSocket, calls, the app's
// routes (its daemon answers) and last its static files. Routes, calls and events
// are refused to pages of other origins. The same Host and secret checks run on a
// request's header alone, so a refused request's body is never read.
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
  // `backend`, `listeners` and `budget` are borrowed and outlive the dispatcher;
  // `port` is the gateway's, which every Host header must name. Thread-safe.
  RequestDispatcher(GatewayBackend* backend, int port, EventListeners* listeners, const GatewayBudget* budget);

  // The backend that answers for the apps, borrowed.
  GatewayBackend* backend() const { return backend_; }

  // What to do with a request once its header `h` is read.
  struct Admission {
    // Not OK: the answer, sent at once; the body is never read.
    Status refusal;
    // The app id and route request when `h` names a declared route of an app's
    // manifest that the request may use (host, secret cookie, origin): its body
    // then streams to the daemon. Otherwise, and when not refused, the request is
    // read whole and answered by Handle.
    std::optional<std::pair<std::string, mumba::app::v1::RouteRequest>> route;
  };
  Admission Admit(const http::request_header<>& h) const;

  // Answers `req`, read whole on `session`'s strand: the session gets exactly one
  // response, now or when the backend answers, or its connection becomes an events
  // WebSocket.
  void Handle(const std::shared_ptr<HttpSession>& session, Request req) const;

 private:
  struct Target;
  struct Exchange;

  // The app the Host header of `h` names, and what the request asks of it; the
  // Host refusal (PERMISSION_DENIED) or NOT_FOUND for an unknown app otherwise.
  Expected<Target> Resolve(const http::request_header<>& h) const;

  // The steps of Handle.
  void ServeMumbaJs(Exchange& x) const;
  void OpenEvents(Exchange& x) const;
  void ServeCall(Exchange& x) const;
  void ServeRoute(Exchange& x) const;
  void ServeStaticFile(Exchange& x) const;
  // Answers with PERMISSION_DENIED: the request came from another origin's page.
  void RefuseForeign(Exchange& x) const;

  GatewayBackend* backend_;
  int port_;
  EventListeners* listeners_;
  const GatewayBudget* budget_;
};

}  // namespace mumba::gateway_internal
