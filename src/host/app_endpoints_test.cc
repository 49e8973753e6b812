// SPDX-License-Identifier: Apache-2.0
// AppEndpoints' peer check on real sockets and real processes: who is served on an
// app's host socket and who is refused.
#include "host/app_endpoints.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "platform/process_launcher.h"
#include "platform/unique_fd.h"

namespace mumba {
namespace {

namespace fs = std::filesystem;

const std::string kAppId = "mumba://0123456789abcdef0123456789abcdef";

// The HTTP/2 client preface and an empty SETTINGS frame.
const std::string kPreface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\4\0\0\0\0\0", 9);

// Exits 0 when the server at argv[1] answers the preface, 3 when it closes instead.
const std::string kClient =
    "import socket,sys\n"
    "s=socket.socket(socket.AF_UNIX)\n"
    "s.settimeout(5)\n"
    "s.connect(sys.argv[1])\n"
    "s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n'+bytes(3)+b'\\x04'+bytes(5))\n"
    "try:\n"
    "  d=s.recv(64)\n"
    "except ConnectionResetError:\n"
    "  d=b''\n"
    "sys.exit(0 if d else 3)\n";

// One service with nothing implemented: the server needs one to start, and these
// tests only look at the handshake.
class OneService : public EndpointServices {
 public:
  std::vector<grpc::Service*> services() override { return {&health_}; }

 private:
  grpc::health::v1::Health::Service health_;
};

class AppEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("ep-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    endpoints_ = std::make_unique<AppEndpoints>(
        dir_, [](const std::string&) { return std::make_unique<OneService>(); },
        [this](const std::string& app_id) {
          EXPECT_EQ(app_id, kAppId);
          // This process is listed too, as a careless caller might: it must count
          // as itself only, never as the root of a tree.
          return std::vector<pid_t>{root_.load(), ::getpid()};
        });
  }
  void TearDown() override {
    endpoints_.reset();
    fs::remove_all(dir_);
  }

  // Runs the client through `sh -c` (so the client is a grandchild of ours, below
  // the shell) and returns its exit code; `publish` makes the shell an allowed root.
  int RunClient(const fs::path& socket, bool publish) {
    LaunchSpec spec;
    spec.executable = "/bin/sh";
    // The trailing `exit` keeps the shell from exec'ing python in its place.
    spec.args = {"-c", "python3 -c \"$0\" \"$1\"; exit $?", kClient, socket.string()};
    spec.env = InheritedEnvironment();
    auto launched = ProcessLauncher::System().Launch(spec);
    EXPECT_TRUE(launched.ok());
    if (!launched.ok()) return -1;
    if (publish) root_ = launched->pid;
    int code = ProcessLauncher::System().Wait(launched->pid).ExitCode();
    root_ = 0;
    return code;
  }

  fs::path dir_;
  std::atomic<pid_t> root_{0};
  std::unique_ptr<AppEndpoints> endpoints_;
};

TEST_F(AppEndpointsTest, DropRemovesTheRunFolder) {
  ASSERT_TRUE(endpoints_->Ensure(kAppId).ok());
  ASSERT_TRUE(std::filesystem::exists(endpoints_->RunDir(kAppId)));
  endpoints_->Drop(kAppId);
  EXPECT_FALSE(std::filesystem::exists(endpoints_->RunDir(kAppId)));
}

TEST_F(AppEndpointsTest, ServesThisProcessItself) {
  auto socket = endpoints_->Ensure(kAppId);
  ASSERT_TRUE(socket.ok());
  EXPECT_EQ(*socket, dir_ / "0123456789abcdef" / "host.sock");
  // The app's own run folder, which only the owner may look into.
  EXPECT_EQ(std::filesystem::status(dir_ / "0123456789abcdef").permissions(), std::filesystem::perms::owner_all);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, socket->c_str());
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::write(fd.get(), kPreface.data(), kPreface.size()), static_cast<ssize_t>(kPreface.size()));
  char reply[64];
  struct timeval tv {5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ssize_t n = ::read(fd.get(), reply, sizeof(reply));
  ASSERT_GE(n, 9);
  EXPECT_EQ(reply[3], 4);  // SETTINGS.
}

TEST_F(AppEndpointsTest, ServesTheAllowedTreeEvenWhenItsPidComesLate) {
  auto socket = endpoints_->Ensure(kAppId);
  ASSERT_TRUE(socket.ok());
  // The shell's pid is published only after Launch returns, often after the client
  // has connected: the check asks again before refusing.
  EXPECT_EQ(RunClient(*socket, true), 0);
}

TEST_F(AppEndpointsTest, RefusesOurOtherChildren) {
  // Every daemon descends from the host, so the host's children are no one's tree.
  auto socket = endpoints_->Ensure(kAppId);
  ASSERT_TRUE(socket.ok());
  EXPECT_EQ(RunClient(*socket, false), 3);
}

TEST_F(AppEndpointsTest, DropStopsAndRemovesTheSocket) {
  auto socket = endpoints_->Ensure(kAppId);
  ASSERT_TRUE(socket.ok());
  EXPECT_TRUE(fs::exists(*socket));
  endpoints_->Drop(kAppId);
  EXPECT_FALSE(fs::exists(*socket));
  // Ensure after Drop serves again.
  ASSERT_TRUE(endpoints_->Ensure(kAppId).ok());
  EXPECT_EQ(RunClient(*socket, false), 3);
  endpoints_->DropAll();
  EXPECT_FALSE(fs::exists(*socket));
}

}  // namespace
}  // namespace mumba
