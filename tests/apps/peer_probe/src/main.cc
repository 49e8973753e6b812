// SPDX-License-Identifier: Apache-2.0
// peer-probe: a test app that finds and calls the same app on other nodes, so that
// tests/integration/test_peers.py can check discovery and every refusal, and
// bench/peers can time peer calls. Its routes (GET, answer JSON):
//   /node                                   this node's peers as the SDK lists them
//   /call?node=N&method=M[&text=T][&n=K][&clients=C]
//        K calls (default 1) of M ("/probe.v1.Echo/Say") on PeerChannel(N), on C
//        threads: {"calls":K,"codes":{"<code>":count,...},"reply":"...","message":"...","us":total}
//   /secrets                                 how many Private.Secret calls ran here
//   /watch                                   the arrivals and departures seen so far
#include <mumba/app.h>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "probe/v1/peer_probe.grpc.pb.h"

namespace {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '.';
    out += c;
  }
  return out + "\"";
}

std::atomic<int> secrets{0};

class Echo final : public probe::v1::Echo::Service {
  grpc::Status Say(grpc::ServerContext* ctx, const probe::v1::Msg* req, probe::v1::Msg* resp) override {
    resp->set_text("node=" + mumba::PeerOf(*ctx) + " text=" + req->text());
    return grpc::Status::OK;
  }
};

class Private final : public probe::v1::Private::Service {
  grpc::Status Secret(grpc::ServerContext*, const probe::v1::Msg*, probe::v1::Msg* resp) override {
    resp->set_text(std::to_string(++secrets));
    return grpc::Status::OK;
  }
};

grpc::ByteBuffer Request(const std::string& text) {
  probe::v1::Msg m;
  m.set_text(text);
  std::string bytes = m.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string Text(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (buffer.Dump(&slices).ok()) {
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  probe::v1::Msg m;
  return m.ParseFromString(bytes) ? m.text() : "";
}

grpc::Status CallOnce(grpc::GenericStub& stub, const std::string& method, const std::string& text,
                      std::string* reply) {
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer out;
  grpc::Status status;
  auto rpc = stub.PrepareUnaryCall(&ctx, method, Request(text), &cq);
  rpc->StartCall();
  rpc->Finish(&out, &status, &cq);
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (status.ok()) *reply = Text(out);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);
  Echo echo;
  Private secret;
  app.AddService(&echo);
  app.AddService(&secret);

  std::mutex watch_mu;
  std::string watched;
  auto watch = app.WatchPeers([&](const mumba::Peer& p, bool arrived) {
    std::lock_guard lock(watch_mu);
    watched += std::string(watched.empty() ? "" : ",") + "{\"node\":" + JsonString(p.node) +
               ",\"arrived\":" + (arrived ? "true" : "false") + "}";
  });

  app.Route("GET", "/node", [&app](const mumba::RouteRequest&) {
    auto peers = app.Peers();
    if (!peers.ok()) return mumba::RouteResponse::Text(peers.status().message(), 500);
    std::string out = "[";
    for (const auto& p : *peers) {
      out += std::string(out.size() > 1 ? "," : "") + "{\"node\":" + JsonString(p.node) +
             ",\"endpoint\":" + JsonString(p.endpoint) + "}";
    }
    return mumba::RouteResponse::Text(out + "]");
  });
  app.Route("GET", "/watch", [&](const mumba::RouteRequest&) {
    std::lock_guard lock(watch_mu);
    return mumba::RouteResponse::Text(watch.ok() ? "[" + watched + "]" : JsonString(watch.status().message()));
  });
  app.Route("GET", "/secrets", [](const mumba::RouteRequest&) {
    return mumba::RouteResponse::Text(std::to_string(secrets.load()));
  });
  app.Route("GET", "/call", [&app](const mumba::RouteRequest& request) {
    auto channel = app.PeerChannel(request.Param("node"));
    if (!channel.ok()) return mumba::RouteResponse::Text(JsonString(channel.status().message()), 400);
    const std::string method = request.Param("method");
    const std::string text = request.Param("text");
    const int n = std::max(1, std::atoi(request.Param("n").c_str()));
    const int clients = std::max(1, std::atoi(request.Param("clients").c_str()));
    std::mutex mu;
    std::map<int, int> codes;
    std::string reply, message;
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        grpc::GenericStub stub(*channel);
        for (int i = c; i < n; i += clients) {
          std::string r;
          grpc::Status s = CallOnce(stub, method, text, &r);
          std::lock_guard lock(mu);
          codes[s.error_code()]++;
          if (s.ok()) reply = r;
          else message = s.error_message();
        }
      });
    }
    for (auto& t : threads) t.join();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    std::string out = "{\"calls\":" + std::to_string(n) + ",\"codes\":{";
    bool first = true;
    for (const auto& [code, count] : codes) {
      out += std::string(first ? "" : ",") + "\"" + std::to_string(code) + "\":" + std::to_string(count);
      first = false;
    }
    out += "},\"reply\":" + JsonString(reply) + ",\"message\":" + JsonString(message) +
           ",\"us\":" + std::to_string(us.count()) + "}";
    return mumba::RouteResponse::Text(out);
  });
  return app.Run();
}
