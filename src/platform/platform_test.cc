// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "platform/errno_status.h"
#include "platform/fake_clock.h"
#include "platform/hex.h"
#include "platform/unique_fd.h"
#include "platform/unix_listener.h"

namespace mumba {
namespace {

using namespace std::chrono_literals;

TEST(UnixSocketTest, ConnectsToAListenerAndSaysWhyNot) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("unix_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "s.sock";
  UniqueFd listening = ListenUnix(path, SOCK_STREAM);
  ASSERT_TRUE(listening) << std::strerror(errno);
  UniqueFd client = ConnectUnix(path, SOCK_STREAM);
  ASSERT_TRUE(client) << std::strerror(errno);
  EXPECT_TRUE(::fcntl(client.get(), F_GETFD) & FD_CLOEXEC);

  EXPECT_FALSE(ConnectUnix(dir / "none.sock", SOCK_STREAM));
  EXPECT_EQ(errno, ENOENT);
  EXPECT_FALSE(ConnectUnix(dir / std::string(200, 'x'), SOCK_STREAM));
  EXPECT_EQ(errno, ENAMETOOLONG);
  std::filesystem::remove_all(dir);
}

TEST(HexTest, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string hex = ToHex(all);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(hex.size() - 4), "feff");
  EXPECT_EQ(FromHex(hex), all);
  EXPECT_EQ(FromHex("ABcd"), std::string("\xab\xcd"));
}

TEST(HexTest, RefusesOddLengthAndNonDigits) {
  EXPECT_FALSE(FromHex("abc").has_value());
  EXPECT_FALSE(FromHex("zz").has_value());
  EXPECT_FALSE(FromHex("0g").has_value());
  EXPECT_EQ(FromHex(""), std::string());
}

TEST(ErrnoStatusTest, MapsOntoWhatTheCallerCanDo) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "open x").code(), Code::kNotFound);
  EXPECT_EQ(ErrnoStatus(EEXIST, "x").code(), Code::kAlreadyExists);
  EXPECT_EQ(ErrnoStatus(ENOTEMPTY, "x").code(), Code::kFailedPrecondition);
  EXPECT_EQ(ErrnoStatus(ELOOP, "x").code(), Code::kInvalidArgument);
  EXPECT_EQ(ErrnoStatus(EACCES, "x").code(), Code::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EROFS, "x").code(), Code::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "x").code(), Code::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(EDQUOT, "x").code(), Code::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(ENOTDIR, "x").code(), Code::kFailedPrecondition);
  EXPECT_EQ(ErrnoStatus(EIO, "x").code(), Code::kInternal);
  EXPECT_EQ(ErrnoStatus(ENOENT, "cannot open a").message(), "cannot open a: No such file or directory");
}

TEST(UniqueFdTest, ClosesOnceAndReleases) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    UniqueFd moved = std::move(fd);
    EXPECT_FALSE(fd.valid());
    EXPECT_EQ(moved.get(), raw);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // Closed with `moved`.
  UniqueFd kept(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int released = kept.Release();
  EXPECT_FALSE(kept.valid());
  EXPECT_GE(::fcntl(released, F_GETFD), 0);
  ::close(released);
}

TEST(FakeClockTest, SleepEndsOnlyWhenAdvancedFarEnough) {
  FakeClock clock;
  auto start = clock.Now();
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(100ms);
    woke = true;
  });
  clock.AwaitSleepers(1);
  clock.Advance(60ms);
  EXPECT_FALSE(woke.load());  // Never a false alarm; a sleep ended early shows here.
  clock.Advance(40ms);
  sleeper.join();
  EXPECT_TRUE(woke);
  EXPECT_EQ(clock.Now() - start, 100ms);
}

}  // namespace
}  // namespace mumba
