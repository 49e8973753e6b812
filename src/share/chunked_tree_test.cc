// SPDX-License-Identifier: Apache-2.0
// WriteChunked and Assemble on real folders: round trips, dedup, and the
// refusals that keep a stranger's version folder from reaching outside `dest`.
#include "share/chunked_tree.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/temp_dir.h"

namespace mumba::share {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Pattern(size_t size, int seed) {
  std::string out(size, '\0');
  uint32_t x = 2654435761u * static_cast<uint32_t>(seed + 1);
  for (char& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

size_t CountFiles(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

bool IsExecutable(const fs::path& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXUSR) != 0;
}

class ChunkedTreeTest : public ::testing::Test {
 protected:
  TempDir tmp_{"mumba-share"};
  fs::path src_ = tmp_.path() / "src";
  fs::path version_ = tmp_.path() / "v1";
  fs::path dest_ = tmp_.path() / "dest";
};

TEST_F(ChunkedTreeTest, AFileRoundTripsThroughItsChunks) {
  const std::string data = Pattern(10 * 4096 + 123, 1);
  WriteTestFile(src_, data);
  auto index = WriteChunked(src_, version_, "sql", 4096);
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_TRUE(index->single_file);
  ASSERT_EQ(index->entries.size(), 1u);
  EXPECT_EQ(index->entries[0].path, "");
  EXPECT_EQ(index->entries[0].size, data.size());
  EXPECT_EQ(index->entries[0].chunks.size(), 11u);
  EXPECT_EQ(index->entries[0].chunks[0], Sha256Hex(data.substr(0, 4096)));
  EXPECT_EQ(index->total_bytes, data.size());
  EXPECT_EQ(CountFiles(version_ / "chunks"), 11u);

  auto read = ReadIndex(version_, IndexLimits{});
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(*read, *index);
  ASSERT_TRUE(Assemble(version_, *read, dest_).ok());
  EXPECT_EQ(Slurp(dest_), data);
  EXPECT_FALSE(IsExecutable(dest_));
}

TEST_F(ChunkedTreeTest, ATreeRoundTripsWithEmptyFoldersEmptyFilesAndTheExecutableBit) {
  WriteTestFile(src_ / "a.db", Pattern(70000, 2));
  WriteTestFile(src_ / "bin" / "tool", "#!/bin/sh\n", fs::perms(0755));
  WriteTestFile(src_ / "docs" / "empty.txt", "");
  WriteTestFile(src_ / "odd\nname %41", "newline and percent");
  fs::create_directories(src_ / "empty" / "nested");
  // A file store's own temporary folder is not part of the store.
  WriteTestFile(src_ / ".mumba-tmp" / "partial", "half");

  auto index = WriteChunked(src_, version_, "files");
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_FALSE(index->single_file);
  std::vector<std::string> paths;
  for (const auto& e : index->entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a.db", "bin", "bin/tool", "docs", "docs/empty.txt", "empty",
                                             "empty/nested", "odd\nname %41"}));
  auto read = ReadIndex(version_, IndexLimits{});
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(*read, *index);

  ASSERT_TRUE(Assemble(version_, *read, dest_).ok());
  EXPECT_EQ(Slurp(dest_ / "a.db"), Slurp(src_ / "a.db"));
  EXPECT_EQ(Slurp(dest_ / "bin" / "tool"), "#!/bin/sh\n");
  EXPECT_TRUE(IsExecutable(dest_ / "bin" / "tool"));
  EXPECT_FALSE(IsExecutable(dest_ / "a.db"));
  EXPECT_TRUE(fs::is_regular_file(dest_ / "docs" / "empty.txt"));
  EXPECT_TRUE(fs::is_directory(dest_ / "empty" / "nested"));
  EXPECT_EQ(Slurp(dest_ / "odd\nname %41"), "newline and percent");
  EXPECT_FALSE(fs::exists(dest_ / ".mumba-tmp"));
  // Nothing beside dest: the staging folder went into place.
  size_t beside = 0;
  for (const auto& e : fs::directory_iterator(tmp_.path())) {
    beside += e.path().filename().string().starts_with(".mumba");
  }
  EXPECT_EQ(beside, 0u);
}

TEST_F(ChunkedTreeTest, IdenticalChunksAreStoredOnce) {
  const std::string block = Pattern(4096, 3);
  WriteTestFile(src_ / "one", block + block + block + "tail");
  WriteTestFile(src_ / "two", block);
  auto index = WriteChunked(src_, version_, "files", 4096);
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ(CountFiles(version_ / "chunks"), 2u);  // The block and the tail.
  EXPECT_EQ(index->entries[0].chunks[0], index->entries[1].chunks[0]);
  ASSERT_TRUE(Assemble(version_, *index, dest_).ok());
  EXPECT_EQ(Slurp(dest_ / "one"), block + block + block + "tail");
  EXPECT_EQ(Slurp(dest_ / "two"), block);
}

TEST_F(ChunkedTreeTest, NewChunkBytesCountsOnlyChunksThePreviousVersionLacks) {
  std::string data = Pattern(8 * 4096, 4);
  WriteTestFile(src_, data);
  auto v1 = WriteChunked(src_, version_, "kv", 4096);
  ASSERT_TRUE(v1.ok());
  data[5 * 4096 + 7] ^= 1;
  WriteTestFile(src_, data + "grown");
  auto v2 = WriteChunked(src_, tmp_.path() / "v2", "kv", 4096);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(NewChunkBytes(*v1, *v2), 4096u + 5u);
  EXPECT_EQ(NewChunkBytes(*v2, *v2), 0u);
}

TEST_F(ChunkedTreeTest, UnchangedChunksAreLinkedFromThePreviousVersion) {
  std::string data = Pattern(5 * 16, 6);
  WriteTestFile(src_, data);
  auto v1 = WriteChunked(src_, version_, "sql", 16);
  ASSERT_TRUE(v1.ok());
  const auto& old = v1->entries[0].chunks;
  // Previous chunks that are not what their name says are not linked, each new
  // version gets a file of its own: a symlink (whose size, the length of its
  // target, is a chunk's) and a chunk cut short.
  fs::remove(version_ / "chunks" / old[3]);
  fs::create_symlink("sixteen-bytes-ab", version_ / "chunks" / old[3]);
  fs::resize_file(version_ / "chunks" / old[4], 8);
  data[16] ^= 1;
  WriteTestFile(src_, data);
  const fs::path v2_dir = tmp_.path() / "v2";
  auto v2 = WriteChunked(src_, v2_dir, "sql", 16, version_);
  ASSERT_TRUE(v2.ok()) << v2.status().message();
  auto inode = [](const fs::path& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? st.st_ino : 0;
  };
  const auto& now = v2->entries[0].chunks;
  EXPECT_EQ(now[0], old[0]);
  EXPECT_NE(inode(v2_dir / "chunks" / now[0]), 0u);
  EXPECT_EQ(inode(v2_dir / "chunks" / now[0]), inode(version_ / "chunks" / old[0]));
  EXPECT_NE(now[1], old[1]);
  EXPECT_NE(inode(v2_dir / "chunks" / now[3]), 0u);
  EXPECT_NE(inode(v2_dir / "chunks" / now[4]), inode(version_ / "chunks" / old[4]));
  ASSERT_TRUE(Assemble(v2_dir, *v2, dest_).ok());
  EXPECT_EQ(Slurp(dest_), data);
  // A previous version that does not exist costs only the saving.
  EXPECT_TRUE(WriteChunked(src_, tmp_.path() / "v3", "sql", 16, tmp_.path() / "none").ok());
}

TEST_F(ChunkedTreeTest, WriteRefusesSymlinksSpecialFilesAndAFullVersionFolder) {
  WriteTestFile(src_ / "f", "x");
  fs::create_symlink("/etc/passwd", src_ / "link");
  auto linked = WriteChunked(src_, version_, "files");
  EXPECT_EQ(linked.status().code(), Code::kInvalidArgument) << linked.status().message();
  EXPECT_FALSE(fs::exists(version_));  // What it made is gone.

  fs::remove(src_ / "link");
  ASSERT_EQ(::mkfifo((src_ / "fifo").c_str(), 0600), 0);
  EXPECT_EQ(WriteChunked(src_, version_, "files").status().code(), Code::kInvalidArgument);
  fs::remove(src_ / "fifo");

  fs::create_symlink(src_ / "f", tmp_.path() / "top-link");
  EXPECT_EQ(WriteChunked(tmp_.path() / "top-link", version_, "files").status().code(), Code::kInvalidArgument);

  WriteTestFile(version_ / "old", "x");
  EXPECT_EQ(WriteChunked(src_, version_, "files").status().code(), Code::kAlreadyExists);
  EXPECT_TRUE(fs::exists(version_ / "old"));
  EXPECT_EQ(WriteChunked(src_, tmp_.path() / "v9", "tables").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(WriteChunked(src_, tmp_.path() / "v9", "files", 3000).status().code(), Code::kInvalidArgument);
}

class AssembleRefusalTest : public ChunkedTreeTest {
 protected:
  void SetUp() override {
    WriteTestFile(src_ / "a", Pattern(3 * 4096, 5));
    WriteTestFile(src_ / "b", "small");
    auto index = WriteChunked(src_, version_, "files", 4096);
    ASSERT_TRUE(index.ok()) << index.status().message();
    index_ = *index;
  }
  fs::path Chunk(size_t entry, size_t i) const { return version_ / "chunks" / index_.entries[entry].chunks[i]; }
  // Assembles and checks that a refusal left nothing at dest or beside it.
  Status AssembleAndCheckNothingLeft() {
    Status st = Assemble(version_, index_, dest_);
    if (!st.ok()) {
      EXPECT_FALSE(fs::exists(fs::symlink_status(dest_)));
      for (const auto& e : fs::directory_iterator(tmp_.path())) {
        EXPECT_FALSE(e.path().filename().string().starts_with(".mumba")) << e.path();
      }
    }
    return st;
  }
  ChunkedIndex index_;
};

TEST_F(AssembleRefusalTest, AChunkThatDoesNotMatchItsNameIsDataLoss) {
  std::string bytes = Slurp(Chunk(0, 2));
  bytes[100] ^= 1;
  WriteTestFile(Chunk(0, 2), bytes);
  Status st = AssembleAndCheckNothingLeft();
  EXPECT_EQ(st.code(), Code::kDataLoss) << st.message();
}

TEST_F(AssembleRefusalTest, AChunkOfTheWrongSizeIsDataLoss) {
  WriteTestFile(Chunk(1, 0), "smaller");
  EXPECT_EQ(AssembleAndCheckNothingLeft().code(), Code::kDataLoss);
}

TEST_F(AssembleRefusalTest, ASymlinkedChunkIsNotFollowed) {
  // The link points at a file holding exactly the right bytes, so only the
  // refusal to follow it stops it.
  const fs::path real = tmp_.path() / "real-chunk";
  fs::copy_file(Chunk(0, 1), real);
  fs::remove(Chunk(0, 1));
  fs::create_symlink(real, Chunk(0, 1));
  Status st = AssembleAndCheckNothingLeft();
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.message();
}

TEST_F(AssembleRefusalTest, ASymlinkedChunksFolderIsNotFollowed) {
  fs::rename(version_ / "chunks", tmp_.path() / "elsewhere");
  fs::create_symlink(tmp_.path() / "elsewhere", version_ / "chunks");
  EXPECT_EQ(AssembleAndCheckNothingLeft().code(), Code::kInvalidArgument);
}

TEST_F(AssembleRefusalTest, AChunkThatIsAFolderOrMissingIsRefused) {
  fs::remove(Chunk(0, 0));
  EXPECT_EQ(AssembleAndCheckNothingLeft().code(), Code::kNotFound);
  fs::create_directory(Chunk(0, 0));
  EXPECT_EQ(AssembleAndCheckNothingLeft().code(), Code::kInvalidArgument);
}

TEST_F(AssembleRefusalTest, AnExistingDestIsLeftAlone) {
  WriteTestFile(dest_, "mine");
  EXPECT_EQ(Assemble(version_, index_, dest_).code(), Code::kAlreadyExists);
  EXPECT_EQ(Slurp(dest_), "mine");
}

TEST_F(AssembleRefusalTest, AnIndexBuiltInMemoryIsCheckedToo) {
  ChunkedIndex good = index_;
  index_.entries[1].path = "../b";
  Status st = AssembleAndCheckNothingLeft();
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.message();
  EXPECT_FALSE(fs::exists(tmp_.path() / "b"));
  // A chunk more than the size needs, naming a chunk that exists.
  index_ = good;
  index_.entries[1].chunks.push_back(index_.entries[0].chunks[0]);
  st = AssembleAndCheckNothingLeft();
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.message();
  index_ = good;
  index_.entries[1].chunks[0] = "../../a";
  EXPECT_EQ(AssembleAndCheckNothingLeft().code(), Code::kInvalidArgument);
  index_ = good;
  index_.total_bytes += 1;
  EXPECT_EQ(AssembleAndCheckNothingLeft().code(), Code::kInvalidArgument);
}

TEST_F(AssembleRefusalTest, ChunksTheIndexDoesNotNameAreIgnored) {
  WriteTestFile(version_ / "chunks" / "stray", "not a chunk");
  fs::create_symlink("/etc", version_ / "chunks" / std::string(64, 'a'));
  ASSERT_TRUE(Assemble(version_, index_, dest_).ok());
  EXPECT_EQ(Slurp(dest_ / "b"), "small");
}

}  // namespace
}  // namespace mumba::share
