// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "cli/cli.h"
#include "cli/host_service.h"
#include "common/grpc_status.h"
#include "common/unix_channel.h"
#include "platform/process_launcher.h"
#include "platform/unique_fd.h"

namespace mumba::cli {

std::filesystem::path Context::Home() const {
  if (!home_flag.empty()) return std::filesystem::absolute(home_flag).lexically_normal();
  return DefaultHome();
}

std::shared_ptr<grpc::Channel> HostChannel(const HomeLayout& layout) {
  return UnixChannel(layout.socket().string(), 20, 200, 32 << 20);
}

std::unique_ptr<mumba::host::v1::Control::Stub> HostStub(const HomeLayout& layout) {
  return mumba::host::v1::Control::NewStub(HostChannel(layout));
}

bool HostAnswers(const HomeLayout& layout, std::chrono::milliseconds timeout) {
  if (!std::filesystem::exists(layout.socket())) return false;
  auto stub = HostStub(layout);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  mumba::host::v1::HostStatusRequest req;
  mumba::host::v1::HostStatusResponse resp;
  return stub->HostStatus(&ctx, req, &resp).ok();
}

namespace {

std::string LastLines(const std::filesystem::path& file, int n) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (static_cast<int>(lines.size()) > n) lines.erase(lines.begin());
  }
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

}  // namespace

Status EnsureHost(const HomeLayout& layout, const std::vector<std::string>& host_args) {
  if (HostAnswers(layout, std::chrono::milliseconds(1000))) return Status();
  // After `mumba host enable`, systemd starts the host, so it keeps supervising it.
  if (host_args.empty()) {
    if (auto started = StartThroughSystemd(layout)) return *started;
  }
  auto exe = ExecutableDir() / "mumba-host";
  if (::access(exe.c_str(), X_OK) != 0) {
    return Unavailable("no host is running and " + exe.string() + " is missing");
  }
  std::error_code ec;
  std::filesystem::create_directories(layout.logs_dir(), ec);
  if (ec) return Unavailable("cannot create " + layout.logs_dir().string() + ": " + ec.message());
  auto log = layout.host_log();
  auto start_offset = std::filesystem::exists(log) ? std::filesystem::file_size(log) : 0;

  // The host outlives this command: a session of its own, no parent-death
  // signal, its output appended to its log.
  UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  LaunchSpec spec;
  spec.executable = exe;
  spec.argv0 = "mumba-host";
  spec.args = {"--home", layout.home.string()};
  spec.args.insert(spec.args.end(), host_args.begin(), host_args.end());
  spec.env = InheritedEnvironment();
  // Without its log (it could not be opened) the host still starts; it says why it
  // could not on its own.
  if (log_fd) spec.fds = {{1, log_fd.get()}, {2, log_fd.get()}};
  spec.new_session = true;
  spec.parent_death_signal = 0;
  auto launched = ProcessLauncher::System().Launch(spec);
  if (!launched.ok()) return Unavailable("cannot start the host: " + launched.status().message());
  const pid_t pid = launched->pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ProcessLauncher::System().Reap(pid)) {
      // It exited: show why, from what it wrote to its log in this attempt.
      std::ifstream in(log);
      in.seekg(static_cast<std::streamoff>(start_offset));
      std::string tail((std::istreambuf_iterator<char>(in)), {});
      while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
      auto nl = tail.rfind('\n');
      std::string last = nl == std::string::npos ? tail : tail.substr(nl + 1);
      if (last.starts_with("mumba-host: ")) last = last.substr(12);
      return Unavailable("the host did not start" + (last.empty() ? std::string() : ": " + last));
    }
    if (HostAnswers(layout, std::chrono::milliseconds(200))) return Status();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Unavailable("the host did not answer within 15 s; see " + log.string() + ":\n" +
                     LastLines(log, 5));
}

Expected<std::unique_ptr<mumba::host::v1::Control::Stub>> ConnectHost(const Context& ctx) {
  auto layout = ctx.Layout();
  MUMBA_TRY(EnsureHost(layout));
  return HostStub(layout);
}

Expected<std::shared_ptr<grpc::Channel>> ConnectHostChannel(const Context& ctx) {
  auto layout = ctx.Layout();
  MUMBA_TRY(EnsureHost(layout));
  return HostChannel(layout);
}

int Fail(const Status& status) {
  std::fprintf(stderr, "mumba: %s\n", status.message().c_str());
  return 1;
}

Status FromHostCall(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && status.error_message().empty()) {
    return Unavailable("the host is not answering");
  }
  return FromGrpc(status);
}

int Fail(const grpc::Status& status) { return Fail(FromHostCall(status)); }

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

// Asks `prompt` on the terminal and reads the answer: true for y or yes. False
// without a terminal to ask on, so scripts never say yes by accident.
bool AskYes(const char* prompt) {
  if (!isatty(0) || !isatty(2)) return false;
  std::fprintf(stderr, "%s", prompt);
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace mumba::cli
