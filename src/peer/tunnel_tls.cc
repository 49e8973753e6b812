// SPDX-License-Identifier: Apache-2.0
#include "peer/tunnel_tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "common/host_port.h"
#include "peer/link_certificate.h"
#include "peer/openssl_owners.h"
#include "platform/errno_status.h"

namespace mumba::tunnel_internal {
namespace {

using peer_internal::Bio;
using peer_internal::Cert;
using peer_internal::Pkey;

// A PEM password callback that gives none (no PEM here is encrypted).
int NoPassword(char*, int, int, void*) { return -1; }

// ---- A socket BIO that never raises SIGPIPE. ----

int FdOf(BIO* bio) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio))); }

int SocketWrite(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  ssize_t n = ::send(FdOf(bio), data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(bio);
  return -1;
}

int SocketRead(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  ssize_t n = ::recv(FdOf(bio), data, static_cast<size_t>(size), 0);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_read(bio);
  return -1;
}

// The BIO holds nothing of its own: flushing is a no-op and every other control
// (kTLS, pending counts) is "not supported".
long SocketCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

const BIO_METHOD* SocketMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mumba link socket");
    if (m == nullptr) return m;
    BIO_meth_set_write(m, SocketWrite);
    BIO_meth_set_read(m, SocketRead);
    BIO_meth_set_ctrl(m, SocketCtrl);
    return m;
  }();
  return method;
}

// ---- The check of the peer's certificate, inside the handshake. ----

std::string PemOf(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : std::string();
}

// OpenSSL's whole verification of the peer's chain, replaced: a link certificate
// is self-signed and no CA is trusted, so the only question is CheckLinkCertificate's
// (on PEM text, the form it is fuzzed in), and then whether the node is the one
// expected. Returning 0 fails the handshake with an alert.
int VerifyPeer(X509_STORE_CTX* store, void*) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* check = ssl == nullptr ? nullptr : static_cast<PeerCheck*>(SSL_get_app_data(ssl));
  if (check == nullptr) return 0;
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  if (leaf == nullptr) {
    check->refusal = Status(Code::kUnauthenticated, "link certificate refused: the peer presented none");
    return 0;
  }
  // The chain as the peer sent it, leaf first (OpenSSL gives it whole on both sides).
  std::string chain;
  STACK_OF(X509)* sent = X509_STORE_CTX_get0_untrusted(store);
  for (int i = 0; sent != nullptr && i < sk_X509_num(sent); ++i) chain += PemOf(sk_X509_value(sent, i));
  auto node = CheckLinkCertificate(PemOf(leaf), chain);
  if (!node.ok()) {
    check->refusal = node.status();
  } else if (!check->expected_node.empty() && *node != check->expected_node) {
    check->refusal = Status(Code::kUnauthenticated,
                            "the peer proved node " + *node + ", not " + check->expected_node + " as expected");
  } else {
    check->proved_node = *node;
    return 1;
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

}  // namespace

Expected<SslCtx> MakeLinkContext(const NodeKey& self, bool server) {
  MUMBA_ASSIGN_OR_RETURN(LinkIdentity identity, MakeLinkIdentity(self));
  SslCtx ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return Internal("OpenSSL cannot make a TLS context: " + TakeSslErrors());
  Bio cert_bio(BIO_new_mem_buf(identity.certificate_pem.data(), static_cast<int>(identity.certificate_pem.size())));
  Bio key_bio(BIO_new_mem_buf(identity.private_key_pem.data(), static_cast<int>(identity.private_key_pem.size())));
  if (!cert_bio || !key_bio) return Internal("OpenSSL cannot allocate a buffer");
  Cert cert(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassword, nullptr));
  Pkey key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassword, nullptr));
  if (!cert || !key || SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Internal("OpenSSL cannot load the link certificate: " + TakeSslErrors());
  }
  // TLS 1.3 only: below it the certificates, and so the node ids, travel in the
  // clear, and only 1.3 is tested.
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) != 1) {
    return Internal("OpenSSL cannot restrict links to TLS 1.3");
  }
  // AES-128-GCM first: the fastest with AES instructions, and as strong as needed.
  if (SSL_CTX_set_ciphersuites(ctx.get(), "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384") !=
      1) {
    return Internal("OpenSSL cannot set the TLS 1.3 cipher suites");
  }
  // No resumption of any kind: every link is a full handshake in which both keys
  // are proved again.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  if (server) SSL_CTX_set_num_tickets(ctx.get(), 0);
  // Both sides require a certificate; VerifyPeer decides which ones pass.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx.get(), VerifyPeer, nullptr);
  // The pump writes from a queue that moves and grows (partial writes, moving
  // buffer), and reads as much as the socket holds in one recv (read-ahead into a
  // buffer several records long).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  SSL_CTX_set_default_read_buffer_len(ctx.get(), 4 * SSL3_RT_MAX_PLAIN_LENGTH);
  return ctx;
}

Expected<Ssl> NewLinkSsl(SSL_CTX* ctx, int fd, bool server, PeerCheck* check) {
  const BIO_METHOD* method = SocketMethod();
  Ssl ssl(SSL_new(ctx));
  if (!ssl || method == nullptr) return Internal("OpenSSL cannot make a TLS connection: " + TakeSslErrors());
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return Internal("OpenSSL cannot make a socket BIO");
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl.get(), bio, bio);
  SSL_set_app_data(ssl.get(), check);
  if (server) {
    SSL_set_accept_state(ssl.get());
  } else {
    SSL_set_connect_state(ssl.get());
  }
  return ssl;
}

Step HandshakeStep(SSL* ssl) {
  ERR_clear_error();
  int result = SSL_do_handshake(ssl);
  if (result == 1) return Step::kDone;
  switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ: return Step::kWantRead;
    case SSL_ERROR_WANT_WRITE: return Step::kWantWrite;
    default: return Step::kFailed;
  }
}

Status HandshakeFailure(const PeerCheck& check) {
  if (!check.refusal.ok()) return check.refusal;
  std::string why = TakeSslErrors();
  return Unavailable("TLS handshake failed: " + (why.empty() ? std::string("the peer closed the connection") : why));
}

Status WaitReady(int fd, short events, Clock::time_point deadline, const char* what) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::Real().Now()).count();
    if (left <= 0) return DeadlineExceeded(std::string(what) + " took too long");
    struct pollfd p {fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (n > 0) return Status::Ok();
    if (n < 0 && errno != EINTR) return ErrnoStatus(errno, "poll").WithContext(what);
  }
}

std::string TakeSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof(buffer));
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out;
}

Expected<Endpoint> ParseEndpoint(const std::string& endpoint) {
  MUMBA_ASSIGN_OR_RETURN(HostPort hp, SplitHostPort(endpoint));
  const auto port = htons(static_cast<uint16_t>(hp.port));
  Endpoint out;
  if (endpoint.front() == '[') {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.address);
    if (inet_pton(AF_INET6, hp.host.c_str(), &v6->sin6_addr) != 1) {
      return InvalidArgument("endpoint '" + endpoint + "' has no valid IPv6 address");
    }
    v6->sin6_family = AF_INET6;
    v6->sin6_port = port;
    out.size = sizeof(sockaddr_in6);
    out.family = AF_INET6;
    return out;
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.address);
  if (inet_pton(AF_INET, hp.host.c_str(), &v4->sin_addr) != 1) {
    return InvalidArgument("endpoint '" + endpoint + "' has no valid IPv4 address (or [IPv6])");
  }
  v4->sin_family = AF_INET;
  v4->sin_port = port;
  out.size = sizeof(sockaddr_in);
  out.family = AF_INET;
  return out;
}

Status SslFailure(SSL* ssl, int result, const char* what) {
  int saved_errno = errno;
  int error = SSL_get_error(ssl, result);
  if (error == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    ERR_clear_error();
    return Unavailable(std::string(what) + ": the peer's connection ended without a TLS close_notify");
  }
  std::string why = TakeSslErrors();
  if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && saved_errno == 0 && why.empty())) {
    return Unavailable(std::string(what) + ": the peer closed the link");
  }
  if (error == SSL_ERROR_SYSCALL && why.empty()) {
    return Unavailable(std::string(what) + ": " + std::generic_category().message(saved_errno));
  }
  return Unavailable(std::string(what) + ": " + (why.empty() ? "TLS error " + std::to_string(error) : why));
}

void SetNoDelay(int fd) {
  int one = 1;
  // Best effort: a socket that is not TCP (a test's unix socket) has no Nagle to turn off.
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace mumba::tunnel_internal
