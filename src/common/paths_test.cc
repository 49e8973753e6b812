// SPDX-License-Identifier: Apache-2.0
// Which folders may be a host's home: only the user's own, closed to others, under
// folders nobody else can change.
#include "common/paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/temp_dir.h"

namespace mumba {
namespace {

namespace fs = std::filesystem;

class HomeCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Under a private folder: /tmp itself is fine (sticky), the test's own layers too.
    fs::permissions(dir_.path(), fs::perms::owner_all, fs::perm_options::replace);
    home_ = dir_.path() / "home";
    fs::create_directories(home_);
    fs::permissions(home_, fs::perms::owner_all, fs::perm_options::replace);
  }
  TempDir dir_{"mumba-paths-test"};
  fs::path home_;
};

TEST_F(HomeCheckTest, OurOwnClosedFolderIsAccepted) {
  Status st = CheckHomeIsOurs(home_);
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST_F(HomeCheckTest, AFolderOpenToOthersIsRefused) {
  ::chmod(home_.c_str(), 0755);
  Status st = CheckHomeIsOurs(home_);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("open to other users"), std::string::npos) << st.message();
}

TEST_F(HomeCheckTest, ALinkIsRefused) {
  fs::create_directory_symlink(home_, dir_.path() / "link");
  EXPECT_EQ(CheckHomeIsOurs(dir_.path() / "link").code(), Code::kFailedPrecondition);
}

TEST_F(HomeCheckTest, AParentOthersCanWriteIsRefused) {
  ::chmod(dir_.path().c_str(), 0777);  // Not sticky: anyone could rename home away.
  Status st = CheckHomeIsOurs(home_);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("another user can change"), std::string::npos) << st.message();
  ::chmod(dir_.path().c_str(), 01777);  // Sticky, as /tmp is: fine.
  EXPECT_TRUE(CheckHomeIsOurs(home_).ok());
}

TEST_F(HomeCheckTest, AFolderOfAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a folder away needs root";
  ASSERT_EQ(::chown(home_.c_str(), 65534, 65534), 0);
  Status st = CheckHomeIsOurs(home_);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("not to you"), std::string::npos) << st.message();
  ::chown(home_.c_str(), 0, 0);
}

TEST(DefaultHomeTest, WithoutHomeItAsksThePasswordDatabaseNotTmp) {
  const char* saved[] = {std::getenv("MUMBA_HOME"), std::getenv("XDG_DATA_HOME"), std::getenv("HOME")};
  std::string copies[3];
  for (int i = 0; i < 3; ++i) copies[i] = saved[i] ? saved[i] : "";
  ::unsetenv("MUMBA_HOME");
  ::unsetenv("XDG_DATA_HOME");
  ::unsetenv("HOME");
  fs::path home = DefaultHome();
  const char* names[] = {"MUMBA_HOME", "XDG_DATA_HOME", "HOME"};
  for (int i = 0; i < 3; ++i) {
    if (saved[i]) ::setenv(names[i], copies[i].c_str(), 1);
  }
  EXPECT_NE(home.string().rfind("/tmp", 0), 0u) << home;
  EXPECT_EQ(home.filename(), "mumba");
}

}  // namespace
}  // namespace mumba
