// SPDX-License-Identifier: Apache-2.0
#include "platform/peer_credentials.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include <gtest/gtest.h>

#include "platform/process_launcher.h"
#include "platform/unique_fd.h"

namespace mumba {
namespace {

// A shell that starts `sleep` in the background and prints its pid: the sleep is
// our grandchild, the shell our child.
struct Tree {
  pid_t shell = -1;
  pid_t sleeper = -1;
};

Tree StartTree() {
  LaunchSpec spec;
  spec.executable = "/bin/sh";
  spec.args = {"-c", "sleep 30 & echo $!; wait"};
  spec.capture_output = true;
  auto launched = ProcessLauncher::System().Launch(spec);
  EXPECT_TRUE(launched.ok());
  if (!launched.ok()) return {};
  Tree tree{launched->pid, -1};
  std::string out;
  for (int i = 0; i < 50 && out.find('\n') == std::string::npos; ++i) {
    struct pollfd p {launched->output.get(), POLLIN, 0};
    ::poll(&p, 1, 100);
    char buf[64];
    ssize_t n = ::read(launched->output.get(), buf, sizeof(buf));
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  tree.sleeper = static_cast<pid_t>(std::stol(out));
  return tree;
}

void StopTree(const Tree& tree) {
  ProcessLauncher::System().SignalGroup(tree.shell, SIGKILL);
  ProcessLauncher::System().Wait(tree.shell);
}

TEST(PeerCredentialsTest, PeerPidIsTheConnectingProcess) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  EXPECT_EQ(PeerPid(a.get()), ::getpid());
  EXPECT_FALSE(PeerPid(-1).has_value());
}

TEST(PeerCredentialsTest, ChildrenAndGrandchildrenDescendFromUs) {
  Tree tree = StartTree();
  ASSERT_GT(tree.sleeper, 0);
  EXPECT_EQ(ParentPid(tree.shell), ::getpid());
  EXPECT_EQ(ParentPid(tree.sleeper), tree.shell);
  EXPECT_TRUE(DescendsFromAny(tree.shell, {::getpid()}));
  EXPECT_TRUE(DescendsFromAny(tree.sleeper, {::getpid()}));
  EXPECT_TRUE(DescendsFromAny(tree.sleeper, {0, tree.shell}));
  EXPECT_TRUE(DescendsFromAny(tree.shell, {tree.shell}));
  // Ancestry goes one way only.
  EXPECT_FALSE(DescendsFromAny(::getpid(), {tree.shell}));
  EXPECT_FALSE(DescendsFromAny(1, {tree.shell}));
  EXPECT_FALSE(DescendsFromAny(tree.sleeper, {}));
  EXPECT_FALSE(DescendsFromAny(tree.sleeper, {0, -1}));
  StopTree(tree);
}

TEST(PeerCredentialsTest, ADeadPidMatchesNothing) {
  Tree tree = StartTree();
  ASSERT_GT(tree.sleeper, 0);
  StopTree(tree);
  EXPECT_FALSE(ParentPid(tree.shell).has_value());
  EXPECT_FALSE(DescendsFromAny(tree.shell, {::getpid()}));
  EXPECT_FALSE(DescendsFromAny(tree.shell, {tree.shell}));
}

TEST(PeerCredentialsTest, WithinAsksAgainForARootPublishedLate) {
  Tree tree = StartTree();
  ASSERT_GT(tree.sleeper, 0);
  std::atomic<bool> stop{false};
  int asked = 0;
  // The root appears only on the third look, as a pid the supervisor publishes late.
  auto late = [&] { return ++asked >= 3 ? std::vector<pid_t>{tree.shell} : std::vector<pid_t>{}; };
  EXPECT_TRUE(DescendsFromAnyWithin(tree.sleeper, late, stop));
  EXPECT_EQ(asked, 3);
  // This process is never a root and never matches, whatever the roots say.
  auto self = [] { return std::vector<pid_t>{::getpid()}; };
  EXPECT_FALSE(DescendsFromAnyWithin(tree.sleeper, self, stop));
  EXPECT_FALSE(DescendsFromAnyWithin(::getpid(), self, stop));
  // Told to stop, it gives up without asking.
  stop = true;
  asked = 0;
  EXPECT_FALSE(DescendsFromAnyWithin(tree.sleeper, late, stop));
  EXPECT_EQ(asked, 0);
  StopTree(tree);
}

}  // namespace
}  // namespace mumba
