// SPDX-License-Identifier: Apache-2.0
// The safe-path unit on its own: what CheckPath refuses (absolute paths, "..",
// empty, over-long and reserved components, NUL, backslashes), and that OpenFolder
// never walks through a symlink, wherever it points, in any walk mode.
#include "storage/safe_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "common/temp_dir.h"

namespace fs = std::filesystem;

namespace mumba::engine {
namespace {

// CheckPath's message for `path`, or "" when it is accepted.
std::string Refusal(std::string_view path, bool root_ok = false) {
  auto checked = CheckPath(path, root_ok);
  if (checked.ok()) return "";
  EXPECT_EQ(checked.status().code(), Code::kInvalidArgument) << checked.status().message();
  return checked.status().message();
}

TEST(CheckPath, SplitsARelativePathIntoComponents) {
  auto checked = CheckPath("notes/2024/a.txt", false);
  ASSERT_TRUE(checked.ok()) << checked.status().message();
  EXPECT_EQ(checked->text, "notes/2024/a.txt");
  EXPECT_EQ(checked->parts, (std::vector<std::string>{"notes", "2024", "a.txt"}));
  EXPECT_EQ(checked->leaf(), "a.txt");
  EXPECT_EQ(checked->Prefix(2), "notes/2024");
  EXPECT_EQ(checked->Prefix(0), "");
}

TEST(CheckPath, EmptyAndDotNameTheRootOnlyWhereAFolderIsExpected) {
  for (std::string_view root : {"", "."}) {
    auto checked = CheckPath(root, true);
    ASSERT_TRUE(checked.ok()) << root;
    EXPECT_TRUE(checked->parts.empty());
    EXPECT_EQ(checked->text, "");
  }
  EXPECT_EQ(Refusal(""), "invalid path '': it is empty");
  EXPECT_EQ(Refusal("."), "invalid path '.': has a '.' or '..' component");
}

TEST(CheckPath, RefusesAbsolutePaths) {
  EXPECT_EQ(Refusal("/etc/passwd"), "invalid path '/etc/passwd': it is absolute");
  EXPECT_EQ(Refusal("/", true), "invalid path '/': it is absolute");
}

TEST(CheckPath, RefusesDotAndDotDotComponentsAnywhere) {
  for (std::string_view path : {"..", "../x", "a/../b", "a/..", "a/./b", "./a", "a/."}) {
    EXPECT_NE(Refusal(path, true).find("has a '.' or '..' component"), std::string::npos) << path;
  }
  // Dots inside a name are just names.
  EXPECT_EQ(Refusal("..a/b..c/..."), "");
}

TEST(CheckPath, RefusesEmptyComponents) {
  for (std::string_view path : {"a//b", "a/", "a/b/", "//a"}) {
    std::string why = Refusal(path);
    EXPECT_TRUE(why.find("has an empty component") != std::string::npos ||
                why.find("it is absolute") != std::string::npos)
        << path << ": " << why;
  }
  EXPECT_NE(Refusal("a//b").find("has an empty component"), std::string::npos);
}

TEST(CheckPath, RefusesNulAndBackslash) {
  EXPECT_EQ(Refusal(std::string_view("a\0b", 3)), "invalid path 'a\\x00b': it contains NUL");
  EXPECT_EQ(Refusal("a\\..\\b"), "invalid path 'a\\..\\b': it contains a backslash");
}

TEST(CheckPath, BoundsComponentAndPathLengths) {
  std::string longest(kMaxComponentBytes, 'x');
  EXPECT_EQ(Refusal(longest), "");
  EXPECT_NE(Refusal("a/" + longest + "y").find("has a component longer than 255 bytes"),
            std::string::npos);
  // 16 components of 255 bytes and 15 slashes: 4095 bytes, accepted.
  std::string deep = longest;
  for (int i = 1; i < 16; ++i) deep += "/" + longest;
  ASSERT_EQ(deep.size(), 4095u);
  EXPECT_EQ(Refusal(deep), "");
  std::string too_long = deep + "/x";
  ASSERT_GT(too_long.size(), kMaxPathBytes);
  EXPECT_NE(Refusal(too_long).find("it is longer than 4096 bytes"), std::string::npos);
}

TEST(CheckPath, RefusesTheReservedPrefixInAnyComponent) {
  for (std::string_view path : {".mumba-tmp", ".mumba-tmp/x.part", "a/.mumba", "a/.mumbaX/b"}) {
    EXPECT_NE(Refusal(path).find("starting with '.mumba', which is reserved"), std::string::npos)
        << path;
  }
  EXPECT_EQ(Refusal(".mumb"), "");
  EXPECT_EQ(Refusal("x.mumba/.Mumba"), "");
}

TEST(CheckPath, QuotesHostilePathsSafely) {
  // Control bytes are escaped so a path cannot start a new log line...
  EXPECT_EQ(Refusal("a\n/.."), "invalid path 'a\\x0a/..': has a '.' or '..' component");
  // ...and a long one is cut.
  std::string flood = "/" + std::string(1000, 'z');
  std::string why = Refusal(flood);
  EXPECT_NE(why.find(std::string(199, 'z') + "...'"), std::string::npos);
  EXPECT_LT(why.size(), 300u);
}

TEST(ComponentProblem, NamesWhatNoPathCouldReach) {
  EXPECT_EQ(ComponentProblem("ok.txt"), "");
  EXPECT_NE(ComponentProblem(""), "");
  EXPECT_NE(ComponentProblem("."), "");
  EXPECT_NE(ComponentProblem(".."), "");
  EXPECT_NE(ComponentProblem(".mumba-tmp"), "");
  EXPECT_NE(ComponentProblem(std::string(256, 'x')), "");
}

// A root folder with its descriptor open, and a folder outside it that symlinks
// planted in the tree point at.
class OpenFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_fd_ = UniqueFd(::open(root_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_.valid());
    std::ofstream(outside_.path() / "secret") << "host data";
  }

  static TreePath Path(std::string_view text) {
    auto checked = CheckPath(text, true);
    EXPECT_TRUE(checked.ok()) << checked.status().message();
    return checked.ok() ? *checked : TreePath{};
  }

  // Whether `fd` is the folder at `path`.
  static bool Is(const UniqueFd& fd, const fs::path& path) {
    struct stat a, b;
    return fd.valid() && ::fstat(fd.get(), &a) == 0 && ::stat(path.c_str(), &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  }

  TempDir root_{"mumba-safe-path"};
  TempDir outside_{"mumba-safe-path-outside"};
  UniqueFd root_fd_;
};

TEST_F(OpenFolderTest, WalksExistingFolders) {
  fs::create_directories(root_.path() / "a" / "b");
  TreePath path = Path("a/b/c.txt");
  auto parent = OpenFolder(root_fd_.get(), path, 2, Walk::kExisting);
  ASSERT_TRUE(parent.ok()) << parent.status().message();
  EXPECT_TRUE(Is(*parent, root_.path() / "a" / "b"));
  // No components: a new descriptor of the root itself.
  auto top = OpenFolder(root_fd_.get(), path, 0, Walk::kExisting);
  ASSERT_TRUE(top.ok());
  EXPECT_NE(top->get(), root_fd_.get());
  EXPECT_TRUE(Is(*top, root_.path()));
  EXPECT_EQ(::fcntl(top->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST_F(OpenFolderTest, MissingFoldersAsEachWalkSays) {
  TreePath path = Path("x/y/z.txt");
  auto existing = OpenFolder(root_fd_.get(), path, 2, Walk::kExisting);
  EXPECT_EQ(existing.status().code(), Code::kNotFound);
  EXPECT_EQ(existing.status().message(), "'x/y/z.txt' not found");
  auto probe = OpenFolder(root_fd_.get(), path, 2, Walk::kProbe);
  ASSERT_TRUE(probe.ok());
  EXPECT_FALSE(probe->valid());
  EXPECT_FALSE(fs::exists(root_.path() / "x"));
  auto created = OpenFolder(root_fd_.get(), path, 2, Walk::kCreate);
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_TRUE(Is(*created, root_.path() / "x" / "y"));
  EXPECT_EQ(fs::status(root_.path() / "x").permissions() & fs::perms::all, fs::perms::owner_all);
}

TEST_F(OpenFolderTest, AFileOnTheWay) {
  std::ofstream(root_.path() / "f") << "file";
  auto inside = OpenFolder(root_fd_.get(), Path("f/x"), 1, Walk::kExisting);
  EXPECT_EQ(inside.status().code(), Code::kNotFound);
  EXPECT_EQ(inside.status().message(), "'f/x' not found: 'f' is a file, not a folder");
  auto itself = OpenFolder(root_fd_.get(), Path("f"), 1, Walk::kExisting);
  EXPECT_EQ(itself.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(itself.status().message(), "'f' is a file, not a folder");
  for (Walk walk : {Walk::kCreate, Walk::kProbe}) {
    auto placed = OpenFolder(root_fd_.get(), Path("f/x"), 1, walk);
    EXPECT_EQ(placed.status().code(), Code::kFailedPrecondition);
    EXPECT_EQ(placed.status().message(), "cannot place 'f/x': 'f' is a file, not a folder");
  }
}

TEST_F(OpenFolderTest, NeverFollowsASymlinkPointingOut) {
  fs::create_directory_symlink(outside_.path(), root_.path() / "out");
  for (Walk walk : {Walk::kExisting, Walk::kCreate, Walk::kProbe}) {
    auto opened = OpenFolder(root_fd_.get(), Path("out/secret"), 1, walk);
    EXPECT_EQ(opened.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(opened.status().message(), "'out' is a symlink, which the store never follows");
    // Nothing was made on the other side either.
    auto deeper = OpenFolder(root_fd_.get(), Path("out/new/file"), 2, walk);
    EXPECT_EQ(deeper.status().code(), Code::kInvalidArgument);
  }
  EXPECT_FALSE(fs::exists(outside_.path() / "new"));
}

TEST_F(OpenFolderTest, NeverFollowsASymlinkedParentEvenInsideTheTree) {
  fs::create_directories(root_.path() / "a" / "real");
  fs::create_directory_symlink(root_.path() / "a" / "real", root_.path() / "a" / "link");
  auto opened = OpenFolder(root_fd_.get(), Path("a/link/x"), 2, Walk::kExisting);
  EXPECT_EQ(opened.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(opened.status().message(), "'a/link' is a symlink, which the store never follows");
  // The real folder is still reachable by its own name.
  EXPECT_TRUE(OpenFolder(root_fd_.get(), Path("a/real/x"), 2, Walk::kExisting).ok());
}

TEST_F(OpenFolderTest, DanglingAndFileSymlinksAreRefusedToo) {
  fs::create_symlink(root_.path() / "nowhere", root_.path() / "dangling");
  fs::create_symlink(outside_.path() / "secret", root_.path() / "to-file");
  for (std::string_view name : {"dangling", "to-file"}) {
    for (Walk walk : {Walk::kExisting, Walk::kCreate, Walk::kProbe}) {
      auto opened = OpenFolder(root_fd_.get(), Path(std::string(name) + "/x"), 1, walk);
      EXPECT_EQ(opened.status().code(), Code::kInvalidArgument) << name;
    }
  }
  // kCreate did not make the missing target into a folder.
  EXPECT_FALSE(fs::exists(root_.path() / "nowhere"));
}

TEST_F(OpenFolderTest, AnOverlongComponentBuiltByHandFailsInTheKernel) {
  // CheckPath never lets one through; the walk alone still refuses it.
  TreePath path;
  path.parts = {std::string(300, 'x'), "y"};
  path.text = path.parts[0] + "/y";
  auto opened = OpenFolder(root_fd_.get(), path, 1, Walk::kCreate);
  EXPECT_EQ(opened.status().code(), Code::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("cannot open folder"), std::string::npos)
      << opened.status().message();
}

}  // namespace
}  // namespace mumba::engine
