// SPDX-License-Identifier: Apache-2.0
// Calls and routes over a page's socket (/_mumba/events), on the real gateway with
// a fake backend that can hold its answers: replies by id with many in flight,
// errors as the HTTP path gives them, the app the socket was opened for and no
// other, and the limits (frame size, requests in flight) holding against a page
// that goes over them while other pages go on.
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bundle/manifest.h"
#include "common/temp_dir.h"
#include "gateway/gateway.h"

namespace mumba {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace av1 = mumba::app::v1;
using tcp = net::ip::tcp;
using json = nlohmann::json;

const std::string kHelloId = "mumba://" + std::string(52, 'h');
const std::string kOtherId = "mumba://" + std::string(52, 'o');
const std::string kHelloSecret = std::string(64, 'a');
const std::string kOtherSecret = std::string(64, 'c');

// Answers calls and routes at once, or holds them until the test releases them.
class HoldingBackend final : public GatewayBackend {
 public:
  struct CallRecord {
    std::string app_id, method, json;
  };

  void SetApp(const std::string& label, GatewayApp app) {
    std::lock_guard lock(mu_);
    apps_[label] = std::move(app);
  }
  void RemoveApp(const std::string& label) {
    std::lock_guard lock(mu_);
    apps_.erase(label);
  }
  void Hold(bool hold) {
    std::lock_guard lock(mu_);
    hold_ = hold;
  }
  void SetCallReply(Expected<std::string> reply) {
    std::lock_guard lock(mu_);
    call_reply_ = std::move(reply);
  }
  // Answers every held call with its reply, the last held first.
  void ReleaseAll() {
    std::vector<std::function<void()>> held;
    {
      std::lock_guard lock(mu_);
      held.swap(held_);
    }
    for (auto it = held.rbegin(); it != held.rend(); ++it) (*it)();
  }
  size_t held() const {
    std::lock_guard lock(mu_);
    return held_.size();
  }

  Expected<GatewayApp> FindApp(const std::string& label) override {
    std::lock_guard lock(mu_);
    auto it = apps_.find(label);
    if (it == apps_.end()) return NotFound("no app " + label);
    return it->second;
  }
  void Route(const std::string& app_id, av1::RouteRequest request,
             std::function<void(Expected<av1::RouteResponse>)> done) override {
    std::lock_guard lock(mu_);
    route_apps_.push_back(app_id);
    routes_.push_back(request);
    av1::RouteResponse reply;
    reply.set_status(201);
    auto* h = reply.add_headers();
    h->set_name("X-Daemon");
    h->set_value("yes");
    reply.set_body("daemon read '" + request.body() + "'");
    done(reply);
  }
  void DaemonChannel(const std::string&, std::function<void(Expected<std::shared_ptr<grpc::Channel>>)> done) override {
    done(Unavailable("no daemon"));
  }
  void Call(const std::string& app_id, const std::string& method, std::string json,
            std::function<void(Expected<std::string>)> done) override {
    std::unique_lock lock(mu_);
    calls_.push_back({app_id, method, json});
    Expected<std::string> reply = call_reply_;
    // The default reply echoes the request.
    if (reply.ok() && *reply == "{}") reply = R"({"echo":)" + json + "}";
    if (hold_) {
      held_.push_back([done = std::move(done), reply] { done(reply); });
      return;
    }
    lock.unlock();
    done(std::move(reply));
  }

  std::vector<CallRecord> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<av1::RouteRequest> routes() const {
    std::lock_guard lock(mu_);
    return routes_;
  }
  std::vector<std::string> route_apps() const {
    std::lock_guard lock(mu_);
    return route_apps_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, GatewayApp> apps_;
  bool hold_ = false;
  Expected<std::string> call_reply_ = std::string("{}");
  std::vector<std::function<void()>> held_;
  std::vector<CallRecord> calls_;
  std::vector<av1::RouteRequest> routes_;
  std::vector<std::string> route_apps_;
};

// A page's socket, opened as mumba.js opens it (the subprotocol, unless `plain`),
// with the cookie `cookie`. Reads time out after 10 s.
class PageSocket {
 public:
  PageSocket(int port, const std::string& host, const std::string& cookie, bool plain = false) : ws_(ioc_) {
    ws_.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    timeval tv{10, 0};
    ::setsockopt(ws_.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ws_.set_option(websocket::stream_base::decorator([cookie, plain](websocket::request_type& req) {
      req.set(http::field::cookie, cookie);
      if (!plain) req.set(http::field::sec_websocket_protocol, "mumba.v1");
    }));
    websocket::response_type res;
    ws_.handshake(res, host, "/_mumba/events");
    protocol_ = std::string(res[http::field::sec_websocket_protocol]);
  }
  const std::string& protocol() const { return protocol_; }

  void Send(const std::string& frame, bool binary = false) {
    ws_.binary(binary);
    ws_.write(net::buffer(frame));
  }
  beast::error_code TrySend(const std::string& frame) {
    beast::error_code ec;
    ws_.text(true);
    ws_.write(net::buffer(frame), ec);
    return ec;
  }
  // The next frame; `binary` says whether it was one.
  std::string Read(beast::error_code* ec = nullptr, bool* binary = nullptr) {
    beast::flat_buffer buffer;
    beast::error_code ignored;
    ws_.read(buffer, ec ? *ec : ignored);
    if (binary) *binary = ws_.got_binary();
    return beast::buffers_to_string(buffer.data());
  }
  json ReadJson() { return json::parse(Read()); }
  websocket::close_reason reason() const { return ws_.reason(); }

 private:
  net::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
  std::string protocol_;
};

std::string CallFrame(uint64_t id, const std::string& method, const std::string& body) {
  return json{{"id", id}, {"call", method}}.dump() + "\n" + body;
}

class PageSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto manifest = std::make_shared<Manifest>();
    manifest->routes = {RouteDecl{"/greet", {"GET", "POST"}}};
    backend_.SetApp("hello", GatewayApp{kHelloId, "hello", tmp_.path(), "", manifest, "", kHelloSecret});
    backend_.SetApp("other", GatewayApp{kOtherId, "other", tmp_.path(), "", manifest, "", kOtherSecret});
    Restart(GatewayLimits());
  }
  void TearDown() override {
    backend_.ReleaseAll();
    if (gateway_) gateway_->Stop();
  }
  void Restart(const GatewayLimits& limits) {
    if (gateway_) gateway_->Stop();
    auto gw = Gateway::Start(GatewayOptions{0, 2, &backend_, limits});
    ASSERT_TRUE(gw.ok()) << gw.status().message();
    gateway_ = std::move(*gw);
  }
  std::string HostOf(const std::string& label) const { return label + ".localhost:" + std::to_string(port()); }
  std::string CookieOf(const std::string& secret) const { return SecretCookieName(port()) + "=" + secret; }
  int port() const { return gateway_->port(); }

  // hello's page, its hello frame read.
  std::unique_ptr<PageSocket> Hello() {
    auto page = std::make_unique<PageSocket>(port(), HostOf("hello"), CookieOf(kHelloSecret));
    EXPECT_EQ(page->protocol(), "mumba.v1");
    EXPECT_TRUE(page->ReadJson().contains("hello"));
    return page;
  }
  bool WaitForHeld(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (backend_.held() < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  TempDir tmp_;
  HoldingBackend backend_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(PageSocketTest, TheFirstFrameTellsThePageTheLimits) {
  GatewayLimits limits;
  limits.max_call_frame_bytes = 4096;
  limits.max_calls_in_flight = 5;
  Restart(limits);
  PageSocket page(port(), HostOf("hello"), CookieOf(kHelloSecret));
  EXPECT_EQ(page.ReadJson(), (json{{"hello", {{"max_frame", 4096}, {"max_in_flight", 5}}}}));
}

TEST_F(PageSocketTest, ACallGoesToTheSocketsAppAndItsReplyComesBackById) {
  auto page = Hello();
  page->Send(CallFrame(41, "hello.v1.Greeter/SayHello", R"({"name": "Ann"})"));
  EXPECT_EQ(page->Read(), R"({"id":41,"reply":{"echo":{"name": "Ann"}}})");
  auto calls = backend_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].app_id, kHelloId);
  EXPECT_EQ(calls[0].method, "hello.v1.Greeter/SayHello");
  EXPECT_EQ(calls[0].json, R"({"name": "Ann"})");
}

TEST_F(PageSocketTest, ASocketWithoutTheSubprotocolGetsNoHelloButCallsWork) {
  PageSocket page(port(), HostOf("hello"), CookieOf(kHelloSecret), /*plain=*/true);
  EXPECT_EQ(page.protocol(), "");
  page.Send(CallFrame(1, "a.B/C", ""));
  EXPECT_EQ(page.Read(), R"({"id":1,"reply":{"echo":{}}})");
}

TEST_F(PageSocketTest, ErrorsComeBackAsTheHttpPathGivesThem) {
  auto page = Hello();
  backend_.SetCallReply(NotFound("service x.Y is not exported by this app"));
  page->Send(CallFrame(2, "x.Y/Z", "{}"));
  EXPECT_EQ(page->ReadJson(), (json{{"id", 2}, {"error", "service x.Y is not exported by this app"},
                                    {"code", "NOT_FOUND"}, {"status", 404}}));
  // A request the gateway cannot make sense of is answered, and never reaches the backend.
  page->Send(R"({"id":3,"call":"not a method"})");
  auto refused = page->ReadJson();
  EXPECT_EQ(refused["id"], 3);
  EXPECT_EQ(refused["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(refused["status"], 400);
  EXPECT_EQ(backend_.calls().size(), 1u);
}

TEST_F(PageSocketTest, ManyCallsInFlightAllResolveInWhateverOrderTheyEnd) {
  backend_.Hold(true);
  auto page = Hello();
  constexpr int kCalls = 50;
  for (int i = 0; i < kCalls; ++i) page->Send(CallFrame(i, "a.B/C", "{\"n\":" + std::to_string(i) + "}"));
  ASSERT_TRUE(WaitForHeld(kCalls));
  backend_.ReleaseAll();  // The last sent is answered first.
  std::set<int> seen;
  for (int i = 0; i < kCalls; ++i) {
    json reply = page->ReadJson();
    int id = reply["id"].get<int>();
    EXPECT_EQ(reply["reply"], (json{{"echo", {{"n", id}}}}));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCalls));
}

TEST_F(PageSocketTest, CallsOverTheLimitInFlightAreRefusedAtOnceAndTheOthersGoOn) {
  GatewayLimits limits;
  limits.max_calls_in_flight = 3;
  Restart(limits);
  backend_.Hold(true);
  auto page = Hello();
  for (int i = 1; i <= 5; ++i) page->Send(CallFrame(i, "a.B/C", "{}"));
  // Two over the limit: answered before any held call is.
  for (int id : {4, 5}) {
    json refused = page->ReadJson();
    EXPECT_EQ(refused["id"], id);
    EXPECT_EQ(refused["code"], "RESOURCE_EXHAUSTED");
  }
  ASSERT_TRUE(WaitForHeld(3));
  EXPECT_EQ(backend_.calls().size(), 3u);
  // Another page is not held up by this one.
  backend_.Hold(false);
  auto other = std::make_unique<PageSocket>(port(), HostOf("other"), CookieOf(kOtherSecret));
  other->Read();
  other->Send(CallFrame(1, "a.B/C", "{}"));
  EXPECT_EQ(other->Read(), R"({"id":1,"reply":{"echo":{}}})");
  backend_.ReleaseAll();
  std::set<int> answered;
  for (int i = 0; i < 3; ++i) answered.insert(page->ReadJson()["id"].get<int>());
  EXPECT_EQ(answered, (std::set<int>{1, 2, 3}));
  // Room again.
  page->Send(CallFrame(6, "a.B/C", "{}"));
  EXPECT_EQ(page->ReadJson()["id"], 6);
}

TEST_F(PageSocketTest, APageThatKeepsTheLimitInFlightIsNeverRefused) {
  // As mumba.js does: a new call as soon as an answer arrives, never more than
  // the limit unanswered. The gateway counts a call as answered once its answer
  // is on its way, before the page can see it.
  GatewayLimits limits;
  limits.max_calls_in_flight = 3;
  Restart(limits);
  auto page = Hello();
  uint64_t next = 0;
  for (; next < 3; ++next) page->Send(CallFrame(next, "a.B/C", "{}"));
  for (int answered = 0; answered < 3000; ++answered) {
    json answer = page->ReadJson();
    ASSERT_TRUE(answer.contains("reply")) << answer.dump();
    page->Send(CallFrame(next++, "a.B/C", "{}"));
  }
}

TEST_F(PageSocketTest, RequestsAndAnswersMustFitInWhatTheGatewayHolds) {
  GatewayLimits limits;
  limits.max_buffered_bytes = 200;
  Restart(limits);
  auto page = Hello();
  page->Send(CallFrame(1, "a.B/C", "\"" + std::string(300, 'x') + "\""));
  json refused = page->ReadJson();
  EXPECT_EQ(refused["id"], 1);
  EXPECT_EQ(refused["code"], "UNAVAILABLE");
  EXPECT_TRUE(backend_.calls().empty());
  // A small request whose answer is too large: the call ran, its answer is an error.
  backend_.SetCallReply("\"" + std::string(300, 'y') + "\"");
  page->Send(CallFrame(2, "a.B/C", "{}"));
  json too_large = page->ReadJson();
  EXPECT_EQ(too_large["id"], 2);
  EXPECT_EQ(too_large["code"], "RESOURCE_EXHAUSTED");
  EXPECT_EQ(backend_.calls().size(), 1u);
  backend_.SetCallReply(std::string("{}"));
  page->Send(CallFrame(3, "a.B/C", "{}"));
  EXPECT_EQ(page->Read(), R"({"id":3,"reply":{"echo":{}}})");
}

TEST_F(PageSocketTest, AFrameOverTheLimitClosesThatSocketOnly) {
  GatewayLimits limits;
  limits.max_call_frame_bytes = 1024;
  Restart(limits);
  auto page = Hello();
  auto other = Hello();
  page->Send(CallFrame(1, "a.B/C", "\"" + std::string(2000, 'x') + "\""));
  beast::error_code ec;
  page->Read(&ec);
  // Closed with 1009, unless the connection's end overtook the close frame.
  EXPECT_TRUE(ec);
  if (ec == websocket::error::closed) {
    EXPECT_EQ(page->reason().code, websocket::close_code::too_big);
  }
  EXPECT_TRUE(backend_.calls().empty());
  other->Send(CallFrame(2, "a.B/C", "{}"));
  EXPECT_EQ(other->Read(), R"({"id":2,"reply":{"echo":{}}})");
}

TEST_F(PageSocketTest, AFrameWithoutAnIdClosesTheSocket) {
  auto page = Hello();
  page->Send("GET / HTTP/1.1");
  beast::error_code ec;
  page->Read(&ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(page->reason().code, websocket::close_code::policy_error);
}

TEST_F(PageSocketTest, ASocketOutlivesNeitherItsAppNorItsSecret) {
  auto page = Hello();
  page->Send(CallFrame(1, "a.B/C", "{}"));
  page->Read();
  // The app is installed again: a new secret. The old page's socket no longer calls.
  backend_.SetApp("hello", GatewayApp{kHelloId, "hello", tmp_.path(), "", nullptr, "", std::string(64, 'z')});
  page->Send(CallFrame(2, "a.B/C", "{}"));
  beast::error_code ec;
  page->Read(&ec);
  EXPECT_TRUE(ec);
  // hello's old cookie opens no new socket either.
  EXPECT_THROW(PageSocket(port(), HostOf("hello"), CookieOf(kHelloSecret)), boost::system::system_error);
  EXPECT_EQ(backend_.calls().size(), 1u);
}

TEST_F(PageSocketTest, ADeclaredRouteIsAnsweredInABinaryFrame) {
  auto page = Hello();
  page->Send(R"({"id":5,"route":"/greet?name=A%20n","method":"POST","headers":[["content-type","text/plain"]]})"
             "\nhi there");
  bool binary = false;
  std::string frame = page->Read(nullptr, &binary);
  EXPECT_TRUE(binary);
  const size_t newline = frame.find('\n');
  ASSERT_NE(newline, std::string::npos);
  EXPECT_EQ(json::parse(frame.substr(0, newline)),
            (json{{"id", 5},
                  {"status", 201},
                  {"headers", json::array({json::array({"X-Daemon", "yes"}),
                                           json::array({"content-type", "text/plain; charset=utf-8"})})}}));
  EXPECT_EQ(frame.substr(newline + 1), "daemon read 'hi there'");
  auto routes = backend_.routes();
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(backend_.route_apps()[0], kHelloId);
  EXPECT_EQ(routes[0].method(), "POST");
  EXPECT_EQ(routes[0].path(), "/greet");
  EXPECT_EQ(routes[0].query(), "name=A%20n");
  EXPECT_EQ(routes[0].body(), "hi there");
  std::map<std::string, std::string> headers;
  for (const auto& h : routes[0].headers()) headers[h.name()] = h.value();
  EXPECT_EQ(headers["content-type"], "text/plain");
  EXPECT_EQ(headers["Host"], HostOf("hello"));
}

TEST_F(PageSocketTest, WhatIsNoRouteIsLeftToHttp) {
  auto page = Hello();
  page->Send(R"({"id":6,"route":"/index.html"})");
  EXPECT_EQ(page->Read(), R"({"id":6,"fetch":true})");
  page->Send(R"({"id":7,"route":"/greet","method":"DELETE"})");
  EXPECT_EQ(page->Read(), R"({"id":7,"fetch":true})");
  page->Send(R"({"id":8,"route":"/_mumba/call/a.B/C","method":"POST"})");
  EXPECT_EQ(page->Read(), R"({"id":8,"fetch":true})");
  EXPECT_TRUE(backend_.routes().empty());
  EXPECT_TRUE(backend_.calls().empty());
}

}  // namespace
}  // namespace mumba
