// SPDX-License-Identifier: Apache-2.0
// Fuzzes the gateway's request handling (src/gateway): the input is the raw bytes a
// client sends on one connection to 127.0.0.1, which anything on the machine may
// do. They go through the path HttpSession takes, without a socket: Beast's request
// parser with the session's header limit, RequestDispatcher::Admit on the header,
// then the whole request (body limit as the session's) to RequestDispatcher::Handle,
// for every request pipelined on the connection. A fake backend serves three apps:
// "hello" (a manifest with routes, ui/ files and a secret), "home" (its secret
// guards its UI) and "plain" (a route prefix). Route replies are the request body
// read as a RouteResponse, so what a hostile daemon answers is fuzzed too.
// Responses are written to a socket that was never opened: the write fails at once
// and the session closes, as when a client goes away.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>

#include "bundle/manifest.h"
#include "fuzz_check.h"
#include "gateway/events_session.h"
#include "gateway/gateway.h"
#include "gateway/gateway_budget.h"
#include "gateway/http_session.h"
#include "gateway/request_dispatcher.h"

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace http = boost::beast::http;
using mumba::gateway_internal::EventListeners;
using mumba::gateway_internal::HttpSession;
using mumba::gateway_internal::RequestDispatcher;

namespace {

constexpr int kPort = 8080;
// HttpSession's limits: its header limit (src/gateway/http_session.cc) and the
// gateway's default body limit.
constexpr size_t kHeaderLimit = 64 * 1024;
constexpr size_t kMaxBodyBytes = mumba::kGatewayMaxBodyBytes;
constexpr int kMaxRequestsPerInput = 16;

constexpr char kHelloId[] = "mumba://hellohellohellohellohellohellohellohellohello";

// A ui/ folder with an entry page, a subfolder with its index, and a symlink out.
fs::path MakeUiDir() {
  std::string tmpl = (fs::temp_directory_path() / "mumba-fuzz-gateway-XXXXXX").string();
  FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
  fs::path ui = fs::path(tmpl) / "ui";
  fs::create_directories(ui / "sub");
  std::ofstream(ui / "index.html") << "<!doctype html><p>hello</p>";
  std::ofstream(ui / "app.js") << "console.log(1);";
  std::ofstream(ui / "sub" / "index.html") << "sub";
  std::error_code ec;
  fs::create_symlink("/etc", ui / "link", ec);
  return ui;
}

std::shared_ptr<const mumba::Manifest> HelloManifest() {
  auto m = std::make_shared<mumba::Manifest>();
  m->id = kHelloId;
  m->name = "hello";
  m->version = "0.1.0";
  m->daemon_command = "bin/hello";
  m->ui_entry = "index.html";
  m->routes.push_back({"/greet", {"GET"}});
  m->routes.push_back({"/api/*", {}});
  m->routes.push_back({"/upload", {"POST", "PUT"}});
  return m;
}

class FakeBackend final : public mumba::GatewayBackend {
 public:
  FakeBackend() : ui_dir_(MakeUiDir()), manifest_(HelloManifest()) {}

  mumba::Expected<mumba::GatewayApp> FindApp(const std::string& label) override {
    mumba::GatewayApp app;
    app.ui_dir = ui_dir_;
    app.secret = "s3cret";
    if (label == "hello") {
      app.id = kHelloId;
      app.name = "hello";
      app.ui_entry = "index.html";
      app.manifest = manifest_;
    } else if (label == "home") {
      app.id = "home";
      app.name = "home";
      app.secret_guards_ui = true;
    } else if (label == "plain") {
      app.id = "plain";
      app.name = "plain";
      app.route_prefix = "/api/";
    } else {
      return mumba::NotFound("no app " + label);
    }
    return app;
  }

  void Route(const std::string& app_id, mumba::app::v1::RouteRequest request,
             std::function<void(mumba::Expected<mumba::app::v1::RouteResponse>)> done) override {
    mumba::app::v1::RouteResponse reply;
    if (request.body().empty() || !reply.ParseFromString(request.body())) {
      reply.Clear();
      reply.set_status(200);
      reply.set_body("ok");
    }
    done(std::move(reply));
  }

  void DaemonChannel(const std::string& app_id,
                     std::function<void(mumba::Expected<std::shared_ptr<grpc::Channel>>)> done) override {
    done(mumba::Unavailable("no daemon in the fuzzer"));
  }

  void Call(const std::string& app_id, const std::string& method, std::string json,
            std::function<void(mumba::Expected<std::string>)> done) override {
    if (method.find('/') == std::string::npos) return done(mumba::InvalidArgument("no method " + method));
    done(std::move(json));
  }

 private:
  fs::path ui_dir_;
  std::shared_ptr<const mumba::Manifest> manifest_;
};

struct World {
  net::io_context io;
  FakeBackend backend;
  EventListeners listeners;
  mumba::GatewayLimits limits;
  mumba::gateway_internal::GatewayBudget budget{limits};
  RequestDispatcher dispatcher{&backend, kPort, &listeners, &budget};
};

World& TheWorld() {
  static World* world = new World();
  return *world;
}

// Feeds `parser` from data[*offset, size) until it has what it waits for (the header,
// or the whole message). False when the bytes end first or do not parse.
template <typename Parser>
bool Feed(Parser& parser, const uint8_t* data, size_t size, size_t* offset, bool header_only) {
  boost::beast::error_code ec;
  while (header_only ? !parser.is_header_done() : !parser.is_done()) {
    if (*offset >= size) return false;
    const size_t used = parser.put(net::buffer(data + *offset, size - *offset), ec);
    *offset += used;
    // Every byte left was offered: needing more means the input ends mid-request.
    if (ec || used == 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = TheWorld();
  size_t offset = 0;
  for (int n = 0; n < kMaxRequestsPerInput && offset < size; ++n) {
    http::request_parser<http::empty_body> header;
    header.header_limit(kHeaderLimit);
    header.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (!Feed(header, data, size, &offset, /*header_only=*/true)) break;

    auto admission = w.dispatcher.Admit(header.get());
    if (!admission.refusal.ok()) {
      FUZZ_CHECK(admission.refusal.code() != mumba::Code::kOk);
      if (!header.get().keep_alive() || !header.is_done()) break;
      continue;
    }
    if (admission.route) {
      // A streamed route: the admitted request must be one the app declared.
      FUZZ_CHECK(admission.route->first == kHelloId);
      FUZZ_CHECK(admission.route->second.path().starts_with("/"));
      break;
    }
    if (auto length = header.content_length(); length && *length > kMaxBodyBytes) break;
    http::request_parser<http::string_body> whole(std::move(header));
    whole.body_limit(kMaxBodyBytes);
    if (!Feed(whole, data, size, &offset, /*header_only=*/false)) break;
    const bool keep_alive = whole.get().keep_alive();
    auto session = std::make_shared<HttpSession>(net::ip::tcp::socket(w.io), &w.dispatcher, &w.budget,
                                                 w.budget.TakeConnection());
    w.dispatcher.Handle(session, whole.release());
    session.reset();
    w.io.restart();
    w.io.poll();
    if (!keep_alive) break;
  }
  w.io.restart();
  w.io.poll();
  return 0;
}
