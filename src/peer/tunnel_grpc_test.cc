// SPDX-License-Identifier: Apache-2.0
// Real gRPC through two tunnels, as between two hosts: a client on one end of a
// socket pair -> the calling host's tunnel -> TLS over 127.0.0.1 -> the receiving
// host's tunnel (with a filter) -> a gRPC server on a unix socket. Unary calls,
// a stream of several MB, many calls at once; and a filter's error fails the
// calls and ends the tunnel.
#include <sys/socket.h>
#include <sys/un.h>

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "common/temp_dir.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "peer/tunnel.h"
#include "peer/tunnel_link.h"
#include "peer/tunnel_listener.h"

namespace mumba {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using namespace std::chrono_literals;

// Echoes every message of every call to a method Health does not have.
class EchoService final : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Echo final : public grpc::ServerGenericBidiReactor {
     public:
      Echo() { StartRead(&buffer_); }
      void OnReadDone(bool ok) override {
        if (ok) {
          StartWrite(&buffer_);
        } else {
          Finish(grpc::Status::OK);
        }
      }
      void OnWriteDone(bool ok) override {
        if (ok) {
          StartRead(&buffer_);
        } else {
          Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "the echo could not be written"));
        }
      }
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer buffer_;
    };
    return new Echo;
  }
};

class CheckService final : public Health::CallbackService {
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const HealthCheckRequest*,
                                  HealthCheckResponse* response) override {
    response->set_status(HealthCheckResponse::SERVING);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Passes everything and counts the bytes from the remote side; refuses past
// `limit` of them.
class CountingFilter final : public TunnelFilter {
 public:
  CountingFilter(std::atomic<size_t>* count, size_t limit) : count_(count), limit_(limit) {}
  Status FromRemote(std::string_view bytes, std::string* to_local, std::string*) override {
    if ((*count_ += bytes.size()) > limit_) return ResourceExhausted("over the limit");
    to_local->append(bytes);
    return Status::Ok();
  }
  Status FromLocal(std::string_view bytes, std::string* to_remote) override {
    to_remote->append(bytes);
    return Status::Ok();
  }

 private:
  std::atomic<size_t>* count_;
  size_t limit_;
};

std::string Text(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer Buffer(const std::string& text) {
  grpc::Slice slice(text);
  return grpc::ByteBuffer(&slice, 1);
}

// A bidi call to the echo that sends `chunks` one at a time, each after the
// echo of the one before.
class EchoStream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  EchoStream(grpc::GenericStub& stub, std::vector<std::string> chunks) : chunks_(std::move(chunks)) {
    ctx_.set_deadline(std::chrono::system_clock::now() + 60s);
    stub.PrepareBidiStreamingCall(&ctx_, "/test.Echo/Stream", grpc::StubOptions(), this);
    Send();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) StartRead(&in_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    received_ += Text(in_);
    if (++next_ < chunks_.size()) {
      Send();
    } else {
      StartWritesDone();
    }
  }
  void OnDone(const grpc::Status& status) override { done_.set_value(status); }

  grpc::Status Wait() {
    auto done = done_.get_future();
    if (done.wait_for(60s) != std::future_status::ready) return grpc::Status(grpc::StatusCode::UNKNOWN, "hung");
    return done.get();
  }
  const std::string& received() const { return received_; }

 private:
  void Send() {
    out_ = Buffer(chunks_[next_]);
    StartWrite(&out_);
  }

  grpc::ClientContext ctx_;
  std::vector<std::string> chunks_;
  size_t next_ = 0;
  grpc::ByteBuffer out_, in_;
  std::string received_;
  std::promise<grpc::Status> done_;
};

class GrpcThroughTunnelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_path_ = (dir_.path() / "d.sock").string();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_path_, grpc::InsecureServerCredentials());
    builder.RegisterService(&check_);
    builder.RegisterCallbackGenericService(&echo_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto listener = LinkListener::Listen(receiving_node_, "127.0.0.1:0");
    ASSERT_TRUE(listener.ok()) << listener.status().message();
    listener_ = std::move(listener).value();
    // The receiving host: each link goes through a tunnel to the daemon's socket.
    ASSERT_TRUE(listener_->Serve([this](std::unique_ptr<TlsLink> link, std::string app) {
                  ASSERT_EQ(app, "echo");
                  ASSERT_TRUE(link->WriteMessage("ok", Clock::Real().Now() + 1s).ok());
                  UniqueFd daemon = ConnectUnix(socket_path_);
                  auto tunnel = Tunnel::Start(std::move(link), std::move(daemon),
                                              std::make_unique<CountingFilter>(&from_remote_, filter_limit_),
                                              [this](const Status& why) { Ended(why); });
                  ASSERT_TRUE(tunnel.ok()) << tunnel.status().message();
                  std::lock_guard lock(mu_);
                  tunnels_.push_back(std::move(tunnel).value());
                }).ok());
  }

  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    listener_->Stop();
    std::vector<std::unique_ptr<Tunnel>> tunnels;
    {
      std::lock_guard lock(mu_);
      tunnels.swap(tunnels_);
    }
    tunnels.clear();
  }

  static UniqueFd ConnectUnix(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    return fd;
  }

  // The calling host: a channel whose connection is a socket pair, the other end
  // of which a tunnel moves over a fresh link.
  std::shared_ptr<grpc::Channel> Channel() {
    auto link = dialer_->Dial("127.0.0.1:" + std::to_string(listener_->port()), receiving_node_.id(), 10s);
    EXPECT_TRUE(link.ok()) << link.status().message();
    EXPECT_TRUE((*link)->WriteMessage("echo", Clock::Real().Now() + 10s).ok());
    auto answer = (*link)->ReadMessage(100, Clock::Real().Now() + 10s);
    EXPECT_TRUE(answer.ok() && *answer == "ok") << answer.status().message();
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    auto tunnel = Tunnel::Start(std::move(link).value(), UniqueFd(fds[1]), nullptr, [this](const Status& why) {
      Ended(why);
    });
    EXPECT_TRUE(tunnel.ok()) << tunnel.status().message();
    std::lock_guard lock(mu_);
    tunnels_.push_back(std::move(tunnel).value());
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    return grpc::CreateCustomInsecureChannelFromFd("tunnel", fds[0], args);
  }

  void Ended(const Status& why) {
    std::lock_guard lock(mu_);
    ends_.push_back(why);
  }
  std::vector<Status> ends() {
    std::lock_guard lock(mu_);
    return ends_;
  }

  static grpc::Status Check(Health::Stub& stub) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    HealthCheckResponse response;
    grpc::Status status = stub.Check(&ctx, HealthCheckRequest(), &response);
    if (status.ok() && response.status() != HealthCheckResponse::SERVING) {
      return grpc::Status(grpc::StatusCode::UNKNOWN, "not serving");
    }
    return status;
  }

  TempDir dir_{"mumba-tunnel"};
  std::string socket_path_;
  NodeKey calling_node_{GenerateKeyPair()}, receiving_node_{GenerateKeyPair()};
  Expected<LinkDialer> dialer_ = LinkDialer::Make(calling_node_);
  CheckService check_;
  EchoService echo_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<size_t> from_remote_{0};
  size_t filter_limit_ = SIZE_MAX;
  std::mutex mu_;
  std::vector<Status> ends_;
  std::vector<std::unique_ptr<Tunnel>> tunnels_;
  std::unique_ptr<LinkListener> listener_;
};

TEST_F(GrpcThroughTunnelsTest, UnaryCallsGoThrough) {
  auto stub = Health::NewStub(Channel());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(Check(*stub).ok()) << "call " << i;
  EXPECT_GT(from_remote_.load(), 0u);
  // A second channel: a second link from the same dialer.
  auto again = Health::NewStub(Channel());
  ASSERT_TRUE(Check(*again).ok());
}

TEST_F(GrpcThroughTunnelsTest, AStreamOfSeveralMegabytesGoesThroughBothWays) {
  grpc::GenericStub stub(Channel());
  std::vector<std::string> chunks;
  std::string sent;
  for (int i = 0; i < 64; ++i) {
    chunks.push_back(std::string(128 * 1024, static_cast<char>('a' + i % 26)));
    sent += chunks.back();
  }
  EchoStream stream(stub, chunks);
  grpc::Status status = stream.Wait();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(stream.received().size(), sent.size());
  EXPECT_TRUE(stream.received() == sent);
  EXPECT_GT(from_remote_.load(), sent.size());
}

TEST_F(GrpcThroughTunnelsTest, ManyCallsAtOnceGoThrough) {
  auto channel = Channel();
  // Blocking unary calls from 8 threads...
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto stub = Health::NewStub(channel);
      for (int i = 0; i < 100; ++i) {
        if (!Check(*stub).ok()) failures++;
      }
    });
  }
  // ...while 200 echo calls of 10 KB are in flight at once.
  grpc::GenericStub stub(channel);
  struct Call {
    grpc::ClientContext ctx;
    grpc::ByteBuffer request, response;
    std::promise<grpc::Status> done;
  };
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 200; ++i) {
    auto call = std::make_unique<Call>();
    call->ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    call->request = Buffer(std::string(10 * 1024, static_cast<char>('A' + i % 26)));
    stub.UnaryCall(&call->ctx, "/test.Echo/Unary", grpc::StubOptions(), &call->request, &call->response,
                   [c = call.get()](grpc::Status status) { c->done.set_value(status); });
    calls.push_back(std::move(call));
  }
  int echoed = 0;
  for (int i = 0; i < 200; ++i) {
    auto done = calls[i]->done.get_future();
    if (done.wait_for(60s) != std::future_status::ready) break;
    grpc::Status status = done.get();
    EXPECT_TRUE(status.ok()) << "echo " << i << ": " << status.error_message();
    if (status.ok() && Text(calls[i]->response) == std::string(10 * 1024, static_cast<char>('A' + i % 26))) echoed++;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(echoed, 200);
  EXPECT_EQ(failures.load(), 0);
  // Calls still in flight (after a failure) end before their contexts go.
  if (echoed < 200) {
    for (auto& c : calls) c->ctx.TryCancel();
    std::this_thread::sleep_for(1s);
  }
}

TEST_F(GrpcThroughTunnelsTest, AFilterErrorFailsTheCallsAndEndsTheTunnels) {
  filter_limit_ = 1 << 20;
  grpc::GenericStub stub(Channel());
  std::vector<std::string> chunks(32, std::string(128 * 1024, 'z'));
  EchoStream stream(stub, chunks);
  grpc::Status status = stream.Wait();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // Both tunnels end: the receiving one with the filter's error.
  for (int i = 0; i < 100 && ends().size() < 2; ++i) std::this_thread::sleep_for(50ms);
  auto statuses = ends();
  ASSERT_EQ(statuses.size(), 2u);
  bool filter_error = false;
  for (auto& s : statuses) filter_error |= s.code() == Code::kResourceExhausted && s.message() == "over the limit";
  EXPECT_TRUE(filter_error);
}

}  // namespace
}  // namespace mumba
