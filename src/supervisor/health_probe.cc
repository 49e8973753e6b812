// SPDX-License-Identifier: Apache-2.0
#include "supervisor/health_probe.h"

#include <grpcpp/grpcpp.h>

#include "common/unix_channel.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace mumba {
namespace {

using namespace std::chrono_literals;

class GrpcHealthCheck final : public HealthCheck {
 public:
  explicit GrpcHealthCheck(std::filesystem::path socket)
      : socket_(std::move(socket)),
        channel_(UnixChannel(socket_.string(), 10, 100)),
        stub_(grpc::health::v1::Health::NewStub(channel_)) {}

  void Ask(std::function<void(HealthAnswer)> done) override {
    if (!std::filesystem::exists(socket_)) {
      done(HealthAnswer::kNoSocket);
      return;
    }
    struct Call {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
    };
    auto call = std::make_shared<Call>();
    call->ctx.set_wait_for_ready(true);
    // gRPC deadlines are wall-clock times; this one bounds one question, not a wait
    // of the supervisor's, which its own clock times.
    call->ctx.set_deadline(std::chrono::system_clock::now() + 500ms);
    stub_->async()->Check(&call->ctx, &call->req, &call->resp,
                          [call, done = std::move(done)](grpc::Status s) {
      bool serving = s.ok() && call->resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
      done(serving ? HealthAnswer::kServing : HealthAnswer::kNotServing);
    });
  }

 private:
  std::filesystem::path socket_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
};

class GrpcHealthProbe final : public HealthProbe {
 public:
  std::unique_ptr<HealthCheck> Connect(const std::filesystem::path& socket) override {
    return std::make_unique<GrpcHealthCheck>(socket);
  }
};

}  // namespace

HealthProbe& HealthProbe::Grpc() {
  static GrpcHealthProbe* probe = new GrpcHealthProbe();
  return *probe;
}

}  // namespace mumba
