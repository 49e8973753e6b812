// The hello daemon: serves hello.v1.Greeter and the route /greet.
#include <grpcpp/grpcpp.h>
#include <mumba/app.h>

#include "hello/v1/hello.grpc.pb.h"

namespace {

std::string Greeting(const std::string& name) {
  return "Hello, " + (name.empty() ? std::string("world") : name) + "!";
}

class Greeter final : public hello::v1::Greeter::Service {
  grpc::Status SayHello(grpc::ServerContext*, const hello::v1::HelloRequest* request,
                        hello::v1::HelloReply* reply) override {
    reply->set_message(Greeting(request->name()));
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);
  Greeter greeter;
  app.AddService(&greeter);
  app.Route("GET", "/greet", [](const mumba::RouteRequest& request) {
    return mumba::RouteResponse::Text(Greeting(request.Param("name")));
  });
  return app.Run();
}
