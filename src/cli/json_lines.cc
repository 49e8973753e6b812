// SPDX-License-Identifier: Apache-2.0
#include "cli/json_lines.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "bundle/bundle.h"
#include "common/byte_buffer.h"
#include "common/grpc_status.h"
#include "platform/errno_status.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;

namespace {
// As long as the host's relay gives a daemon's call.
constexpr auto kCallTimeout = std::chrono::seconds(60);

bool Blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }
}  // namespace

Expected<std::unique_ptr<JsonLineCaller>> JsonLineCaller::Open(const Context& ctx, const std::string& app,
                                                               const std::string& method) {
  std::unique_ptr<JsonLineCaller> caller(new JsonLineCaller(ctx, app));
  MUMBA_ASSIGN_OR_RETURN(caller->host_, ConnectHost(ctx));
  MUMBA_TRY(caller->Connect());
  MUMBA_ASSIGN_OR_RETURN(caller->method_, caller->transcoder_->FindMethod(method));
  caller->path_ = "/" + caller->method_->service()->full_name() + "/" + caller->method_->name();
  return caller;
}

Status JsonLineCaller::Connect() {
  hv1::AppRef ref;
  ref.set_app(app_);
  hv1::ConnectResponse resp;
  grpc::ClientContext context;
  if (auto s = host_->Connect(&context, ref, &resp); !s.ok()) {
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && s.error_message().empty()) {
      return Unavailable("the host is not answering");
    }
    return FromGrpc(s);
  }
  if (resp.socket().empty()) return Unavailable("the host named no socket for " + app_);
  // Loaded again on every Connect: an update may have replaced the app between two.
  std::vector<std::string> services(resp.app().services().begin(), resp.app().services().end());
  MUMBA_ASSIGN_OR_RETURN(
      auto transcoder,
      Transcoder::Load(std::filesystem::path(resp.app().install_dir()) / kDescriptorSetPath, std::move(services)));
  if (method_) {
    MUMBA_ASSIGN_OR_RETURN(method_, transcoder->FindMethod(method_->service()->full_name() + "/" + method_->name()));
  }
  transcoder_ = std::move(transcoder);
  // The connection is made here, not by gRPC, so that this side can see it end
  // (a channel on a path would reconnect by itself, but only after a call fails).
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (resp.socket().size() >= sizeof(addr.sun_path)) return Unavailable("socket path too long: " + resp.socket());
  std::memcpy(addr.sun_path, resp.socket().c_str(), resp.socket().size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, "connecting to " + app_ + " on " + resp.socket());
  }
  watch_ = UniqueFd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!watch_) return ErrnoStatus(errno, "connecting to " + app_);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(32 << 20);
  args.SetMaxSendMessageSize(32 << 20);
  stub_ = std::make_unique<grpc::GenericStub>(
      grpc::CreateCustomInsecureChannelFromFd("mumba-call", fd.Release(), args));
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
  struct pollfd p {};
  p.fd = watch_.get();
  p.events = POLLRDHUP;
  return ::poll(&p, 1, 0) != 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

Expected<std::string> JsonLineCaller::Call(const std::string& json) {
  // A connection that is not up is asked for again before anything is sent: the
  // host starts a daemon that was stopped and waits out one that is restarting.
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

Status CallEachLine(JsonLineCaller& caller, std::FILE* in, std::FILE* out) {
  char* buffer = nullptr;
  size_t capacity = 0;
  Status result;
  for (long number = 1;; ++number) {
    ssize_t n = getline(&buffer, &capacity, in);
    if (n < 0) break;
    std::string line(buffer, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (Blank(line)) continue;
    auto reply = caller.Call(line);
    if (!reply.ok()) {
      result = reply.status().WithContext("line " + std::to_string(number));
      break;
    }
    reply->push_back('\n');
    // Flushed at once: a script may wait for each reply before it writes the next.
    if (std::fwrite(reply->data(), 1, reply->size(), out) != reply->size() || std::fflush(out) != 0) {
      result = Unavailable("cannot write the reply to line " + std::to_string(number));
      break;
    }
  }
  std::free(buffer);
  return result;
}

}  // namespace mumba::cli
