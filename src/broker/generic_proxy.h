// SPDX-License-Identifier: Apache-2.0
// Relays one gRPC call of any kind (unary, or streaming either way) from a callback
// generic service to another channel, message by message as bytes, and the status
// back. The host uses it where it must stand between two parties and decide before
// anything passes: calls from other nodes to a daemon, and a daemon's calls to
// other nodes.
//
// What passes: the messages, the method, the deadline (capped), and only the
// metadata the caller of ProxyCall names. Nothing the remote side sent as metadata
// is forwarded, so a caller cannot forge the identity headers the host adds.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

namespace mumba {

using Metadata = std::vector<std::pair<std::string, std::string>>;

// Starts relaying the call `ctx` (method ctx->method()) to `channel` with
// `metadata`. The call's deadline is the caller's, at most `max_time` from now.
// Returns the reactor to hand back from CallbackGenericService::CreateReactor; it
// frees itself when both sides are done. A failure of the far side (unreachable,
// its own error) reaches the caller as that status.
grpc::ServerGenericBidiReactor* ProxyCall(grpc::GenericCallbackServerContext* ctx, std::shared_ptr<grpc::Channel> channel,
                                          Metadata metadata, std::chrono::milliseconds max_time);

// A reactor that ends the call at once with `status`, reading nothing.
grpc::ServerGenericBidiReactor* RefuseCall(grpc::Status status);

}  // namespace mumba
