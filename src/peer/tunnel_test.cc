// SPDX-License-Identifier: Apache-2.0
// Tunnels over real TLS links on 127.0.0.1: bytes cross both ways, megabytes of
// them through small socket buffers; bytes that came with the last message before
// the tunnel are not lost; a filter sees every byte from the remote side, its
// answers go back and its error ends the tunnel; either side closing, the link
// failing and Stop each end it (real gRPC through tunnels: tunnel_grpc_test.cc).
#include "peer/tunnel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <gtest/gtest.h>

#include <cctype>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "peer/tunnel_link.h"
#include "peer/tunnel_listener.h"

namespace mumba {
namespace {

using namespace std::chrono_literals;

NodeKey FreshNode() { return NodeKey{GenerateKeyPair()}; }

// The two ends of one link: `calling` dialed `receiving`.
struct LinkPair {
  std::unique_ptr<TlsLink> calling, receiving;
};

LinkPair Connect() {
  NodeKey a = FreshNode(), b = FreshNode();
  auto listener = LinkListener::Listen(b, "127.0.0.1:0");
  EXPECT_TRUE(listener.ok()) << listener.status().message();
  std::promise<std::unique_ptr<TlsLink>> accepted;
  EXPECT_TRUE((*listener)->Serve([&](std::unique_ptr<TlsLink> link, std::string) {
    accepted.set_value(std::move(link));
  }).ok());
  auto calling = DialLink(a, "127.0.0.1:" + std::to_string((*listener)->port()), b.id(), 10s);
  EXPECT_TRUE(calling.ok()) << calling.status().message();
  EXPECT_TRUE((*calling)->WriteMessage("which app", Clock::Real().Now() + 10s).ok());
  auto receiving = accepted.get_future();
  EXPECT_EQ(receiving.wait_for(10s), std::future_status::ready);
  return {std::move(calling).value(), receiving.get()};
}

std::pair<UniqueFd, UniqueFd> SocketPair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// How a tunnel ended: on_end's status, and how many times it ran.
class EndWatch {
 public:
  std::function<void(const Status&)> Callback() {
    return [this](const Status& why) {
      std::lock_guard lock(mu_);
      statuses_.push_back(why);
      cv_.notify_all();
    };
  }
  // The status on_end got, waiting up to 10 s for it; UNKNOWN if it never ran.
  Status Wait() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, 10s, [this] { return !statuses_.empty(); })) return Status(Code::kUnknown, "no end");
    return statuses_.front();
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return statuses_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Status> statuses_;
};

// Two tunnels on one link, as between a calling and a receiving host: the test
// holds `caller` (the calling daemon's end) and `callee` (the callee's).
struct Tunnels {
  EndWatch calling_end, receiving_end;
  UniqueFd caller, callee;
  std::unique_ptr<Tunnel> calling, receiving;
};

std::unique_ptr<Tunnels> StartTunnels(std::unique_ptr<TunnelFilter> filter = nullptr) {
  auto t = std::make_unique<Tunnels>();
  LinkPair link = Connect();
  auto [caller, calling_local] = SocketPair();
  auto [callee, receiving_local] = SocketPair();
  t->caller = std::move(caller);
  t->callee = std::move(callee);
  auto calling = Tunnel::Start(std::move(link.calling), std::move(calling_local), nullptr, t->calling_end.Callback());
  auto receiving = Tunnel::Start(std::move(link.receiving), std::move(receiving_local), std::move(filter),
                                 t->receiving_end.Callback());
  EXPECT_TRUE(calling.ok() && receiving.ok());
  t->calling = std::move(calling).value();
  t->receiving = std::move(receiving).value();
  return t;
}

void SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << std::strerror(errno);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Exactly `size` bytes from `fd`, or fewer if it ends first.
std::string ReadExactly(int fd, size_t size) {
  std::string out;
  char buffer[65536];
  while (out.size() < size) {
    ssize_t n = ::recv(fd, buffer, std::min(sizeof(buffer), size - out.size()), 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// Whether `fd` ends (EOF or an error) within 10 s, once what is left is read.
bool Ends(int fd) {
  timeval ten{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &ten, sizeof(ten));
  char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

std::string Pattern(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return out;
}

TEST(TunnelTest, BytesCrossBothWays) {
  auto t = StartTunnels();
  SendAll(t->caller.get(), "hello");
  EXPECT_EQ(ReadExactly(t->callee.get(), 5), "hello");
  SendAll(t->callee.get(), "and back");
  EXPECT_EQ(ReadExactly(t->caller.get(), 8), "and back");
}

TEST(TunnelTest, MegabytesCrossThroughSmallBuffersToASlowReader) {
  auto t = StartTunnels();
  const std::string sent = Pattern(8 << 20);
  std::string received;
  std::thread reader([&] {
    char buffer[4096];
    while (received.size() < sent.size()) {
      ssize_t n = ::recv(t->callee.get(), buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      received.append(buffer, static_cast<size_t>(n));
      // Slower than the writer at first, so that every buffer on the way fills.
      if (received.size() < (1 << 20)) std::this_thread::sleep_for(50us);
    }
  });
  SendAll(t->caller.get(), sent);
  reader.join();
  EXPECT_TRUE(received == sent) << "received " << received.size() << " bytes, not the same";
}

TEST(TunnelTest, BytesThatCameWithTheLastMessageAreNotLost) {
  LinkPair link = Connect();
  auto [callee, receiving_local] = SocketPair();
  ASSERT_TRUE(link.receiving->WriteMessage("ok", Clock::Real().Now() + 10s).ok());
  EndWatch receiving_end, calling_end;
  auto receiving = Tunnel::Start(std::move(link.receiving), std::move(receiving_local), nullptr,
                                 receiving_end.Callback());
  ASSERT_TRUE(receiving.ok());
  // The callee speaks first; its bytes reach the calling host's socket while the
  // calling host still reads the answer, so OpenSSL reads them ahead with it.
  SendAll(callee.get(), "first bytes");
  std::this_thread::sleep_for(100ms);
  auto answer = link.calling->ReadMessage(100, Clock::Real().Now() + 10s);
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ(*answer, "ok");
  auto [caller, calling_local] = SocketPair();
  auto calling = Tunnel::Start(std::move(link.calling), std::move(calling_local), nullptr, calling_end.Callback());
  ASSERT_TRUE(calling.ok());
  EXPECT_EQ(ReadExactly(caller.get(), 11), "first bytes");
}

// Upper-cases what comes from the remote side, answers each piece with "+N;"
// (its size), passes what comes from the local side as it is, and refuses an 'x'.
class ShoutingFilter final : public TunnelFilter {
 public:
  Status FromRemote(std::string_view bytes, std::string* to_local, std::string* to_remote) override {
    for (char c : bytes) {
      if (c == 'x') {
        to_remote->append("bye;");
        return PermissionDenied("an x came");
      }
      to_local->push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
    to_remote->append("+" + std::to_string(bytes.size()) + ";");
    return Status::Ok();
  }
  Status FromLocal(std::string_view bytes, std::string* to_remote) override {
    to_remote->append(bytes);
    return Status::Ok();
  }
};

TEST(TunnelTest, AFilterSeesTheRemoteBytesAndItsAnswersGoBack) {
  auto t = StartTunnels(std::make_unique<ShoutingFilter>());
  SendAll(t->caller.get(), "abc");
  EXPECT_EQ(ReadExactly(t->callee.get(), 3), "ABC");
  EXPECT_EQ(ReadExactly(t->caller.get(), 3), "+3;");
  SendAll(t->callee.get(), "low");
  EXPECT_EQ(ReadExactly(t->caller.get(), 3), "low");
}

TEST(TunnelTest, AFilterErrorEndsTheTunnelAfterItsAnswer) {
  auto t = StartTunnels(std::make_unique<ShoutingFilter>());
  SendAll(t->caller.get(), "x");
  EXPECT_EQ(ReadExactly(t->caller.get(), 4), "bye;");
  Status why = t->receiving_end.Wait();
  EXPECT_EQ(why.code(), Code::kPermissionDenied) << why.message();
  EXPECT_EQ(why.message(), "an x came");
  EXPECT_TRUE(t->calling_end.Wait().ok()) << t->calling_end.Wait().message();
  EXPECT_TRUE(Ends(t->caller.get()));
  EXPECT_TRUE(Ends(t->callee.get()));
}

TEST(TunnelTest, TheCallerClosingEndsBothTunnels) {
  auto t = StartTunnels();
  SendAll(t->caller.get(), "last words");
  t->caller.Reset();
  EXPECT_TRUE(t->calling_end.Wait().ok()) << t->calling_end.Wait().message();
  EXPECT_TRUE(t->receiving_end.Wait().ok()) << t->receiving_end.Wait().message();
  EXPECT_EQ(ReadExactly(t->callee.get(), 10), "last words");
  EXPECT_TRUE(Ends(t->callee.get()));
}

TEST(TunnelTest, TheCalleeClosingEndsBothTunnels) {
  auto t = StartTunnels();
  SendAll(t->callee.get(), "goodbye");
  t->callee.Reset();
  EXPECT_TRUE(t->receiving_end.Wait().ok()) << t->receiving_end.Wait().message();
  EXPECT_TRUE(t->calling_end.Wait().ok()) << t->calling_end.Wait().message();
  EXPECT_EQ(ReadExactly(t->caller.get(), 7), "goodbye");
  EXPECT_TRUE(Ends(t->caller.get()));
}

TEST(TunnelTest, StopEndsTheTunnelAndOnEndRunsOnce) {
  auto t = StartTunnels();
  t->calling->Stop();
  EXPECT_EQ(t->calling_end.count(), 1u);  // Before Stop returned.
  EXPECT_EQ(t->calling_end.Wait().code(), Code::kCancelled);
  t->calling->Stop();
  t->calling.reset();
  EXPECT_EQ(t->calling_end.count(), 1u);
  EXPECT_TRUE(t->receiving_end.Wait().ok()) << t->receiving_end.Wait().message();
  EXPECT_TRUE(Ends(t->caller.get()));
  EXPECT_TRUE(Ends(t->callee.get()));
}

TEST(TunnelTest, OnEndMayDestroyItsTunnel) {
  LinkPair link = Connect();
  auto [caller, local] = SocketPair();
  std::promise<void> ended;
  std::unique_ptr<Tunnel> tunnel;
  std::mutex mu;
  auto started = Tunnel::Start(std::move(link.calling), std::move(local), nullptr, [&](const Status&) {
    {
      std::lock_guard lock(mu);
      tunnel.reset();
    }
    // Set last, with `mu` released: once the test sees it, it returns and
    // destroys `mu`.
    ended.set_value();
  });
  ASSERT_TRUE(started.ok());
  {
    std::lock_guard lock(mu);
    tunnel = std::move(started).value();
  }
  caller.Reset();
  EXPECT_EQ(ended.get_future().wait_for(10s), std::future_status::ready);
}

// The CPU time this process has used.
std::chrono::nanoseconds ProcessCpu() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

TEST(TunnelTest, ATunnelHeldBackByASlowSideDoesNotSpin) {
  LinkPair link = Connect();
  auto [caller, local] = SocketPair();
  EndWatch end;
  auto tunnel = Tunnel::Start(std::move(link.calling), std::move(local), nullptr, end.Callback());
  ASSERT_TRUE(tunnel.ok());
  // The other host reads nothing: the link, then the tunnel's buffer, then the
  // caller's socket fill up. Then the caller hangs up, which the pump, holding
  // back from reading it, must not hear again and again.
  ::fcntl(caller.get(), F_SETFL, O_NONBLOCK);
  std::string chunk = Pattern(64 * 1024);
  for (auto until = Clock::Real().Now() + 10s; Clock::Real().Now() < until;) {
    if (::send(caller.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) {
      ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
      std::this_thread::sleep_for(100ms);
      if (::send(caller.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) break;
    }
  }
  caller.Reset();
  std::this_thread::sleep_for(100ms);
  auto before = ProcessCpu();
  std::this_thread::sleep_for(500ms);
  EXPECT_LT(ProcessCpu() - before, 150ms);
  EXPECT_EQ(end.count(), 0u);
  link.receiving.reset();
  EXPECT_FALSE(end.Wait().ok());
}

TEST(TunnelTest, ALinkThatGoesAwayEndsTheTunnel) {
  LinkPair link = Connect();
  auto [caller, local] = SocketPair();
  EndWatch end;
  auto tunnel = Tunnel::Start(std::move(link.calling), std::move(local), nullptr, end.Callback());
  ASSERT_TRUE(tunnel.ok());
  // The other host vanishes with bytes unread, so its kernel resets the
  // connection while the pump keeps writing into it.
  SendAll(caller.get(), Pattern(64 * 1024));
  std::this_thread::sleep_for(50ms);
  link.receiving.reset();
  std::thread writer([fd = caller.get()] {
    std::string chunk = Pattern(64 * 1024);
    for (int i = 0; i < 200; ++i) {
      if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) return;
    }
  });
  Status why = end.Wait();
  EXPECT_EQ(why.code(), Code::kUnavailable) << why.message();
  // The writer stops once the pump closed its end.
  writer.join();
  EXPECT_TRUE(Ends(caller.get()));
}

}  // namespace
}  // namespace mumba
