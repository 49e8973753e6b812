// SPDX-License-Identifier: Apache-2.0
// A gRPC channel to a unix socket on this machine (the host's, or a daemon's), as
// every part of Mumba makes them. Header-only: its users link gRPC themselves.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace mumba {

// Reconnects quickly: a host or daemon that restarts is reached again within
// `max_backoff_ms` of its socket answering (gRPC's defaults would wait up to
// minutes). The connection attempt itself may take 5 s: gRPC uses
// GRPC_ARG_MIN_RECONNECT_BACKOFF_MS as its connect timeout, and at the few ms of
// the backoff a handshake on a loaded machine fails ("timed out before receiving
// SETTINGS frame"). `max_message_bytes` 0 keeps gRPC's 4 MiB.
inline grpc::ChannelArguments UnixChannelArguments(int initial_backoff_ms, int max_backoff_ms,
                                                  int max_message_bytes = 0) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, initial_backoff_ms);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  if (max_message_bytes > 0) {
    args.SetMaxReceiveMessageSize(max_message_bytes);
    args.SetMaxSendMessageSize(max_message_bytes);
  }
  return args;
}

inline std::shared_ptr<grpc::Channel> UnixChannel(const std::string& socket, int initial_backoff_ms,
                                                  int max_backoff_ms, int max_message_bytes = 0) {
  return grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(),
                                   UnixChannelArguments(initial_backoff_ms, max_backoff_ms, max_message_bytes));
}

}  // namespace mumba
