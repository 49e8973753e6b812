// SPDX-License-Identifier: Apache-2.0
// The real gateway on 127.0.0.1 with a fake backend, driven by real HTTP and
// WebSocket requests: which backend method answers what, the Host, origin and
// secret-cookie rules, static files, and how errors become HTTP statuses.
#include "gateway/gateway.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bundle/manifest.h"
#include "common/temp_dir.h"
#include "gateway/secret_cookie.h"
#include "mumba/app/v1/routes.grpc.pb.h"

namespace mumba {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace av1 = mumba::app::v1;
using tcp = net::ip::tcp;

using Response = http::response<http::string_body>;

const std::string kHelloId = "mumba://" + std::string(52, 'h');
const std::string kLegacyId = "mumba://" + std::string(52, 'l');
const std::string kHomeId = "mumba://" + std::string(52, 'm');
const std::string kOtherId = "mumba://" + std::string(52, 'o');
const std::string kHelloSecret = std::string(64, 'a');
const std::string kLegacySecret = std::string(64, 'b');
const std::string kOtherSecret = std::string(64, 'c');

std::string Field(const Response& res, http::field f) { return std::string(res[f]); }
std::string Field(const Response& res, const char* name) { return std::string(res[name]); }

// The JSON error body of a refusal.
nlohmann::json ErrorOf(const Response& res) { return nlohmann::json::parse(res.body()); }

// A daemon's Routes service, in process: it records what reached it and answers
// 201 with the body it read.
class FakeDaemon final : public av1::Routes::Service {
 public:
  grpc::Status Stream(grpc::ServerContext*,
                      grpc::ServerReaderWriter<av1::RouteStreamResponse, av1::RouteStreamRequest>* stream) override {
    av1::RouteStreamRequest in;
    av1::RouteRequest head;
    std::string body;
    while (stream->Read(&in)) {
      if (in.part_case() == av1::RouteStreamRequest::kHead) {
        head = in.head();
      } else {
        body += in.data();
      }
    }
    {
      std::lock_guard lock(mu_);
      heads_.push_back(head);
      bodies_.push_back(body);
    }
    av1::RouteStreamResponse out;
    out.mutable_head()->set_status(201);
    auto* h = out.mutable_head()->add_headers();
    h->set_name("X-Daemon");
    h->set_value("yes");
    out.mutable_head()->set_body("daemon read '" + body + "'");
    stream->Write(out);
    return grpc::Status::OK;
  }

  std::vector<av1::RouteRequest> heads() const {
    std::lock_guard lock(mu_);
    return heads_;
  }
  std::vector<std::string> bodies() const {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<av1::RouteRequest> heads_;
  std::vector<std::string> bodies_;
};

// Apps by label; records every call it gets and answers as the test set it to.
class FakeBackend final : public GatewayBackend {
 public:
  struct CallRecord {
    std::string app_id, method, json;
  };
  struct RouteRecord {
    std::string app_id;
    av1::RouteRequest request;
  };

  void AddApp(const std::string& label, GatewayApp app) {
    std::lock_guard lock(mu_);
    apps_[label] = std::move(app);
  }
  void SetCallReply(Expected<std::string> reply) {
    std::lock_guard lock(mu_);
    call_reply_ = std::move(reply);
  }
  void SetRouteReply(Expected<av1::RouteResponse> reply) {
    std::lock_guard lock(mu_);
    route_reply_ = std::move(reply);
  }
  void SetChannel(Expected<std::shared_ptr<grpc::Channel>> channel) {
    std::lock_guard lock(mu_);
    channel_ = std::move(channel);
  }

  Expected<GatewayApp> FindApp(const std::string& label) override {
    std::lock_guard lock(mu_);
    ++find_app_calls_;
    auto it = apps_.find(label);
    if (it == apps_.end()) return NotFound("no app " + label);
    return it->second;
  }
  void Route(const std::string& app_id, av1::RouteRequest request,
             std::function<void(Expected<av1::RouteResponse>)> done) override {
    Expected<av1::RouteResponse> reply = Internal("unset");
    {
      std::lock_guard lock(mu_);
      routes_.push_back({app_id, std::move(request)});
      reply = route_reply_;
    }
    done(std::move(reply));
  }
  void DaemonChannel(const std::string& app_id,
                     std::function<void(Expected<std::shared_ptr<grpc::Channel>>)> done) override {
    Expected<std::shared_ptr<grpc::Channel>> channel = Internal("unset");
    {
      std::lock_guard lock(mu_);
      channel_requests_.push_back(app_id);
      channel = channel_;
    }
    done(std::move(channel));
  }
  void Call(const std::string& app_id, const std::string& method, std::string json,
            std::function<void(Expected<std::string>)> done) override {
    Expected<std::string> reply = Internal("unset");
    {
      std::lock_guard lock(mu_);
      calls_.push_back({app_id, method, std::move(json)});
      reply = call_reply_;
    }
    done(std::move(reply));
  }

  int find_app_calls() const {
    std::lock_guard lock(mu_);
    return find_app_calls_;
  }
  std::vector<CallRecord> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<RouteRecord> routes() const {
    std::lock_guard lock(mu_);
    return routes_;
  }
  std::vector<std::string> channel_requests() const {
    std::lock_guard lock(mu_);
    return channel_requests_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, GatewayApp> apps_;
  Expected<std::string> call_reply_ = std::string("{}");
  Expected<av1::RouteResponse> route_reply_ = av1::RouteResponse();
  Expected<std::shared_ptr<grpc::Channel>> channel_ = Unavailable("no daemon");
  int find_app_calls_ = 0;
  std::vector<CallRecord> calls_;
  std::vector<RouteRecord> routes_;
  std::vector<std::string> channel_requests_;
};

// One HTTP/1.1 connection to the gateway. Reads time out after a while, so a
// gateway that never answers fails the test instead of hanging it.
class Client {
 public:
  explicit Client(int port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    timeval tv{10, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  Response Send(http::request<http::string_body> req) {
    req.prepare_payload();
    http::write(socket_, req);
    return Read(req.method() == http::verb::head);
  }
  Response Read(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.skip(head);
    http::read(socket_, buffer_, parser);
    return parser.release();
  }
  void WriteRaw(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }
  // True when the gateway closed the connection: a read finds its end.
  bool ClosedByPeer() {
    char c;
    beast::error_code ec;
    socket_.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof;
  }
  // True when the gateway ended the connection, closed or reset, before anything
  // more arrived; false when a read times out.
  bool Cut() {
    char c;
    beast::error_code ec;
    socket_.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }
  // Writes without failing the test once the gateway has gone.
  beast::error_code TryWrite(const std::string& bytes) {
    beast::error_code ec;
    net::write(socket_, net::buffer(bytes), ec);
    return ec;
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(ui() / "index.html", "<h1>hi</h1>");
    Write(ui() / "app.js", "export {}");
    Write(tmp_.path() / "secret.txt", "outside");

    auto manifest = std::make_shared<Manifest>();
    manifest->routes = {RouteDecl{"/greet", {"GET"}}, RouteDecl{"/api/*", {}}};
    backend_.AddApp("hello", GatewayApp{kHelloId, "hello", ui(), "index.html", manifest, "", kHelloSecret});
    backend_.AddApp(std::string(52, 'h'), GatewayApp{kHelloId, "hello", ui(), "index.html", manifest, "", kHelloSecret});
    backend_.AddApp("legacy", GatewayApp{kLegacyId, "legacy", ui(), "", nullptr, "/api/", kLegacySecret});
    backend_.AddApp("home", GatewayApp{kHomeId, "home", ui(), "index.html", manifest, "", "s3cret", true});
    backend_.AddApp("other", GatewayApp{kOtherId, "other", ui(), "index.html", nullptr, "", kOtherSecret});
    backend_.AddApp("nosecret", GatewayApp{kOtherId, "nosecret", ui(), "index.html", manifest, "", ""});

    Restart(GatewayLimits());
  }
  // Starts the gateway (again) with `limits`.
  void Restart(const GatewayLimits& limits) {
    if (gateway_) gateway_->Stop();
    gateway_.reset();
    auto gw = Gateway::Start(GatewayOptions{0, 2, &backend_, limits});
    ASSERT_TRUE(gw.ok()) << gw.status().message();
    gateway_ = std::move(*gw);
  }
  void TearDown() override {
    if (gateway_) gateway_->Stop();
    if (daemon_server_) daemon_server_->Shutdown();
  }

  static void Write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  fs::path ui() const { return tmp_.path() / "ui"; }
  int port() const { return gateway_->port(); }
  std::string HostOf(const std::string& label) const { return label + ".localhost:" + std::to_string(port()); }

  // The cookie an app's window holds: <cookie name>=<secret>.
  std::string CookieOf(const std::string& secret) const { return SecretCookieName(port()) + "=" + secret; }

  // A request as the app's window sends it: with its secret cookie (home's
  // requests get none: its tests set it themselves).
  http::request<http::string_body> Request(http::verb verb, const std::string& target,
                                           const std::string& label = "hello", std::string body = "") const {
    http::request<http::string_body> req = Stranger(verb, target, label, std::move(body));
    static const std::map<std::string, std::string> secrets = {
        {"hello", kHelloSecret}, {std::string(52, 'h'), kHelloSecret}, {"legacy", kLegacySecret},
        {"other", kOtherSecret}};
    if (auto it = secrets.find(label); it != secrets.end()) req.set(http::field::cookie, CookieOf(it->second));
    return req;
  }
  // The same request from a local process without the app's secret.
  http::request<http::string_body> Stranger(http::verb verb, const std::string& target,
                                            const std::string& label = "hello", std::string body = "") const {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, HostOf(label));
    req.body() = std::move(body);
    return req;
  }
  Response Fetch(http::request<http::string_body> req) { return Client(port()).Send(std::move(req)); }
  Response Get(const std::string& target, const std::string& label = "hello") {
    return Fetch(Request(http::verb::get, target, label));
  }

  // Serves hello's daemon in process and has the backend hand out its channel.
  FakeDaemon& StartDaemon() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&daemon_);
    daemon_server_ = builder.BuildAndStart();
    backend_.SetChannel(daemon_server_->InProcessChannel(grpc::ChannelArguments()));
    return daemon_;
  }

  TempDir tmp_;
  FakeBackend backend_;
  FakeDaemon daemon_;
  std::unique_ptr<grpc::Server> daemon_server_;
  std::unique_ptr<Gateway> gateway_;
};

// ---- The Host header. ----

TEST_F(GatewayTest, HostsOtherThanAnAppUnderLocalhostOnItsPortAreRefused) {
  const std::string p = std::to_string(port());
  const std::vector<std::string> hosts = {"hello.localhost:" + std::to_string(port() + 1), "hello.localhost",
                                          "evil.example:" + p, "hello.evil.example:" + p, "127.0.0.1:" + p,
                                          "localhost:" + p, ""};
  for (const std::string& host : hosts) {
    auto req = Request(http::verb::get, "/");
    req.set(http::field::host, host);
    Response res = Fetch(std::move(req));
    EXPECT_EQ(res.result(), http::status::forbidden) << host;
    EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "unknown host '" + host + "'"}, {"code", "PERMISSION_DENIED"}}))
        << host;
  }
  EXPECT_EQ(backend_.find_app_calls(), 0);
}

TEST_F(GatewayTest, ADeclaredRouteUnderAForeignHostNeverReachesTheDaemon) {
  StartDaemon();
  auto req = Request(http::verb::get, "/greet");
  req.set(http::field::host, "rebound.example:" + std::to_string(port()));
  EXPECT_EQ(Fetch(std::move(req)).result(), http::status::forbidden);
  EXPECT_TRUE(backend_.channel_requests().empty());
}

TEST_F(GatewayTest, AnUnknownAppIsNotFound) {
  Response res = Get("/", "nobody");
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(Field(res, http::field::content_type), "application/json");
  EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "no app nobody"}, {"code", "NOT_FOUND"}}));
}

TEST_F(GatewayTest, AnAppAnswersAtItsIdToo) {
  Response res = Get("/", std::string(52, 'h'));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "<h1>hi</h1>");
}

// ---- Static files and mumba.js. ----

TEST_F(GatewayTest, StaticFilesCarryTypeETagAndNoCache) {
  Response root = Get("/");
  EXPECT_EQ(root.result(), http::status::ok);
  EXPECT_EQ(root.body(), "<h1>hi</h1>");  // "/" is the ui entry.
  EXPECT_EQ(Field(root, http::field::content_type), "text/html; charset=utf-8");
  EXPECT_EQ(Field(root, http::field::cache_control), "no-cache");
  EXPECT_EQ(Field(root, http::field::server), "mumba");

  Response js = Get("/app.js");
  EXPECT_EQ(js.result(), http::status::ok);
  EXPECT_EQ(js.body(), "export {}");
  EXPECT_EQ(Field(js, http::field::content_type), "text/javascript; charset=utf-8");
  const std::string etag = Field(js, http::field::etag);
  ASSERT_GE(etag.size(), 2u);
  EXPECT_EQ(etag.front(), '"');
  EXPECT_EQ(etag.back(), '"');
  EXPECT_NE(etag, Field(root, http::field::etag));
}

TEST_F(GatewayTest, AMatchingIfNoneMatchIsNotModified) {
  const std::string etag = Field(Get("/app.js"), http::field::etag);
  auto req = Request(http::verb::get, "/app.js");
  req.set(http::field::if_none_match, etag);
  Response res = Fetch(std::move(req));
  EXPECT_EQ(res.result(), http::status::not_modified);
  EXPECT_EQ(Field(res, http::field::etag), etag);
  EXPECT_TRUE(res.body().empty());

  auto stale = Request(http::verb::get, "/app.js");
  stale.set(http::field::if_none_match, "\"stale\"");
  Response fresh = Fetch(std::move(stale));
  EXPECT_EQ(fresh.result(), http::status::ok);
  EXPECT_EQ(fresh.body(), "export {}");
}

TEST_F(GatewayTest, HeadGivesTheLengthWithoutTheBody) {
  Client client(port());
  Response res = client.Send(Request(http::verb::head, "/app.js"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(Field(res, http::field::content_length), "9");
  EXPECT_EQ(Field(res, http::field::content_type), "text/javascript; charset=utf-8");
  EXPECT_FALSE(Field(res, http::field::etag).empty());
  // Nothing follows the head: the next answer on the connection is the next request's.
  EXPECT_EQ(client.Send(Request(http::verb::get, "/app.js")).body(), "export {}");
}

TEST_F(GatewayTest, MissingFilesAndPathsOutsideUiAreNotFound) {
  Response missing = Get("/missing.txt");
  EXPECT_EQ(missing.result(), http::status::not_found);
  EXPECT_EQ(ErrorOf(missing), (nlohmann::json{{"error", "hello has no page /missing.txt"}, {"code", "NOT_FOUND"}}));
  EXPECT_EQ(Get("/%2e%2e/secret.txt").result(), http::status::not_found);
  EXPECT_EQ(Get("/../secret.txt").result(), http::status::not_found);
}

// Found by fuzz/gateway_request: a path that decodes to bytes that are not UTF-8
// went into the JSON error unchecked, and the JSON library's exception ended the host.
TEST_F(GatewayTest, APathThatIsNotUtf8IsNotFoundAndTheGatewayStaysUp) {
  for (const char* target : {"/%ff", "/a%c3", "/%ec%e2/x"}) {
    Response res = Get(target);
    EXPECT_EQ(res.result(), http::status::not_found) << target;
    EXPECT_EQ(ErrorOf(res)["code"], "NOT_FOUND") << target;
  }
  EXPECT_EQ(Get("/").result(), http::status::ok);
}

TEST_F(GatewayTest, OnlyGetAndHeadReachStaticFiles) {
  Response res = Fetch(Request(http::verb::post, "/index.html", "hello", "x"));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "hello has no route POST /index.html"}, {"code", "NOT_FOUND"}}));
}

TEST_F(GatewayTest, MumbaJsIsServedToEveryPage) {
  auto req = Request(http::verb::get, "/_mumba/mumba.js");
  req.set(http::field::origin, "http://" + HostOf("other"));
  Response res = Fetch(std::move(req));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), MumbaJs());
  EXPECT_EQ(Field(res, http::field::content_type), "text/javascript; charset=utf-8");
  EXPECT_EQ(Field(res, http::field::cache_control), "no-cache");
}

TEST_F(GatewayTest, UnknownMumbaPathsAreNotFound) {
  Response res = Get("/_mumba/nothing");
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "no /_mumba/nothing"}, {"code", "NOT_FOUND"}}));
}

TEST_F(GatewayTest, AConnectionCarriesOneRequestAfterAnother) {
  Client client(port());
  EXPECT_EQ(client.Send(Request(http::verb::get, "/")).body(), "<h1>hi</h1>");
  EXPECT_EQ(client.Send(Request(http::verb::get, "/app.js")).body(), "export {}");
  EXPECT_EQ(client.Send(Request(http::verb::post, "/_mumba/call/a.B/C", "hello", "{}")).result(), http::status::ok);
}

// ---- Calls. ----

TEST_F(GatewayTest, ACallGoesToTheBackendAndItsReplyIsJson) {
  backend_.SetCallReply(std::string(R"({"message":"hi Ann"})"));
  Response res = Fetch(Request(http::verb::post, "/_mumba/call/hello.v1.Greeter/Hello", "hello", R"({"name":"Ann"})"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), R"({"message":"hi Ann"})");
  EXPECT_EQ(Field(res, http::field::content_type), "application/json");
  auto calls = backend_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].app_id, kHelloId);
  EXPECT_EQ(calls[0].method, "hello.v1.Greeter/Hello");
  EXPECT_EQ(calls[0].json, R"({"name":"Ann"})");
}

TEST_F(GatewayTest, ACallWithoutABodySendsAnEmptyObject) {
  EXPECT_EQ(Fetch(Request(http::verb::post, "/_mumba/call/a.B/C")).result(), http::status::ok);
  ASSERT_EQ(backend_.calls().size(), 1u);
  EXPECT_EQ(backend_.calls()[0].json, "{}");
}

TEST_F(GatewayTest, ACallIsAPost) {
  Response res = Get("/_mumba/call/a.B/C");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "calls are POSTs with a JSON body"}, {"code", "INVALID_ARGUMENT"}}));
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(GatewayTest, BackendErrorsBecomeHttpStatuses) {
  const std::vector<std::pair<Status, http::status>> cases = {
      {InvalidArgument("m"), http::status::bad_request},
      {NotFound("m"), http::status::not_found},
      {PermissionDenied("m"), http::status::forbidden},
      {Status(Code::kUnauthenticated, "m"), http::status::unauthorized},
      {Unimplemented("m"), http::status::not_implemented},
      {FailedPrecondition("m"), http::status::conflict},
      {ResourceExhausted("m"), http::status::payload_too_large},
      {DeadlineExceeded("m"), http::status::gateway_timeout},
      {Unavailable("m"), http::status::service_unavailable},
      {Internal("m"), http::status::internal_server_error},
      {Aborted("m"), http::status::internal_server_error},
      {AlreadyExists("m"), http::status::internal_server_error},
      {DataLoss("m"), http::status::internal_server_error},
  };
  const std::map<Code, std::string> names = {
      {Code::kInvalidArgument, "INVALID_ARGUMENT"}, {Code::kNotFound, "NOT_FOUND"},
      {Code::kPermissionDenied, "PERMISSION_DENIED"}, {Code::kUnauthenticated, "UNAUTHENTICATED"},
      {Code::kUnimplemented, "UNIMPLEMENTED"}, {Code::kFailedPrecondition, "FAILED_PRECONDITION"},
      {Code::kResourceExhausted, "RESOURCE_EXHAUSTED"}, {Code::kDeadlineExceeded, "DEADLINE_EXCEEDED"},
      {Code::kUnavailable, "UNAVAILABLE"}, {Code::kInternal, "INTERNAL"}, {Code::kAborted, "ABORTED"},
      {Code::kAlreadyExists, "ALREADY_EXISTS"}, {Code::kDataLoss, "DATA_LOSS"}};
  for (const auto& [st, http_status] : cases) {
    backend_.SetCallReply(st);
    Response res = Fetch(Request(http::verb::post, "/_mumba/call/a.B/C"));
    EXPECT_EQ(res.result(), http_status) << names.at(st.code());
    EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "m"}, {"code", names.at(st.code())}}));
  }
}

TEST_F(GatewayTest, ABodyOverTheLimitIsRefusedBeforeItIsRead) {
  Client client(port());
  client.WriteRaw("POST /_mumba/call/a.B/C HTTP/1.1\r\nHost: " + HostOf("hello") + "\r\nCookie: " +
                  CookieOf(kHelloSecret) + "\r\nContent-Length: " + std::to_string(kGatewayMaxBodyBytes + 1) +
                  "\r\n\r\n");
  Response res = client.Read();
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_EQ(res.body(), "body too large\n");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(client.ClosedByPeer());
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(GatewayTest, AClientThatExpectsContinueGetsIt) {
  Client client(port());
  client.WriteRaw("POST /_mumba/call/a.B/C HTTP/1.1\r\nHost: " + HostOf("hello") + "\r\nCookie: " +
                  CookieOf(kHelloSecret) + "\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(client.Read().result(), http::status::continue_);
  client.WriteRaw("[]");
  EXPECT_EQ(client.Read().result(), http::status::ok);
  ASSERT_EQ(backend_.calls().size(), 1u);
  EXPECT_EQ(backend_.calls()[0].json, "[]");
}

// ---- Routes. ----

TEST_F(GatewayTest, ARouteOfAnAppWithoutManifestGoesToRoute) {
  av1::RouteResponse reply;
  reply.set_status(201);
  auto* h = reply.add_headers();
  h->set_name("X-Reply");
  h->set_value("yes");
  auto* framing = reply.add_headers();
  framing->set_name("Content-Length");
  framing->set_value("999");
  reply.set_body("made");
  backend_.SetRouteReply(reply);

  auto req = Request(http::verb::post, "/api/new%20item?x=1&y=%20", "legacy", "abc");
  req.set("X-Custom", "c");
  Response res = Fetch(std::move(req));
  EXPECT_EQ(res.result(), http::status::created);
  EXPECT_EQ(res.body(), "made");
  EXPECT_EQ(Field(res, "X-Reply"), "yes");
  EXPECT_EQ(Field(res, http::field::content_length), "4");
  EXPECT_EQ(Field(res, http::field::content_type), "text/plain; charset=utf-8");
  EXPECT_EQ(Field(res, http::field::server), "mumba");

  auto routes = backend_.routes();
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].app_id, kLegacyId);
  EXPECT_EQ(routes[0].request.method(), "POST");
  EXPECT_EQ(routes[0].request.path(), "/api/new item");
  EXPECT_EQ(routes[0].request.query(), "x=1&y=%20");
  EXPECT_EQ(routes[0].request.body(), "abc");
  std::map<std::string, std::string> headers;
  for (const auto& hd : routes[0].request.headers()) headers[hd.name()] = hd.value();
  EXPECT_EQ(headers["Host"], HostOf("legacy"));
  EXPECT_EQ(headers["X-Custom"], "c");
  EXPECT_TRUE(backend_.channel_requests().empty());
}

TEST_F(GatewayTest, ARouteReplyWithoutStatusIsOkAndItsErrorsAreStatuses) {
  backend_.SetRouteReply(av1::RouteResponse());
  EXPECT_EQ(Get("/api/x", "legacy").result(), http::status::ok);
  backend_.SetRouteReply(NotFound("no such item"));
  Response res = Get("/api/x", "legacy");
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "no such item"}, {"code", "NOT_FOUND"}}));
}

TEST_F(GatewayTest, PathsOutsideTheRoutePrefixAreStaticFiles) {
  EXPECT_EQ(Get("/app.js", "legacy").body(), "export {}");
  EXPECT_TRUE(backend_.routes().empty());
}

TEST_F(GatewayTest, ADeclaredRouteStreamsToTheDaemon) {
  FakeDaemon& daemon = StartDaemon();
  auto req = Request(http::verb::post, "/api/up%20load?n=1", "hello", "payload");
  req.set("X-Custom", "c");
  Response res = Fetch(std::move(req));
  EXPECT_EQ(res.result(), http::status::created);
  EXPECT_EQ(res.body(), "daemon read 'payload'");
  EXPECT_EQ(Field(res, "X-Daemon"), "yes");

  EXPECT_EQ(backend_.channel_requests(), std::vector<std::string>{kHelloId});
  EXPECT_TRUE(backend_.routes().empty());
  auto heads = daemon.heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].method(), "POST");
  EXPECT_EQ(heads[0].path(), "/api/up load");
  EXPECT_EQ(heads[0].query(), "n=1");
  EXPECT_TRUE(heads[0].body().empty());
  std::map<std::string, std::string> headers;
  for (const auto& hd : heads[0].headers()) headers[hd.name()] = hd.value();
  EXPECT_EQ(headers["X-Custom"], "c");
  EXPECT_EQ(daemon.bodies(), std::vector<std::string>{"payload"});
}

TEST_F(GatewayTest, AGetOfADeclaredRouteStreamsToo) {
  FakeDaemon& daemon = StartDaemon();
  Response res = Get("/greet?name=Ann");
  EXPECT_EQ(res.result(), http::status::created);
  EXPECT_EQ(res.body(), "daemon read ''");
  ASSERT_EQ(daemon.heads().size(), 1u);
  EXPECT_EQ(daemon.heads()[0].path(), "/greet");
  EXPECT_EQ(daemon.heads()[0].query(), "name=Ann");
}

TEST_F(GatewayTest, ADaemonThatCannotBeReachedIsAnErrorThatClosesTheConnection) {
  backend_.SetChannel(Unavailable("hello is not running"));
  Client client(port());
  Response res = client.Send(Request(http::verb::get, "/greet"));
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "hello is not running"}, {"code", "UNAVAILABLE"}}));
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(client.ClosedByPeer());
  EXPECT_EQ(backend_.channel_requests(), std::vector<std::string>{kHelloId});
}

TEST_F(GatewayTest, AMethodTheRouteDoesNotDeclareIsNoRoute) {
  Response res = Fetch(Request(http::verb::post, "/greet", "hello", "x"));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "hello has no route POST /greet"}, {"code", "NOT_FOUND"}}));
  EXPECT_TRUE(backend_.channel_requests().empty());
}

// ---- Origins: a page of one app cannot use another app. ----

TEST_F(GatewayTest, AnotherAppsPageCannotCallRouteOrListen) {
  StartDaemon();
  const std::string foreign = "http://" + HostOf("other");
  const nlohmann::json refused{{"error", "hello accepts this only from its own pages"}, {"code", "PERMISSION_DENIED"}};
  for (const std::string target : {"/_mumba/call/a.B/C", "/greet", "/api/x", "/_mumba/events"}) {
    auto req = Request(target == "/_mumba/call/a.B/C" ? http::verb::post : http::verb::get, target);
    req.set(http::field::origin, foreign);
    req.set("Sec-Fetch-Site", "same-site");
    Response res = Fetch(std::move(req));
    EXPECT_EQ(res.result(), http::status::forbidden) << target;
    EXPECT_EQ(ErrorOf(res), refused) << target;
  }
  EXPECT_TRUE(backend_.calls().empty());
  EXPECT_TRUE(backend_.channel_requests().empty());
  EXPECT_TRUE(daemon_.heads().empty());
}

TEST_F(GatewayTest, CrossSiteRequestsAreRefusedAndTheAppsOwnPagesPass) {
  auto cross = Request(http::verb::post, "/_mumba/call/a.B/C");
  cross.set("Sec-Fetch-Site", "cross-site");
  EXPECT_EQ(Fetch(std::move(cross)).result(), http::status::forbidden);

  auto legacy_foreign = Request(http::verb::get, "/api/x", "legacy");
  legacy_foreign.set(http::field::origin, "http://" + HostOf("hello"));
  EXPECT_EQ(Fetch(std::move(legacy_foreign)).result(), http::status::forbidden);
  EXPECT_TRUE(backend_.routes().empty());

  auto own = Request(http::verb::post, "/_mumba/call/a.B/C");
  own.set(http::field::origin, "http://" + HostOf("hello"));
  own.set("Sec-Fetch-Site", "same-origin");
  EXPECT_EQ(Fetch(std::move(own)).result(), http::status::ok);
  auto typed = Request(http::verb::post, "/_mumba/call/a.B/C");
  typed.set("Sec-Fetch-Site", "none");
  EXPECT_EQ(Fetch(std::move(typed)).result(), http::status::ok);
  EXPECT_EQ(backend_.calls().size(), 2u);
}

TEST_F(GatewayTest, StaticFilesAreServedToAnyOrigin) {
  auto req = Request(http::verb::get, "/app.js");
  req.set(http::field::origin, "http://" + HostOf("other"));
  req.set("Sec-Fetch-Site", "cross-site");
  EXPECT_EQ(Fetch(std::move(req)).result(), http::status::ok);
}

// ---- The secret cookie. ----

TEST_F(GatewayTest, AnAppWithASecretRefusesRequestsWithoutItsCookie) {
  StartDaemon();
  const nlohmann::json refused{{"error", "home opens only from `mumba launch home`"}, {"code", "UNAUTHENTICATED"}};
  for (const std::string target : {"/", "/_mumba/mumba.js", "/greet"}) {
    Response res = Get(target, "home");
    EXPECT_EQ(res.result(), http::status::unauthorized) << target;
    EXPECT_EQ(ErrorOf(res), refused) << target;
  }
  const std::string name = SecretCookieName(port());
  for (const std::string& cookie : std::vector<std::string>{name + "=wrong", name + "=s3cre", "x" + name + "=s3cret",
                                                             name + " s3cret", name + "=", "mumba_secret=s3cret",
                                                             "mumba_secret_1=s3cret"}) {
    auto req = Request(http::verb::get, "/", "home");
    req.set(http::field::cookie, cookie);
    EXPECT_EQ(Fetch(std::move(req)).result(), http::status::unauthorized) << cookie;
  }
  EXPECT_TRUE(backend_.channel_requests().empty());
}

TEST_F(GatewayTest, TheSecretCookieOpensTheApp) {
  FakeDaemon& daemon = StartDaemon();
  const std::string good = CookieOf("s3cret");
  for (const std::string& cookie :
       std::vector<std::string>{good, "theme=dark; " + good, "a=b;" + good, good + "; " + CookieOf("wrong")}) {
    auto req = Request(http::verb::get, "/", "home");
    req.set(http::field::cookie, cookie);
    Response res = Fetch(std::move(req));
    EXPECT_EQ(res.result(), http::status::ok) << cookie;
    EXPECT_EQ(res.body(), "<h1>hi</h1>") << cookie;
  }
  auto route = Request(http::verb::get, "/greet", "home");
  route.set(http::field::cookie, good);
  EXPECT_EQ(Fetch(std::move(route)).result(), http::status::created);
  EXPECT_EQ(daemon.heads().size(), 1u);
}

TEST_F(GatewayTest, LoginSetsAStrictHttpOnlyCookieAndRedirectsWithinTheOrigin) {
  Response res = Get("/_mumba/login?token=s3cret&next=/app.js%3Fv%3D1", "home");
  EXPECT_EQ(res.result(), http::status::see_other);
  EXPECT_EQ(Field(res, http::field::location), "/app.js?v=1");
  EXPECT_EQ(Field(res, http::field::set_cookie), CookieOf("s3cret") + "; Path=/; HttpOnly; SameSite=Strict");
  EXPECT_EQ(Field(res, http::field::cache_control), "no-store");
  EXPECT_TRUE(res.body().empty());

  for (const std::string next : {"", "&next=", "&next=//evil.example/", "&next=http://evil.example/",
                                 "&next=/a%5Cb", "&next=evil"}) {
    Response other = Get("/_mumba/login?token=s3cret" + next, "home");
    EXPECT_EQ(other.result(), http::status::see_other) << next;
    EXPECT_EQ(Field(other, http::field::location), "/") << next;
  }
}

TEST_F(GatewayTest, LoginWithAWrongTokenIsRefused) {
  for (const std::string query : {"token=wrong&next=/", "token=s3cre", "next=/", ""}) {
    Response res = Get("/_mumba/login?" + query, "home");
    EXPECT_EQ(res.result(), http::status::forbidden) << query;
    EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "wrong token"}, {"code", "PERMISSION_DENIED"}})) << query;
    EXPECT_TRUE(Field(res, http::field::set_cookie).empty()) << query;
  }
}

TEST_F(GatewayTest, OnlyAnAppWhoseSecretGuardsItsUiHasALoginPage) {
  Response res = Get("/_mumba/login?token=" + kHelloSecret, "hello");
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "no /_mumba/login"}, {"code", "NOT_FOUND"}}));
}

// ---- Strangers: a local process without the app's secret. ----

// Every kind of request that reaches the daemon, the app's storage or its events,
// or that could change something, as a stranger may send it.
std::vector<std::pair<http::verb, std::string>> GuardedRequests() {
  return {{http::verb::post, "/_mumba/call/a.B/C"},
          {http::verb::post, "/_mumba/call/mumba.storage.v1.Kv/Scan"},
          {http::verb::get, "/greet"},
          {http::verb::post, "/api/x"},
          {http::verb::get, "/_mumba/events"},
          {http::verb::get, "/_mumba/nothing"},
          {http::verb::post, "/index.html"},
          {http::verb::put, "/app.js"},
          {http::verb::delete_, "/"}};
}

TEST_F(GatewayTest, AStrangerIsRefusedEverythingButStaticFiles) {
  StartDaemon();
  const nlohmann::json refused{
      {"error", "hello answers this only to its own Mumba window (`mumba launch hello`)"},
      {"code", "PERMISSION_DENIED"}};
  for (const auto& [verb, target] : GuardedRequests()) {
    // Whatever Origin says: none, the app's own, or a browser's "same-origin".
    for (const std::string& origin : std::vector<std::string>{"", "http://" + HostOf("hello")}) {
      auto req = Stranger(verb, target, "hello", "{}");
      if (!origin.empty()) {
        req.set(http::field::origin, origin);
        req.set("Sec-Fetch-Site", "same-origin");
      }
      Response res = Fetch(std::move(req));
      EXPECT_EQ(res.result(), http::status::forbidden) << target << " " << origin;
      EXPECT_EQ(ErrorOf(res), refused) << target << " " << origin;
    }
  }
  // An app without a manifest, whose routes are under its prefix.
  EXPECT_EQ(Fetch(Stranger(http::verb::get, "/api/x", "legacy")).result(), http::status::forbidden);
  EXPECT_TRUE(backend_.calls().empty());
  EXPECT_TRUE(backend_.routes().empty());
  EXPECT_TRUE(backend_.channel_requests().empty());
  EXPECT_TRUE(daemon_.heads().empty());
}

TEST_F(GatewayTest, AStrangersEventsSocketIsRefused) {
  Client client(port());
  auto req = Stranger(http::verb::get, "/_mumba/events");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(http::field::sec_websocket_version, "13");
  EXPECT_EQ(client.Send(std::move(req)).result(), http::status::forbidden);
  EXPECT_EQ(gateway_->Listeners(kHelloId), 0);
}

TEST_F(GatewayTest, StaticFilesAndMumbaJsStayPublic) {
  for (const std::string target : {"/", "/index.html", "/app.js", "/_mumba/mumba.js"}) {
    EXPECT_EQ(Fetch(Stranger(http::verb::get, target)).result(), http::status::ok) << target;
    EXPECT_EQ(Fetch(Stranger(http::verb::head, target)).result(), http::status::ok) << target;
  }
  EXPECT_EQ(Fetch(Stranger(http::verb::get, "/missing.txt")).result(), http::status::not_found);
}

TEST_F(GatewayTest, AnotherAppsSecretOpensNothing) {
  StartDaemon();
  // Another app's secret under the right name, hello's under the wrong names: an
  // old cookie without the port, another gateway's port, another cookie's name.
  const std::vector<std::string> cookies = {CookieOf(kOtherSecret),
                                            CookieOf(kLegacySecret) + "; " + CookieOf(kOtherSecret),
                                            "mumba_secret=" + kHelloSecret,
                                            SecretCookieName(port() + 1) + "=" + kHelloSecret,
                                            "theme=" + kHelloSecret,
                                            CookieOf(kHelloSecret.substr(1)),
                                            CookieOf(kHelloSecret + "a")};
  for (const std::string& cookie : cookies) {
    for (const auto& [verb, target] : GuardedRequests()) {
      auto req = Stranger(verb, target);
      req.set(http::field::cookie, cookie);
      EXPECT_EQ(Fetch(std::move(req)).result(), http::status::forbidden) << cookie << " " << target;
    }
  }
  EXPECT_TRUE(backend_.calls().empty());
  EXPECT_TRUE(backend_.channel_requests().empty());
}

TEST_F(GatewayTest, AnAppWithoutASecretOpensToNobody) {
  for (const std::string& cookie : std::vector<std::string>{"", SecretCookieName(port()) + "=", CookieOf(kHelloSecret)}) {
    auto req = Stranger(http::verb::post, "/_mumba/call/a.B/C", "nosecret");
    if (!cookie.empty()) req.set(http::field::cookie, cookie);
    EXPECT_EQ(Fetch(std::move(req)).result(), http::status::forbidden) << cookie;
  }
  EXPECT_EQ(Fetch(Stranger(http::verb::get, "/", "nosecret")).result(), http::status::ok);
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(GatewayTest, AStrangersBodyIsNeverRead) {
  // Refused from its header: the gateway answers 403 at once (not 413 after
  // reading, not 100 Continue) and closes the connection.
  Client big(port());
  big.WriteRaw("POST /_mumba/call/a.B/C HTTP/1.1\r\nHost: " + HostOf("hello") +
               "\r\nContent-Length: " + std::to_string(1u << 30) + "\r\n\r\n");
  Response res = big.Read();
  EXPECT_EQ(res.result(), http::status::forbidden);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(big.ClosedByPeer());

  Client waiting(port());
  waiting.WriteRaw("POST /greet HTTP/1.1\r\nHost: " + HostOf("hello") +
                   "\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(waiting.Read().result(), http::status::forbidden);
  EXPECT_TRUE(backend_.calls().empty());
  EXPECT_TRUE(backend_.channel_requests().empty());
}

TEST_F(GatewayTest, ARefusalWithoutABodyKeepsTheConnection) {
  Client client(port());
  EXPECT_EQ(client.Send(Stranger(http::verb::get, "/greet")).result(), http::status::forbidden);
  EXPECT_EQ(client.Send(Stranger(http::verb::get, "/app.js")).body(), "export {}");
}

// The decision alone: which kinds of request need the secret, for which methods.
TEST(SecretDecisionTest, OnlyReadsOfUiFilesAndMumbaJsArePublic) {
  using gateway_internal::CheckSecret;
  using gateway_internal::ClassifyRequest;
  using gateway_internal::RequestKind;
  auto manifest = std::make_shared<Manifest>();
  manifest->routes = {RouteDecl{"/greet", {"GET"}}};
  GatewayApp app{kHelloId, "hello", "/ui", "index.html", manifest, "", kHelloSecret};
  GatewayApp home{kHomeId, "home", "/ui", "index.html", nullptr, "/api/", "s3cret", true};
  const int port = 8080;

  EXPECT_EQ(ClassifyRequest(app, "GET", "/", "/"), RequestKind::kUiFile);
  EXPECT_EQ(ClassifyRequest(app, "GET", "/greet", "/greet"), RequestKind::kRoute);
  EXPECT_EQ(ClassifyRequest(app, "POST", "/greet", "/greet"), RequestKind::kUiFile);
  EXPECT_EQ(ClassifyRequest(app, "GET", "/_mumba/mumba.js", "/_mumba/mumba.js"), RequestKind::kMumbaJs);
  EXPECT_EQ(ClassifyRequest(app, "GET", "/_mumba/events", "/_mumba/events"), RequestKind::kEvents);
  EXPECT_EQ(ClassifyRequest(app, "POST", "/_mumba/call/a.B/C", "/_mumba/call/a.B/C"), RequestKind::kCall);
  EXPECT_EQ(ClassifyRequest(app, "GET", "/_mumba/login", "/_mumba/login"), RequestKind::kOtherApi);
  EXPECT_EQ(ClassifyRequest(home, "GET", "/_mumba/login", "/_mumba/login"), RequestKind::kLogin);
  EXPECT_EQ(ClassifyRequest(home, "POST", "/api/install", "/api/install"), RequestKind::kRoute);
  // An encoded path is classified as it is served.
  EXPECT_EQ(ClassifyRequest(app, "GET", "/gr%65et", "/greet"), RequestKind::kRoute);

  auto check = [&](const GatewayApp& a, RequestKind kind, http::verb verb, const std::string& cookie) {
    http::request_header<> h;
    h.method(verb);
    if (!cookie.empty()) h.set(http::field::cookie, cookie);
    return CheckSecret(a, kind, h, port).code();
  };
  const std::string mine = SecretCookieName(port) + "=" + kHelloSecret;
  const std::vector<RequestKind> kinds = {RequestKind::kUiFile, RequestKind::kMumbaJs, RequestKind::kEvents,
                                          RequestKind::kCall,   RequestKind::kOtherApi, RequestKind::kRoute};
  for (RequestKind kind : kinds) {
    const bool public_read = kind == RequestKind::kUiFile || kind == RequestKind::kMumbaJs;
    for (http::verb verb : {http::verb::get, http::verb::head, http::verb::post, http::verb::put,
                            http::verb::delete_, http::verb::patch, http::verb::options}) {
      const bool read = verb == http::verb::get || verb == http::verb::head;
      const std::string what = std::to_string(static_cast<int>(kind)) + " " + std::string(http::to_string(verb));
      EXPECT_EQ(check(app, kind, verb, ""), public_read && read ? Code::kOk : Code::kPermissionDenied) << what;
      EXPECT_EQ(check(app, kind, verb, mine), Code::kOk) << what;
      EXPECT_EQ(check(home, kind, verb, ""), Code::kUnauthenticated) << what;
      EXPECT_EQ(check(home, kind, verb, SecretCookieName(port) + "=s3cret"), Code::kOk) << what;
      EXPECT_EQ(check(home, kind, verb, mine), Code::kUnauthenticated) << what;
    }
  }
  EXPECT_EQ(check(home, RequestKind::kLogin, http::verb::get, ""), Code::kOk);
}

// ---- Events. ----

class EventsClient {
 public:
  // A page's events socket, its handshake sent with `cookie`; `receive_buffer`,
  // when set, is its socket's SO_RCVBUF (a page that holds little unread).
  EventsClient(int port, const std::string& host, const std::string& cookie, int receive_buffer = 0) : ws_(ioc_) {
    if (receive_buffer > 0) {
      ws_.next_layer().open(tcp::v4());
      ::setsockopt(ws_.next_layer().native_handle(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    ws_.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    timeval tv{10, 0};
    ::setsockopt(ws_.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ws_.set_option(websocket::stream_base::decorator(
        [cookie](websocket::request_type& req) { req.set(http::field::cookie, cookie); }));
    ws_.handshake(host, "/_mumba/events");
  }
  std::string Read(beast::error_code* ec = nullptr) {
    beast::flat_buffer buffer;
    beast::error_code ignored;
    ws_.read(buffer, ec ? *ec : ignored);
    return beast::buffers_to_string(buffer.data());
  }
  void Close() { ws_.close(websocket::close_code::normal); }

 private:
  net::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
};

// Waits until `gateway` counts `n` listeners of `app_id`: a page's socket joins the
// listeners once the handshake is over, an instant after the page sees it end.
bool WaitForListeners(const Gateway& gateway, const std::string& app_id, int n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (gateway.Listeners(app_id) != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST_F(GatewayTest, EventsReachTheAppsOwnPagesOnly) {
  EventsClient hello(port(), HostOf("hello"), CookieOf(kHelloSecret));
  EventsClient other(port(), HostOf("other"), CookieOf(kOtherSecret));
  ASSERT_TRUE(WaitForListeners(*gateway_, kHelloId, 1));
  ASSERT_TRUE(WaitForListeners(*gateway_, kOtherId, 1));

  ASSERT_TRUE(gateway_->Emit(kOtherId, "for-other", "1").ok());
  ASSERT_TRUE(gateway_->Emit(kHelloId, "tick", R"({"n":1})").ok());
  ASSERT_TRUE(gateway_->Emit(kHelloId, "tock", "[2]").ok());
  // Had other's event reached hello, it would be the first frame hello reads.
  EXPECT_EQ(hello.Read(), R"({"event":"tick","data":{"n":1}})");
  EXPECT_EQ(hello.Read(), R"({"event":"tock","data":[2]})");
  EXPECT_EQ(other.Read(), R"({"event":"for-other","data":1})");

  hello.Close();
  EXPECT_TRUE(WaitForListeners(*gateway_, kHelloId, 0));
  EXPECT_EQ(gateway_->Listeners(kOtherId), 1);
}

TEST_F(GatewayTest, EventsIsAWebSocket) {
  Response res = Get("/_mumba/events");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(ErrorOf(res), (nlohmann::json{{"error", "/_mumba/events is a WebSocket"}, {"code", "INVALID_ARGUMENT"}}));
}

TEST_F(GatewayTest, StopForgetsEveryListenerAndTheGatewayClosesTheirSockets) {
  EventsClient hello(port(), HostOf("hello"), CookieOf(kHelloSecret));
  ASSERT_TRUE(WaitForListeners(*gateway_, kHelloId, 1));
  gateway_->Stop();
  EXPECT_EQ(gateway_->Listeners(kHelloId), 0);
  gateway_.reset();
  beast::error_code ec;
  hello.Read(&ec);
  EXPECT_TRUE(ec);
}

// ---- Limits: what a client that opens many connections, sends slowly or never
// reads can hold. ----

// Limits with short timeouts, so that tests of them take a moment.
GatewayLimits QuickLimits() {
  GatewayLimits limits;
  limits.header_timeout = std::chrono::milliseconds(500);
  limits.body_timeout = std::chrono::milliseconds(500);
  limits.idle_timeout = std::chrono::milliseconds(500);
  return limits;
}

// Seconds since `start`.
double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST_F(GatewayTest, ASlowlorisHeaderIsCutOffAtTheHeaderTimeout) {
  GatewayLimits limits;
  limits.header_timeout = std::chrono::milliseconds(500);
  Restart(limits);
  Client client(port());
  const auto start = std::chrono::steady_clock::now();
  // A header line every 100 ms never ends the header, and never leaves the
  // connection idle either.
  client.WriteRaw("GET /app.js HTTP/1.1\r\nHost: " + HostOf("hello") + "\r\n");
  for (int i = 0; i < 30 && !client.TryWrite("X-Slow-" + std::to_string(i) + ": 1\r\n"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(client.Cut());
  EXPECT_LT(SecondsSince(start), 3.5);
}

TEST_F(GatewayTest, AnIdleConnectionIsClosedAtTheIdleTimeout) {
  Restart(QuickLimits());
  Client kept(port());
  Response res = kept.Send(Request(http::verb::get, "/app.js"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(res.keep_alive());
  Client silent(port());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(kept.ClosedByPeer());
  EXPECT_TRUE(silent.Cut());
  EXPECT_LT(SecondsSince(start), 3);
  // A connection that keeps asking is served as long as it likes.
  Client busy(port());
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(busy.Send(Request(http::verb::get, "/app.js")).result(), http::status::ok);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
}

TEST_F(GatewayTest, ABodyReadWholeIsCutOffAtTheBodyTimeout) {
  Restart(QuickLimits());
  Client client(port());
  client.WriteRaw("POST /_mumba/call/a.B/C HTTP/1.1\r\nHost: " + HostOf("hello") + "\r\nCookie: " +
                  CookieOf(kHelloSecret) + "\r\nContent-Length: 100\r\n\r\n0123456789");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.Cut());
  EXPECT_LT(SecondsSince(start), 3);
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(GatewayTest, AStalledStreamedRouteIsCutOffAtTheIdleTimeout) {
  StartDaemon();
  Restart(QuickLimits());
  Client client(port());
  client.WriteRaw("POST /api/up HTTP/1.1\r\nHost: " + HostOf("hello") + "\r\nCookie: " + CookieOf(kHelloSecret) +
                  "\r\nContent-Length: 100\r\n\r\n0123456789");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.Cut());
  EXPECT_LT(SecondsSince(start), 3);
  // The daemon's call ended too.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (daemon_.bodies().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(daemon_.bodies().size(), 1u);
}

TEST_F(GatewayTest, ConnectionsOverTheCapAreRefusedWhileTheOthersWork) {
  GatewayLimits limits;
  limits.max_connections = 3;
  Restart(limits);
  std::vector<std::unique_ptr<Client>> open;
  for (int i = 0; i < 3; ++i) open.push_back(std::make_unique<Client>(port()));
  // The first three are accepted before the fourth: the gateway takes them in order.
  EXPECT_EQ(open[0]->Send(Request(http::verb::get, "/app.js")).result(), http::status::ok);
  Client extra(port());
  Response refused = extra.Send(Request(http::verb::get, "/app.js"));
  EXPECT_EQ(refused.result(), http::status::service_unavailable);
  EXPECT_EQ(ErrorOf(refused)["code"], "UNAVAILABLE");
  EXPECT_FALSE(refused.keep_alive());
  EXPECT_TRUE(extra.Cut());
  for (auto& c : open) EXPECT_EQ(c->Send(Request(http::verb::get, "/app.js")).body(), "export {}");
  // A connection that goes gives its place to the next.
  open.pop_back();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  http::status status = http::status::service_unavailable;
  while (status == http::status::service_unavailable && std::chrono::steady_clock::now() < deadline) {
    status = Fetch(Request(http::verb::get, "/app.js")).result();
  }
  EXPECT_EQ(status, http::status::ok);
}

TEST_F(GatewayTest, AnEventsSocketHoldsItsPlaceToo) {
  GatewayLimits limits;
  limits.max_connections = 1;
  Restart(limits);
  EventsClient page(port(), HostOf("hello"), CookieOf(kHelloSecret));
  ASSERT_TRUE(WaitForListeners(*gateway_, kHelloId, 1));
  EXPECT_EQ(Get("/app.js").result(), http::status::service_unavailable);
}

TEST_F(GatewayTest, ABodyOverTheDefaultLimitIsRefusedFromItsHeader) {
  // 16 MiB: within the old 64 MiB, which the gateway would have waited for.
  Client client(port());
  client.WriteRaw("POST /_mumba/call/a.B/C HTTP/1.1\r\nHost: " + HostOf("hello") + "\r\nCookie: " +
                  CookieOf(kHelloSecret) + "\r\nContent-Length: " + std::to_string(16u << 20) + "\r\n\r\n");
  EXPECT_EQ(client.Read().result(), http::status::payload_too_large);
  EXPECT_TRUE(client.ClosedByPeer());
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(GatewayTest, AChunkedBodyOverTheLimitIsRefusedAtTheLimit) {
  GatewayLimits limits;
  limits.max_body_bytes = 1024;
  Restart(limits);
  Client client(port());
  client.WriteRaw("POST /_mumba/call/a.B/C HTTP/1.1\r\nHost: " + HostOf("hello") + "\r\nCookie: " +
                  CookieOf(kHelloSecret) + "\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk(512, 'x');
  for (int i = 0; i < 3; ++i) (void)client.TryWrite("200\r\n" + chunk + "\r\n");
  EXPECT_EQ(client.Read().result(), http::status::payload_too_large);
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(GatewayTest, BodiesHeldAtOnceAreBoundedAcrossConnections) {
  GatewayLimits limits;
  limits.max_body_bytes = 1000;
  limits.max_buffered_bytes = 1500;
  Restart(limits);
  const std::string head = "POST /_mumba/call/a.B/C HTTP/1.1\r\nHost: " + HostOf("hello") + "\r\nCookie: " +
                           CookieOf(kHelloSecret) + "\r\nContent-Length: 1000\r\n\r\n";
  const std::string body = "[" + std::string(998, ' ') + "]";
  Client first(port());
  first.WriteRaw(head + body.substr(0, 500));
  // The gateway has taken room for the first body once it waits for the rest of it.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Client second(port());
  second.WriteRaw(head);
  Response busy = second.Read();
  EXPECT_EQ(busy.result(), http::status::service_unavailable);
  EXPECT_FALSE(busy.keep_alive());
  first.WriteRaw(body.substr(500));
  EXPECT_EQ(first.Read().result(), http::status::ok);
  // Answered: its room is free again, once the gateway has finished with the
  // first request (its reply may reach the client a moment before that). A
  // refusal in between reaches no backend.
  http::status third = http::status::service_unavailable;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       third == http::status::service_unavailable && std::chrono::steady_clock::now() < until;) {
    Client client(port());
    client.WriteRaw(head + body);
    third = client.Read().result();
    if (third == http::status::service_unavailable) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(third, http::status::ok);
  EXPECT_EQ(backend_.calls().size(), 2u);
}

TEST_F(GatewayTest, AnEventLargerThanTheLimitIsRefused) {
  EventsClient page(port(), HostOf("hello"), CookieOf(kHelloSecret));
  ASSERT_TRUE(WaitForListeners(*gateway_, kHelloId, 1));
  const std::string big = "\"" + std::string(kGatewayMaxEventBytes, 'x') + "\"";
  EXPECT_EQ(gateway_->Emit(kHelloId, "big", big).code(), Code::kResourceExhausted);
  ASSERT_TRUE(gateway_->Emit(kHelloId, "small", "1").ok());
  EXPECT_EQ(page.Read(), R"({"event":"small","data":1})");
}

TEST_F(GatewayTest, AFloodOfEventsToAPageThatDoesNotReadIsBoundedInBytes) {
  // A page that reads nothing while 64 MiB of events go to it: the gateway keeps
  // the newest of them up to its byte limit (4 MiB), not 1024 events' worth.
  EventsClient page(port(), HostOf("hello"), CookieOf(kHelloSecret), 64 * 1024);
  ASSERT_TRUE(WaitForListeners(*gateway_, kHelloId, 1));
  const std::string data = "\"" + std::string(256 * 1024, 'x') + "\"";
  for (int i = 0; i < 256; ++i) ASSERT_TRUE(gateway_->Emit(kHelloId, "flood", data).ok());
  ASSERT_TRUE(gateway_->Emit(kHelloId, "end", "0").ok());
  size_t received = 0;
  for (;;) {
    beast::error_code ec;
    std::string frame = page.Read(&ec);
    ASSERT_FALSE(ec) << ec.message();
    if (frame == R"({"event":"end","data":0})") break;
    received += frame.size();
  }
  // What the kernel's buffers held besides is a few MiB at most.
  EXPECT_LT(received, size_t{16} << 20);
}

TEST(GatewayStartTest, NeedsABackendAndAFreePort) {
  auto none = Gateway::Start(GatewayOptions{0, 1, nullptr});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kInvalidArgument);

  FakeBackend backend;
  auto first = Gateway::Start(GatewayOptions{0, 1, &backend});
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = Gateway::Start(GatewayOptions{(*first)->port(), 1, &backend});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace mumba
