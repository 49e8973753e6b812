// SPDX-License-Identifier: Apache-2.0
// The SDK's App and Status behaviours an app relies on: a Status becomes a gRPC
// reply unchanged, a streamed route tells a whole body from a cut-off one, and an
// Expected is never built from an OK status. Like an app, this file includes only
// public headers (and the generated route contract, to play the gateway).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "mumba/app.h"
#include "mumba/app/v1/routes.grpc.pb.h"

namespace mumba {
namespace {

namespace av1 = mumba::app::v1;
using namespace std::chrono_literals;

TEST(ToGrpcStatus, KeepsTheCodeAndTheMessage) {
  EXPECT_TRUE(ToGrpcStatus(Status()).ok());
  grpc::Status denied = ToGrpcStatus(PermissionDenied("not yours"));
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(), "not yours");
  EXPECT_EQ(ToGrpcStatus(Status(Code::kUnauthenticated, "who?")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(Expected, BuiltFromAnOkStatusIsAProgrammingError) {
  // Debug builds stop at the assert; release builds keep the old answer.
  EXPECT_DEBUG_DEATH(
      {
        Expected<int> wrong(Status::Ok());
        EXPECT_FALSE(wrong.ok());
        EXPECT_EQ(wrong.status().code(), Code::kInternal);
        EXPECT_EQ(wrong.status().message(), "Expected built from an OK status");
      },
      "Expected built from an OK status");
  Expected<int> failed(NotFound("gone"));
  EXPECT_EQ(failed.status().code(), Code::kNotFound);
}

// What one streamed upload's handler saw.
struct Upload {
  std::string body;
  Status status;
};

// An app serving one streamed route on a socket of its own, driven like the
// gateway drives it: head, body chunks, then a half-close or a cancel.
class StreamRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sdka-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string socket = (dir_ / "app.sock").string();
    std::string arg0 = "app_test", arg1 = "--socket";
    char* argv[] = {arg0.data(), arg1.data(), socket.data(), nullptr};
    app_ = std::make_unique<App>(3, argv);
    app_->StreamRoute("POST", "/upload", [this](const RouteRequest&, RouteBodyReader& body,
                                                RouteResponseWriter& reply) {
      // The head first, so the caller knows the handler runs before it cancels.
      reply.WriteHead(200, {});
      Upload seen;
      std::string chunk;
      while (body.Read(&chunk)) seen.body += chunk;
      seen.status = body.status();
      {
        std::lock_guard lock(mu_);
        uploads_.push_back(std::move(seen));
      }
      cv_.notify_all();
    });
    server_ = std::thread([this] { app_->Run(); });
    auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
    ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + 10s));
    stub_ = av1::Routes::NewStub(channel);
  }

  void TearDown() override {
    if (app_) app_->Shutdown();
    if (server_.joinable()) server_.join();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Starts an upload: sends the head and `data`, and waits for the handler's head.
  std::unique_ptr<grpc::ClientReaderWriter<av1::RouteStreamRequest, av1::RouteStreamResponse>> Begin(
      grpc::ClientContext* ctx, const std::string& data) {
    auto stream = stub_->Stream(ctx);
    av1::RouteStreamRequest msg;
    msg.mutable_head()->set_method("POST");
    msg.mutable_head()->set_path("/upload");
    EXPECT_TRUE(stream->Write(msg));
    msg.set_data(data);
    EXPECT_TRUE(stream->Write(msg));
    av1::RouteStreamResponse head;
    EXPECT_TRUE(stream->Read(&head));
    EXPECT_EQ(head.head().status(), 200);
    return stream;
  }

  // The next upload a handler finished with.
  Upload Next() {
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, 10s, [this] { return !uploads_.empty(); }));
    if (uploads_.empty()) return {};
    Upload out = std::move(uploads_.front());
    uploads_.pop_front();
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<App> app_;
  std::thread server_;
  std::unique_ptr<av1::Routes::Stub> stub_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Upload> uploads_;
};

TEST_F(StreamRouteTest, AWholeBodyEndsWithOk) {
  grpc::ClientContext ctx;
  auto stream = Begin(&ctx, "part one, ");
  av1::RouteStreamRequest msg;
  msg.set_data("part two");
  ASSERT_TRUE(stream->Write(msg));
  ASSERT_TRUE(stream->WritesDone());
  Upload seen = Next();
  EXPECT_EQ(seen.body, "part one, part two");
  EXPECT_TRUE(seen.status.ok()) << seen.status.message();
  av1::RouteStreamResponse rest;
  while (stream->Read(&rest)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(StreamRouteTest, ACallerThatWentAwayIsCancelled) {
  grpc::ClientContext ctx;
  auto stream = Begin(&ctx, "only the start");
  ctx.TryCancel();
  Upload seen = Next();
  EXPECT_EQ(seen.status.code(), Code::kCancelled);
  EXPECT_EQ(seen.status.message(), "the caller went away before the whole body arrived");
  EXPECT_TRUE(std::string("only the start").starts_with(seen.body));
  (void)stream->Finish();
}

}  // namespace
}  // namespace mumba
