// SPDX-License-Identifier: Apache-2.0
// The DevTools Runtime domain for one attached tab: running JavaScript.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "mumba/status.h"
#include "shell/cdp_connection.h"

namespace mumba::shell {

// Borrows `cdp`, which must outlive it; `session_id` comes from
// TargetClient::AttachToTarget. Thread-safe like CdpConnection. Errors are
// CdpConnection::Call's unless said otherwise.
class RuntimeClient {
 public:
  RuntimeClient(CdpConnection* cdp, std::string session_id)
      : cdp_(cdp), session_id_(std::move(session_id)) {}

  // Turns on Runtime events (console messages, execution contexts) for the session.
  Status Enable();

  // Evaluates `expression` in the page's main world, awaiting it if it is a
  // promise, and returns its value as JSON: null for undefined, a string for
  // values JSON cannot hold (NaN, Infinity, -0, BigInt "1n"). An exception thrown
  // or a promise rejected becomes UNKNOWN with its text ("Uncaught Error: boom").
  Expected<nlohmann::json> Evaluate(const std::string& expression,
                                    std::chrono::milliseconds timeout = kDefaultCallTimeout);

  // Defines `window[name](payload)` in the page, now and after every navigation.
  // Each call emits a Runtime.bindingCalled event with params {name, payload,
  // executionContextId} on this session; payload must be a string.
  Status AddBinding(const std::string& name);

  const std::string& session_id() const { return session_id_; }

 private:
  CdpConnection* cdp_;
  std::string session_id_;
};

// The Status for a Runtime call's answer: OK unless it carries exceptionDetails,
// which become UNKNOWN with the exception's text. `context` prefixes the message.
Status StatusFromRuntimeAnswer(const std::string& context, const nlohmann::json& answer);

// The value of a returnByValue RemoteObject, as Evaluate describes it.
nlohmann::json ValueOfRemoteObject(const nlohmann::json& remote_object);

}  // namespace mumba::shell
