// SPDX-License-Identifier: Apache-2.0
#include "cli/json_lines.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <vector>

#include "bundle/bundle.h"
#include "common/byte_buffer.h"
#include "common/grpc_status.h"
#include "common/hung_up.h"
#include "platform/errno_status.h"
#include "platform/unix_listener.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;

namespace {
// As long as the host's relay gives a daemon's call.
constexpr auto kCallTimeout = std::chrono::seconds(60);
// The host's answer to Connect may wait for the app to start.
constexpr auto kConnectTimeout = std::chrono::seconds(60);
}  // namespace

Expected<std::unique_ptr<JsonLineCaller>> JsonLineCaller::Open(const Context& ctx, const std::string& app,
                                                               const std::string& method) {
  MUMBA_ASSIGN_OR_RETURN(auto host, ConnectHost(ctx));
  std::unique_ptr<JsonLineCaller> caller(new JsonLineCaller(std::move(host), app, method));
  MUMBA_TRY(caller->Connect());
  return caller;
}

Status JsonLineCaller::Connect() {
  hv1::AppRef ref;
  ref.set_app(app_);
  hv1::ConnectResponse resp;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kConnectTimeout);
  if (auto s = host_->Connect(&context, ref, &resp); !s.ok()) return FromHostCall(s);
  const std::filesystem::path install_dir = resp.app().install_dir();
  const std::string& socket = resp.socket();
  if (!install_dir.is_absolute() || !std::filesystem::path(socket).is_absolute()) {
    return Unavailable("the host did not say where " + app_ + " is installed and serves");
  }
  // Loaded again on every Connect: an update may have replaced the app between two.
  std::vector<std::string> services(resp.app().services().begin(), resp.app().services().end());
  MUMBA_ASSIGN_OR_RETURN(auto transcoder, Transcoder::Load(install_dir / kDescriptorSetPath, std::move(services)));
  MUMBA_ASSIGN_OR_RETURN(const auto* method, transcoder->FindMethod(method_name_));

  // The connection is made here, not by gRPC, so that this side can see it end
  // (a channel on a path reconnects by itself, but only after a call has failed).
  UniqueFd fd = ConnectUnix(socket, SOCK_STREAM);
  if (!fd) {
    const int err = errno;
    return Unavailable(ErrnoStatus(err, "connecting to " + app_ + " on " + socket).message());
  }
  UniqueFd watch(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!watch) {
    const int err = errno;
    return Unavailable(ErrnoStatus(err, "connecting to " + app_).message());
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(32 << 20);
  args.SetMaxSendMessageSize(32 << 20);
  stub_ = std::make_unique<grpc::GenericStub>(
      grpc::CreateCustomInsecureChannelFromFd("mumba-call", fd.Release(), args));
  watch_ = std::move(watch);
  transcoder_ = std::move(transcoder);
  method_ = method;
  path_ = "/" + method->service()->full_name() + "/" + method->name();
  return {};
}

JsonLineCaller::~JsonLineCaller() {
  cq_.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
  }
}

bool JsonLineCaller::Closed() const {
  return !watch_ || HungUp(watch_.get());
}

Expected<std::string> JsonLineCaller::Call(const std::string& json) {
  // Before anything is sent: the host starts a daemon that was stopped and waits
  // out one that is restarting.
  if (Closed()) MUMBA_TRY(Connect());
  MUMBA_ASSIGN_OR_RETURN(std::string request, transcoder_->RequestFromJson(method_, json));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  grpc::ByteBuffer reply;
  grpc::Status status;
  auto rpc = stub_->PrepareUnaryCall(&context, path_, ToByteBuffer(request), &cq_);
  rpc->StartCall();
  rpc->Finish(&reply, &status, this);
  void* tag = nullptr;
  bool ok = false;
  if (!cq_.Next(&tag, &ok) || tag != this) return Internal("the call's completion queue failed");
  if (!status.ok()) return FromGrpc(status).WithContext(app_);
  return transcoder_->ResponseToJson(method_, FromByteBuffer(reply));
}

}  // namespace mumba::cli
