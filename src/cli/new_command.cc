// SPDX-License-Identifier: Apache-2.0
// mumba new NAME: scaffolds an app folder that builds and installs unchanged.
#include <cstdio>

#include "bundle/manifest.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "common/files.h"
#include "common/keys.h"

namespace mumba::cli {
namespace {

std::string Replace(std::string text, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars) {
    size_t pos = 0;
    while ((pos = text.find(k, pos)) != std::string::npos) {
      text.replace(pos, k.size(), v);
      pos += v.size();
    }
  }
  return text;
}

constexpr const char* kManifest = R"(# The manifest of @NAME@: what the host needs to install and run it.
# The id is the app's permanent address; its secret key is in $MUMBA_HOME/keys/.
id = "@ID@"
name = "@NAME@"
version = "0.1.0"
description = "@NAME@, a Mumba app"

[daemon]
command = "bin/@NAME@"

[ui]
entry = "ui/index.html"

# Paths the daemon answers, e.g. `mumba route @NAME@://greet?name=Ann`.
[[routes]]
path = "/greet"
methods = ["GET"]

# gRPC services others may call, e.g.
# mumba call @NAME@ @PKG@.v1.Greeter/SayHello '{"name":"Ann"}'
[exports]
services = ["@PKG@.v1.Greeter"]
)";

constexpr const char* kCMake = R"(cmake_minimum_required(VERSION 3.25)
project(@NAME@ LANGUAGES CXX)

# Provided by Mumba; `mumba build` points CMake at it.
find_package(Mumba REQUIRED)

# Builds bin/@NAME@ from the sources and generates code for the protos.
mumba_app(@NAME@
  SOURCES src/main.cc
  PROTOS proto/@PKG@/v1/@PKG@.proto)
)";

constexpr const char* kProto = R"(syntax = "proto3";

package @PKG@.v1;

message HelloRequest {
  string name = 1;
}

message HelloReply {
  string message = 1;
  int64 count = 2;  // How many times this name was greeted, kept in the app's storage.
}

service Greeter {
  rpc SayHello(HelloRequest) returns (HelloReply);
}
)";

constexpr const char* kMain = R"(// The @NAME@ daemon: every part of an app in one file. It serves
// @PKG@.v1.Greeter (called by its page, by `mumba call`, by other apps granted it),
// keeps a count per name in its key-value store, tells its open pages about every
// greeting (the "greeted" event), and answers the route /greet.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <mumba/app.h>

#include <mutex>

#include "@PKG@/v1/@PKG@.grpc.pb.h"

namespace {

std::string Greeting(const std::string& name) {
  return "Hello, " + (name.empty() ? std::string("world") : name) + "!";
}

class Greeter final : public @PKG@::v1::Greeter::Service {
 public:
  explicit Greeter(mumba::App& app) : app_(app), kv_(app.Kv()) {}

  grpc::Status SayHello(grpc::ServerContext*, const @PKG@::v1::HelloRequest* request,
                        @PKG@::v1::HelloReply* reply) override {
    reply->set_message(Greeting(request->name()));
    // The count lives in the app's key-value store: it survives restarts and updates.
    {
      std::lock_guard lock(mu_);
      const std::string key = "greeted/" + request->name();
      auto seen = kv_.Get(key);
      if (!seen.ok()) return mumba::ToGrpcStatus(seen.status());
      int64_t count = (*seen ? std::strtoll((*seen)->c_str(), nullptr, 10) : 0) + 1;
      if (auto st = kv_.Put(key, std::to_string(count)); !st.ok()) return mumba::ToGrpcStatus(st);
      reply->set_count(count);
    }
    // Every open page of this app hears of it (mumba.on("greeted", ...) in ui/index.html).
    std::string json;
    if (google::protobuf::util::MessageToJsonString(*reply, &json).ok()) (void)app_.Emit("greeted", json);
    return grpc::Status::OK;
  }

 private:
  mumba::App& app_;
  mumba::Kv kv_;
  std::mutex mu_;
};

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);
  Greeter greeter(app);
  app.AddService(&greeter);
  app.Route("GET", "/greet", [](const mumba::RouteRequest& request) {
    return mumba::RouteResponse::Text(Greeting(request.Param("name")));
  });
  return app.Run();
}
)";

constexpr const char* kIndex = R"(<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>@NAME@</title>
  <style>
    body { font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; }
    #error { color: #a00; }
  </style>
</head>
<body>
  <h1>@NAME@</h1>
  <p>This page is the app's UI, served from its bundle's ui/ folder.</p>
  <form id="greet">
    <input id="name" value="Ann" aria-label="name">
    <button>Greet</button>
  </form>
  <p id="reply"></p>
  <p id="error"></p>
  <h2>Greetings the daemon announced</h2>
  <ul id="events"></ul>
  <script type="module">
    import * as mumba from "/_mumba/mumba.js";

    // The daemon emits "greeted" for every greeting, whoever asked for it.
    mumba.on("greeted", (reply) => {
      const item = document.createElement("li");
      item.textContent = `${reply.message} (${reply.count}x)`;
      document.getElementById("events").append(item);
    });

    // The form calls the daemon's exported method through the host.
    document.getElementById("greet").addEventListener("submit", async (e) => {
      e.preventDefault();
      document.getElementById("error").textContent = "";
      try {
        const name = document.getElementById("name").value;
        const reply = await mumba.call("@PKG@.v1.Greeter/SayHello", {name});
        document.getElementById("reply").textContent = `${reply.message} Greeted ${reply.count} time(s).`;
      } catch (err) {
        document.getElementById("error").textContent = err.message;
      }
    });

    await mumba.ready();
    document.body.dataset.ready = "true";
  </script>
</body>
</html>
)";

int CreateApp(const Context& ctx, const NewOptions& o) {
  const std::string& name = o.name;
  const std::string& dir = o.dir;
  if (!IsValidAppName(name) || name == "mumba" || name == "home") {
    return Fail(InvalidArgument("'" + name + "' is not a valid app name: use a lowercase DNS label "
                                "(a-z, 0-9 and '-', 1-63 characters; not 'mumba' or 'home')"));
  }
  std::filesystem::path root = dir.empty() ? std::filesystem::path(name) : std::filesystem::path(dir);
  root = std::filesystem::absolute(root).lexically_normal();
  if (std::filesystem::exists(root)) return Fail(AlreadyExists(root.string() + " already exists"));

  KeyPair keys = GenerateKeyPair();
  if (Status st = SaveKeyPair(ctx.Layout().keys_dir(), keys); !st.ok()) return Fail(st);
  std::string pkg = name;
  for (char& c : pkg) c = c == '-' ? '_' : c;
  std::map<std::string, std::string> vars = {
      {"@NAME@", name}, {"@PKG@", pkg}, {"@ID@", AddressOf(keys.public_key)}};
  const std::pair<std::string, const char*> files[] = {
      {"mumba.toml", kManifest},
      {"CMakeLists.txt", kCMake},
      {"proto/" + pkg + "/v1/" + pkg + ".proto", kProto},
      {"src/main.cc", kMain},
      {"ui/index.html", kIndex},
      {".gitignore", "build/\n"},
  };
  for (const auto& [rel, text] : files) {
    auto path = root / rel;
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (Status st = WriteFileAtomic(path, Replace(text, vars)); !st.ok()) return Fail(st);
  }
  std::printf("created %s (%s)\n", root.c_str(), AddressOf(keys.public_key).c_str());
  std::printf("next: mumba install %s && mumba start %s && mumba route '%s://greet?name=Ann'\n",
              root.c_str(), name.c_str(), name.c_str());
  return 0;
}

}  // namespace

void AddNewCommand(CLI::App& app, Context& ctx) {
  AddCommand<NewOptions>(app, "new",
                         "Create an app folder NAME: a C++ daemon with one gRPC service (keeping a count in its "
                         "storage and telling its pages of each call), one route, its proto, a ui/index.html that "
                         "calls it, mumba.toml and CMakeLists.txt; its key pair goes into $MUMBA_HOME/keys",
                         [&ctx](NewOptions& o) { return CreateApp(ctx, o); });
}

}  // namespace mumba::cli
