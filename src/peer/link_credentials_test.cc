// SPDX-License-Identifier: Apache-2.0
// Links over real gRPC on 127.0.0.1: calls work both ways and the server learns
// the caller's node; a server holding another key (a man in the middle), a client
// without a certificate or with one that is not a link certificate, and a
// plaintext client are each refused before any handler runs.
#include "peer/link_credentials.h"

#include <grpc/support/log.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>

#include "grpc/health/v1/health.grpc.pb.h"
#include "peer/link_certificate.h"
#include "peer/test_certificates.h"

namespace mumba {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using testing::KeyKind;
using testing::TestIdentity;

NodeKey FreshNode() { return NodeKey{GenerateKeyPair()}; }

// A unary service that counts its calls and remembers who made the last one.
class RecordingHealth final : public Health::CallbackService {
 public:
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const HealthCheckRequest*,
                                  HealthCheckResponse* response) override {
    auto peer = PeerNodeOf(*ctx);
    {
      std::lock_guard lock(mu_);
      last_peer_ = peer.ok() ? *peer : "error " + std::to_string(int(peer.status().code()));
    }
    calls_++;
    response->set_status(HealthCheckResponse::SERVING);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  int calls() const { return calls_; }
  std::string last_peer() const {
    std::lock_guard lock(mu_);
    return last_peer_;
  }

 private:
  std::atomic<int> calls_{0};
  mutable std::mutex mu_;
  std::string last_peer_;
};

// A server on 127.0.0.1, on a port of the system's choice.
class TestServer {
 public:
  explicit TestServer(std::shared_ptr<grpc::ServerCredentials> credentials) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~TestServer() { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1)); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const RecordingHealth& service() const { return service_; }

 private:
  RecordingHealth service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

grpc::Status CallOn(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckRequest request;
  HealthCheckResponse response;
  return stub->Check(&ctx, request, &response);
}

grpc::Status Call(const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return CallOn(grpc::CreateCustomChannel(address, std::move(credentials), LinkChannelArguments()));
}

// A TLS client that presents `identity` (or no certificate) and accepts any
// server: what an attacker who wants to reach a link server may build.
std::shared_ptr<grpc::ChannelCredentials> ClientWith(const std::optional<TestIdentity>& identity) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (identity) {
    std::vector<grpc::experimental::IdentityKeyCertPair> pairs{{identity->private_key_pem, identity->certificate_pem}};
    options.set_certificate_provider(std::make_shared<grpc::experimental::StaticDataCertificateProvider>(pairs));
    options.watch_identity_key_cert_pairs();
  }
  options.set_verify_server_certs(false);
  options.set_check_call_host(false);
  options.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  return grpc::experimental::TlsCredentials(options);
}

// A TLS server that presents `identity` and accepts any client.
std::shared_ptr<grpc::ServerCredentials> ServerWith(const TestIdentity& identity) {
  std::vector<grpc::experimental::IdentityKeyCertPair> pairs{{identity.private_key_pem, identity.certificate_pem}};
  grpc::experimental::TlsServerCredentialsOptions options(
      std::make_shared<grpc::experimental::StaticDataCertificateProvider>(pairs));
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  return grpc::experimental::TlsServerCredentials(options);
}

TestIdentity LinkIdentityOf(const NodeKey& node) {
  auto identity = MakeLinkIdentity(node);
  EXPECT_TRUE(identity.ok()) << identity.status().message();
  return {identity->certificate_pem, identity->private_key_pem};
}

// A refused connection fails the call as UNAVAILABLE, and no handler ran.
void ExpectRefused(const grpc::Status& status, const TestServer& server, const std::string& what) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << what << ": " << status.error_message();
  EXPECT_EQ(server.service().calls(), 0) << what << " reached the handler";
}

TEST(LinkCredentialsTest, CallsWorkBothWaysAndTheServerSeesTheCaller) {
  NodeKey a = FreshNode(), b = FreshNode();
  TestServer server_a(LinkServerCredentials(a));
  TestServer server_b(LinkServerCredentials(b));

  grpc::Status status = Call(server_a.address(), LinkChannelCredentials(b, a.id()));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(server_a.service().last_peer(), b.id());

  status = Call(server_b.address(), LinkChannelCredentials(a, b.id()));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(server_b.service().last_peer(), a.id());
}

// The error lines gRPC logs, for the test that wants none (they are not printed).
std::mutex log_mu;
std::vector<std::string> logged_errors;
void CollectErrors(gpr_log_func_args* args) {
  if (args->severity == GPR_LOG_SEVERITY_ERROR) {
    std::lock_guard lock(log_mu);
    logged_errors.push_back(args->message);
  }
}

TEST(LinkCredentialsTest, AGoodLinkLogsNoError) {
  NodeKey a = FreshNode(), b = FreshNode();
  TestServer server_a(LinkServerCredentials(a));
  gpr_set_log_function(CollectErrors);
  grpc::Status status = Call(server_a.address(), LinkChannelCredentials(b, a.id()));
  gpr_set_log_function(nullptr);  // gRPC's own again.
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::lock_guard lock(log_mu);
  EXPECT_TRUE(logged_errors.empty()) << logged_errors.front();
}

TEST(LinkCredentialsTest, AServerHoldingAnotherKeyIsRefused) {
  NodeKey a = FreshNode(), b = FreshNode(), mallory = FreshNode();
  TestServer in_the_middle(LinkServerCredentials(mallory));
  // A expects B at this address, but Mallory answers.
  ExpectRefused(Call(in_the_middle.address(), LinkChannelCredentials(a, b.id())), in_the_middle,
                "a server holding another node's key");
  ExpectRefused(Call(in_the_middle.address(), LinkChannelCredentials(a, "not a node id")), in_the_middle,
                "a server when the expected id is not an id");
  ExpectRefused(Call(in_the_middle.address(), LinkChannelCredentials(a, "")), in_the_middle,
                "a server when the expected id is empty");
}

TEST(LinkCredentialsTest, AProbeToAnyNodeLearnsWhichNodeTheHandshakeProved) {
  NodeKey a = FreshNode(), b = FreshNode();
  TestServer server_b(LinkServerCredentials(b));
  auto stub = Health::NewStub(
      grpc::CreateCustomChannel(server_b.address(), LinkChannelCredentialsToAnyNode(a), LinkChannelArguments()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&ctx, HealthCheckRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto node = ServerNodeOf(ctx);
  ASSERT_TRUE(node.ok()) << node.status().message();
  EXPECT_EQ(*node, b.id());
  EXPECT_EQ(server_b.service().last_peer(), a.id());
  // A probe still refuses a server without a link certificate.
  TestServer plain(ServerWith(testing::SelfSigned(KeyKind::kRsa)));
  ExpectRefused(Call(plain.address(), LinkChannelCredentialsToAnyNode(a)), plain, "an RSA server to a probe");
  // And a call that went over no link names no node.
  grpc::ClientContext none;
  EXPECT_EQ(ServerNodeOf(none).status().code(), Code::kPermissionDenied);
}

TEST(LinkCredentialsTest, AConnectionServesOnlyTheChannelThatCheckedIt) {
  NodeKey a = FreshNode(), b = FreshNode();
  TestServer server_b(LinkServerCredentials(b));
  auto good = grpc::CreateCustomChannel(server_b.address(), LinkChannelCredentials(a, b.id()), LinkChannelArguments());
  ASSERT_TRUE(CallOn(good).ok());
  // A channel to the same address that expects another node must not ride on
  // the connection the first one checked.
  auto other = grpc::CreateCustomChannel(server_b.address(), LinkChannelCredentials(a, FreshNode().id()),
                                         LinkChannelArguments());
  EXPECT_EQ(CallOn(other).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server_b.service().calls(), 1);
  EXPECT_TRUE(CallOn(good).ok());
}

TEST(LinkCredentialsTest, ServersWithoutALinkCertificateAreRefused) {
  NodeKey a = FreshNode();
  for (KeyKind kind : {KeyKind::kRsa, KeyKind::kEcdsa, KeyKind::kEd25519}) {
    TestIdentity identity = testing::SelfSigned(kind);
    // Whatever the certificate, the client can only expect a node id; for the
    // ed25519 one it expects exactly the id of that key, so only the
    // certificate's form is left to refuse... which it passes, and so it is
    // accepted (a control for the other two).
    std::string expected = FreshNode().id();
    if (kind == KeyKind::kEd25519) {
      auto id = CheckLinkCertificate(identity.certificate_pem, "");
      ASSERT_TRUE(id.ok()) << id.status().message();
      expected = *id;
    }
    TestServer server(ServerWith(identity));
    grpc::Status status = Call(server.address(), LinkChannelCredentials(a, expected));
    if (kind == KeyKind::kEd25519) {
      EXPECT_TRUE(status.ok()) << status.error_message();
    } else {
      ExpectRefused(status, server, "a server with an RSA or ECDSA certificate");
    }
  }
  NodeKey b = FreshNode();
  TestServer forged(ServerWith(testing::SignedByAnother(b)));
  ExpectRefused(Call(forged.address(), LinkChannelCredentials(a, b.id())), forged,
                "a server whose certificate another key signed");
}

TEST(LinkCredentialsTest, AnyTlsClientWithALinkCertificateIsAccepted) {
  // The control for the refusals below: the hostile client itself works when it
  // presents a proper link certificate.
  NodeKey a = FreshNode(), b = FreshNode();
  TestServer server_a(LinkServerCredentials(a));
  grpc::Status status = Call(server_a.address(), ClientWith(LinkIdentityOf(b)));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(server_a.service().last_peer(), b.id());
}

TEST(LinkCredentialsTest, AClientWithoutACertificateIsRefused) {
  TestServer server(LinkServerCredentials(FreshNode()));
  ExpectRefused(Call(server.address(), ClientWith(std::nullopt)), server, "a client without a certificate");
}

TEST(LinkCredentialsTest, ClientsWithRsaOrEcdsaCertificatesAreRefused) {
  TestServer server(LinkServerCredentials(FreshNode()));
  ExpectRefused(Call(server.address(), ClientWith(testing::SelfSigned(KeyKind::kRsa))), server,
                "a client with an RSA certificate");
  ExpectRefused(Call(server.address(), ClientWith(testing::SelfSigned(KeyKind::kEcdsa))), server,
                "a client with an ECDSA certificate");
}

TEST(LinkCredentialsTest, AClientWhoseCertificateAnotherKeySignedIsRefused) {
  TestServer server(LinkServerCredentials(FreshNode()));
  ExpectRefused(Call(server.address(), ClientWith(testing::SignedByAnother(FreshNode()))), server,
                "a client whose certificate another key signed");
}

TEST(LinkCredentialsTest, AClientSendingAChainIsRefused) {
  TestServer server(LinkServerCredentials(FreshNode()));
  TestIdentity chain = LinkIdentityOf(FreshNode());
  chain.certificate_pem += LinkIdentityOf(FreshNode()).certificate_pem;
  ExpectRefused(Call(server.address(), ClientWith(chain)), server, "a client sending a chain of two");
}

TEST(LinkCredentialsTest, APlaintextClientIsRefused) {
  TestServer server(LinkServerCredentials(FreshNode()));
  ExpectRefused(Call(server.address(), grpc::InsecureChannelCredentials()), server, "a plaintext client");
}

TEST(LinkCredentialsTest, PeerNodeOfRefusesACallThatDidNotComeOverALink) {
  TestServer server(grpc::InsecureServerCredentials());
  ASSERT_TRUE(Call(server.address(), grpc::InsecureChannelCredentials()).ok());
  EXPECT_EQ(server.service().last_peer(), "error " + std::to_string(int(Code::kPermissionDenied)));

  // A TLS call whose client certificate is not a link certificate is refused too.
  TestServer tls(ServerWith(testing::SelfSigned(KeyKind::kEcdsa)));
  ASSERT_TRUE(Call(tls.address(), ClientWith(testing::SelfSigned(KeyKind::kRsa))).ok());
  EXPECT_EQ(tls.service().last_peer(), "error " + std::to_string(int(Code::kPermissionDenied)));
}

}  // namespace
}  // namespace mumba
