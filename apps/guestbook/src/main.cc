// The guestbook daemon: an app that uses another app. Each visitor who signs is
// greeted by hello (any installed app that implements hello.v1.Greeter and that the
// owner let the guestbook call), through a connection the host hands out: the call
// goes straight from this daemon to hello's, and hello sees the guestbook as the
// caller. Entries live in the guestbook's own SQL store; every new one is sent to
// its pages as the "signed" event. The route /hello shows App::Fetch: it reads
// hello's /greet route under the same grant.
#include <algorithm>
#include <chrono>
#include <mutex>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <mumba/app.h>

#include "guestbook/v1/guestbook.grpc.pb.h"
#include "hello/v1/hello.grpc.pb.h"

namespace {

namespace gv1 = guestbook::v1;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// hello's Greeter, reached through the host's broker. A brokered channel does not
// reconnect, so one that broke (hello restarted) is asked for again, once.
class Greeter {
 public:
  explicit Greeter(mumba::App& app) : app_(app) {}

  grpc::Status SayHello(const std::string& name, hello::v1::HelloReply* reply) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto stub = Stub(attempt > 0);
      if (!stub.ok()) return mumba::ToGrpcStatus(stub.status());
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      hello::v1::HelloRequest req;
      req.set_name(name);
      grpc::Status st = (*stub)->SayHello(&ctx, req, reply);
      if (st.error_code() != grpc::StatusCode::UNAVAILABLE) return st;
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "hello is not reachable");
  }

 private:
  mumba::Expected<std::shared_ptr<hello::v1::Greeter::Stub>> Stub(bool fresh) {
    std::lock_guard lock(mu_);
    if (!stub_ || fresh) {
      // Any app that implements the interface and that this app may call; the host
      // checks the grant. Without one: PERMISSION_DENIED, and hello sees nothing.
      auto channel = app_.Connect("hello.v1.Greeter");
      if (!channel.ok()) return channel.status();
      stub_ = hello::v1::Greeter::NewStub(*channel);
    }
    return stub_;
  }

  mumba::App& app_;
  std::mutex mu_;
  std::shared_ptr<hello::v1::Greeter::Stub> stub_;
};

class Guestbook final : public gv1::Guestbook::Service {
 public:
  Guestbook(mumba::App& app, Greeter& greeter) : app_(app), greeter_(greeter), db_(app.Sql()) {}

  grpc::Status Sign(grpc::ServerContext*, const gv1::SignRequest* req, gv1::Entry* entry) override {
    if (req->name().empty() || req->name().size() > 100) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a name is 1 to 100 characters");
    }
    hello::v1::HelloReply reply;
    if (grpc::Status st = greeter_.SayHello(req->name(), &reply); !st.ok()) return st;
    entry->set_name(req->name());
    entry->set_greeting(reply.message());
    entry->set_seen_as(reply.caller());
    entry->set_at_ms(NowMs());
    auto saved = db_.Execute("INSERT INTO entries (name, greeting, seen_as, at_ms) VALUES (?, ?, ?, ?)",
                             {entry->name(), entry->greeting(), entry->seen_as(), entry->at_ms()});
    if (!saved.ok()) return mumba::ToGrpcStatus(saved.status());
    entry->set_id(saved->last_insert_rowid);
    std::string json;
    if (google::protobuf::util::MessageToJsonString(*entry, &json).ok()) (void)app_.Emit("signed", json);
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext*, const gv1::ListRequest* req, gv1::ListReply* reply) override {
    int64_t limit = req->limit() > 0 ? std::min(req->limit(), 1000) : 50;
    auto rows = db_.Execute("SELECT id, name, greeting, seen_as, at_ms FROM entries ORDER BY id DESC LIMIT ?",
                            {limit});
    if (!rows.ok()) return mumba::ToGrpcStatus(rows.status());
    for (const auto& row : rows->rows) {
      auto* e = reply->add_entries();
      e->set_id(std::get<int64_t>(row[0]));
      e->set_name(std::get<std::string>(row[1]));
      e->set_greeting(std::get<std::string>(row[2]));
      e->set_seen_as(std::get<std::string>(row[3]));
      e->set_at_ms(std::get<int64_t>(row[4]));
    }
    return grpc::Status::OK;
  }

 private:
  mumba::App& app_;
  Greeter& greeter_;
  mumba::Sql db_;
};

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);
  Greeter greeter(app);
  Guestbook book(app, greeter);
  app.AddService(&book);
  // hello's own route, fetched under the same grant: hello://greet?name=...
  app.Route("GET", "/hello", [&app](const mumba::RouteRequest& request) {
    auto reply = app.Fetch("hello://greet?" + request.query);
    if (!reply.ok()) return mumba::RouteResponse::Text(reply.status().message() + "\n", 502);
    return *reply;
  });
  return app.Run();
}
