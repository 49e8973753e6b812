// SPDX-License-Identifier: Apache-2.0
#include "peer/link_credentials.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "peer/link_certificate.h"

namespace mumba {
namespace {

using grpc::experimental::ExternalCertificateVerifier;
using grpc::experimental::IdentityKeyCertPair;
using grpc::experimental::StaticDataCertificateProvider;
using grpc::experimental::TlsCustomVerificationCheckRequest;

// The check each side makes of the other's certificate once the handshake has
// proved the peer holds its key. Synchronous: it only parses and verifies one
// signature.
class LinkVerifier final : public ExternalCertificateVerifier {
 public:
  // `expected_peer_id` nullopt: any node may be on the other side (the server side,
  // and a client asking who is at an endpoint). An empty
  // or malformed id is never matched, like any other id that is not the peer's.
  explicit LinkVerifier(std::optional<std::string> expected_peer_id)
      : expected_peer_id_(std::move(expected_peer_id)) {}

  bool Verify(TlsCustomVerificationCheckRequest* request, std::function<void(grpc::Status)>,
              grpc::Status* sync_status) override {
    auto peer = CheckLinkCertificate(std::string_view(request->peer_cert().data(), request->peer_cert().size()),
                                     std::string_view(request->peer_cert_full_chain().data(),
                                                      request->peer_cert_full_chain().size()));
    if (!peer.ok()) {
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, peer.status().message());
    } else if (expected_peer_id_ && *peer != *expected_peer_id_) {
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  "the peer proved node " + *peer + ", not '" + *expected_peer_id_ + "'");
    } else {
      *sync_status = grpc::Status::OK;
    }
    return true;
  }

  // Nothing to cancel: Verify never goes asynchronous.
  void Cancel(TlsCustomVerificationCheckRequest*) override {}

 private:
  const std::optional<std::string> expected_peer_id_;
};

// `self`'s certificate and key in the form gRPC's providers take. The provider
// copies them; gRPC's copies of the private key are beyond our reach to wipe.
std::shared_ptr<StaticDataCertificateProvider> IdentityProvider(const NodeKey& self) {
  auto identity = MakeLinkIdentity(self);
  if (!identity.ok()) {
    spdlog::critical("cannot make this node's link certificate: {}", identity.status().message());
    std::abort();
  }
  std::vector<IdentityKeyCertPair> pairs(1);
  pairs[0].certificate_chain = identity->certificate_pem;
  pairs[0].private_key = identity->private_key_pem;
  auto provider = std::make_shared<StaticDataCertificateProvider>(pairs);
  WipeString(pairs[0].private_key);
  return provider;
}

// The node ids of the peer certificates PeerNodeOf has seen. Reading the key out
// of a certificate costs OpenSSL 3 about 100 us (its decoders), which on every
// call made a peer call 0.2x as fast as plaintext; a connection's certificate is
// the same text on each of its calls, so its id is looked up instead. Bounded: it
// starts afresh when full.
class NodeIdCache {
 public:
  Expected<std::string> Find(std::string_view pem) {
    {
      std::lock_guard lock(mu_);
      if (auto it = ids_.find(pem); it != ids_.end()) return it->second;
    }
    MUMBA_ASSIGN_OR_RETURN(std::string id, NodeIdOfCheckedCertificate(pem));
    std::lock_guard lock(mu_);
    if (ids_.size() >= kMaxEntries) ids_.clear();
    ids_.emplace(std::string(pem), id);
    return id;
  }

 private:
  // Far more peers than a host links to at once.
  static constexpr size_t kMaxEntries = 4096;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::mutex mu_;
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> ids_;
};

NodeIdCache& PeerIds() {
  static auto* cache = new NodeIdCache();
  return *cache;
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> LinkServerCredentials(const NodeKey& self) {
  grpc::experimental::TlsServerCredentialsOptions options(IdentityProvider(self));
  options.watch_identity_key_cert_pairs();
  // OpenSSL asks for the client's certificate and fails a handshake without one,
  // but leaves judging it to the verifier: no CA signs link certificates.
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.set_certificate_verifier(ExternalCertificateVerifier::Create<LinkVerifier>(std::nullopt));
  return grpc::experimental::TlsServerCredentials(options);
}

namespace {
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const NodeKey& self,
                                                             std::optional<std::string> expected_peer_id) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(IdentityProvider(self));
  options.watch_identity_key_cert_pairs();
  // No CA signs a link certificate and no host name is in one: the verifier alone
  // decides, by the key.
  options.set_verify_server_certs(false);
  options.set_check_call_host(false);
  options.set_certificate_verifier(ExternalCertificateVerifier::Create<LinkVerifier>(std::move(expected_peer_id)));
  return grpc::experimental::TlsCredentials(options);
}
}  // namespace

std::shared_ptr<grpc::ChannelCredentials> LinkChannelCredentials(const NodeKey& self,
                                                                 const std::string& expected_peer_id) {
  return ChannelCredentials(self, expected_peer_id);
}

std::shared_ptr<grpc::ChannelCredentials> LinkChannelCredentialsToAnyNode(const NodeKey& self) {
  return ChannelCredentials(self, std::nullopt);
}

grpc::ChannelArguments LinkChannelArguments() {
  grpc::ChannelArguments args;
  // The name the client gives as SNI (and as the calls' :authority). The target's
  // own host would do no harm, since no name is checked, but the server logs an
  // error for every handshake whose SNI its certificate does not carry; this is
  // the name a link certificate carries.
  args.SetSslTargetNameOverride(kLinkCertificateName);
  // As for the host's own channels (common/unix_channel.h): a peer that comes back
  // is reached again within seconds, not gRPC's two minutes, and a handshake gets
  // 5 s, which covers a few round trips on a slow path.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 10000);
  // A peer that vanishes mid-call is noticed by keepalive pings. gRPC servers
  // answer pings more often than every 5 minutes with GOAWAY ("too many pings")
  // unless configured otherwise, so this is as often as a link may ping.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 300000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  return args;
}

namespace {
Expected<std::string> NodeOfAuth(const std::shared_ptr<const grpc::AuthContext>& auth) {
  if (auth == nullptr) return PermissionDenied("this call did not come over a link");
  auto certs = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (certs.size() != 1) return PermissionDenied("this call did not come over a link (no peer certificate)");
  auto id = PeerIds().Find(std::string_view(certs[0].data(), certs[0].size()));
  if (!id.ok()) return PermissionDenied("this call did not come over a link: " + id.status().message());
  return id;
}

}  // namespace

Expected<std::string> PeerNodeOf(const grpc::ServerContextBase& ctx) { return NodeOfAuth(ctx.auth_context()); }

Expected<std::string> ServerNodeOf(const grpc::ClientContext& ctx) {
  MUMBA_ASSIGN_OR_RETURN(std::string id, NodeOfAuth(ctx.auth_context()));
  return id;
}

}  // namespace mumba
