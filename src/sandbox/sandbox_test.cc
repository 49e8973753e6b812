// SPDX-License-Identifier: Apache-2.0
// The sandbox, checked on real bubblewrap jails: what a program inside can see,
// write, signal and call, and that nothing it starts outlives it.
#include "sandbox/sandbox.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "platform/read_until_closed.h"

#include "sandbox/seccomp_filter.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {


class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bwrap = CheckSandbox(ProcessLauncher::System());
    ASSERT_TRUE(bwrap.ok()) << bwrap.status().message();
    bwrap_ = *bwrap;
    root_ = fs::temp_directory_path() / ("mumba-sandbox-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    for (const char* d : {"bundle", "data", "run", "outside"}) fs::create_directories(root_ / d);
    std::ofstream(root_ / "bundle" / "marker") << "bundle";
    std::ofstream(root_ / "outside" / "secret") << "secret";
    jail_ = {root_ / "bundle", root_ / "data", root_ / "run", false};
  }
  void TearDown() override { fs::remove_all(root_); }

  LaunchSpec Jailed(const std::string& script) const {
    LaunchSpec inner;
    inner.executable = "/bin/sh";
    inner.args = {"-c", script};
    inner.working_dir = std::string(kSandboxAppDir);
    inner.env = {{"PATH", "/usr/bin:/bin"}};
    LaunchSpec spec = Confine(bwrap_, *SeccompProgram(), jail_, inner);
    spec.capture_output = true;
    return spec;
  }

  // The script's output and its shell exit code.
  std::pair<std::string, int> Run(const std::string& script) const {
    auto launched = ProcessLauncher::System().Launch(Jailed(script));
    EXPECT_TRUE(launched.ok()) << launched.status().message();
    if (!launched.ok()) return {"", -1};
    std::string out = ReadUntilClosed(launched->output.get());
    return {out, ProcessLauncher::System().Wait(launched->pid).ExitCode()};
  }

  fs::path bwrap_;
  fs::path root_;
  AppJail jail_;
};

TEST_F(SandboxTest, SeesItsBundleAndDataAndNothingOfTheHostsFiles) {
  const std::string outside = (root_ / "outside" / "secret").string();
  auto [out, code] = Run("cat /app/marker; echo; pwd; echo data > /data/f && cat /data/f; "
                         "touch /app/x 2>/dev/null || echo app-read-only; "
                         "cat " + outside + " 2>/dev/null || echo no-outside; "
                         "ls /root /home 2>/dev/null | wc -l; ls /run");
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "bundle\n/app\ndata\napp-read-only\nno-outside\n0\nmumba\n");
  EXPECT_TRUE(fs::exists(root_ / "data" / "f")) << "the data folder is the app's real one";
}

TEST_F(SandboxTest, SeesAndSignalsOnlyItsOwnProcesses) {
  auto [out, code] = Run("kill -0 " + std::to_string(::getpid()) + " 2>/dev/null && echo reached-host; "
                         "ls /proc | grep -c '^[0-9]'");
  EXPECT_EQ(code, 0) << out;
  EXPECT_LE(std::stoi(out), 4) << "processes seen: " << out;
  EXPECT_EQ(out.find("reached-host"), std::string::npos);
}

TEST_F(SandboxTest, SeccompAndNamespacesRefuseTheEscapes) {
  const std::string py =
      "import ctypes, errno, os\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "def tried(name, rc):\n"
      "    print(name, 'ok' if rc == 0 else errno.errorcode[ctypes.get_errno()])\n"
      "tried('ptrace', libc.ptrace(0, 0, 0, 0))\n"
      "tried('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))\n"
      "tried('unshare', libc.unshare(0x10000000))\n"
      "tried('keyctl', libc.syscall(250, 0, 0, 0, 0, 0))\n"
      "tried('bpf', libc.syscall(321, 0, 0, 0))\n"
      "tried('io_uring_setup', libc.syscall(425, 1, 0))\n";
  auto [out, code] = Run("python3 -c \"$(cat <<'EOF'\n" + py + "EOF\n)\"");
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "ptrace EPERM\nmount EPERM\nunshare EPERM\nkeyctl EPERM\nbpf EPERM\nio_uring_setup EPERM\n");
}

TEST_F(SandboxTest, NetworkOnlyWhenGranted) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string connect =
      "python3 -c \"import socket; socket.create_connection(('127.0.0.1', " + std::to_string(ntohs(addr.sin_port)) +
      "), 5); print('connected')\" 2>/dev/null || echo refused";
  EXPECT_EQ(Run(connect).first, "refused\n");
  jail_.network = true;
  EXPECT_EQ(Run(connect).first, "connected\n");
  ::close(listener);
}

TEST_F(SandboxTest, AbstractSocketsOfTheHostStayOutOfReachEvenWithTheNetwork) {
  if (!LandlockScopeAvailable()) GTEST_SKIP() << "this kernel has no Landlock scoping (Linux 6.12+)";
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = "mumba-sandbox-test-" + std::to_string(::getpid());
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  jail_.network = true;  // Shares the network namespace, where abstract names live.
  const std::string connect = "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.connect('\\0" + name +
                              "'); print('connected')\" 2>/dev/null || echo refused";
  EXPECT_EQ(Run(connect).first, "refused\n");
  ::close(listener);
}

bool AnyProcessNamed(const std::string& comm) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "comm");
    std::string name;
    if (std::getline(in, name) && name == comm) return true;
  }
  return false;
}

TEST_F(SandboxTest, KillingTheJailKillsWhatEscapedWithSetsid) {
  const std::string marker = "mesc" + std::to_string(::getpid() % 100000);
  auto launched = ProcessLauncher::System().Launch(
      Jailed("cp /usr/bin/sleep /tmp/" + marker + " && setsid /tmp/" + marker + " 60 & sleep 60"));
  ASSERT_TRUE(launched.ok()) << launched.status().message();
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {  // Up to 10 s.
    seen = AnyProcessNamed(marker);
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(seen) << "the escapee never started";
  ProcessLauncher::System().SignalGroup(launched->pid, SIGKILL);
  ProcessLauncher::System().Wait(launched->pid);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = !AnyProcessNamed(marker);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "a process that called setsid outlived its app";
}

TEST_F(SandboxTest, APoliteStopReachesTheProgramAndLetsItFinish) {
  auto launched = ProcessLauncher::System().Launch(
      Jailed("trap 'sleep 0.3; echo finished > /data/stopped; exit 0' TERM; echo up; "
             "while :; do sleep 0.05; done"));
  ASSERT_TRUE(launched.ok()) << launched.status().message();
  char buf[3];
  pollfd p{launched->output.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1);
  ASSERT_EQ(::read(launched->output.get(), buf, sizeof buf), 3);
  ProcessLauncher::System().SignalDescendant(launched->pid, kSandboxWrapperDepth, SIGTERM);
  ProcessExit exit = ProcessLauncher::System().Wait(launched->pid);
  EXPECT_EQ(exit.ExitCode(), 0) << exit.Describe();
  std::ifstream in(root_ / "data" / "stopped");
  std::string line;
  EXPECT_TRUE(std::getline(in, line) && line == "finished") << "the program was killed before its grace";
}

}  // namespace
}  // namespace mumba
