// SPDX-License-Identifier: Apache-2.0
// Bundle checks on real folders: nothing in a bundle may lead outside it, an
// install refuses what cannot run, and the staged copy is exact.
#include "bundle/bundle.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <google/protobuf/descriptor.pb.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "common/files.h"
#include "common/temp_dir.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

constexpr const char* kAddress = "mumba://onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";

// A folder under /tmp that is removed, with everything in it, at the end.
void Write(const fs::path& file, const std::string& contents, fs::perms mode = fs::perms(0644)) {
  WriteTestFile(file, contents, mode);
}

std::string Read(const fs::path& file) {
  auto text = ReadFile(file);
  return text.ok() ? *text : "<unreadable>";
}

std::string ManifestText(const std::string& extra = "") {
  return std::string("id = \"") + kAddress +
         "\"\nname = \"hello\"\nversion = \"0.1.0\"\n" + extra +
         "[daemon]\ncommand = \"bin/hello\"\n[ui]\nentry = \"ui/index.html\"\n";
}

// Bytes 0..255 repeated, so a copy that drops or translates any byte shows.
std::string BinaryBlob(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  return out;
}

// root/bundle holds a good bundle; root itself is where "outside" things go.
class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle_ = tmp_.path() / "bundle";
    Write(bundle_ / "mumba.toml", ManifestText());
    Write(bundle_ / "bin/hello", "#!/bin/sh\nexit 0\n" + BinaryBlob(70000), fs::perms(0755));
    Write(bundle_ / "ui/index.html", "<h1>hello</h1>\n");
    Write(bundle_ / "data/setup.sql", "CREATE TABLE t (x);\n", fs::perms(0600));
    fs::create_directories(bundle_ / "data/empty");
    Write(tmp_.path() / "outside.txt", "secret\n");
  }

  const fs::path& bundle() const { return bundle_; }
  const fs::path& outside() const { return tmp_.path(); }

  TempDir tmp_;
  fs::path bundle_;
};

void ExpectRefused(const Status& st, const std::string& needle) {
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
}

TEST_F(BundleTest, GoodTreePasses) {
  fs::create_symlink("index.html", bundle() / "ui/latest.html");
  fs::create_symlink("../bin/hello", bundle() / "ui/daemon");
  fs::create_symlink("data", bundle() / "data-link");
  fs::create_symlink(".", bundle() / "self");
  Status st = CheckBundleTree(bundle());
  EXPECT_TRUE(st.ok()) << st.message();
  auto m = ValidateBundle(bundle());
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->name, "hello");
  EXPECT_EQ(m->id, kAddress);
}

TEST_F(BundleTest, AbsoluteSymlinkIsRefused) {
  fs::create_symlink(outside() / "outside.txt", bundle() / "ui/leak");
  ExpectRefused(CheckBundleTree(bundle()), "ui/leak");
  ExpectRefused(CheckBundleTree(bundle()), "absolute");
  // Even one pointing inside the bundle: the bundle may be moved.
  fs::remove(bundle() / "ui/leak");
  fs::create_symlink(bundle() / "ui/index.html", bundle() / "ui/abs");
  ExpectRefused(CheckBundleTree(bundle()), "ui/abs");
}

TEST_F(BundleTest, RelativeSymlinkOutIsRefused) {
  fs::create_symlink("../../outside.txt", bundle() / "ui/leak");
  ExpectRefused(CheckBundleTree(bundle()), "ui/leak");
  ExpectRefused(ValidateBundle(bundle()).status(), "ui/leak");
}

TEST_F(BundleTest, SymlinkToTheParentIsRefused) {
  fs::create_symlink("..", bundle() / "up");
  ExpectRefused(CheckBundleTree(bundle()), "'up'");
}

TEST_F(BundleTest, SymlinkOutThatComesBackInByNameIsAccepted) {
  // "../bundle/ui/index.html" leaves and re-enters: it resolves inside.
  fs::create_symlink("../bundle/ui/index.html", bundle() / "round-trip");
  Status st = CheckBundleTree(bundle());
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST_F(BundleTest, ChainOfLinksThatLeavesIsRefused) {
  // Each link alone looks inside ("self/../outside.txt" is lexically bundle/outside.txt),
  // but self is the bundle itself, so the chain resolves to the folder above.
  fs::create_symlink(".", bundle() / "self");
  fs::create_symlink("self/../outside.txt", bundle() / "escape");
  ExpectRefused(CheckBundleTree(bundle()), "escape");
}

TEST_F(BundleTest, SpecialFilesAreRefused) {
  ASSERT_EQ(::mkfifo((bundle() / "data/pipe").c_str(), 0644), 0);
  ExpectRefused(CheckBundleTree(bundle()), "data/pipe");
  ExpectRefused(CheckBundleTree(bundle()), "not a regular file or folder");
  ExpectRefused(ValidateBundle(bundle()).status(), "data/pipe");
}

TEST_F(BundleTest, RootMustBeAFolder) {
  ExpectRefused(CheckBundleTree(bundle() / "mumba.toml"), "not a folder");
  ExpectRefused(CheckBundleTree(outside() / "missing"), "not a folder");
}

TEST_F(BundleTest, MissingManifestIsRefused) {
  fs::remove(bundle() / "mumba.toml");
  ExpectRefused(ValidateBundle(bundle()).status(), "mumba.toml");
}

TEST_F(BundleTest, BadManifestIsRefused) {
  Write(bundle() / "mumba.toml", ManifestText("nmae = \"typo\"\n"));
  ExpectRefused(ValidateBundle(bundle()).status(), "nmae");
}

TEST_F(BundleTest, MissingDaemonBinaryIsRefused) {
  fs::remove(bundle() / "bin/hello");
  auto m = ValidateBundle(bundle());
  ExpectRefused(m.status(), "daemon.command");
  ExpectRefused(m.status(), "bin/hello");
}

TEST_F(BundleTest, DaemonThatIsAFolderIsRefused) {
  fs::remove(bundle() / "bin/hello");
  fs::create_directories(bundle() / "bin/hello");
  ExpectRefused(ValidateBundle(bundle()).status(), "daemon.command");
}

TEST_F(BundleTest, DaemonThatIsNotExecutableIsRefused) {
  fs::permissions(bundle() / "bin/hello", fs::perms(0644));
  ExpectRefused(ValidateBundle(bundle()).status(), "not executable");
}

TEST_F(BundleTest, DaemonThatIsADanglingLinkIsRefused) {
  fs::remove(bundle() / "bin/hello");
  fs::create_symlink("hello-real", bundle() / "bin/hello");
  ExpectRefused(ValidateBundle(bundle()).status(), "daemon.command");
}

TEST_F(BundleTest, DaemonLinkedInsideTheBundleIsAccepted) {
  fs::rename(bundle() / "bin/hello", bundle() / "bin/hello-1.0");
  fs::create_symlink("hello-1.0", bundle() / "bin/hello");
  auto m = ValidateBundle(bundle());
  EXPECT_TRUE(m.ok()) << m.status().message();
}

TEST_F(BundleTest, MissingUiEntryAndIconAreRefused) {
  fs::remove(bundle() / "ui/index.html");
  ExpectRefused(ValidateBundle(bundle()).status(), "ui.entry");
  Write(bundle() / "ui/index.html", "<h1>hello</h1>\n");
  Write(bundle() / "mumba.toml", ManifestText("icon = \"ui/icon.png\"\n"));
  ExpectRefused(ValidateBundle(bundle()).status(), "icon");
  Write(bundle() / "ui/icon.png", BinaryBlob(100));
  auto m = ValidateBundle(bundle());
  EXPECT_TRUE(m.ok()) << m.status().message();
}

// A descriptor set with hello.v1.Greeter in hello.proto, which imports common.proto.
// The files are written in the wrong order on purpose: sets need not be sorted.
std::string DescriptorSet() {
  google::protobuf::FileDescriptorSet set;
  auto* hello = set.add_file();
  hello->set_name("hello/v1/hello.proto");
  hello->set_package("hello.v1");
  hello->set_syntax("proto3");
  hello->add_dependency("common/v1/common.proto");
  auto* service = hello->add_service();
  service->set_name("Greeter");
  auto* method = service->add_method();
  method->set_name("SayHello");
  method->set_input_type(".common.v1.Text");
  method->set_output_type(".common.v1.Text");
  auto* common = set.add_file();
  common->set_name("common/v1/common.proto");
  common->set_package("common.v1");
  common->set_syntax("proto3");
  auto* text = common->add_message_type();
  text->set_name("Text");
  auto* field = text->add_field();
  field->set_name("value");
  field->set_number(1);
  field->set_type(google::protobuf::FieldDescriptorProto::TYPE_STRING);
  field->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  return set.SerializeAsString();
}

TEST_F(BundleTest, ExportedServicesMustBeInTheDescriptorSet) {
  Write(bundle() / "mumba.toml",
        ManifestText() + "[exports]\nservices = [\"hello.v1.Greeter\"]\n");
  ExpectRefused(ValidateBundle(bundle()).status(), kDescriptorSetPath);

  Write(bundle() / kDescriptorSetPath, DescriptorSet());
  auto m = ValidateBundle(bundle());
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->services, (std::vector<std::string>{"hello.v1.Greeter"}));

  Write(bundle() / "mumba.toml",
        ManifestText() + "[exports]\nservices = [\"hello.v1.Greeter\", \"hello.v1.Missing\"]\n");
  ExpectRefused(ValidateBundle(bundle()).status(), "hello.v1.Missing");
}

TEST_F(BundleTest, DescriptorPoolLoadsFilesInAnyOrder) {
  Write(bundle() / kDescriptorSetPath, DescriptorSet());
  auto pool = LoadDescriptorPool(bundle() / kDescriptorSetPath);
  ASSERT_TRUE(pool.ok()) << pool.status().message();
  const auto* service = (*pool)->FindServiceByName("hello.v1.Greeter");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->method(0)->input_type()->full_name(), "common.v1.Text");
}

TEST_F(BundleTest, DescriptorPoolRefusesGarbageAndMissingImports) {
  Write(bundle() / kDescriptorSetPath, "\xff\xff\xff not a protobuf");
  EXPECT_FALSE(LoadDescriptorPool(bundle() / kDescriptorSetPath).ok());

  google::protobuf::FileDescriptorSet set;
  set.ParseFromString(DescriptorSet());
  set.mutable_file()->RemoveLast();  // Drops common.proto, which hello.proto imports.
  Write(bundle() / kDescriptorSetPath, set.SerializeAsString());
  auto pool = LoadDescriptorPool(bundle() / kDescriptorSetPath);
  ASSERT_FALSE(pool.ok());
  EXPECT_NE(pool.status().message().find("--include_imports"), std::string::npos)
      << pool.status().message();

  EXPECT_FALSE(LoadDescriptorPool(bundle() / "proto/none.binpb").ok());
}

// Every entry below `root`, relative, mapped to a description of what it is.
std::map<std::string, std::string> Describe(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    auto rel = fs::relative(e.path(), root).string();
    auto st = e.symlink_status();
    if (fs::is_symlink(st)) {
      out[rel] = "link -> " + fs::read_symlink(e.path()).string();
    } else if (fs::is_directory(st)) {
      out[rel] = "dir";
    } else {
      out[rel] = "file " + std::to_string(static_cast<int>(st.permissions())) + " " +
                 Read(e.path());
    }
  }
  return out;
}

TEST_F(BundleTest, CopyIsExact) {
  fs::create_symlink("index.html", bundle() / "ui/latest.html");
  fs::create_symlink("../bin/hello", bundle() / "ui/daemon");
  Write(bundle() / "data/blob.bin", BinaryBlob(300000));
  Write(bundle() / "data/empty.txt", "");
  fs::path dst = outside() / "staging" / "copy";
  Status st = CopyBundleTree(bundle(), dst);
  ASSERT_TRUE(st.ok()) << st.message();

  auto want = Describe(bundle());
  auto got = Describe(dst);
  EXPECT_EQ(want.size(), got.size());
  for (const auto& [rel, what] : want) {
    auto it = got.find(rel);
    ASSERT_NE(it, got.end()) << rel << " was not copied";
    // Compare without printing 300 kB when they differ.
    EXPECT_TRUE(it->second == what) << rel << " differs";
  }
  EXPECT_EQ(Read(dst / "data/blob.bin"), BinaryBlob(300000));
  EXPECT_EQ(fs::status(dst / "bin/hello").permissions(), fs::perms(0755));
  EXPECT_EQ(fs::status(dst / "data/setup.sql").permissions(), fs::perms(0600));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dst / "ui/latest.html")));
  EXPECT_EQ(fs::read_symlink(dst / "ui/latest.html"), "index.html");
  EXPECT_TRUE(fs::is_directory(dst / "data/empty"));

  // The copy is itself a valid bundle.
  auto m = ValidateBundle(dst);
  EXPECT_TRUE(m.ok()) << m.status().message();
}

TEST_F(BundleTest, CopyRefusesABadTreeAndCreatesNothing) {
  fs::create_symlink("../outside.txt", bundle() / "leak");
  fs::path dst = outside() / "copy";
  ExpectRefused(CopyBundleTree(bundle(), dst), "leak");
  EXPECT_FALSE(fs::exists(dst));

  fs::remove(bundle() / "leak");
  ASSERT_EQ(::mkfifo((bundle() / "pipe").c_str(), 0644), 0);
  ExpectRefused(CopyBundleTree(bundle(), dst), "pipe");
  EXPECT_FALSE(fs::exists(dst));
}

}  // namespace
}  // namespace mumba
