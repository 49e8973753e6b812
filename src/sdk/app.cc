// SPDX-License-Identifier: Apache-2.0
#include "mumba/app.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/grpc_status.h"
#include "mumba/app/v1/routes.grpc.pb.h"
#include "app_impl.h"

namespace mumba {
namespace {

std::string UrlDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < in.size() + 0 && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

bool PathMatches(const std::string& pattern, const std::string& path) {
  if (pattern.size() >= 2 && pattern.ends_with("/*")) {
    std::string_view prefix(pattern.data(), pattern.size() - 1);
    return path.starts_with(prefix) || path == pattern.substr(0, pattern.size() - 2);
  }
  return pattern == path;
}


namespace av1 = mumba::app::v1;

constexpr size_t kChunkBytes = 64 * 1024;
// A whole reply up to this size travels in one message.
constexpr size_t kWholeReplyBytes = 1024 * 1024;

RouteRequest HeadOf(const av1::RouteRequest& req) {
  RouteRequest r;
  r.method = req.method();
  r.path = req.path();
  r.query = req.query();
  for (const auto& h : req.headers()) r.headers.emplace_back(h.name(), h.value());
  return r;
}

void FillHead(int status, const std::vector<std::pair<std::string, std::string>>& headers, av1::RouteResponse* out) {
  out->set_status(status);
  for (const auto& [k, v] : headers) {
    auto* h = out->add_headers();
    h->set_name(k);
    h->set_value(v);
  }
}

// The body of a unary request, handed to a streaming handler as one chunk.
class WholeBody final : public RouteBodyReader {
 public:
  explicit WholeBody(std::string body) : body_(std::move(body)) {}
  bool Read(std::string* chunk) override {
    if (done_ || body_.empty()) return false;
    done_ = true;
    *chunk = std::move(body_);
    return true;
  }

 private:
  std::string body_;
  bool done_ = false;
};

// A streaming handler's reply, gathered for a unary caller.
class GatheredReply final : public RouteResponseWriter {
 public:
  explicit GatheredReply(av1::RouteResponse* out) : out_(out) {}
  bool WriteHead(int status, const std::vector<std::pair<std::string, std::string>>& headers) override {
    if (head_) return false;
    head_ = true;
    FillHead(status, headers, out_);
    return true;
  }
  bool Write(std::string_view chunk) override {
    if (!head_) WriteHead(200, {});
    out_->mutable_body()->append(chunk);
    return true;
  }

 private:
  av1::RouteResponse* out_;
  bool head_ = false;
};

using RouteStream = grpc::ServerReaderWriter<av1::RouteStreamResponse, av1::RouteStreamRequest>;

class StreamBody final : public RouteBodyReader {
 public:
  StreamBody(grpc::ServerContext* ctx, RouteStream* stream) : ctx_(ctx), stream_(stream) {}
  bool Read(std::string* chunk) override {
    av1::RouteStreamRequest msg;
    while (!done_ && stream_->Read(&msg)) {
      if (msg.part_case() == av1::RouteStreamRequest::kData) {
        *chunk = std::move(*msg.mutable_data());
        return true;
      }
    }
    // The caller half-closes after the last chunk; a caller that went away
    // (a page closed mid-upload) cancels the call instead.
    if (!done_) gone_ = ctx_->IsCancelled();
    done_ = true;
    return false;
  }
  Status status() const override {
    if (gone_) return Status(Code::kCancelled, "the caller went away before the whole body arrived");
    return Status();
  }
  // Reads what the handler left unread, so that the caller may finish sending.
  std::string Rest() {
    std::string all, chunk;
    while (Read(&chunk)) all += chunk;
    return all;
  }

 private:
  grpc::ServerContext* ctx_;
  RouteStream* stream_;
  bool done_ = false;
  bool gone_ = false;
};

class StreamReply final : public RouteResponseWriter {
 public:
  explicit StreamReply(RouteStream* stream) : stream_(stream) {}
  bool WriteHead(int status, const std::vector<std::pair<std::string, std::string>>& headers) override {
    if (head_) return false;
    head_ = true;
    av1::RouteStreamResponse msg;
    FillHead(status, headers, msg.mutable_head());
    return ok_ = ok_ && stream_->Write(msg);
  }
  bool Write(std::string_view chunk) override {
    if (!head_) WriteHead(200, {});
    for (size_t at = 0; ok_ && at < chunk.size(); at += kChunkBytes) {
      av1::RouteStreamResponse msg;
      msg.set_data(std::string(chunk.substr(at, kChunkBytes)));
      ok_ = stream_->Write(msg);
    }
    return ok_;
  }
  bool head() const { return head_; }
  // The body after a head sent by the caller.
  void WriteBody(std::string_view body) {
    head_ = true;
    Write(body);
  }

 private:
  RouteStream* stream_;
  bool head_ = false;
  bool ok_ = true;
};

class RoutesService final : public av1::Routes::Service {
 public:
  explicit RoutesService(const std::vector<RouteEntry>* routes) : routes_(routes) {}

  grpc::Status Handle(grpc::ServerContext* ctx, const av1::RouteRequest* req, av1::RouteResponse* resp) override {
    RouteRequest r = HeadOf(*req);
    r.caller = CallerOf(*ctx).id;
    const RouteEntry* route = Find(r);
    if (!route) {
      FillHead(404, {}, resp);
      resp->set_body("no route for " + r.method + " " + r.path + "\n");
      return grpc::Status::OK;
    }
    if (route->stream_handler) {
      WholeBody body(req->body());
      GatheredReply reply(resp);
      RunStream(*route, r, body, reply);
      if (resp->status() == 0) resp->set_status(200);
      return grpc::Status::OK;
    }
    r.body = req->body();
    RouteResponse out = RunWhole(*route, r);
    FillHead(out.status, out.headers, resp);
    resp->set_body(std::move(out.body));
    return grpc::Status::OK;
  }

  grpc::Status Stream(grpc::ServerContext* ctx, RouteStream* stream) override {
    av1::RouteStreamRequest first;
    if (!stream->Read(&first) || first.part_case() != av1::RouteStreamRequest::kHead) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a route stream starts with its head");
    }
    RouteRequest r = HeadOf(first.head());
    r.caller = CallerOf(*ctx).id;
    StreamBody body(ctx, stream);
    StreamReply reply(stream);
    const RouteEntry* route = Find(r);
    if (!route) {
      (void)body.Rest();
      reply.WriteHead(404, {{"content-type", "text/plain; charset=utf-8"}});
      reply.Write("no route for " + r.method + " " + r.path + "\n");
      return grpc::Status::OK;
    }
    if (route->stream_handler) {
      RunStream(*route, r, body, reply);
      if (!reply.head()) reply.WriteHead(200, {});
      return grpc::Status::OK;
    }
    r.body = body.Rest();
    RouteResponse out = RunWhole(*route, r);
    // Known whole: one message, sent with the call's end.
    av1::RouteStreamResponse msg;
    FillHead(out.status, out.headers, msg.mutable_head());
    if (out.body.size() <= kWholeReplyBytes) {
      msg.mutable_head()->set_body(std::move(out.body));
      stream->WriteLast(msg, grpc::WriteOptions());
      return grpc::Status::OK;
    }
    if (stream->Write(msg)) reply.WriteBody(out.body);
    return grpc::Status::OK;
  }

 private:
  const RouteEntry* Find(const RouteRequest& r) const {
    for (const auto& route : *routes_) {
      if ((route.method == "*" || route.method == r.method) && PathMatches(route.path, r.path)) return &route;
    }
    return nullptr;
  }

  static RouteResponse RunWhole(const RouteEntry& route, const RouteRequest& r) {
    try {
      return route.handler(r);
    } catch (const std::exception& e) {
      return RouteResponse::Text(std::string("handler failed: ") + e.what() + "\n", 500);
    }
  }

  static void RunStream(const RouteEntry& route, const RouteRequest& r, RouteBodyReader& body,
                        RouteResponseWriter& reply) {
    try {
      route.stream_handler(r, body, reply);
    } catch (const std::exception& e) {
      // Only a reply not begun can still say so.
      if (reply.WriteHead(500, {{"content-type", "text/plain; charset=utf-8"}})) {
        reply.Write(std::string("handler failed: ") + e.what() + "\n");
      }
    }
  }

  const std::vector<RouteEntry>* routes_;
};

std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::move(fallback);
}

}  // namespace

std::string RouteRequest::Param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    auto eq = pair.find('=');
    if (UrlDecode(pair.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? "" : UrlDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return "";
}

std::string RouteRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() &&
        std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return "";
}

grpc::Status ToGrpcStatus(const Status& status) { return ToGrpc(status); }

RouteResponse RouteResponse::Text(std::string body, int status) {
  return {status, {{"content-type", "text/plain; charset=utf-8"}}, std::move(body)};
}

RouteResponse RouteResponse::Json(std::string json, int status) {
  return {status, {{"content-type", "application/json"}}, std::move(json)};
}

App::App(int argc, char** argv) : impl_(std::make_unique<Impl>()) {
  sigemptyset(&impl_->signals);
  sigaddset(&impl_->signals, SIGTERM);
  sigaddset(&impl_->signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &impl_->signals, nullptr);

  std::string program = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "app";
  std::string socket_arg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--socket" && i + 1 < argc) {
      socket_arg = argv[++i];
    } else if (a.starts_with("--socket=")) {
      socket_arg = a.substr(9);
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: %s [--socket PATH]\n"
                  "A Mumba app daemon. Under mumba-host it serves on $MUMBA_APP_SOCKET;\n"
                  "by hand on --socket PATH (default /tmp/%s-%d.sock).\n",
                  program.c_str(), program.c_str(), static_cast<int>(::getuid()));
      std::exit(0);
    }
  }
  impl_->id = EnvOr("MUMBA_APP_ID", "");
  impl_->name = EnvOr("MUMBA_APP_NAME", program);
  impl_->host_socket = EnvOr("MUMBA_HOST_SOCKET", "");
  impl_->broker_socket = EnvOr("MUMBA_BROKER_SOCKET", "");
  impl_->data_dir = EnvOr("MUMBA_APP_DATA", (std::filesystem::current_path() / "data").string());
  if (!socket_arg.empty()) {
    impl_->socket = socket_arg;
  } else {
    impl_->socket = EnvOr("MUMBA_APP_SOCKET",
                          "/tmp/" + program + "-" + std::to_string(::getuid()) + ".sock");
  }
}

App::~App() = default;

void App::AddService(grpc::Service* service) { impl_->services.push_back(service); }

void App::Route(std::string method, std::string path, RouteHandler handler) {
  impl_->routes.push_back({std::move(method), std::move(path), std::move(handler), nullptr});
}

void App::StreamRoute(std::string method, std::string path, StreamRouteHandler handler) {
  impl_->routes.push_back({std::move(method), std::move(path), nullptr, std::move(handler)});
}

int App::Run() {
  RoutesService routes(&impl_->routes);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::error_code ec;
  std::filesystem::remove(impl_->socket, ec);
  builder.AddListeningPort("unix:" + impl_->socket.string(), grpc::InsecureServerCredentials());
  // The host forwards route requests and calls of up to 32 MiB; take them all.
  builder.SetMaxReceiveMessageSize(32 << 20);
  builder.SetMaxSendMessageSize(32 << 20);
  builder.RegisterService(&routes);
  for (auto* s : impl_->services) builder.RegisterService(s);
  // Other apps' connections are taken before the socket appears: the host counts
  // a daemon ready when it does, and then hands it connections at once.
  if (!impl_->broker_socket.empty()) {
    impl_->serving = std::make_unique<sdk_internal::BrokeredServing>(impl_->services, &routes);
    auto broker = impl_->Broker();
    Status listening = broker.ok() ? (*broker)->Listen([this](sdk_internal::BrokeredConnection c) {
      impl_->serving->Accept(std::move(c));
    })
                                   : broker.status();
    if (!listening.ok()) {
      std::fprintf(stderr, "%s: other apps cannot connect: %s\n", impl_->name.c_str(), listening.message().c_str());
    }
  }
  impl_->server = builder.BuildAndStart();
  if (!impl_->server) {
    std::fprintf(stderr, "%s: cannot serve on unix:%s\n", impl_->name.c_str(), impl_->socket.c_str());
    return 1;
  }
  if (impl_->id.empty()) {
    std::fprintf(stderr, "%s: serving on unix:%s\n", impl_->name.c_str(), impl_->socket.c_str());
  }
  // The only way to stop is a signal (Shutdown() sends one), so the waiter
  // always ends the server and can always be joined.
  std::thread waiter([this] {
    int sig = 0;
    sigwait(&impl_->signals, &sig);
    impl_->shutdown = true;
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  });
  impl_->server->Wait();
  waiter.join();
  if (impl_->serving) impl_->serving->Shutdown();
  std::filesystem::remove(impl_->socket, ec);
  return 0;
}

void App::Shutdown() {
  if (!impl_->shutdown.exchange(true)) ::kill(::getpid(), SIGTERM);
}

const std::string& App::id() const { return impl_->id; }
const std::string& App::name() const { return impl_->name; }
const std::filesystem::path& App::data_dir() const { return impl_->data_dir; }
const std::filesystem::path& App::socket() const { return impl_->socket; }

mumba::Kv App::Kv(std::string db, std::string app) {
  return mumba::Kv(impl_->Host(), std::move(db), std::move(app));
}

mumba::Sql App::Sql(std::string db, std::string app) {
  return mumba::Sql(impl_->Host(), std::move(db), std::move(app));
}

mumba::Files App::Files(std::string app) { return mumba::Files(impl_->Host(), std::move(app)); }

Expected<std::vector<mumba::Window>> App::Windows() {
  const auto& host = impl_->Host();
  mumba::ui::v1::ListWindowsResponse resp;
  MUMBA_TRY(host->Call(host->automation, &mumba::ui::v1::Automation::Stub::ListWindows,
                       mumba::ui::v1::ListWindowsRequest(), &resp));
  std::vector<mumba::Window> out;
  for (const auto& w : resp.windows()) out.push_back(mumba::Window(host, w.id(), w.url(), w.title()));
  return out;
}

Expected<mumba::Window> App::OpenWindow(std::string_view path) {
  const auto& host = impl_->Host();
  mumba::ui::v1::OpenWindowRequest req;
  req.set_path(std::string(path));
  mumba::ui::v1::Window resp;
  MUMBA_TRY(host->Call(host->automation, &mumba::ui::v1::Automation::Stub::OpenWindow, req, &resp));
  return mumba::Window(host, resp.id(), resp.url(), resp.title());
}

Expected<std::unique_ptr<mumba::EventSubscription>> App::OnPageEvent(
    std::function<void(const mumba::PageEvent&)> fn) {
  return sdk_internal::UiAccess::Subscribe(impl_->Host(), "", std::move(fn));
}

Expected<int> App::Emit(std::string_view name, std::string_view json) {
  const auto& host = impl_->Host();
  mumba::ui::v1::EmitRequest req;
  req.set_event(std::string(name));
  req.set_json(std::string(json));
  mumba::ui::v1::EmitResponse resp;
  MUMBA_TRY(host->Call(host->events, &mumba::ui::v1::Events::Stub::Emit, req, &resp));
  return resp.listeners();
}

}  // namespace mumba
