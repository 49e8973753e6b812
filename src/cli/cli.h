// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the mumba command.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "common/paths.h"
#include "mumba/host/v1/control.grpc.pb.h"
#include "mumba/status.h"

namespace mumba::cli {

// Options every command shares, filled in by CLI11 before a command runs.
struct Context {
  std::string home_flag;
  std::filesystem::path Home() const;
  HomeLayout Layout() const { return HomeLayout(Home()); }
};

// Starts the host on `layout` (with `host_args` added to mumba-host's command
// line) unless one answers; returns once it answers.
Status EnsureHost(const HomeLayout& layout, const std::vector<std::string>& host_args = {});

// True if a host answers on `layout` within `timeout`.
bool HostAnswers(const HomeLayout& layout, std::chrono::milliseconds timeout);

// A stub on the host's socket (starting the host first when none answers).
Expected<std::unique_ptr<mumba::host::v1::Control::Stub>> ConnectHost(const Context& ctx);

// A channel to the host's socket (starting the host first when none answers).
Expected<std::shared_ptr<grpc::Channel>> ConnectHostChannel(const Context& ctx);

// A channel to the socket without starting anything.
std::shared_ptr<grpc::Channel> HostChannel(const HomeLayout& layout);

// A stub on the socket without starting anything.
std::unique_ptr<mumba::host::v1::Control::Stub> HostStub(const HomeLayout& layout);

// The status of a call to the host as the CLI says it: gRPC's UNAVAILABLE with no
// message (nothing answered) is "the host is not answering".
Status FromHostCall(const grpc::Status& status);

// Prints "mumba: <message>" on stderr and returns 1 (for `return Fail(...)`); a
// gRPC status as FromHostCall makes it.
int Fail(const Status& status);
int Fail(const grpc::Status& status);
// Installs the bundle folder `bundle`. What the app asks for (the network, other
// apps to call) is granted with `yes`, else asked on the terminal (no terminal: no).
// 0 with `*out` filled in, or 1 after printing why.
int InstallAsking(const Context& ctx, const std::filesystem::path& bundle, bool yes,
                  mumba::host::v1::InstallResponse* out);
// Asks `prompt` on the terminal and reads the answer: true for y or yes. False
// without a terminal to ask on, so scripts never say yes by accident.
bool AskYes(const char* prompt);

// A stub of `Service` on the host's socket (starting the host first when none
// answers). On error the status says why the host cannot be reached.
template <typename Service>
Expected<std::unique_ptr<typename Service::Stub>> Connect(const Context& ctx) {
  MUMBA_ASSIGN_OR_RETURN(auto channel, ConnectHostChannel(ctx));
  return Service::NewStub(channel);
}

// The signature of a generated synchronous unary method of `Stub`.
template <typename Stub, typename Request, typename Response>
using UnaryMethod = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);

// Calls `method` on `stub` once, with no deadline. Returns 0 with `*response`
// filled in on success; on error prints it as Fail does and returns 1, so a
// command can `if (int rc = Unary(...)) return rc;`.
template <typename Stub, typename Request, typename Response>
int Unary(Stub& stub, UnaryMethod<Stub, Request, Response> method,
          const std::type_identity_t<Request>& request, Response* response) {
  grpc::ClientContext context;
  if (auto s = (stub.*method)(&context, request, response); !s.ok()) return Fail(s);
  return 0;
}

// The same on a new stub on the host's socket, starting the host first when none
// answers; a host that cannot be started is reported like a failed call.
template <typename Stub, typename Request, typename Response>
int Unary(const Context& ctx, UnaryMethod<Stub, Request, Response> method,
          const std::type_identity_t<Request>& request, Response* response) {
  auto channel = ConnectHostChannel(ctx);
  if (!channel.ok()) return Fail(channel.status());
  Stub stub(*channel);
  return Unary(stub, method, request, response);
}

// The message as JSON (proto3 mapping, proto field names), no trailing newline.
std::string ToJson(const google::protobuf::Message& message);

// Builds the app folder `app_dir` (cmake + ninja into `build_dir`), then assembles
// its bundle into <build_dir>/bundle and validates it. Returns the bundle folder.
Expected<std::filesystem::path> BuildApp(const std::filesystem::path& app_dir,
                                         std::filesystem::path build_dir, bool quiet);

// Makes `sub` run `fn` and exit with its return value.
inline void OnRun(CLI::App* sub, std::function<int()> fn) {
  sub->callback([fn = std::move(fn)] {
    int rc = fn();
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

// Adds subcommand `name` to `parent`. Its arguments live in a fresh `Options`,
// which declares them in `void Bind(CLI::App*)` (cli/options.h) and which the
// subcommand's callback owns, so each subcommand has its own and they live as
// long as the parser. When the subcommand is chosen, `run` runs it on them and
// its return value is the exit code (0 on success; 1 after printing why, on
// error). Returns the subcommand.
template <typename Options>
CLI::App* AddCommand(CLI::App& parent, const std::string& name, const std::string& help,
                     std::function<int(Options&)> run) {
  auto* sub = parent.add_subcommand(name, help);
  auto options = std::make_shared<Options>();
  options->Bind(sub);
  OnRun(sub, [options, run = std::move(run)] { return run(*options); });
  return sub;
}

// The same for a subcommand without arguments of its own.
inline CLI::App* AddCommand(CLI::App& parent, const std::string& name, const std::string& help,
                            std::function<int()> run) {
  auto* sub = parent.add_subcommand(name, help);
  OnRun(sub, std::move(run));
  return sub;
}

// Command groups.
void AddHostCommands(CLI::App& app, Context& ctx);
void AddAppCommands(CLI::App& app, Context& ctx);
void AddCallCommands(CLI::App& app, Context& ctx);
void AddNewCommand(CLI::App& app, Context& ctx);
void AddBuildCommand(CLI::App& app, Context& ctx);
void AddDevCommand(CLI::App& app, Context& ctx);
void AddStorageCommands(CLI::App& app, Context& ctx);
void AddKeysCommand(CLI::App& app, Context& ctx);
void AddP2pCommands(CLI::App& app, Context& ctx);
void AddWindowCommands(CLI::App& app, Context& ctx);
void AddDoctorCommand(CLI::App& app, Context& ctx);
void AddPeerCommands(CLI::App& app, Context& ctx);
void AddShareCommands(CLI::App& app, Context& ctx);
// `mumba install mumba://ADDRESS`: the network half of `mumba install`.
int InstallFromNetwork(const Context& ctx, const std::string& address, bool yes, bool json,
                       int timeout_s);
// The "  sandbox  bubblewrap, network" line printed after an install, so the owner
// sees what the app was given.
void PrintSandbox(const mumba::host::v1::AppInfo& app);

}  // namespace mumba::cli
