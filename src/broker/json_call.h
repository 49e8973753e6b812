// SPDX-License-Identifier: Apache-2.0
// A JSON call of a unary method on a daemon (or the host) over a unix socket: the
// request is transcoded to protobuf with `transcoder`, the reply back to JSON.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "broker/daemon_client.h"
#include "broker/transcoder.h"
#include "mumba/status.h"

namespace mumba {

// `method` is "package.Service/Method". `done` runs exactly once, on this thread for
// errors found before the call or on a gRPC thread after it.
void CallJson(DaemonClient& daemons, const std::string& socket, const std::shared_ptr<const Transcoder>& transcoder,
              const std::string& method, const std::string& json, std::function<void(Expected<std::string>)> done);

}  // namespace mumba
