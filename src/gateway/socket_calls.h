// SPDX-License-Identifier: Apache-2.0
// Internal to the gateway: who answers what a page asks over its socket, with the
// checks the HTTP path makes. The socket was opened by one app's page (Host,
// same origin and secret cookie checked at the upgrade); every request on it is
// for that app alone, and before each one the app is looked up again, so that a
// socket outlives neither its app nor its app's secret.
#pragma once

#include <functional>
#include <string>

#include "gateway/gateway.h"
#include "gateway/page_frames.h"

namespace mumba::gateway_internal {

// The app a socket was opened for, as its upgrade request named it.
struct SocketApp {
  std::string label;   // The Host header's label: a name or a 52-char id.
  std::string id;      // The app it named then.
  std::string secret;  // The secret its cookie held then.
};

class SocketCalls {
 public:
  // `backend` is borrowed and outlives every socket; `port` is the gateway's.
  SocketCalls(GatewayBackend* backend, int port, SocketApp app)
      : backend_(backend), port_(port), app_(std::move(app)) {}

  // The socket's app now: PERMISSION_DENIED when its label names no app, another
  // app or one whose secret changed since the upgrade (the socket is then closed).
  Expected<GatewayApp> Recheck() const;

  // Answers `request` for `app` (Recheck's) exactly once through `reply`, now or
  // from a backend thread, with a frame of page_frames.h and whether it is binary.
  // A call goes to the backend's Call, which allows only the app's exported
  // methods and the storage methods pages may use; a route only when the app
  // declares it (else a FetchFrame: the page asks over HTTP, where it may be a file).
  void Answer(const GatewayApp& app, PageRequest request,
              std::function<void(std::string frame, bool binary)> reply) const;

 private:
  GatewayBackend* backend_;
  int port_;
  SocketApp app_;
};

}  // namespace mumba::gateway_internal
