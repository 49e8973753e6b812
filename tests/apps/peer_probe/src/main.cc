// SPDX-License-Identifier: Apache-2.0
// peer-probe: a test app that finds and calls the same app on other nodes, so that
// tests/integration/test_peers.py can check discovery and every refusal, and
// bench/peers can time peer calls. Its routes (GET, answer JSON):
//   /node                                   this node's peers as the SDK lists them
//   /call?node=N&method=M[&text=T][&n=K][&clients=C][&forge=F]
//        K calls (default 1) of M ("/probe.v1.Echo/Say") on PeerChannel(N), on C
//        threads: {"calls":K,"codes":{"<code>":count,...},"reply":"...","message":"...","us":total}
//        (a connection PeerChannel could not make counts as one call with its status);
//        forge=F sends F as the metadata mumba-peer-node, which no host may pass on
//   /secrets                                 how many Private.Secret calls ran here
//   /watch                                   the arrivals and departures seen so far
//   /direct?socket=S|address=A&method=M[&text=T][&n=K][&clients=C]
//        the same calls as /call, answered the same way, on a plain insecure
//        channel to unix:S or to A ("127.0.0.1:PORT"), without any host between:
//        bench/peers' baseline. Another node's daemon socket is reachable only when
//        the hosts run daemons without the sandbox ([security] sandbox = false).
//   /listen                                  starts (once) a plaintext gRPC server
//        with Echo on 127.0.0.1, for /direct?address=: {"port":P}
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
                      const std::string& forge, std::string* reply) {
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!forge.empty()) ctx.AddMetadata("mumba-peer-node", forge);
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

// K calls of `method` on `channel`, shared by C threads, each with its own stub,
// as a daemon's clients would: the JSON /call and /direct answer.
std::string TimedCalls(const std::shared_ptr<grpc::Channel>& channel, const mumba::RouteRequest& request) {
  const std::string method = request.Param("method");
  const std::string text = request.Param("text");
  const std::string forge = request.Param("forge");
  const int n = std::max(1, std::atoi(request.Param("n").c_str()));
  const int clients = std::max(1, std::atoi(request.Param("clients").c_str()));
  std::mutex mu;
  std::map<int, int> codes;
  std::string reply, message;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      grpc::GenericStub stub(channel);
      for (int i = c; i < n; i += clients) {
        std::string r;
        grpc::Status s = CallOnce(stub, method, text, forge, &r);
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
  return out + "},\"reply\":" + JsonString(reply) + ",\"message\":" + JsonString(message) +
         ",\"us\":" + std::to_string(us.count()) + "}";
}

// The baseline's channels, one per target and kept, as PeerChannel keeps its own,
// so that every run after the first finds its connection open.
class DirectChannels {
 public:
  std::shared_ptr<grpc::Channel> For(const std::string& target) {
    std::lock_guard lock(mu_);
    auto& channel = channels_[target];
    if (!channel) channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    return channel;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

// A second server with Echo on plaintext TCP, started on first request: the
// daemon's own socket is unix, and the baseline is plaintext gRPC between
// the daemons, so the bench may compare both.
class TcpEcho {
 public:
  ~TcpEcho() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  // The port, or 0 when no server could listen.
  int Port() {
    std::lock_guard lock(mu_);
    if (!server_) {
      grpc::ServerBuilder builder;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
      builder.RegisterService(&echo_);
      server_ = builder.BuildAndStart();
      if (!server_) port_ = 0;
    }
    return port_;
  }

 private:
  std::mutex mu_;
  Echo echo_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

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
    // A connection refused is answered as one call that ended with that status.
    if (!channel.ok()) {
      return mumba::RouteResponse::Text("{\"calls\":1,\"codes\":{\"" +
                                        std::to_string(static_cast<int>(channel.status().code())) +
                                        "\":1},\"reply\":\"\",\"message\":" +
                                        JsonString(channel.status().message()) + ",\"us\":0}");
    }
    return mumba::RouteResponse::Text(TimedCalls(*channel, request));
  });
  DirectChannels direct;
  app.Route("GET", "/direct", [&direct](const mumba::RouteRequest& request) {
    const std::string socket = request.Param("socket");
    const std::string address = request.Param("address");
    if (socket.empty() == address.empty()) {
      return mumba::RouteResponse::Text(JsonString("give either socket= or address="), 400);
    }
    return mumba::RouteResponse::Text(TimedCalls(direct.For(socket.empty() ? address : "unix:" + socket), request));
  });
  TcpEcho tcp;
  app.Route("GET", "/listen", [&tcp](const mumba::RouteRequest&) {
    const int port = tcp.Port();
    if (port == 0) return mumba::RouteResponse::Text(JsonString("cannot listen on 127.0.0.1"), 500);
    return mumba::RouteResponse::Text("{\"port\":" + std::to_string(port) + "}");
  });
  return app.Run();
}
