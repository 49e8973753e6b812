// SPDX-License-Identifier: Apache-2.0
// AppEndpoints' peer check on real sockets and real processes: who is served on an
// app's host socket and who is refused; and, on the server all host sockets share,
// that each call is its own app's.
#include "host/app_endpoints.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "mumba/storage/v1/storage.grpc.pb.h"
#include "platform/process_launcher.h"
#include "platform/unique_fd.h"
#include "storage/storage_service.h"
#include "storage/store_manager.h"

namespace mumba {
namespace {

namespace fs = std::filesystem;

const std::string kAppId = "mumba://0123456789abcdef0123456789abcdef";
const std::string kOtherAppId = "mumba://fedcba9876543210fedcba9876543210";

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
        dir_, [](AppOfCall) { return std::make_unique<OneService>(); },
        [this](const std::string& app_id) {
          // This process is listed too, as a careless caller might: it must count
          // as itself only, never as the root of a tree. The other app has no tree.
          if (app_id != kAppId) return std::vector<pid_t>{::getpid()};
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

TEST_F(AppEndpointsTest, RefusesAnAllowedTreeOnAnotherAppsSocket) {
  // Both sockets are served by one gRPC server: the check is still per socket.
  ASSERT_TRUE(endpoints_->Ensure(kAppId).ok());
  auto other = endpoints_->Ensure(kOtherAppId);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(RunClient(*other, true), 3);
}

// Installed apps "a" and "b" of the storage tests, unlimited, exporting nothing.
class TwoApps final : public AppDirectory {
 public:
  Expected<std::string> ResolveApp(const std::string& ref) const override {
    if (ref != kAppId && ref != kOtherAppId) return NotFound("app '" + ref + "' is not installed");
    return ref;
  }
  bool ExportsTo(const std::string&, StoreKind, const std::string&, const std::string&) const override {
    return false;
  }
  uint64_t QuotaFor(const std::string&) const override { return 0; }
};

// The storage services as the host serves them on the host sockets: each call is
// the app its connection came through.
class SharedStorage : public EndpointServices {
 public:
  SharedStorage(StoreManager* stores, const AppOfCall& app_of)
      : storage_(stores, CallerOfCall([app_of](const grpc::ServerContextBase* ctx) -> Expected<StoreCaller> {
          MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of(*ctx));
          return StoreCaller{std::move(app_id)};
        })) {}
  std::vector<grpc::Service*> services() override { return {&storage_.kv}; }

 private:
  StorageServices storage_;
};

class SharedServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("shared-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    stores_ = std::make_unique<StoreManager>(dir_ / "stores", &apps_);
    endpoints_ = std::make_unique<AppEndpoints>(
        dir_ / "run", [this](AppOfCall app_of) { return std::make_unique<SharedStorage>(stores_.get(), app_of); },
        [](const std::string&) { return std::vector<pid_t>{}; });
  }
  void TearDown() override {
    endpoints_.reset();
    stores_.reset();
    fs::remove_all(dir_);
  }

  // Kv.Write of key "k" = `value` in the caller's own store "main" through `socket`.
  static grpc::Status Put(mumba::storage::v1::Kv::Stub& kv, const std::string& value) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    mumba::storage::v1::KvWriteRequest req;
    auto* op = req.add_ops();
    op->set_kind(mumba::storage::v1::KvOp::PUT);
    op->set_key("k");
    op->set_value(value);
    mumba::storage::v1::KvWriteResponse resp;
    return kv.Write(&ctx, req, &resp);
  }

  // Key "k" of app `app_id`'s store "main", read by the engine; empty when there is
  // no such store yet.
  std::string Stored(const std::string& app_id) {
    auto grant = stores_->Kv(StoreCaller{app_id}, "", "main", false);
    if (!grant.ok()) return "";
    auto value = grant->store->Get("k");
    return value.ok() && value->has_value() ? **value : "";
  }

  static std::unique_ptr<mumba::storage::v1::Kv::Stub> KvOn(const std::string& address) {
    return mumba::storage::v1::Kv::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }

  fs::path dir_;
  TwoApps apps_;
  std::unique_ptr<StoreManager> stores_;
  std::unique_ptr<AppEndpoints> endpoints_;
};

TEST_F(SharedServerTest, EachAppsCallsReachItsOwnStore) {
  auto a = endpoints_->Ensure(kAppId);
  auto b = endpoints_->Ensure(kOtherAppId);
  ASSERT_TRUE(a.ok() && b.ok());
  auto kv_a = KvOn("unix:" + a->string());
  auto kv_b = KvOn("unix:" + b->string());
  // Interleaved, on two live connections, so that each call must be told apart by
  // its own connection.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Put(*kv_a, "a" + std::to_string(i)).ok());
    ASSERT_TRUE(Put(*kv_b, "b" + std::to_string(i)).ok());
  }
  EXPECT_EQ(Stored(kAppId), "a19");
  EXPECT_EQ(Stored(kOtherAppId), "b19");
  // A connection closed and a new one made (which may get the same descriptor)
  // is still its own app's.
  kv_a.reset();
  kv_b.reset();
  auto again_b = KvOn("unix:" + b->string());
  ASSERT_TRUE(Put(*again_b, "b-again").ok());
  EXPECT_EQ(Stored(kOtherAppId), "b-again");
  EXPECT_EQ(Stored(kAppId), "a19");
}

TEST_F(SharedServerTest, RefusesACallThatDidNotComeThroughAHostSocket) {
  // The same services on an ordinary listening server: its calls have a peer the
  // host sockets never handed over, so they are no app's, and never the owner's.
  auto a = endpoints_->Ensure(kAppId);
  ASSERT_TRUE(a.ok());
  // A connection of app a's is open meanwhile: a call of no app is not taken for it.
  auto kv_a = KvOn("unix:" + a->string());
  ASSERT_TRUE(Put(*kv_a, "a").ok());
  SharedStorage services(stores_.get(), [this](const grpc::ServerContextBase& ctx) { return endpoints_->AppOf(ctx); });
  grpc::ServerBuilder builder;
  const std::string address = "unix:" + (dir_ / "plain.sock").string();
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  for (grpc::Service* s : services.services()) builder.RegisterService(s);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  auto kv = KvOn(address);
  EXPECT_EQ(Put(*kv, "x").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Stored(kAppId), "a");
  server->Shutdown();
}

}  // namespace
}  // namespace mumba
