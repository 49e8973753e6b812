// SPDX-License-Identifier: Apache-2.0
// H2Gate between a real gRPC client and a real gRPC server, each on a socket pair,
// with a small pump thread moving bytes through the gate: allowed calls pass with
// the host's headers, refused ones get the refusal and never reach the server, and
// HPACK and flow control stay in step over hundreds of mixed calls. Hostile callers
// are hand-built frames (HPACK from nghttp2's encoder, dynamic table and all).
#include "peer/h2_gate.h"

#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "common/peer_metadata.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "platform/unique_fd.h"

namespace mumba {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr char kCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kRefusedCheck[] = "/refused.Health/Check";
constexpr char kNode[] = "node-a";

// The daemon: Check counts calls, remembers the host's headers, and checks that the
// metadata "x-echo" (when sent) equals the request's body, answering it back in its
// trailers; Watch streams three answers.
class TestHealth final : public Health::CallbackService {
 public:
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const HealthCheckRequest* request,
                                  HealthCheckResponse* response) override {
    const auto& md = ctx->client_metadata();
    {
      std::lock_guard lock(mu_);
      ++calls_;
      std::vector<std::string> host;
      for (const auto& [k, v] : md) {
        if (std::string_view(k.data(), k.size()).starts_with("mumba-")) {
          host.push_back(std::string(k.data(), k.size()) + "=" + std::string(v.data(), v.size()));
        }
      }
      std::sort(host.begin(), host.end());
      last_host_headers_ = host;
      auto echo = md.find("x-echo");
      if (echo != md.end()) {
        const std::string value(echo->second.data(), echo->second.size());
        if (value != request->service()) ++mismatches_;
        ctx->AddTrailingMetadata("x-echo", value);
      }
    }
    response->set_status(HealthCheckResponse::SERVING);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<HealthCheckResponse>* Watch(grpc::CallbackServerContext*, const HealthCheckRequest*) override {
    class Three final : public grpc::ServerWriteReactor<HealthCheckResponse> {
     public:
      Three() { Next(); }
      void OnWriteDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::CANCELLED);
        Next();
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (sent_ == 3) return Finish(grpc::Status::OK);
        response_.set_status(sent_++ == 1 ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING);
        StartWrite(&response_);
      }
      HealthCheckResponse response_;
      int sent_ = 0;
    };
    return new Three();
  }

  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int mismatches() {
    std::lock_guard lock(mu_);
    return mismatches_;
  }
  std::vector<std::string> last_host_headers() {
    std::lock_guard lock(mu_);
    return last_host_headers_;
  }

 private:
  std::mutex mu_;
  int calls_ = 0;
  int mismatches_ = 0;
  std::vector<std::string> last_host_headers_;
};

// Moves bytes between the caller's socket (remote) and the daemon's (local) through
// the gate, like the tunnel's pump, until either side closes or the gate fails.
// Counts the CPU time spent inside the gate.
class Pump {
 public:
  Pump(TunnelFilter* gate, UniqueFd remote, UniqueFd local)
      : gate_(gate), remote_(std::move(remote)), local_(std::move(local)) {
    int p[2];
    EXPECT_EQ(::pipe(p), 0);
    wake_read_.Reset(p[0]);
    wake_write_.Reset(p[1]);
    ::fcntl(remote_.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(local_.get(), F_SETFL, O_NONBLOCK);
    thread_ = std::thread([this] { result_.set_value(Run()); });
  }
  ~Pump() {
    (void)!::write(wake_write_.get(), "x", 1);
    thread_.join();
  }

  // The status that ended the pump (OK when a side closed), waiting at most 10 s.
  Status Ended() {
    auto f = result_.get_future();
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return DeadlineExceeded("pump still running");
    return f.get();
  }
  double gate_cpu_us() const { return gate_ns_.load() / 1000.0; }

 private:
  Status Run() {
    std::string to_remote, to_local;
    char buf[65536];
    for (;;) {
      pollfd fds[3] = {{remote_.get(), 0, 0}, {local_.get(), 0, 0}, {wake_read_.get(), POLLIN, 0}};
      if (to_local.size() < (1 << 20)) fds[0].events |= POLLIN;
      if (to_remote.size() < (1 << 20)) fds[1].events |= POLLIN;
      if (!to_remote.empty()) fds[0].events |= POLLOUT;
      if (!to_local.empty()) fds[1].events |= POLLOUT;
      if (::poll(fds, 3, -1) < 0) continue;
      if (fds[2].revents) return Close(Status::Ok());
      for (int side = 0; side < 2; ++side) {
        if (fds[side].revents & (POLLIN | POLLHUP | POLLERR)) {
          const ssize_t n = ::read(fds[side].fd, buf, sizeof buf);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return Close(Status::Ok());
          if (n > 0) {
            const std::string_view bytes(buf, size_t(n));
            const int64_t start = ThreadCpuNs();
            Status s = side == 0 ? gate_->FromRemote(bytes, &to_local, &to_remote) : gate_->FromLocal(bytes, &to_remote);
            gate_ns_ += ThreadCpuNs() - start;
            if (!s.ok()) return Close(s);
          }
        }
      }
      if (!Flush(remote_.get(), &to_remote) || !Flush(local_.get(), &to_local)) return Close(Status::Ok());
    }
  }

  static bool Flush(int fd, std::string* out) {
    while (!out->empty()) {
      const ssize_t n = ::send(fd, out->data(), out->size(), MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EINTR;
      out->erase(0, size_t(n));
    }
    return true;
  }

  Status Close(Status s) {
    ::shutdown(remote_.get(), SHUT_RDWR);
    ::shutdown(local_.get(), SHUT_RDWR);
    return s;
  }

  static int64_t ThreadCpuNs() {
    timespec ts;
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }

  TunnelFilter* gate_;
  UniqueFd remote_, local_, wake_read_, wake_write_;
  std::atomic<int64_t> gate_ns_{0};
  std::promise<Status> result_;
  std::thread thread_;
};

std::pair<UniqueFd, UniqueFd> SocketPair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// A daemon (gRPC server), a caller (gRPC channel) and the gate between them. The
// policy refuses paths under "/refused." with PERMISSION_DENIED, and whatever
// `refuse_all` or `cut` say.
class H2GateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    auto [daemon_end, local_end] = SocketPair();
    grpc::AddInsecureChannelFromFd(server_.get(), daemon_end.Release());
    auto [caller_end, remote_end] = SocketPair();
    if (raw_caller_) {
      raw_ = std::move(caller_end);
    } else {
      channel_ = grpc::CreateInsecureChannelFromFd("peer", caller_end.Release());
    }
    gate_ = std::make_unique<H2Gate>(
        [this](std::string_view path) {
          ++decisions_;
          H2GateVerdict v;
          if (cut_) v.cut = true;
          if (refuse_all_ || path.starts_with("/refused.")) v.refusal = PermissionDenied(kRefusal);
          return v;
        },
        H2Gate::Headers{{kPeerNodeMetadata, kNode}, {"mumba-app", "app-b"}});
    pump_ = std::make_unique<Pump>(gate_.get(), std::move(remote_end), std::move(local_end));
  }
  void TearDown() override {
    channel_.reset();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    pump_.reset();
  }

  // A unary Check on `path` with `body` as its service name and `metadata`.
  grpc::Status Call(const std::string& path, const std::string& body = "",
                    const std::vector<std::pair<std::string, std::string>>& metadata = {},
                    std::string* echo = nullptr) {
    grpc::TemplatedGenericStub<HealthCheckRequest, HealthCheckResponse> stub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    for (const auto& [k, v] : metadata) ctx.AddMetadata(k, v);
    HealthCheckRequest request;
    request.set_service(body);
    HealthCheckResponse response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, path, grpc::StubOptions(), &request, &response, [&](grpc::Status s) { done.set_value(s); });
    grpc::Status status = done.get_future().get();
    if (echo != nullptr) {
      auto it = ctx.GetServerTrailingMetadata().find("x-echo");
      *echo = it == ctx.GetServerTrailingMetadata().end() ? "" : std::string(it->second.data(), it->second.size());
    }
    return status;
  }

  static constexpr char kRefusal[] = "service not exported to peers: 100% \xc3\xbc\n";
  TestHealth service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<H2Gate> gate_;
  std::unique_ptr<Pump> pump_;
  bool raw_caller_ = false;  // The caller is raw_, hand-built frames, not a channel.
  UniqueFd raw_;
  std::atomic<int> decisions_{0};
  std::atomic<bool> refuse_all_{false};
  std::atomic<bool> cut_{false};
};

TEST_F(H2GateTest, AnAllowedCallPassesWithTheHostsHeaders) {
  grpc::Status s = Call(kCheck);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(service_.calls(), 1);
  EXPECT_EQ(decisions_, 1);
  EXPECT_EQ(service_.last_host_headers(), (std::vector<std::string>{"mumba-app=app-b", "mumba-peer-node=node-a"}));
}

TEST_F(H2GateTest, ACallersOwnHostHeadersAreDropped) {
  grpc::Status s = Call(kCheck, "", {{"mumba-peer-node", "forged"}, {"mumba-other", "x"}, {"x-fine", "y"}});
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(service_.last_host_headers(), (std::vector<std::string>{"mumba-app=app-b", "mumba-peer-node=node-a"}));
}

TEST_F(H2GateTest, ARefusedCallGetsTheRefusalAndTheDaemonSeesNothing) {
  refuse_all_ = true;
  grpc::Status s = Call(kCheck, "hello");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(), kRefusal);
  EXPECT_EQ(service_.calls(), 0);
  // The connection is still good for calls policy allows.
  refuse_all_ = false;
  s = Call(kCheck);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(service_.calls(), 1);
}

// Metadata that makes the caller's encoder index, reuse and evict entries of its
// dynamic table, while half the calls are dropped by the gate.
std::vector<std::pair<std::string, std::string>> VariedMetadata(int i) {
  std::vector<std::pair<std::string, std::string>> md = {{"x-echo", "v" + std::to_string(i % 7)}};
  md.emplace_back("x-key-" + std::to_string(i % 13), std::string(size_t(i % 300), char('a' + i % 26)));
  if (i % 5 == 0) md.emplace_back("x-once-" + std::to_string(i), std::to_string(i));
  return md;
}

TEST_F(H2GateTest, HundredsOfMixedCallsKeepHpackInStep) {
  int allowed = 0;
  for (int i = 0; i < 400; ++i) {
    auto md = VariedMetadata(i);
    const bool refuse = i % 3 == 1;
    std::string echo;
    grpc::Status s = Call(refuse ? kRefusedCheck : kCheck, md[0].second, md, &echo);
    if (refuse) {
      ASSERT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << i << ": " << s.error_message();
    } else {
      ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
      ASSERT_EQ(echo, md[0].second) << i;
      ++allowed;
    }
  }
  EXPECT_EQ(service_.calls(), allowed);
  EXPECT_EQ(service_.mismatches(), 0);
}

TEST_F(H2GateTest, ConcurrentCallersKeepHpackInStep) {
  std::atomic<int> failures{0}, allowed{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const int n = t * 1000 + i;
        auto md = VariedMetadata(n);
        const bool refuse = n % 4 == 1;
        std::string echo;
        grpc::Status s = Call(refuse ? kRefusedCheck : kCheck, md[0].second, md, &echo);
        const bool good = refuse ? s.error_code() == grpc::StatusCode::PERMISSION_DENIED : s.ok() && echo == md[0].second;
        if (!good) ++failures;
        if (!refuse) ++allowed;
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(service_.calls(), allowed);
  EXPECT_EQ(service_.mismatches(), 0);
}

TEST_F(H2GateTest, RefusedLargeBodiesDoNotStallLaterCalls) {
  const std::string body(1 << 20, 'b');
  for (int i = 0; i < 40; ++i) {
    grpc::Status s = Call(kRefusedCheck, body);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << i << ": " << s.error_message();
  }
  grpc::Status s = Call(kCheck, body);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(service_.calls(), 1);
}

TEST_F(H2GateTest, AStreamingCallPasses) {
  auto stub = Health::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto reader = stub->Watch(&ctx, HealthCheckRequest());
  HealthCheckResponse response;
  int n = 0;
  while (reader->Read(&response)) ++n;
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(n, 3);
}

TEST_F(H2GateTest, CutEndsTheTunnel) {
  ASSERT_TRUE(Call(kCheck).ok());
  cut_ = true;
  grpc::Status s = Call(kCheck);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(pump_->Ended().code(), Code::kPermissionDenied);
  EXPECT_EQ(service_.calls(), 1);
}

// Measures the gate's CPU time per unary call (both directions, everything the
// pump hands it), and prints it: the figure the peer-call benchmark depends on.
TEST_F(H2GateTest, CpuPerUnaryCall) {
  ASSERT_TRUE(Call(kCheck).ok());
  const double before = pump_->gate_cpu_us();
  constexpr int kCalls = 2000;
  for (int i = 0; i < kCalls; ++i) ASSERT_TRUE(Call(kCheck, "svc", {{"x-echo", "svc"}}).ok());
  const double per_call = (pump_->gate_cpu_us() - before) / kCalls;
  std::cout << "H2Gate CPU per unary call: " << per_call << " us\n";
  EXPECT_LT(per_call, 1000);
}

// --- Hand-built frames: what no gRPC client sends. ---

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  const size_t n = payload.size();
  f += char(n >> 16);
  f += char(n >> 8);
  f += char(n);
  f += char(type);
  f += char(flags);
  for (int s = 24; s >= 0; s -= 8) f += char(stream >> s);
  f += payload;
  return f;
}

// nghttp2's HPACK encoder, which indexes what it can (and Huffman-codes).
class Encoder {
 public:
  Encoder() { nghttp2_hd_deflate_new(&d_, 4096); }
  ~Encoder() { nghttp2_hd_deflate_del(d_); }
  std::string Encode(const std::vector<std::pair<std::string, std::string>>& headers) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [k, v] : headers) {
      nva.push_back({(uint8_t*)k.data(), (uint8_t*)v.data(), k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(d_, nva.data(), nva.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(d_, (uint8_t*)out.data(), out.size(), nva.data(), nva.size());
    EXPECT_GT(n, 0);
    out.resize(size_t(n));
    return out;
  }
  size_t table_entries() { return nghttp2_hd_deflate_get_num_table_entries(d_); }

 private:
  nghttp2_hd_deflater* d_ = nullptr;
};

std::vector<std::pair<std::string, std::string>> Request(const std::string& path,
                                                          std::vector<std::pair<std::string, std::string>> extra = {}) {
  std::vector<std::pair<std::string, std::string>> h = {
      {":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", "peer"},
      {"content-type", "application/grpc"}, {"te", "trailers"}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

// A gRPC message: the 5-byte prefix and a HealthCheckRequest.
std::string GrpcMessage(const std::string& service) {
  HealthCheckRequest request;
  request.set_service(service);
  const std::string body = request.SerializeAsString();
  std::string m(1, '\0');
  for (int s = 24; s >= 0; s -= 8) m += char(body.size() >> s);
  return m + body;
}

// One HPACK literal with a new name, plain strings; `first` is 0x40 (indexed: the
// receiver adds it to its table) or 0 (not indexed).
std::string Literal(uint8_t first, std::string_view name, std::string_view value) {
  std::string out(1, char(first));
  for (std::string_view s : {name, value}) {
    size_t n = s.size();
    if (n < 127) {
      out += char(n);
    } else {
      out += char(127);
      for (n -= 127; n >= 128; n >>= 7) out += char(0x80 | (n & 127));
      out += char(n);
    }
    out += s;
  }
  return out;
}

struct Decoded {
  uint32_t stream;
  uint8_t flags;
  std::vector<std::pair<std::string, std::string>> headers;
};

// What the daemon would read: the preface, then frames; header blocks are decoded
// with one decoder, whose table must stay empty.
std::vector<Decoded> DaemonView(std::string_view bytes, uint8_t* type_seen = nullptr) {
  std::vector<Decoded> out;
  EXPECT_TRUE(bytes.starts_with(kPreface));
  bytes.remove_prefix(kPreface.size());
  nghttp2_hd_inflater* in = nullptr;
  nghttp2_hd_inflate_new(&in);
  std::string block;
  Decoded current{};
  while (bytes.size() >= 9) {
    const auto* h = reinterpret_cast<const unsigned char*>(bytes.data());
    const size_t len = size_t(h[0]) << 16 | size_t(h[1]) << 8 | h[2];
    const uint8_t type = h[3], flags = h[4];
    const uint32_t stream = uint32_t(h[5] & 0x7f) << 24 | uint32_t(h[6]) << 16 | uint32_t(h[7]) << 8 | h[8];
    if (type_seen != nullptr) type_seen[type < 16 ? type : 15] = 1;
    std::string_view payload = bytes.substr(9, len);
    bytes.remove_prefix(9 + len);
    if (type == 1) current = Decoded{stream, flags, {}};
    if (type == 1 || type == 9) block.append(payload);
    if ((type == 1 || type == 9) && (flags & 4)) {
      const uint8_t* p = reinterpret_cast<const uint8_t*>(block.data());
      size_t left = block.size();
      for (;;) {
        nghttp2_nv nv;
        int f = 0;
        const ssize_t n = nghttp2_hd_inflate_hd2(in, &nv, &f, p, left, 1);
        EXPECT_GE(n, 0);
        if (n < 0) break;
        p += n;
        left -= size_t(n);
        if (f & NGHTTP2_HD_INFLATE_EMIT) {
          current.headers.emplace_back(std::string((const char*)nv.name, nv.namelen),
                                       std::string((const char*)nv.value, nv.valuelen));
        }
        if (f & NGHTTP2_HD_INFLATE_FINAL) {
          nghttp2_hd_inflate_end_headers(in);
          break;
        }
      }
      EXPECT_EQ(nghttp2_hd_inflate_get_num_table_entries(in), 61u) << "the daemon's table changed";
      block.clear();
      out.push_back(current);
    }
  }
  EXPECT_TRUE(bytes.empty());
  nghttp2_hd_inflate_del(in);
  return out;
}

// A gate fed by hand, refusing paths under "/refused." and counting decisions.
struct DirectGate {
  int decisions = 0;
  H2Gate gate{[this](std::string_view path) {
                ++decisions;
                H2GateVerdict v;
                if (path.starts_with("/refused.")) v.refusal = PermissionDenied("no");
                return v;
              },
              H2Gate::Headers{{"mumba-peer-node", kNode}}};
  std::string to_local, to_remote;
  Status Feed(std::string_view bytes) { return gate.FromRemote(bytes, &to_local, &to_remote); }
  // The daemon's SETTINGS, then the caller's preface.
  Status Start() {
    std::string out;
    if (!gate.FromLocal(Frame(4, 0, 0, ""), &out).ok()) return Internal("FromLocal");
    return Feed(std::string(kPreface) + Frame(4, 0, 0, ""));
  }
};

TEST(H2GateFramesTest, AClientUsingTheDynamicTableIsDecodedAndReencoded) {
  DirectGate g;
  Encoder enc;
  ASSERT_TRUE(g.Start().ok());
  std::string wire;
  for (uint32_t id = 1; id <= 9; id += 2) {
    const std::string path = id == 5 ? "/refused.X/Y" : kCheck;
    wire += Frame(1, 4, id, enc.Encode(Request(path, {{"x-echo", "value"}, {"mumba-peer-node", "forged"}})));
    wire += Frame(0, 1, id, GrpcMessage("value"));
  }
  EXPECT_GT(enc.table_entries(), 61u);  // The encoder did use its table.
  // Fed in pieces of every size, as a socket may hand them over.
  for (size_t at = 0, step = 1; at < wire.size(); at += step, step = step % 37 + 1) {
    ASSERT_TRUE(g.Feed(std::string_view(wire).substr(at, step)).ok());
  }
  EXPECT_EQ(g.decisions, 5);
  auto blocks = DaemonView(g.to_local);
  ASSERT_EQ(blocks.size(), 4u);
  for (const auto& b : blocks) {
    EXPECT_NE(b.stream, 5u);
    EXPECT_EQ(b.flags & 1, 0);
    auto expected = Request(kCheck, {{"x-echo", "value"}, {"mumba-peer-node", kNode}});
    EXPECT_EQ(b.headers, expected);
  }
}

TEST(H2GateFramesTest, LongHeaderBlocksAreSplitAndPaddingAndPriorityGo) {
  DirectGate g;
  Encoder enc;
  ASSERT_TRUE(g.Start().ok());
  const std::string big(30000, 'z');
  const std::string block = enc.Encode(Request(kCheck, {{"x-big", big}}));
  // HEADERS with PADDED and PRIORITY, then a CONTINUATION.
  std::string headers = std::string(1, char(3)) + std::string(5, '\0') + block.substr(0, 100) + "pad";
  std::string wire = Frame(1, 0x8 | 0x20 | 0x1, 1, headers) + Frame(9, 4, 1, block.substr(100));
  ASSERT_TRUE(g.Feed(wire).ok());
  uint8_t types[16] = {};
  auto blocks = DaemonView(g.to_local, types);
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].flags & 1, 1);
  EXPECT_EQ(blocks[0].headers.size(), 8u);
  EXPECT_EQ(types[9], 1);  // Split into HEADERS + CONTINUATION at 16 KiB.
}

TEST(H2GateFramesTest, DroppedDataIsCreditedBack) {
  DirectGate g;
  Encoder enc;
  ASSERT_TRUE(g.Start().ok());
  std::string wire = Frame(1, 4, 1, enc.Encode(Request("/refused.X/Y")));
  wire += Frame(0, 0x8, 1, std::string(1, char(10)) + std::string(1000, 'd') + std::string(10, '\0'));
  wire += Frame(0, 1, 1, "");
  ASSERT_TRUE(g.Feed(wire).ok());
  // The refusal, then one WINDOW_UPDATE of the DATA's whole length.
  const std::string credit = Frame(8, 0, 0, std::string("\0\0\x03\xf3", 4));
  ASSERT_TRUE(g.to_remote.ends_with(credit)) << g.to_remote.size();
  EXPECT_EQ(g.to_local, std::string(kPreface) + Frame(4, 0, 0, ""));
}

TEST(H2GateFramesTest, AnswersWaitForTheDaemonsSettings) {
  DirectGate g;
  Encoder enc;
  ASSERT_TRUE(g.Feed(std::string(kPreface) + Frame(4, 0, 0, "") + Frame(1, 5, 1, enc.Encode(Request("/refused.X/Y")))).ok());
  EXPECT_EQ(g.to_remote, "");
  std::string out;
  const std::string settings = Frame(4, 0, 0, std::string("\0\x03\0\0\0\x64", 6));
  ASSERT_TRUE(g.gate.FromLocal(settings, &out).ok());
  ASSERT_GT(out.size(), settings.size());
  EXPECT_TRUE(out.starts_with(settings));
  EXPECT_EQ(out[settings.size() + 3], 1);  // Then the refusal's HEADERS.
}

TEST(H2GateFramesTest, AReusedStreamIdNeverReachesTheDaemon) {
  DirectGate g;
  Encoder enc;
  ASSERT_TRUE(g.Start().ok());
  ASSERT_TRUE(g.Feed(Frame(1, 5, 3, enc.Encode(Request("/refused.X/Y")))).ok());
  // The same id again, now that the refused stream is closed: a request no one
  // decided, were it passed on (the daemon has never seen stream 3).
  EXPECT_FALSE(g.Feed(Frame(1, 5, 3, enc.Encode(Request("/refused.X/Y")))).ok());
  EXPECT_EQ(DaemonView(g.to_local).size(), 0u);
}

TEST(H2GateFramesTest, FramesOfRefusedStreamsStayAway) {
  DirectGate g;
  Encoder enc;
  ASSERT_TRUE(g.Start().ok());
  std::string wire = Frame(1, 4, 1, enc.Encode(Request("/refused.X/Y")));
  wire += Frame(8, 0, 1, std::string("\0\0\1\0", 4));  // WINDOW_UPDATE
  wire += Frame(2, 0, 1, std::string(5, '\0'));         // PRIORITY
  wire += Frame(3, 0, 1, std::string("\0\0\0\x08", 4));  // RST_STREAM
  wire += Frame(8, 0, 1, std::string("\0\0\1\0", 4));  // After the reset: closed.
  ASSERT_TRUE(g.Feed(wire).ok());
  EXPECT_EQ(g.to_local, std::string(kPreface) + Frame(4, 0, 0, ""));
}

// Each of these ends the tunnel with an error.
struct Hostile {
  const char* name;
  std::function<std::string(Encoder&)> bytes;
};

TEST(H2GateFramesTest, HostileInputEndsTheTunnel) {
  const std::string settings = Frame(4, 0, 0, "");
  const std::vector<Hostile> cases = {
      {"garbage", [](Encoder&) { return std::string("GET / HTTP/1.1\r\n\r\n"); }},
      {"bad preface", [](Encoder&) { return std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r!"); }},
      {"no SETTINGS first", [](Encoder& e) { return std::string(kPreface) + Frame(1, 4, 1, e.Encode(Request(kCheck))); }},
      {"oversized frame", [&](Encoder&) {
         // A HEADERS frame header announcing 1 MiB + 1 byte: never buffered.
         return std::string(kPreface) + settings + std::string("\x10\x00\x01\x01\x00\x00\x00\x00\x01", 9);
       }},
      {"oversized DATA", [&](Encoder& e) {
         // On an allowed stream, over 1 MiB and over the daemon's 16 KiB.
         return std::string(kPreface) + settings + Frame(1, 4, 1, e.Encode(Request(kCheck))) +
                std::string("\x10\x00\x01\x00\x00\x00\x00\x00\x01", 9);
       }},
      {"push promise", [&](Encoder&) { return std::string(kPreface) + settings + Frame(5, 4, 1, std::string(4, '\0')); }},
      {"even stream", [&](Encoder& e) { return std::string(kPreface) + settings + Frame(1, 4, 2, e.Encode(Request(kCheck))); }},
      {"lower new stream", [&](Encoder& e) {
         return std::string(kPreface) + settings + Frame(1, 5, 5, e.Encode(Request(kCheck))) +
                Frame(1, 5, 3, e.Encode(Request(kCheck)));
       }},
      {"continuation out of place", [&](Encoder&) { return std::string(kPreface) + settings + Frame(9, 4, 1, "\x82"); }},
      {"interrupted block", [&](Encoder& e) {
         return std::string(kPreface) + settings + Frame(1, 0, 1, e.Encode(Request(kCheck))) + Frame(6, 0, 0, std::string(8, '\0'));
       }},
      {"block over 64 KiB", [&](Encoder&) {
         std::string w = std::string(kPreface) + settings + Frame(1, 0, 1, std::string(16000, '\0'));
         for (int i = 0; i < 4; ++i) w += Frame(9, 0, 1, std::string(16000, '\0'));
         return w;
       }},
      {"header list bomb", [&](Encoder&) {
         // One 3937-byte entry in the caller's table, then a block naming it 100 times
         // (400 KB decoded from 100 bytes).
         const std::string first = Literal(0x40, "x-big", std::string(3900, 'q')) + Literal(0, ":path", kCheck);
         const std::string bomb = Literal(0, ":path", kCheck) + std::string(100, char(0x80 | 62));
         return std::string(kPreface) + settings + Frame(1, 5, 1, first) + Frame(1, 5, 3, bomb);
       }},
      {"corrupt HPACK", [&](Encoder&) { return std::string(kPreface) + settings + Frame(1, 5, 1, "\xff\xff\xff\xff\xff\x7f"); }},
      {"index past the table", [&](Encoder&) { return std::string(kPreface) + settings + Frame(1, 5, 1, "\xbf"); }},
      {"no :path", [&](Encoder& e) {
         return std::string(kPreface) + settings + Frame(1, 5, 1, e.Encode({{":method", "POST"}, {":scheme", "http"}}));
       }},
      {"two :path", [&](Encoder& e) {
         return std::string(kPreface) + settings + Frame(1, 5, 1, e.Encode(Request(kCheck, {{":path", "/refused.X/Y"}})));
       }},
      {"DATA on an idle stream", [&](Encoder&) { return std::string(kPreface) + settings + Frame(0, 0, 1, "x"); }},
      {"WINDOW_UPDATE on an idle stream", [&](Encoder&) {
         return std::string(kPreface) + settings + Frame(8, 0, 7, std::string("\0\0\1\0", 4));
       }},
      {"too much padding", [&](Encoder& e) {
         return std::string(kPreface) + settings + Frame(1, 0xc, 1, std::string(1, char(200)) + e.Encode(Request(kCheck)));
       }},
      {"answers piling up before the daemon's SETTINGS", [&](Encoder& e) {
         std::string w = std::string(kPreface) + settings;
         for (uint32_t id = 1; id < 2 * 1000; id += 2) w += Frame(1, 5, id, e.Encode(Request("/refused.X/Y")));
         return w;
       }},
      {"refused streams left open", [&](Encoder& e) {
         std::string w = std::string(kPreface) + settings;
         for (uint32_t id = 1; id < 2 * 300; id += 2) w += Frame(1, 4, id, e.Encode(Request("/refused.X/Y")));
         return w;
       }},
  };
  for (const auto& c : cases) {
    DirectGate g;
    Encoder enc;
    Status s = g.Feed(c.bytes(enc));
    EXPECT_FALSE(s.ok()) << c.name;
    // It stays failed.
    EXPECT_FALSE(g.Feed(settings).ok()) << c.name;
    std::string out;
    EXPECT_FALSE(g.gate.FromLocal(settings, &out).ok()) << c.name;
  }
}

TEST(H2GateFramesTest, TheDaemonsFramesPassWholeAndUnchanged) {
  DirectGate g;
  const std::string frames = Frame(4, 0, 0, std::string("\0\x04\0\x01\0\0", 6)) + Frame(6, 1, 0, std::string(8, 'p')) +
                             Frame(0, 0, 1, std::string(20000, 'r'));
  std::string out;
  for (size_t at = 0; at < frames.size(); at += 1000) {
    ASSERT_TRUE(g.gate.FromLocal(std::string_view(frames).substr(at, 1000), &out).ok());
    // Only ever whole frames.
    EXPECT_TRUE(frames.starts_with(out));
    EXPECT_TRUE(out.empty() || out.size() == 15 || out.size() == 32 || out.size() == frames.size()) << out.size();
  }
  EXPECT_EQ(out, frames);
}

TEST(H2GateFramesTest, ALargerTableTheDaemonAllowsIsFollowed) {
  DirectGate g;
  std::string out;
  // The daemon allows a 16 KiB table; the caller's encoder grows to it.
  const std::string settings = Frame(4, 0, 0, std::string("\0\x01\0\0\x40\0", 6));
  ASSERT_TRUE(g.gate.FromLocal(settings, &out).ok());
  ASSERT_TRUE(g.Start().ok());
  nghttp2_hd_deflater* d = nullptr;
  nghttp2_hd_deflate_new(&d, 16384);
  nghttp2_hd_deflate_change_table_size(d, 16384);
  std::vector<std::pair<std::string, std::string>> h = Request(kCheck, {{"x-a", std::string(6000, 'a')}, {"x-b", std::string(6000, 'b')}});
  for (uint32_t id = 1; id <= 3; id += 2) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [k, v] : h) nva.push_back({(uint8_t*)k.data(), (uint8_t*)v.data(), k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    std::string block(nghttp2_hd_deflate_bound(d, nva.data(), nva.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(d, (uint8_t*)block.data(), block.size(), nva.data(), nva.size());
    ASSERT_GT(n, 0);
    block.resize(size_t(n));
    if (id == 3) {
      EXPECT_LT(block.size(), 100u);  // Both big values came from the table.
    }
    Status s = g.Feed(Frame(1, 5, id, block));
    ASSERT_TRUE(s.ok()) << s.message();
  }
  nghttp2_hd_deflate_del(d);
  auto blocks = DaemonView(g.to_local);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[1].headers[7].second, std::string(6000, 'b'));
}

// The daemon's side of a caller made of hand-built frames, whose encoder indexes
// what it can: the real gRPC server gets each allowed call's metadata right.
class H2GateRawCallerTest : public H2GateTest {
 protected:
  void SetUp() override {
    raw_caller_ = true;
    H2GateTest::SetUp();
  }
  void Write(std::string_view bytes) {
    while (!bytes.empty()) {
      pollfd p{raw_.get(), POLLOUT, 0};
      ::poll(&p, 1, 1000);
      const ssize_t n = ::send(raw_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) bytes.remove_prefix(size_t(n));
      if (n < 0 && errno != EAGAIN) return;
    }
  }
  // Reads what the daemon answers for up to `ms` milliseconds.
  std::string Read(int ms) {
    std::string got;
    char buf[4096];
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{raw_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = ::read(raw_.get(), buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, size_t(n));
    }
    return got;
  }
};

TEST_F(H2GateRawCallerTest, ADynamicTableCallerReachesTheDaemonIntact) {
  Write(std::string(kPreface) + Frame(4, 0, 0, ""));
  ASSERT_FALSE(Read(200).empty());  // The daemon's SETTINGS.
  Write(Frame(4, 1, 0, ""));
  Encoder enc;
  std::string wire;
  for (uint32_t id = 1; id <= 11; id += 2) {
    const std::string value = "value-" + std::to_string(id % 3);
    const std::string path = id == 5 ? kRefusedCheck : kCheck;
    wire += Frame(1, 4, id, enc.Encode(Request(path, {{"x-echo", value}, {"mumba-peer-node", "forged"}})));
    wire += Frame(0, 1, id, GrpcMessage(value));
  }
  ASSERT_GT(enc.table_entries(), 61u);
  Write(wire);
  std::string answers;
  for (int i = 0; i < 50 && (service_.calls() < 5 || answers.find("grpc-status") == std::string::npos); ++i) {
    answers += Read(100);
  }
  EXPECT_NE(answers.find("grpc-status"), std::string::npos);  // The refusal, in literals.
  EXPECT_EQ(service_.calls(), 5);
  EXPECT_EQ(service_.mismatches(), 0);
  EXPECT_EQ(service_.last_host_headers(), (std::vector<std::string>{"mumba-app=app-b", "mumba-peer-node=node-a"}));
}

}  // namespace
}  // namespace mumba
