// SPDX-License-Identifier: Apache-2.0
#include "broker/daemon_client.h"

#include <chrono>

#include "common/byte_buffer.h"
#include "common/unix_channel.h"

namespace mumba {
namespace {
constexpr auto kCallTimeout = std::chrono::seconds(60);
}  // namespace

std::shared_ptr<DaemonClient::Entry> DaemonClient::EntryFor(const std::string& socket) {
  std::lock_guard lock(mu_);
  auto& e = entries_[socket];
  if (!e) {
    e = std::make_shared<Entry>();
    // As large as the host's own API: big route bodies.
    e->channel = UnixChannel(socket, 20, 200, 32 << 20);
    e->generic = std::make_unique<grpc::GenericStub>(e->channel);
    e->routes = mumba::app::v1::Routes::NewStub(e->channel);
  }
  return e;
}

std::shared_ptr<grpc::Channel> DaemonClient::ChannelFor(const std::string& socket) {
  return EntryFor(socket)->channel;
}

void DaemonClient::Forget(const std::string& socket) {
  std::lock_guard lock(mu_);
  entries_.erase(socket);
}

void DaemonClient::CallUnary(const std::string& socket, const std::string& method,
                             std::string request,
                             std::function<void(grpc::Status, std::string)> done) {
  struct Call {
    std::shared_ptr<Entry> entry;
    grpc::ClientContext ctx;
    grpc::ByteBuffer request;
    grpc::ByteBuffer reply;
    std::function<void(grpc::Status, std::string)> done;
  };
  auto call = std::make_shared<Call>();
  call->entry = EntryFor(socket);
  call->request = ToByteBuffer(request);
  call->done = std::move(done);
  call->ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  call->ctx.set_wait_for_ready(true);
  call->entry->generic->UnaryCall(&call->ctx, method, grpc::StubOptions(), &call->request,
                                  &call->reply, [call](grpc::Status s) {
                                    call->done(s, s.ok() ? FromByteBuffer(call->reply) : std::string());
                                  });
}

void DaemonClient::Route(const std::string& socket, const mumba::app::v1::RouteRequest& request,
                         std::function<void(grpc::Status, mumba::app::v1::RouteResponse)> done) {
  struct Call {
    std::shared_ptr<Entry> entry;
    grpc::ClientContext ctx;
    mumba::app::v1::RouteRequest request;
    mumba::app::v1::RouteResponse reply;
    std::function<void(grpc::Status, mumba::app::v1::RouteResponse)> done;
  };
  auto call = std::make_shared<Call>();
  call->entry = EntryFor(socket);
  call->request = request;
  call->done = std::move(done);
  call->ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  call->ctx.set_wait_for_ready(true);
  call->entry->routes->async()->Handle(&call->ctx, &call->request, &call->reply,
                                       [call](grpc::Status s) { call->done(s, std::move(call->reply)); });
}

}  // namespace mumba
