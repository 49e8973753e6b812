// SPDX-License-Identifier: Apache-2.0
// `mumba call --lines`: many JSON calls of one method from one process, straight
// to the daemon.
//
// The host's relay (Control.Call) costs two gRPC hops through the host's threads
// per call. A script that makes many calls takes the Connect handoff instead: the
// host starts the app if it must and names its socket, and this side transcodes
// with the app's own descriptor set (the one the host's relay uses, with the same
// exports) and calls the daemon over one connection. The owner's processes may
// reach a daemon's socket anyway; this only saves the hop.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "broker/transcoder.h"
#include "cli/cli.h"
#include "mumba/status.h"
#include "platform/unique_fd.h"

namespace mumba::cli {

class JsonLineCaller {
 public:
  // Asks the host for `app` (starting the host and the app when they are not
  // running) and finds `method` ("package.Service/Method") among its exports.
  // NOT_FOUND or UNIMPLEMENTED as Control.Call says them; UNAVAILABLE when no host
  // answers.
  static Expected<std::unique_ptr<JsonLineCaller>> Open(const Context& ctx, const std::string& app,
                                                        const std::string& method);

  // One call: `json` to the request, the reply back to JSON (one line: proto3
  // JSON has no raw newlines). INVALID_ARGUMENT for a request that does not fit
  // the method, else the daemon's status. When the connection is not up as the
  // call begins, the host is asked for the app again (it starts a stopped one, as
  // Control.Call does) and a new connection made; once sent, a call is never sent
  // twice.
  Expected<std::string> Call(const std::string& json);

  // Shuts the completion queue down and drains it, as gRPC requires.
  ~JsonLineCaller();

 private:
  JsonLineCaller(const Context& ctx, std::string app) : ctx_(ctx), app_(std::move(app)) {}
  // Control.Connect (which starts the app if it must), then a connection of our
  // own to the daemon's socket and a channel on it.
  Status Connect();
  // Whether the daemon closed the connection (it ended, or was stopped).
  bool Closed() const;

  const Context& ctx_;
  std::string app_;
  std::unique_ptr<mumba::host::v1::Control::Stub> host_;
  std::shared_ptr<const Transcoder> transcoder_;
  const google::protobuf::MethodDescriptor* method_ = nullptr;
  std::string path_;  // "/package.Service/Method"
  std::unique_ptr<grpc::GenericStub> stub_;
  UniqueFd watch_;  // A duplicate of the channel's descriptor, to see the connection end.
  grpc::CompletionQueue cq_;
};

// Reads requests from `in`, one JSON value per line (blank lines are skipped), and
// writes each reply to `out` as one line, flushed, in order. Stops at the first
// failed call and returns its status, naming the line; replies before it are out.
Status CallEachLine(JsonLineCaller& caller, std::FILE* in, std::FILE* out);

}  // namespace mumba::cli
