// SPDX-License-Identifier: Apache-2.0
// Tunnel links over real TLS on 127.0.0.1: a link proves both nodes; a dial
// expecting another node is refused (a man in the middle), and so is a server
// whose certificate is not a link certificate, even to a dial that takes any
// node; messages round trip and oversize ones are refused; and clients without a
// certificate, with one that is not a link certificate or with a chain, offering
// TLS 1.2, sending garbage or nothing are all closed in the handshake, as are a
// first message that is late or too long, while the listener keeps serving others.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "peer/link_certificate.h"
#include "peer/test_certificates.h"
#include "peer/tunnel_link.h"
#include "peer/tunnel_listener.h"

namespace mumba {
namespace {

using testing::KeyKind;
using testing::TestIdentity;
using namespace std::chrono_literals;

NodeKey FreshNode() { return NodeKey{GenerateKeyPair()}; }
Clock::time_point In(std::chrono::milliseconds d) { return Clock::Real().Now() + d; }

// The links a listener handed out, in order, and their first messages.
class Inbox {
 public:
  void Put(std::unique_ptr<TlsLink> link, std::string first_message) {
    std::lock_guard lock(mu_);
    links_.push_back(std::move(link));
    messages_.push_back(std::move(first_message));
    cv_.notify_all();
  }
  // The next link, or null when none comes within `wait`.
  std::unique_ptr<TlsLink> Take(std::chrono::milliseconds wait = 10s) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, wait, [this] { return !links_.empty(); })) return nullptr;
    auto link = std::move(links_.front());
    links_.pop_front();
    last_message_ = std::move(messages_.front());
    messages_.pop_front();
    return link;
  }
  // The first message of the link Take returned last.
  std::string last_message() {
    std::lock_guard lock(mu_);
    return last_message_;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return links_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<TlsLink>> links_;
  std::deque<std::string> messages_;
  std::string last_message_;
};

// A listener on 127.0.0.1 serving as `node`, its links put in `inbox`. The
// listener is declared last, so it stops before the inbox goes.
struct Served {
  Inbox inbox;
  std::string endpoint;
  std::unique_ptr<LinkListener> listener;
};

std::unique_ptr<Served> Serve(const NodeKey& node, LinkListenerOptions options = {}) {
  auto served = std::make_unique<Served>();
  auto listener = LinkListener::Listen(node, "127.0.0.1:0", options);
  EXPECT_TRUE(listener.ok()) << listener.status().message();
  if (!listener.ok()) return nullptr;
  served->listener = std::move(listener).value();
  served->endpoint = "127.0.0.1:" + std::to_string(served->listener->port());
  Status serving = served->listener->Serve([inbox = &served->inbox](std::unique_ptr<TlsLink> link, std::string first) {
    inbox->Put(std::move(link), std::move(first));
  });
  EXPECT_TRUE(serving.ok()) << serving.message();
  return served;
}

// A link from `self` to the node `expected` at `endpoint`, with its first message sent.
Expected<std::unique_ptr<TlsLink>> Dial(const NodeKey& self, const std::string& endpoint, const std::string& expected,
                                        const std::string& first_message = "which app: hello") {
  auto link = DialLink(self, endpoint, expected, 10s);
  if (!link.ok()) return link;
  MUMBA_TRY((*link)->WriteMessage(first_message, In(10s)));
  return link;
}

// A blocking TCP connection to 127.0.0.1:`port` whose reads give up after 5 s.
UniqueFd ConnectTcp(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  timeval five{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &five, sizeof(five));
  return fd;
}

// Whether the server closes `fd` (reads end or fail, after an alert maybe) rather
// than waiting for more (a read times out).
bool ClosedByServer(int fd) {
  char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

// Makes `ctx` present `identity`: the first certificate of its PEM is the leaf,
// any others are sent after it as its chain.
void UseIdentity(SSL_CTX* ctx, const TestIdentity& identity) {
  BIO* cert = BIO_new_mem_buf(identity.certificate_pem.data(), static_cast<int>(identity.certificate_pem.size()));
  BIO* key = BIO_new_mem_buf(identity.private_key_pem.data(), static_cast<int>(identity.private_key_pem.size()));
  X509* leaf = PEM_read_bio_X509(cert, nullptr, nullptr, nullptr);
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(key, nullptr, nullptr, nullptr);
  EXPECT_EQ(SSL_CTX_use_certificate(ctx, leaf), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx, pkey), 1);
  while (X509* more = PEM_read_bio_X509(cert, nullptr, nullptr, nullptr)) {
    EXPECT_EQ(SSL_CTX_add1_chain_cert(ctx, more), 1);
    X509_free(more);
  }
  X509_free(leaf);
  EVP_PKEY_free(pkey);
  BIO_free(cert);
  BIO_free(key);
}

// A TLS client made with OpenSSL directly, as anyone may make one: it presents
// `identity` (nullopt: no certificate), offers at most `max_version`, accepts any
// server certificate, and reports whether the server closed the connection, in
// the handshake or right after it (TLS 1.3 checks the client's certificate after
// the client's side is done), within `wait` after its first message.
bool ServerClosesTls(int port, const std::optional<TestIdentity>& identity, int max_version = TLS1_3_VERSION,
                     std::chrono::seconds wait = 5s) {
  // OpenSSL's own socket BIO writes without MSG_NOSIGNAL: a write to a closed
  // connection must fail here, not end the test.
  struct sigaction ignore {}, saved{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &saved);
  UniqueFd fd = ConnectTcp(port);
  timeval read_wait{static_cast<time_t>(wait.count()), 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &read_wait, sizeof(read_wait));
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (identity) UseIdentity(ctx, *identity);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd.get());
  bool closed = true;
  if (SSL_connect(ssl) == 1) {
    // A first message, as a link's client sends, so that only the handshake can
    // keep this client from on_link.
    SSL_write(ssl, "\0\0\0\x02hi", 6);
    char c;
    int n = SSL_read(ssl, &c, 1);
    closed = !(n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ);  // WANT_READ: the 5 s ran out.
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::sigaction(SIGPIPE, &saved, nullptr);
  return closed;
}

TestIdentity LinkIdentityOf(const NodeKey& node) {
  auto identity = MakeLinkIdentity(node);
  EXPECT_TRUE(identity.ok()) << identity.status().message();
  return {identity->certificate_pem, identity->private_key_pem};
}

// A TLS 1.3 server made with OpenSSL directly, as anyone may make one: it listens
// on 127.0.0.1, presents `identity` (UseIdentity), asks no certificate of the
// client, and takes the handshake of one connection, then waits for the client to
// close it. Its destructor waits for that (at most some 10 s). SIGPIPE is ignored
// meanwhile: OpenSSL's own socket BIO writes without MSG_NOSIGNAL, and a refusing
// client may be gone when the server writes.
class HostileServer {
 public:
  explicit HostileServer(const TestIdentity& identity) : ctx_(SSL_CTX_new(TLS_server_method())) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &saved_sigpipe_);
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    SSL_CTX_set_num_tickets(ctx_, 0);
    UseIdentity(ctx_, identity);
    listening_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(address);
    EXPECT_EQ(::bind(listening_.get(), reinterpret_cast<sockaddr*>(&address), size), 0);
    EXPECT_EQ(::listen(listening_.get(), 4), 0);
    EXPECT_EQ(::getsockname(listening_.get(), reinterpret_cast<sockaddr*>(&address), &size), 0);
    endpoint_ = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    thread_ = std::thread([this] { ServeOne(); });
  }
  ~HostileServer() {
    thread_.join();
    SSL_CTX_free(ctx_);
    ::sigaction(SIGPIPE, &saved_sigpipe_, nullptr);
  }

  const std::string& endpoint() const { return endpoint_; }

 private:
  void ServeOne() {
    timeval ten{10, 0};
    ::setsockopt(listening_.get(), SOL_SOCKET, SO_RCVTIMEO, &ten, sizeof(ten));
    UniqueFd fd(::accept4(listening_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) return;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &ten, sizeof(ten));
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd.get());
    if (SSL_accept(ssl) == 1) {
      char c;
      SSL_read(ssl, &c, 1);
    }
    SSL_free(ssl);
  }

  SSL_CTX* ctx_;
  struct sigaction saved_sigpipe_ {};
  UniqueFd listening_;
  std::string endpoint_;
  std::thread thread_;
};

TEST(TunnelLinkTest, ALinkProvesBothNodes) {
  NodeKey a = FreshNode(), b = FreshNode();
  auto served = Serve(b);
  auto link = Dial(a, served->endpoint, b.id());
  ASSERT_TRUE(link.ok()) << link.status().message();
  EXPECT_EQ((*link)->peer_node(), b.id());
  auto accepted = served->inbox.Take();
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ(accepted->peer_node(), a.id());
  EXPECT_EQ(served->inbox.last_message(), "which app: hello");
}

TEST(TunnelLinkTest, AServerHoldingAnotherKeyIsRefused) {
  NodeKey a = FreshNode(), b = FreshNode(), mallory = FreshNode();
  auto in_the_middle = Serve(mallory);
  // A expects B at this address, but Mallory answers.
  auto link = DialLink(a, in_the_middle->endpoint, b.id(), 10s);
  ASSERT_FALSE(link.ok());
  EXPECT_EQ(link.status().code(), Code::kUnauthenticated) << link.status().message();
  EXPECT_EQ(in_the_middle->inbox.Take(300ms), nullptr);
  // An expected id that is not an id is refused before anything is sent.
  EXPECT_EQ(DialLink(a, in_the_middle->endpoint, "not a node id", 10s).status().code(), Code::kInvalidArgument);
}

TEST(TunnelLinkTest, ADialToAnyNodeLearnsWhichNodeIsThere) {
  NodeKey a = FreshNode(), b = FreshNode();
  auto served = Serve(b);
  auto link = Dial(a, served->endpoint, "");
  ASSERT_TRUE(link.ok()) << link.status().message();
  EXPECT_EQ((*link)->peer_node(), b.id());
  auto accepted = served->inbox.Take();
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ(accepted->peer_node(), a.id());
}

TEST(TunnelLinkTest, AServerWithAnEd25519CertificateOfItsOwnIsAccepted) {
  // The control for the refusals below: the hostile server itself works when its
  // certificate is a link certificate in all but the name, and says its node.
  NodeKey a = FreshNode();
  TestIdentity identity = testing::SelfSigned(KeyKind::kEd25519);
  auto id = CheckLinkCertificate(identity.certificate_pem, "");
  ASSERT_TRUE(id.ok()) << id.status().message();
  HostileServer server(identity);
  auto link = DialLink(a, server.endpoint(), *id, 10s);
  ASSERT_TRUE(link.ok()) << link.status().message();
  EXPECT_EQ((*link)->peer_node(), *id);
}

TEST(TunnelLinkTest, ServersWithoutALinkCertificateAreRefused) {
  NodeKey a = FreshNode(), b = FreshNode();
  TestIdentity chain = LinkIdentityOf(b);
  chain.certificate_pem += LinkIdentityOf(FreshNode()).certificate_pem;
  const std::pair<TestIdentity, std::string> hostile[] = {
      {testing::SelfSigned(KeyKind::kRsa), "an RSA certificate"},
      {testing::SelfSigned(KeyKind::kEcdsa), "an ECDSA certificate"},
      {testing::SignedByAnother(b), "b's key in a certificate another key signed"},
      {chain, "b's link certificate in a chain of two"},
  };
  for (const auto& [identity, what] : hostile) {
    // Whether the dial expects b or takes any node, the certificate is refused.
    for (const std::string& expected : {b.id(), std::string()}) {
      HostileServer server(identity);
      auto link = DialLink(a, server.endpoint(), expected, 10s);
      ASSERT_FALSE(link.ok()) << "a server with " << what << " (expecting '" << expected << "')";
      EXPECT_EQ(link.status().code(), Code::kUnauthenticated) << what << ": " << link.status().message();
    }
  }
}

TEST(TunnelLinkTest, LinksWorkOverIpv6) {
  NodeKey a = FreshNode(), b = FreshNode();
  Inbox inbox;  // Made first, so that it outlives the listener.
  auto listener = LinkListener::Listen(b, "[::1]:0");
  if (!listener.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << listener.status().message();
  ASSERT_TRUE((*listener)->Serve([&](std::unique_ptr<TlsLink> link, std::string first) {
    inbox.Put(std::move(link), std::move(first));
  }).ok());
  auto link = Dial(a, "[::1]:" + std::to_string((*listener)->port()), b.id());
  ASSERT_TRUE(link.ok()) << link.status().message();
  EXPECT_EQ((*link)->peer_node(), b.id());
  ASSERT_NE(inbox.Take(), nullptr);
}

TEST(TunnelLinkTest, DialFailuresSayWhy) {
  NodeKey a = FreshNode();
  EXPECT_EQ(DialLink(a, "localhost:80", "", 1s).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DialLink(a, "127.0.0.1", "", 1s).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DialLink(a, "127.0.0.1:70000", "", 1s).status().code(), Code::kInvalidArgument);
  // A port nobody listens on (a listener's, closed again).
  auto listener = LinkListener::Listen(a, "127.0.0.1:0");
  ASSERT_TRUE(listener.ok());
  std::string endpoint = "127.0.0.1:" + std::to_string((*listener)->port());
  listener->reset();
  EXPECT_EQ(DialLink(a, endpoint, "", 1s).status().code(), Code::kUnavailable);
}

TEST(TunnelLinkTest, MessagesRoundTripAndOversizeOnesAreRefused) {
  NodeKey a = FreshNode(), b = FreshNode();
  auto served = Serve(b);
  auto calling = Dial(a, served->endpoint, b.id());
  ASSERT_TRUE(calling.ok()) << calling.status().message();
  ASSERT_TRUE((*calling)->WriteMessage("", In(10s)).ok());
  ASSERT_TRUE((*calling)->WriteMessage("second", In(10s)).ok());
  auto receiving = served->inbox.Take();
  ASSERT_NE(receiving, nullptr);
  EXPECT_EQ(served->inbox.last_message(), "which app: hello");

  // The messages after the first are the link's own reader's.
  auto empty = receiving->ReadMessage(100, In(10s));
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_EQ(*empty, "");
  auto second = receiving->ReadMessage(100, In(10s));
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(*second, "second");
  ASSERT_TRUE(receiving->WriteMessage("ok", In(10s)).ok());
  auto answer = (*calling)->ReadMessage(100, In(10s));
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ(*answer, "ok");

  // Nothing comes: the deadline ends the wait.
  EXPECT_EQ((*calling)->ReadMessage(100, In(100ms)).status().code(), Code::kDeadlineExceeded);
  // Too long to send, and longer than the reader allows.
  EXPECT_EQ((*calling)->WriteMessage(std::string(kMaxLinkMessageBytes + 1, 'x'), In(10s)).code(),
            Code::kInvalidArgument);
  ASSERT_TRUE((*calling)->WriteMessage(std::string(101, 'x'), In(10s)).ok());
  EXPECT_EQ(receiving->ReadMessage(100, In(10s)).status().code(), Code::kResourceExhausted);
  // The peer closing shows as UNAVAILABLE.
  receiving.reset();
  EXPECT_EQ((*calling)->ReadMessage(100, In(10s)).status().code(), Code::kUnavailable);
}

TEST(TunnelLinkTest, WritingToALinkThePeerClosedFailsWithoutSigpipe) {
  NodeKey a = FreshNode(), b = FreshNode();
  auto served = Serve(b);
  auto calling = Dial(a, served->endpoint, b.id());
  ASSERT_TRUE(calling.ok()) << calling.status().message();
  auto receiving = served->inbox.Take();
  ASSERT_NE(receiving, nullptr);
  receiving.reset();
  // The first write reaches a closed socket, whose kernel answers with a reset;
  // the next fails with it; the one after meets a socket closed for writing,
  // which raises SIGPIPE unless the link sends with MSG_NOSIGNAL.
  Status last;
  for (int i = 0; i < 5 && last.ok(); ++i) {
    last = (*calling)->WriteMessage("still there?", In(10s));
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(last.code(), Code::kUnavailable) << last.message();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE((*calling)->WriteMessage("still there?", In(10s)).ok());
}

// Runs one hostile client against a listener and checks that it was closed
// without a link coming out, and that a good client is served right after.
void ExpectRefused(Served& served, const NodeKey& server_node, const std::function<bool(int port)>& hostile,
                   const std::string& what) {
  EXPECT_TRUE(hostile(served.listener->port())) << what << ": the server did not close the connection";
  EXPECT_EQ(served.inbox.size(), 0u) << what << " got a link";
  NodeKey good = FreshNode();
  auto link = Dial(good, served.endpoint, server_node.id());
  ASSERT_TRUE(link.ok()) << "after " << what << ": " << link.status().message();
  auto accepted = served.inbox.Take();
  ASSERT_NE(accepted, nullptr) << "after " << what;
  EXPECT_EQ(accepted->peer_node(), good.id());
}

TEST(TunnelLinkTest, AClientWithoutALinkCertificateIsRefused) {
  NodeKey b = FreshNode();
  auto served = Serve(b);
  ExpectRefused(*served, b, [](int port) { return ServerClosesTls(port, std::nullopt); }, "no certificate");
  ExpectRefused(*served, b, [](int port) { return ServerClosesTls(port, testing::SelfSigned(KeyKind::kRsa)); },
                "an RSA certificate");
  ExpectRefused(*served, b, [](int port) { return ServerClosesTls(port, testing::SelfSigned(KeyKind::kEcdsa)); },
                "an ECDSA certificate");
  NodeKey c = FreshNode();
  ExpectRefused(*served, b, [&](int port) { return ServerClosesTls(port, testing::SignedByAnother(c)); },
                "an ed25519 certificate another key signed");
}

TEST(TunnelLinkTest, AClientSendingAChainIsRefused) {
  NodeKey b = FreshNode(), c = FreshNode();
  auto served = Serve(b);
  TestIdentity chain = LinkIdentityOf(c);
  chain.certificate_pem += LinkIdentityOf(FreshNode()).certificate_pem;
  ExpectRefused(*served, b, [&](int port) { return ServerClosesTls(port, chain); }, "a chain of two");
}

TEST(TunnelLinkTest, AnyTlsClientWithALinkCertificateIsAccepted) {
  // The control for the refusals of hostile clients: the same client, with a link
  // certificate and TLS 1.3, gets a link (the server waits for more).
  NodeKey b = FreshNode(), c = FreshNode();
  auto served = Serve(b);
  EXPECT_FALSE(ServerClosesTls(served->listener->port(), LinkIdentityOf(c), TLS1_3_VERSION, 1s));
  auto accepted = served->inbox.Take();
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ(accepted->peer_node(), c.id());
  EXPECT_EQ(served->inbox.last_message(), "hi");
}

TEST(TunnelLinkTest, AClientOfferingOnlyTls12IsRefused) {
  NodeKey b = FreshNode(), c = FreshNode();
  auto served = Serve(b);
  ExpectRefused(*served, b, [&](int port) { return ServerClosesTls(port, LinkIdentityOf(c), TLS1_2_VERSION); },
                "TLS 1.2 with a link certificate");
}

TEST(TunnelLinkTest, PlaintextAndGarbageAreRefused) {
  NodeKey b = FreshNode();
  auto served = Serve(b);
  auto send_and_see = [](const std::string& bytes) {
    return [bytes](int port) {
      UniqueFd fd = ConnectTcp(port);
      EXPECT_EQ(::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
      return ClosedByServer(fd.get());
    };
  };
  ExpectRefused(*served, b, send_and_see("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "plaintext HTTP");
  ExpectRefused(*served, b, send_and_see("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "plaintext HTTP/2");
  // Application data before any handshake.
  ExpectRefused(*served, b, send_and_see(std::string("\x17\x03\x03\x00\x05hello", 10)), "a TLS record out of turn");
  ExpectRefused(*served, b, send_and_see(std::string(4096, '\0')), "zeros");
}

TEST(TunnelLinkTest, AClientThatSaysNothingIsClosedAndStallsNoOne) {
  NodeKey b = FreshNode();
  auto served = Serve(b, {.handshake_timeout = 1500ms});
  auto start = Clock::Real().Now();
  UniqueFd silent = ConnectTcp(served->listener->port());
  UniqueFd also_silent = ConnectTcp(served->listener->port());
  // Others are served meanwhile, at once.
  NodeKey good = FreshNode();
  auto link = DialLink(good, served->endpoint, b.id(), 1s);
  ASSERT_TRUE(link.ok()) << link.status().message();
  ASSERT_TRUE((*link)->WriteMessage("hello", In(1s)).ok());
  ASSERT_TRUE(link.ok()) << link.status().message();
  ASSERT_NE(served->inbox.Take(), nullptr);
  // And the silent ones are closed once their time is up.
  EXPECT_TRUE(ClosedByServer(silent.get()));
  EXPECT_TRUE(ClosedByServer(also_silent.get()));
  EXPECT_GE(Clock::Real().Now() - start, 1400ms);
}

TEST(TunnelLinkTest, AFirstMessageThatIsLateOrTooLongIsRefused) {
  NodeKey a = FreshNode(), b = FreshNode();
  auto served = Serve(b, {.handshake_timeout = 1000ms, .max_first_message_bytes = 10});
  // Too long: closed at once.
  auto too_long = Dial(a, served->endpoint, b.id(), std::string(11, 'x'));
  ASSERT_TRUE(too_long.ok()) << too_long.status().message();
  EXPECT_EQ((*too_long)->ReadMessage(100, In(5s)).status().code(), Code::kUnavailable);
  // Never sent: closed when the time is up; others are served meanwhile.
  auto start = Clock::Real().Now();
  auto silent = DialLink(a, served->endpoint, b.id(), 10s);
  ASSERT_TRUE(silent.ok()) << silent.status().message();
  auto good = Dial(a, served->endpoint, b.id(), std::string(10, 'x'));
  ASSERT_TRUE(good.ok()) << good.status().message();
  ASSERT_NE(served->inbox.Take(), nullptr);
  EXPECT_EQ(served->inbox.last_message(), std::string(10, 'x'));
  EXPECT_EQ((*silent)->ReadMessage(100, In(5s)).status().code(), Code::kUnavailable);
  EXPECT_GE(Clock::Real().Now() - start, 900ms);
  EXPECT_EQ(served->inbox.size(), 0u);
}

TEST(TunnelLinkTest, StopIsIdempotentAndEndsServing) {
  NodeKey a = FreshNode(), b = FreshNode();
  auto served = Serve(b);
  served->listener->Stop();
  served->listener->Stop();
  EXPECT_EQ(DialLink(a, served->endpoint, b.id(), 1s).status().code(), Code::kUnavailable);
  EXPECT_EQ(served->listener->Serve([](std::unique_ptr<TlsLink>, std::string) {}).code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace mumba
