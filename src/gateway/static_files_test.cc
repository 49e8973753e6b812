// SPDX-License-Identifier: Apache-2.0
#include "gateway/static_files.h"

#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "common/temp_dir.h"

namespace mumba {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(tmp_.path() / "ui/index.html", "<h1>hi</h1>");
    Write(tmp_.path() / "ui/app.js", "export {}");
    Write(tmp_.path() / "ui/sub dir/index.html", "sub");
    Write(tmp_.path() / "secret.txt", "outside");
    fs::create_symlink(tmp_.path() / "secret.txt", tmp_.path() / "ui/link.txt");
  }
  fs::path root() const { return tmp_.path() / "ui"; }
  TempDir tmp_;
};

TEST_F(StaticFilesTest, FindsFilesFoldersAndEncodedNames) {
  auto f = FindStaticFile(root(), "/app.js");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->size, 9u);
  EXPECT_EQ(f->mime, "text/javascript; charset=utf-8");
  EXPECT_EQ(f->etag.front(), '"');
  EXPECT_EQ(FindStaticFile(root(), "/")->path, root() / "index.html");
  EXPECT_EQ(FindStaticFile(root(), "/sub%20dir/")->path, root() / "sub dir/index.html");
  EXPECT_EQ(FindStaticFile(root(), "/sub%20dir")->path, root() / "sub dir/index.html");
}

TEST_F(StaticFilesTest, TheEtagChangesWithTheFile) {
  auto before = FindStaticFile(root(), "/app.js");
  Write(root() / "app.js", "export {x}");
  auto after = FindStaticFile(root(), "/app.js");
  EXPECT_NE(before->etag, after->etag);
}

TEST_F(StaticFilesTest, NothingOutsideTheRootAndNoSymlinks) {
  for (const char* p : {"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/link.txt",
                        "/missing.html", "app.js", "/app.js%00", "/%zz", "/a\\b", ""}) {
    auto f = FindStaticFile(root(), p);
    EXPECT_FALSE(f.ok()) << p;
    if (!f.ok()) {
      EXPECT_EQ(f.status().code(), Code::kNotFound) << p;
    }
  }
}

TEST(MimeTypeTest, KnownAndUnknownExtensions) {
  EXPECT_EQ(MimeTypeFor("a.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("a.png"), "image/png");
  EXPECT_EQ(MimeTypeFor("a.svg"), "image/svg+xml");
  EXPECT_EQ(MimeTypeFor("a.wasm"), "application/wasm");
  EXPECT_EQ(MimeTypeFor("Makefile"), "application/octet-stream");
}

}  // namespace
}  // namespace mumba

namespace mumba {
namespace {

TEST(QueryParamTest, FindsDecodesAndMisses) {
  EXPECT_EQ(QueryParam("a=1&next=%2Fx%20y&b=", "next"), "/x y");
  EXPECT_EQ(QueryParam("a=1&b=two+words", "b"), "two words");
  EXPECT_EQ(QueryParam("ab=1&a=2", "a"), "2");
  EXPECT_EQ(QueryParam("a=1", "b"), "");
  EXPECT_EQ(QueryParam("a=%zz", "a"), "");
  EXPECT_EQ(QueryParam("", "a"), "");
}

}  // namespace
}  // namespace mumba
