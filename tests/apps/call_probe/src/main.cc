// SPDX-License-Identifier: Apache-2.0
// call-probe: a test app that calls other apps through the broker with raw bytes,
// so that tests/integration/test_broker.py can check every refusal and
// bench/broker can time brokered calls. Its routes (GET, answers JSON):
//   /call?target=T&method=/pkg.Svc/Method[&name=N]  Connect(T), one call
//   /open?target=T                                  Connect(T), kept for /use
//   /use?target=T&method=M[&name=N]                  one call on the kept channel
//   /fetch?url=U                                    App::Fetch(U)
//   /hoard?target=T&n=N                             N connections kept open at once
//   /bench?target=T&method=M&n=N&clients=C&connects=K[&direct=PATH]
//       K Connect() times, then N calls on C threads over one brokered channel,
//       and the same over a channel to the unix socket PATH when given.
// A request is HelloRequest{name: N} as bytes (any message whose field 1 is a
// string reads them); replies are returned with non-printable bytes as '.'.
#include <mumba/app.h>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using mumba::RouteRequest;
using mumba::RouteResponse;
using Clock = std::chrono::steady_clock;

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '.';
    out += c;
  }
  return out + "\"";
}

grpc::ByteBuffer Request(const std::string& name) {
  std::string bytes;
  if (!name.empty()) bytes = std::string("\x0a") + static_cast<char>(name.size()) + name;
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (buffer.Dump(&slices).ok()) {
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// One unary call with raw bytes; the JSON the routes answer.
std::string CallOn(const std::shared_ptr<grpc::Channel>& channel, const std::string& method, const std::string& name) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer reply;
  grpc::Status status;
  auto rpc = stub.PrepareUnaryCall(&ctx, method, Request(name), &cq);
  rpc->StartCall();
  rpc->Finish(&reply, &status, &cq);
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return "{\"code\":" + std::to_string(status.error_code()) + ",\"message\":" + JsonString(status.error_message()) +
         ",\"reply\":" + JsonString(status.ok() ? Bytes(reply) : "") + "}";
}

std::string ConnectError(const mumba::Status& st) {
  return "{\"code\":" + std::to_string(static_cast<int>(st.code())) + ",\"message\":" + JsonString(st.message()) +
         ",\"connect\":false}";
}

// Calls per second over `channel` with `clients` threads making `n` calls in all.
double Rate(const std::shared_ptr<grpc::Channel>& channel, const std::string& method, int n, int clients,
            std::string* error) {
  std::atomic<int> left{n};
  std::atomic<int> failed{0};
  std::mutex error_mu;
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      grpc::GenericStub stub(channel);
      grpc::CompletionQueue cq;
      grpc::ByteBuffer request = Request("bench");
      while (left.fetch_sub(1) > 0) {
        grpc::ClientContext ctx;
        grpc::ByteBuffer reply;
        grpc::Status status;
        auto rpc = stub.PrepareUnaryCall(&ctx, method, request, &cq);
        rpc->StartCall();
        rpc->Finish(&reply, &status, &cq);
        void* tag;
        bool ok;
        cq.Next(&tag, &ok);
        if (!status.ok()) {
          ++failed;
          std::lock_guard lock(error_mu);
          *error = status.error_message();
        }
      }
      cq.Shutdown();
      void* tag;
      bool ok;
      while (cq.Next(&tag, &ok)) {
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return failed > 0 ? -1 : n / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);
  std::mutex kept_mu;
  std::map<std::string, std::shared_ptr<grpc::Channel>> kept;

  app.Route("GET", "/call", [&](const RouteRequest& r) {
    auto channel = app.Connect(r.Param("target"));
    if (!channel.ok()) return RouteResponse::Json(ConnectError(channel.status()));
    return RouteResponse::Json(CallOn(*channel, r.Param("method"), r.Param("name")));
  });
  app.Route("GET", "/open", [&](const RouteRequest& r) {
    auto channel = app.Connect(r.Param("target"));
    if (!channel.ok()) return RouteResponse::Json(ConnectError(channel.status()));
    std::lock_guard lock(kept_mu);
    kept[r.Param("target")] = *channel;
    return RouteResponse::Json("{\"code\":0}");
  });
  app.Route("GET", "/use", [&](const RouteRequest& r) {
    std::shared_ptr<grpc::Channel> channel;
    {
      std::lock_guard lock(kept_mu);
      channel = kept[r.Param("target")];
    }
    if (!channel) return RouteResponse::Text("nothing opened for " + r.Param("target") + "\n", 404);
    return RouteResponse::Json(CallOn(channel, r.Param("method"), r.Param("name")));
  });
  std::vector<std::shared_ptr<grpc::Channel>> hoard;
  app.Route("GET", "/hoard", [&](const RouteRequest& r) {
    const int n = std::atoi(r.Param("n").c_str());
    std::lock_guard lock(kept_mu);
    for (int i = 0; i < n; ++i) {
      auto channel = app.Connect(r.Param("target"));
      if (!channel.ok()) {
        std::string out = ConnectError(channel.status());
        out.insert(out.size() - 1, ",\"opened\":" + std::to_string(i));
        hoard.clear();
        return RouteResponse::Json(out);
      }
      hoard.push_back(*channel);
    }
    hoard.clear();
    return RouteResponse::Json("{\"code\":0,\"opened\":" + std::to_string(n) + "}");
  });
  app.Route("GET", "/fetch", [&](const RouteRequest& r) {
    auto reply = app.Fetch(r.Param("url"));
    if (!reply.ok()) return RouteResponse::Json(ConnectError(reply.status()));
    std::string caller;
    for (const auto& [k, v] : reply->headers) {
      if (k == "x-mumba-caller") caller = v;
    }
    return RouteResponse::Json("{\"code\":0,\"status\":" + std::to_string(reply->status) +
                               ",\"body\":" + JsonString(reply->body) + ",\"caller\":" + JsonString(caller) + "}");
  });
  app.Route("GET", "/bench", [&](const RouteRequest& r) {
    const std::string target = r.Param("target");
    const std::string method = r.Param("method");
    const int n = std::max(1, std::atoi(r.Param("n").c_str()));
    const int clients = std::max(1, std::atoi(r.Param("clients").c_str()));
    const int connects = std::max(1, std::atoi(r.Param("connects").c_str()));
    std::vector<double> connect_us;
    std::shared_ptr<grpc::Channel> brokered;
    for (int i = 0; i < connects; ++i) {
      auto start = Clock::now();
      auto channel = app.Connect(target);
      connect_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      if (!channel.ok()) return RouteResponse::Json(ConnectError(channel.status()));
      brokered = *channel;
    }
    std::sort(connect_us.begin(), connect_us.end());
    std::string error;
    std::string out = "{\"connect_median_us\":" + std::to_string(connect_us[connect_us.size() / 2]) +
                      ",\"connect_p90_us\":" + std::to_string(connect_us[connect_us.size() * 9 / 10]);
    std::shared_ptr<grpc::Channel> direct;
    if (!r.Param("direct").empty()) {
      direct = grpc::CreateChannel("unix:" + r.Param("direct"), grpc::InsecureChannelCredentials());
    }
    for (int c : {1, clients}) {
      // Warm both channels up, then measure them one after the other, twice each.
      (void)Rate(brokered, method, 200, c, &error);
      double b = Rate(brokered, method, n, c, &error);
      double d = direct ? (Rate(direct, method, 200, c, &error), Rate(direct, method, n, c, &error)) : 0;
      out += ",\"brokered_" + std::to_string(c) + "\":" + std::to_string(b) + ",\"direct_" + std::to_string(c) +
             "\":" + std::to_string(d);
    }
    out += ",\"error\":" + JsonString(error) + "}";
    return RouteResponse::Json(out);
  });
  return app.Run();
}
