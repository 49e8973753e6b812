// The hello daemon: serves hello.v1.Greeter and the route /greet (to its pages, the
// owner and other apps granted to call it: apps/guestbook does), tells its pages
// about every greeting (the "greeted" event, shown by ui/index.html), and changes
// its own windows' DOM from native code when a page asks (window.mumba.notify).
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <mumba/app.h>

#include "hello/v1/hello.grpc.pb.h"

namespace {

std::string Greeting(const std::string& name) {
  return "Hello, " + (name.empty() ? std::string("world") : name) + "!";
}

class Greeter final : public hello::v1::Greeter::Service {
 public:
  explicit Greeter(mumba::App* app) : app_(app) {}

  grpc::Status SayHello(grpc::ServerContext* context, const hello::v1::HelloRequest* request,
                        hello::v1::HelloReply* reply) override {
    reply->set_message(Greeting(request->name()));
    // Another app's call carries its name, as the host vouched for it.
    reply->set_caller(mumba::CallerOf(*context).name);
    // Pages listening with mumba.on("greeted", ...) see it; with none, or when
    // started by hand, nobody does, and that is fine.
    std::string json;
    if (google::protobuf::util::MessageToJsonString(*reply, &json).ok()) (void)app_->Emit("greeted", json);
    return grpc::Status::OK;
  }

  grpc::Status Ping(grpc::ServerContext*, const hello::v1::PingRequest*, hello::v1::PingReply* reply) override {
    reply->set_ok(true);
    return grpc::Status::OK;
  }

 private:
  mumba::App* app_;
};

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);
  Greeter greeter(&app);
  app.AddService(&greeter);
  app.Route("GET", "/greet", [](const mumba::RouteRequest& request) {
    auto reply = mumba::RouteResponse::Text(Greeting(request.Param("name")));
    // Another app's App::Fetch: say who asked, as the host vouched for it.
    if (!request.caller.empty()) reply.headers.emplace_back("x-mumba-caller", request.caller);
    return reply;
  });
  // A page in a window the host opened (`mumba launch hello`) calls
  // window.mumba.notify({want: "native"}); the daemon answers by writing into
  // that window's DOM through the host's automation API.
  auto pages = app.OnPageEvent([&app](const mumba::PageEvent& e) {
    if (e.kind != mumba::PageEvent::Kind::kNotify || e.json.find("\"native\"") == std::string::npos) return;
    auto windows = app.Windows();
    if (!windows.ok()) return;
    for (const auto& w : *windows) {
      if (w.id() == e.window) (void)w.Query("#native").SetText("Written by the hello daemon, in C++.");
    }
  });
  return app.Run();
}
