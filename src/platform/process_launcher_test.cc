// SPDX-License-Identifier: Apache-2.0
// The launcher's hygiene, checked on real processes (/bin/sh): what a child sees of
// our descriptors, environment and process group.
#include "platform/process_launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "platform/read_until_closed.h"

namespace mumba {
namespace {


struct Ran {
  std::string output;
  ProcessExit exit;
};

Ran RunShell(const std::string& script, LaunchSpec spec = {}) {
  spec.executable = "/bin/sh";
  spec.args = {"-c", script};
  spec.capture_output = true;
  auto launched = ProcessLauncher::System().Launch(spec);
  EXPECT_TRUE(launched.ok()) << launched.status().message();
  if (!launched.ok()) return {};
  Ran ran;
  ran.output = ReadUntilClosed(launched->output.get());
  ran.exit = ProcessLauncher::System().Wait(launched->pid);
  return ran;
}

TEST(ProcessLauncherTest, ChildGetsOnlyTheEnvironmentGiven) {
  ::setenv("MUMBA_LAUNCHER_TEST_SECRET", "leak", 1);
  LaunchSpec spec;
  spec.env = {{"ONLY", "this"}, {"PATH", "/usr/bin:/bin"}};
  Ran ran = RunShell("env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | sort", spec);
  EXPECT_EQ(ran.output, "ONLY=this\nPATH=/usr/bin:/bin\n");
  ::unsetenv("MUMBA_LAUNCHER_TEST_SECRET");
}

TEST(ProcessLauncherTest, InheritedEnvironmentIsOnlyOnRequest) {
  ::setenv("MUMBA_LAUNCHER_TEST_VALUE", "seen", 1);
  LaunchSpec spec;
  spec.env = InheritedEnvironment();
  Ran ran = RunShell("echo \"$MUMBA_LAUNCHER_TEST_VALUE\"", spec);
  EXPECT_EQ(ran.output, "seen\n");
  ::unsetenv("MUMBA_LAUNCHER_TEST_VALUE");
}

TEST(ProcessLauncherTest, NoInheritedDescriptorSurvivesEvenWithoutCloseOnExec) {
  int leaky = ::open("/dev/null", O_RDONLY);  // No O_CLOEXEC on purpose.
  ASSERT_GE(leaky, 0);
  Ran ran = RunShell("ls /proc/self/fd | sort -n | tr '\\n' ' '");
  ::close(leaky);
  // 0, 1, 2 and the descriptor ls opens to read the folder.
  EXPECT_EQ(ran.output, "0 1 2 3 ");
}

TEST(ProcessLauncherTest, MapsDescriptorsOntoTheNumbersAsked) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  LaunchSpec spec;
  // Our write end, which is some other number here, becomes the child's 3.
  spec.fds = {{3, p[1]}};
  Ran ran = RunShell("echo through-three >&3", spec);
  ::close(p[1]);
  EXPECT_EQ(ran.exit.ExitCode(), 0);
  EXPECT_EQ(ReadUntilClosed(p[0]), "through-three\n");
  ::close(p[0]);
}

TEST(ProcessLauncherTest, FdContentsAreReadFromTheStartAtEveryLaunch) {
  LaunchSpec spec;
  spec.fd_contents = {{5, "program bytes"}};
  // Twice: a descriptor shared between launches would be read to its end by the first.
  for (int i = 0; i < 2; ++i) {
    Ran ran = RunShell("cat <&5; echo; echo more >&5 2>/dev/null || echo read-only", spec);
    EXPECT_EQ(ran.output, "program bytes\nread-only\n");
  }
}

TEST(ProcessLauncherTest, SignalDescendantReachesTheWrappedProgramOnly) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  LaunchSpec spec;
  spec.executable = "/bin/sh";
  // A wrapper that dies of TERM, around a program that reports it and exits 7.
  spec.args = {"-c", "sh -c 'trap \"echo got-term >&3; exit 7\" TERM; echo ready >&3; "
                     "while :; do sleep 0.05; done'; echo wrapper-saw-$? >&3"};
  spec.fds = {{3, p[1]}};
  auto launched = ProcessLauncher::System().Launch(spec);
  ASSERT_TRUE(launched.ok()) << launched.status().message();
  ::close(p[1]);
  char buf[6];
  ASSERT_EQ(::read(p[0], buf, sizeof buf), 6);  // "ready\n"
  ProcessLauncher::System().SignalDescendant(launched->pid, 1, SIGTERM);
  EXPECT_EQ(ReadUntilClosed(p[0]), "got-term\nwrapper-saw-7\n") << "the wrapper outlived the signal";
  EXPECT_EQ(ProcessLauncher::System().Wait(launched->pid).ExitCode(), 0);
  ::close(p[0]);
}

TEST(ProcessLauncherTest, LandlockScopeKeepsSignalsInsideTheChildsTree) {
  if (!LandlockScopeAvailable()) GTEST_SKIP() << "this kernel has no Landlock scoping (Linux 6.12+)";
  const std::string us = std::to_string(::getpid());
  LaunchSpec spec;
  spec.landlock_scope = true;
  Ran ran = RunShell("kill -0 " + us + " 2>/dev/null && echo reached || echo refused; "
                     "sleep 5 & kill $! && echo own-child", spec);
  EXPECT_EQ(ran.output, "refused\nown-child\n");
  spec.landlock_scope = false;
  EXPECT_EQ(RunShell("kill -0 " + us + " && echo reached", spec).output, "reached\n");
}

TEST(ProcessLauncherTest, ChildLeadsItsOwnProcessGroup) {
  Ran ran = RunShell("ps -o pgid= -p $$ | tr -d ' '; echo $$");
  auto nl = ran.output.find('\n');
  ASSERT_NE(nl, std::string::npos);
  EXPECT_EQ(ran.output.substr(0, nl) + "\n", ran.output.substr(nl + 1));
}

TEST(ProcessLauncherTest, ExecFailureSaysWhy) {
  LaunchSpec spec;
  spec.executable = "/nonexistent/daemon";
  auto launched = ProcessLauncher::System().Launch(spec);
  ASSERT_FALSE(launched.ok());
  EXPECT_EQ(launched.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(launched.status().message(),
            "cannot run /nonexistent/daemon: No such file or directory");
}

TEST(ProcessLauncherTest, SearchesThePathOfTheGivenEnvironment) {
  LaunchSpec spec;
  spec.executable = "sh";
  spec.search_path = true;
  spec.args = {"-c", "exit 7"};
  spec.env = {{"PATH", "/nonexistent:/bin"}};
  auto launched = ProcessLauncher::System().Launch(spec);
  ASSERT_TRUE(launched.ok()) << launched.status().message();
  EXPECT_EQ(ProcessLauncher::System().Wait(launched->pid).ExitCode(), 7);
}

TEST(ProcessLauncherTest, DescribesHowAChildEnded) {
  EXPECT_EQ(RunShell("exit 3").exit.Describe(), "exit code 3");
  Ran killed = RunShell("kill -9 $$");
  EXPECT_EQ(killed.exit.Describe(), "signal 9 (SIGKILL)");
  EXPECT_EQ(killed.exit.ExitCode(), 137);
}

TEST(ProcessLauncherTest, ReapDoesNotBlockOnARunningChild) {
  LaunchSpec spec;
  spec.executable = "/bin/sh";
  spec.args = {"-c", "exec sleep 30"};
  auto launched = ProcessLauncher::System().Launch(spec);
  ASSERT_TRUE(launched.ok());
  EXPECT_FALSE(ProcessLauncher::System().Reap(launched->pid).has_value());
  ProcessLauncher::System().SignalGroup(launched->pid, SIGKILL);
  EXPECT_EQ(ProcessLauncher::System().Wait(launched->pid).Describe(), "signal 9 (SIGKILL)");
}

TEST(ProcessLauncherTest, Argv0IsWhatTheSpecSays) {
  LaunchSpec spec;
  spec.argv0 = "renamed";
  spec.executable = "/bin/sh";
  spec.args = {"-c", "tr '\\0' ' ' < /proc/$$/cmdline"};
  spec.capture_output = true;
  auto launched = ProcessLauncher::System().Launch(spec);
  ASSERT_TRUE(launched.ok());
  EXPECT_EQ(ReadUntilClosed(launched->output.get()).substr(0, 8), "renamed ");
  (void)ProcessLauncher::System().Wait(launched->pid);
}

TEST(ProcessLauncherTest, WaitingForAStrangerIsAnUnknownExitNotASuccess) {
  ProcessExit exit = ProcessLauncher::System().Wait(1);  // init is nobody's child here.
  EXPECT_EQ(exit.Describe(), "unknown exit (No child processes)");
  EXPECT_NE(exit.ExitCode(), 0);
}

}  // namespace
}  // namespace mumba
