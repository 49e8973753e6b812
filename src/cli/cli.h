// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the mumba command.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
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

// Prints "mumba: <message>" on stderr and returns 1 (for `return Fail(...)`).
int Fail(const Status& status);
int Fail(const grpc::Status& status);

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

// Command groups.
void AddHostCommands(CLI::App& app, Context& ctx);
void AddAppCommands(CLI::App& app, Context& ctx);
void AddCallCommands(CLI::App& app, Context& ctx);
void AddNewCommand(CLI::App& app, Context& ctx);
void AddBuildCommand(CLI::App& app, Context& ctx);
void AddStorageCommands(CLI::App& app, Context& ctx);
void AddKeysCommand(CLI::App& app, Context& ctx);
void AddP2pCommands(CLI::App& app, Context& ctx);
void AddWindowCommands(CLI::App& app, Context& ctx);
// `mumba install mumba://ADDRESS`: the network half of `mumba install`.
int InstallFromNetwork(const Context& ctx, const std::string& address, bool yes, bool json,
                       int timeout_s);

}  // namespace mumba::cli
