// SPDX-License-Identifier: Apache-2.0
// `mumba call --lines`: many JSON calls of one method from one process, straight
// to the daemon.
//
// The host's relay (Control.Call) costs two gRPC hops through the host's threads
// per call. A script that makes many calls takes the Connect handoff instead: the
// host starts the app if it must and names its socket and install folder, and this
// side transcodes with the app's own descriptor set (the one the host's relay
// uses, with the same exports) and calls the daemon over a connection of its own.
// The owner's processes may reach a daemon's socket anyway; this only saves the
// hop. The CLI is no longer only a client of the host's API here: it is the one
// place it calls a daemon itself.
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

// Not thread-safe: one thread makes its calls, one at a time.
class JsonLineCaller {
 public:
  // Asks the host for `app` (starting the host and the app when they are not
  // running) and finds `method` ("package.Service/Method") among its exports.
  // NOT_FOUND for an app that is not installed or a method it does not have,
  // INVALID_ARGUMENT for a malformed method, UNIMPLEMENTED for one that is not
  // unary, as Control.Call says them; UNAVAILABLE when no host answers, or the
  // daemon's socket cannot be reached; the error of reading the app's descriptor
  // set.
  static Expected<std::unique_ptr<JsonLineCaller>> Open(const Context& ctx, const std::string& app,
                                                        const std::string& method);

  // One call: `json` to the request, the reply back to JSON (one line: proto3
  // JSON has no raw newlines). INVALID_ARGUMENT for a request that does not fit
  // the method, else the daemon's status. When the daemon has closed the
  // connection by the time the call begins (it ended, or was stopped), the host
  // is asked for the app again, which starts it, and a new connection is made; a
  // daemon that stops while the call is under way fails it (UNAVAILABLE). Once
  // sent, a call is never sent again.
  Expected<std::string> Call(const std::string& json);

  // Shuts the completion queue down and drains it, as gRPC requires.
  ~JsonLineCaller();

 private:
  JsonLineCaller(std::unique_ptr<mumba::host::v1::Control::Stub> host, std::string app, std::string method)
      : host_(std::move(host)), app_(std::move(app)), method_name_(std::move(method)) {}
  // Control.Connect (which starts the app if it must), then the app's transcoder,
  // a connection of our own to the daemon's socket and a channel on it. Nothing
  // of the caller changes unless all of it succeeds.
  Status Connect();
  // Whether the daemon closed the connection (it ended, or was stopped).
  bool Closed() const;

  std::unique_ptr<mumba::host::v1::Control::Stub> host_;
  std::string app_;
  std::string method_name_;  // As the user gave it.
  std::shared_ptr<const Transcoder> transcoder_;
  const google::protobuf::MethodDescriptor* method_ = nullptr;  // In transcoder_.
  std::string path_;  // "/package.Service/Method"
  std::unique_ptr<grpc::GenericStub> stub_;
  UniqueFd watch_;  // A duplicate of the channel's descriptor, to see the connection end.
  grpc::CompletionQueue cq_;
};

}  // namespace mumba::cli
