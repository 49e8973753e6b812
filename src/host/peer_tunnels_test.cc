// SPDX-License-Identifier: Apache-2.0
// PeerTunnels between two hosts in one process, over real TLS links on 127.0.0.1
// and a real gRPC server on a unix socket standing in for the receiving app's
// daemon: Hello, a tunnel's Open and every refusal on the way, the per-call policy
// through the HTTP/2 gate, and the bounds.
#include "host/peer_tunnels.h"

#include <gtest/gtest.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>

#include "common/peer_metadata.h"
#include "mumba/peer/v1/node.pb.h"

namespace mumba {
namespace {

namespace fs = std::filesystem;

constexpr char kApp[] = "mumba://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
constexpr char kEcho[] = "/probe.v1.Echo/Say";
constexpr char kSecret[] = "/probe.v1.Private/Secret";

// The daemon: answers every call with the node the host said called, and counts.
class Daemon final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    calls++;
    std::string node;
    auto it = ctx->client_metadata().find(kPeerNodeMetadata);
    if (it != ctx->client_metadata().end()) node.assign(it->second.data(), it->second.size());
    return new Answer(node);
  }
  std::atomic<int> calls{0};

 private:
  class Answer final : public grpc::ServerGenericBidiReactor {
   public:
    explicit Answer(const std::string& node) {
      grpc::Slice slice(node);
      reply_ = grpc::ByteBuffer(&slice, 1);
      StartRead(&request_);
    }
    void OnReadDone(bool) override { StartWriteAndFinish(&reply_, grpc::WriteOptions(), grpc::Status::OK); }
    void OnDone() override { delete this; }

   private:
    grpc::ByteBuffer request_;
    grpc::ByteBuffer reply_;
  };
};

struct Reply {
  grpc::Status status;
  std::string text;
};

Reply Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
           const std::string& forged_node = "") {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!forged_node.empty()) ctx.AddMetadata(kPeerNodeMetadata, forged_node);
  grpc::Slice slice(std::string("hi"));
  grpc::ByteBuffer request(&slice, 1), response;
  Reply out;
  auto rpc = stub.PrepareUnaryCall(&ctx, method, request, &cq);
  rpc->StartCall();
  rpc->Finish(&response, &out.status, &cq);
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  std::vector<grpc::Slice> slices;
  if (out.status.ok() && response.Dump(&slices).ok()) {
    for (const auto& s : slices) out.text.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

class PeerTunnelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("peer_tunnels_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    a_key_ = std::make_unique<NodeKey>(*LoadOrCreateNodeKey(dir_ / "a.key"));
    b_key_ = std::make_unique<NodeKey>(*LoadOrCreateNodeKey(dir_ / "b.key"));
    socket_ = (dir_ / "app.sock").string();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterCallbackGenericService(&daemon_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);

    auto manifest = std::make_shared<Manifest>();
    manifest->id = kApp;
    manifest->name = "probe";
    manifest->peer_exports.push_back({"probe.v1.Echo", 1000});
    app_.record.id = kApp;
    app_.record.name = "probe";
    app_.manifest = manifest;
    app_.granted = {"peers"};

    b_ = std::make_unique<PeerTunnels>(*b_key_, Parts());
    auto port = b_->Listen("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status().message();
    endpoint_ = "127.0.0.1:" + std::to_string(*port);
    a_ = std::make_unique<PeerTunnels>(*a_key_, Parts());
  }

  void TearDown() override {
    a_.reset();
    b_.reset();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    fs::remove_all(dir_);
  }

  PeerTunnelsParts Parts() {
    return PeerTunnelsParts{[this](const std::string& id) -> Expected<InstalledApp> {
                              std::lock_guard lock(mu_);
                              if (id != kApp || !installed_) return NotFound("app " + id + " is not installed");
                              return app_;
                            },
                            [this](const std::string&) -> Expected<std::string> { return socket_; }};
  }

  std::shared_ptr<grpc::Channel> Channel(UniqueFd fd) {
    return grpc::CreateInsecureChannelFromFd("peer", fd.Release());
  }

  fs::path dir_;
  std::unique_ptr<NodeKey> a_key_, b_key_;
  std::string socket_;
  Daemon daemon_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  InstalledApp app_;
  bool installed_ = true;
  std::unique_ptr<PeerTunnels> a_, b_;
  std::string endpoint_;
};

TEST_F(PeerTunnelsTest, HelloTellsTheNodeTheLinkProvedAndWhetherItServes) {
  auto node = a_->Hello(endpoint_, "", kApp);
  ASSERT_TRUE(node.ok()) << node.status().message();
  EXPECT_EQ(*node, b_key_->id());
  // Pinned to the node found: the same answer; pinned to another: refused.
  EXPECT_TRUE(a_->Hello(endpoint_, b_key_->id(), kApp).ok());
  EXPECT_FALSE(a_->Hello(endpoint_, a_key_->id(), kApp).ok());
  // An app the node does not have.
  EXPECT_EQ(a_->Hello(endpoint_, "", "mumba://bbbb").status().code(), Code::kNotFound);
  // Itself.
  EXPECT_EQ(b_->Hello(endpoint_, "", kApp).status().code(), Code::kFailedPrecondition);
}

TEST_F(PeerTunnelsTest, ACallReachesTheDaemonWithTheCallingNodeAndNoOtherSays) {
  auto fd = a_->Open(endpoint_, b_key_->id(), kApp);
  ASSERT_TRUE(fd.ok()) << fd.status().message();
  auto channel = Channel(std::move(*fd));
  for (int i = 0; i < 20; ++i) {
    Reply r = Call(channel, kEcho, i % 2 ? b_key_->id() : "");
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.text, a_key_->id());
  }
  EXPECT_EQ(daemon_.calls, 20);
}

TEST_F(PeerTunnelsTest, AServiceNotExportedToPeersIsRefusedBeforeTheDaemon) {
  auto fd = a_->Open(endpoint_, b_key_->id(), kApp);
  ASSERT_TRUE(fd.ok()) << fd.status().message();
  auto channel = Channel(std::move(*fd));
  Reply r = Call(channel, kSecret);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << r.status.error_message();
  EXPECT_EQ(daemon_.calls, 0);
  // The connection goes on.
  EXPECT_TRUE(Call(channel, kEcho).status.ok());
  // A grant revoked meanwhile refuses the next call on an open tunnel.
  {
    std::lock_guard lock(mu_);
    app_.granted.clear();
  }
  EXPECT_EQ(Call(channel, kEcho).status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(daemon_.calls, 1);
}

TEST_F(PeerTunnelsTest, AnOpenIsRefusedForAnAppNotServedOrANodeNotExpected) {
  {
    std::lock_guard lock(mu_);
    installed_ = false;
  }
  auto fd = a_->Open(endpoint_, b_key_->id(), kApp);
  EXPECT_EQ(fd.status().code(), Code::kNotFound) << fd.status().message();
  EXPECT_NE(fd.status().message().find("node " + b_key_->id()), std::string::npos) << fd.status().message();
  {
    std::lock_guard lock(mu_);
    installed_ = true;
    app_.granted.clear();
  }
  EXPECT_EQ(a_->Open(endpoint_, b_key_->id(), kApp).status().code(), Code::kPermissionDenied);
  // The node at the endpoint is not the one expected: refused in the handshake.
  EXPECT_FALSE(a_->Open(endpoint_, a_key_->id(), kApp).ok());
}

TEST_F(PeerTunnelsTest, ANodeHoldsABoundedNumberOfTunnels) {
  std::vector<std::shared_ptr<grpc::Channel>> held;
  for (;;) {
    auto fd = a_->Open(endpoint_, b_key_->id(), kApp);
    if (!fd.ok()) {
      EXPECT_EQ(fd.status().code(), Code::kResourceExhausted) << fd.status().message();
      break;
    }
    held.push_back(Channel(std::move(*fd)));
    ASSERT_LE(held.size(), 64u) << "no bound on the tunnels one node holds";
  }
  EXPECT_EQ(held.size(), 16u);
  // Closing one makes room for another.
  held.pop_back();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Expected<UniqueFd> again = Unavailable("not tried");
  while (!again.ok() && std::chrono::steady_clock::now() < deadline) {
    again = a_->Open(endpoint_, b_key_->id(), kApp);
    if (!again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(again.ok()) << again.status().message();
}

TEST_F(PeerTunnelsTest, OneAddressHoldsABoundedNumberOfTunnelsWhateverNodesItClaims) {
  // Node keys cost nothing: one host makes five and opens all it may with each.
  std::vector<std::unique_ptr<NodeKey>> keys;
  std::vector<std::unique_ptr<PeerTunnels>> nodes;
  std::vector<UniqueFd> held;
  Status last;
  for (int n = 0; n < 5; ++n) {
    auto key = LoadOrCreateNodeKey(dir_ / ("sybil" + std::to_string(n) + ".key"));
    ASSERT_TRUE(key.ok()) << key.status().message();
    keys.push_back(std::make_unique<NodeKey>(*key));
    nodes.push_back(std::make_unique<PeerTunnels>(*keys.back(), Parts()));
    for (int i = 0; i < 17; ++i) {
      auto fd = nodes.back()->Open(endpoint_, b_key_->id(), kApp);
      if (!fd.ok()) {
        last = fd.status();
        break;
      }
      held.push_back(std::move(*fd));
    }
  }
  EXPECT_EQ(held.size(), 64u) << "tunnels from one address";
  EXPECT_EQ(last.code(), Code::kResourceExhausted);
  EXPECT_NE(last.message().find("one address"), std::string::npos) << last.message();
  // Closing one makes room for another from the same address.
  held.pop_back();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Expected<UniqueFd> again = Unavailable("not tried");
  while (!again.ok() && std::chrono::steady_clock::now() < deadline) {
    again = nodes.back()->Open(endpoint_, b_key_->id(), kApp);
    if (!again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(again.ok()) << again.status().message();
  held.clear();
  for (auto& n : nodes) n->Stop();
}

TEST(AddressGroupTest, AnIpv4AddressIsItselfAnIpv6OneItsSlash48And6to4ItsIpv4) {
  EXPECT_EQ(AddressGroup("192.0.2.7"), "192.0.2.7");
  EXPECT_NE(AddressGroup("192.0.2.7"), AddressGroup("192.0.2.8"));
  EXPECT_EQ(AddressGroup("2001:db8:1:2:3:4:5:6"), "2001:db8:1::/48");
  // The /64s and /56s of one home are one place.
  EXPECT_EQ(AddressGroup("2001:db8:1:2::9"), AddressGroup("2001:db8:1:ff00::1"));
  EXPECT_NE(AddressGroup("2001:db8:1:2::9"), AddressGroup("2001:db8:2:2::9"));
  // 6to4 gives one IPv4 address 2^80 IPv6 ones: they count as that address.
  EXPECT_EQ(AddressGroup("2002:c000:207:1::1"), "192.0.2.7");
  EXPECT_EQ(AddressGroup("2002:c000:207:ffff::2"), "192.0.2.7");
  EXPECT_EQ(AddressGroup(""), "");
  EXPECT_EQ(AddressGroup("not an address"), "");
}

TEST_F(PeerTunnelsTest, ANodeRefusedTooOftenIsCutOffEverywhere) {
  auto fd = a_->Open(endpoint_, b_key_->id(), kApp);
  ASSERT_TRUE(fd.ok()) << fd.status().message();
  auto channel = Channel(std::move(*fd));
  int refused = 0;
  for (int i = 0; i < 60; ++i) refused += !Call(channel, kSecret).status.ok();
  EXPECT_EQ(refused, 60);
  // Its tunnel is closed, and it can open no other, nor say Hello.
  EXPECT_FALSE(Call(channel, kEcho).status.ok());
  auto again = a_->Open(endpoint_, b_key_->id(), kApp);
  EXPECT_EQ(again.status().code(), Code::kUnavailable);
  EXPECT_NE(again.status().message().find("cut off"), std::string::npos) << again.status().message();
  EXPECT_EQ(a_->Hello(endpoint_, b_key_->id(), kApp).status().code(), Code::kUnavailable);
  EXPECT_EQ(daemon_.calls, 0);
}

// What another host sends before a tunnel starts is a stranger's: a first message
// that is not an Open gets no answer and costs the listener nothing.
TEST_F(PeerTunnelsTest, AFirstMessageThatIsNotAnOpenIsDroppedAndOthersAreServed) {
  auto link = DialLink(*a_key_, endpoint_, b_key_->id(), std::chrono::seconds(3));
  ASSERT_TRUE(link.ok()) << link.status().message();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  ASSERT_TRUE((*link)->WriteMessage(std::string("\xff\xff\xff\xff", 4), deadline).ok());
  EXPECT_FALSE((*link)->ReadMessage(4096, deadline).ok());
  auto node = a_->Hello(endpoint_, b_key_->id(), kApp);
  EXPECT_TRUE(node.ok()) << node.status().message();
}

// A host that answers an Open with garbage, a status code gRPC does not have, a
// long message or an answer over the size of one: the dialling host says so, and
// keeps what it passes on short.
TEST_F(PeerTunnelsTest, AnAnswerFromAnotherHostIsReadAsAStrangers) {
  auto c_key = LoadOrCreateNodeKey(dir_ / "c.key");
  ASSERT_TRUE(c_key.ok());
  auto listener = LinkListener::Listen(*c_key, "127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status().message();
  std::atomic<int> answers{0};
  ASSERT_TRUE((*listener)
                  ->Serve([&answers](std::unique_ptr<TlsLink> link, std::string) {
                    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
                    const int n = answers++;
                    if (n == 0) {
                      (void)link->WriteMessage(std::string("\xff\xff\xff\xff", 4), deadline);
                      return;
                    }
                    mumba::peer::v1::OpenReply reply;
                    reply.set_code(99);
                    reply.set_message(std::string(n == 1 ? 3000 : 5000, 'x'));
                    (void)link->WriteMessage(reply.SerializeAsString(), deadline);
                  })
                  .ok());
  const std::string endpoint = "127.0.0.1:" + std::to_string((*listener)->port());
  auto garbage = a_->Hello(endpoint, c_key->id(), kApp);
  EXPECT_EQ(garbage.status().code(), Code::kUnavailable) << garbage.status().message();
  EXPECT_NE(garbage.status().message().find("answered garbage"), std::string::npos);
  auto odd = a_->Open(endpoint, c_key->id(), kApp);
  EXPECT_EQ(odd.status().code(), Code::kUnknown) << odd.status().message();
  EXPECT_LT(odd.status().message().size(), 400u);
  EXPECT_EQ(odd.status().message().rfind("node " + c_key->id(), 0), 0u) << odd.status().message();
  // An answer larger than an answer can be is not read at all.
  auto big = a_->Hello(endpoint, c_key->id(), kApp);
  EXPECT_EQ(big.status().code(), Code::kResourceExhausted) << big.status().message();
  (*listener)->Stop();
}

TEST_F(PeerTunnelsTest, StoppingEndsEveryTunnel) {
  auto fd = a_->Open(endpoint_, b_key_->id(), kApp);
  ASSERT_TRUE(fd.ok()) << fd.status().message();
  auto channel = Channel(std::move(*fd));
  ASSERT_TRUE(Call(channel, kEcho).status.ok());
  b_->Stop();
  EXPECT_FALSE(Call(channel, kEcho).status.ok());
  EXPECT_FALSE(a_->Hello(endpoint_, "", kApp).ok());
}

}  // namespace
}  // namespace mumba
