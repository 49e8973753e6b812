// SPDX-License-Identifier: Apache-2.0
// ProxyCall between real gRPC servers on 127.0.0.1: unary and streaming calls pass
// whole, only the proxy's metadata reaches the backend, and errors come back.
#include "broker/generic_proxy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <grpcpp/generic/generic_stub.h>

#include "mumba/app/v1/routes.grpc.pb.h"

namespace mumba {
namespace {

namespace av1 = mumba::app::v1;

std::string Header(const grpc::ServerContext& ctx, const std::string& key) {
  auto it = ctx.client_metadata().find(key);
  return it == ctx.client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
}

// The far side: echoes what it got, and says what metadata it saw.
class Backend final : public av1::Routes::Service {
 public:
  grpc::Status Handle(grpc::ServerContext* ctx, const av1::RouteRequest* req, av1::RouteResponse* resp) override {
    calls++;
    if (req->path() == "/fail") return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no such thing");
    if (req->path() == "/slow") std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    resp->set_status(200);
    resp->set_body(req->path() + " from " + Header(*ctx, "x-from") + " forged=" + Header(*ctx, "x-forged"));
    return grpc::Status::OK;
  }
  grpc::Status Stream(grpc::ServerContext*,
                      grpc::ServerReaderWriter<av1::RouteStreamResponse, av1::RouteStreamRequest>* stream) override {
    av1::RouteStreamRequest in;
    int n = 0;
    while (stream->Read(&in)) {
      av1::RouteStreamResponse out;
      out.set_data(in.data() + "!");
      stream->Write(out);
      n++;
    }
    av1::RouteStreamResponse last;
    last.set_data("read " + std::to_string(n));
    stream->Write(last);
    return grpc::Status::OK;
  }
  std::atomic<int> calls{0};
};

class Front final : public grpc::CallbackGenericService {
 public:
  explicit Front(std::shared_ptr<grpc::Channel> backend) : backend_(std::move(backend)) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    if (ctx->method().find("Refused") != std::string::npos) {
      return RefuseCall(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not for you"));
    }
    return ProxyCall(ctx, backend_, {{"x-from", "proxy"}}, std::chrono::milliseconds(300));
  }

 private:
  std::shared_ptr<grpc::Channel> backend_;
};

class GenericProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&backend_);
    backend_server_ = b.BuildAndStart();
    ASSERT_TRUE(backend_server_);
    front_ = std::make_unique<Front>(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
    int front_port = 0;
    grpc::ServerBuilder f;
    f.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &front_port);
    f.RegisterCallbackGenericService(front_.get());
    front_server_ = f.BuildAndStart();
    ASSERT_TRUE(front_server_);
    stub_ = av1::Routes::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(front_port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    front_server_->Shutdown();
    backend_server_->Shutdown();
  }

  Backend backend_;
  std::unique_ptr<grpc::Server> backend_server_;
  std::unique_ptr<Front> front_;
  std::unique_ptr<grpc::Server> front_server_;
  std::unique_ptr<av1::Routes::Stub> stub_;
};

TEST_F(GenericProxyTest, AUnaryCallPassesWithOnlyTheProxysMetadata) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-forged", "yes");
  ctx.AddMetadata("x-from", "someone else");
  av1::RouteRequest req;
  req.set_path("/greet");
  av1::RouteResponse resp;
  grpc::Status s = stub_->Handle(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.body(), "/greet from proxy forged=");
  EXPECT_EQ(resp.status(), 200);
}

TEST_F(GenericProxyTest, TheBackendsErrorComesBack) {
  grpc::ClientContext ctx;
  av1::RouteRequest req;
  req.set_path("/fail");
  av1::RouteResponse resp;
  grpc::Status s = stub_->Handle(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "no such thing");
}

TEST_F(GenericProxyTest, ARefusedCallNeverReachesTheBackend) {
  grpc::ClientContext ctx;
  // A method name the front refuses.
  auto channel = front_server_->InProcessChannel(grpc::ChannelArguments());
  grpc::GenericStub refused(channel);
  grpc::ByteBuffer request, response;
  grpc::Status status;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  av1::RouteRequest req;
  std::string bytes = req.SerializeAsString();
  grpc::Slice slice(bytes.data(), bytes.size());
  request = grpc::ByteBuffer(&slice, 1);
  refused.UnaryCall(&ctx, "/x.Refused/Call", grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
    std::lock_guard lock(mu);
    status = s;
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; }));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(backend_.calls.load(), 0);
}

TEST_F(GenericProxyTest, AStreamPassesBothWaysInOrder) {
  grpc::ClientContext ctx;
  auto stream = stub_->Stream(&ctx);
  for (int i = 0; i < 50; ++i) {
    av1::RouteStreamRequest out;
    out.set_data("m" + std::to_string(i));
    ASSERT_TRUE(stream->Write(out));
    av1::RouteStreamResponse in;
    ASSERT_TRUE(stream->Read(&in));
    EXPECT_EQ(in.data(), "m" + std::to_string(i) + "!");
  }
  stream->WritesDone();
  av1::RouteStreamResponse last;
  ASSERT_TRUE(stream->Read(&last));
  EXPECT_EQ(last.data(), "read 50");
  EXPECT_FALSE(stream->Read(&last));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GenericProxyTest, TheDeadlineIsCappedByTheProxy) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  av1::RouteRequest req;
  req.set_path("/slow");
  av1::RouteResponse resp;
  grpc::Status s = stub_->Handle(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(GenericProxyTest, ManyCallsAtOnceAllPass) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        grpc::ClientContext ctx;
        av1::RouteRequest req;
        req.set_path("/x");
        av1::RouteResponse resp;
        if (stub_->Handle(&ctx, req, &resp).ok()) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 400);
}

}  // namespace
}  // namespace mumba
