// SPDX-License-Identifier: Apache-2.0
// The index file as hostile input: each rule of ParseIndex and CheckIndex, one
// refused text per rule, and the canonical round trip.
#include <filesystem>

#include <gtest/gtest.h>

#include "common/temp_dir.h"
#include "share/chunked_tree.h"

namespace mumba::share {
namespace {

namespace fs = std::filesystem;

const std::string kA = Sha256Hex("a");
const std::string kB = Sha256Hex("b");

// A valid tree index with chunk-bytes 4: a folder, a 6-byte file of two chunks,
// an empty executable file.
std::string Tree(std::string_view entries = {}) {
  std::string text = "mumba-share-index 1\nkind files\nchunk-bytes 4\nlayout tree\n";
  if (entries.empty()) {
    text += "d dir\nf 6 dir/data\nc " + kA + "\nc " + kB + "\nx 0 run\n";
  } else {
    text += entries;
  }
  return text + "end\n";
}

Status Parse(const std::string& text, IndexLimits limits = {}) { return ParseIndex(text, limits).status(); }

void ExpectRefused(const std::string& text, Code code = Code::kInvalidArgument) {
  Status st = Parse(text);
  EXPECT_EQ(st.code(), code) << text << "\n-> " << st.message();
  for (char c : st.message()) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << st.message();
  EXPECT_LT(st.message().size(), 200u);
}

TEST(ShareIndexTest, AValidIndexParsesAndFormatsBackToTheSameText) {
  auto index = ParseIndex(Tree(), IndexLimits{});
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ(index->kind, "files");
  EXPECT_EQ(index->chunk_bytes, 4u);
  ASSERT_EQ(index->entries.size(), 3u);
  EXPECT_TRUE(index->entries[0].is_dir);
  EXPECT_EQ(index->entries[1].chunks, (std::vector<std::string>{kA, kB}));
  EXPECT_TRUE(index->entries[2].executable);
  EXPECT_EQ(index->total_bytes, 6u);
  EXPECT_EQ(FormatIndex(*index), Tree());

  const std::string file = "mumba-share-index 1\nkind sql\nchunk-bytes 65536\nlayout file\nf 1\nc " + kA + "\nend\n";
  auto single = ParseIndex(file, IndexLimits{});
  ASSERT_TRUE(single.ok()) << single.status().message();
  EXPECT_TRUE(single->single_file);
  EXPECT_EQ(FormatIndex(*single), file);
  // An empty tree is a store too.
  EXPECT_TRUE(Parse("mumba-share-index 1\nkind kv\nchunk-bytes 4\nlayout tree\nend\n").ok());
}

TEST(ShareIndexTest, NamesAreCarriedInCanonicalPercentEncoding) {
  auto index = ParseIndex(Tree("f 0 a%0ab%25%c3%a9\n"), IndexLimits{});
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ(index->entries[0].path, "a\nb%\xc3\xa9");
  ExpectRefused(Tree("f 0 a%41\n"));     // 'A' must be written as itself.
  ExpectRefused(Tree("f 0 a%0A\n"));     // Uppercase hex.
  ExpectRefused(Tree("f 0 a%0\n"));      // Cut short.
  ExpectRefused(Tree("f 0 a b\n"));      // A raw space.
  ExpectRefused(Tree("f 0 a\xc3\xa9\n"));  // A raw byte above ASCII.
}

TEST(ShareIndexTest, PathsThatLeaveTheTreeAreRefused) {
  ExpectRefused(Tree("f 0 ..\n"));
  ExpectRefused(Tree("d a\nf 0 a/..\n"));
  ExpectRefused(Tree("d %2e%2e\n"));  // Not canonical either.
  ExpectRefused(Tree("f 0 /etc/passwd\n"));
  ExpectRefused(Tree("d a\nf 0 a//b\n"));
  ExpectRefused(Tree("d a\nf 0 a/\n"));
  ExpectRefused(Tree("f 0 .\n"));
  ExpectRefused(Tree("f 0 a%00b\n"));
  ExpectRefused(Tree("f 0 a\\b\n"));
  ExpectRefused(Tree("d .mumba-tmp\n"));
  ExpectRefused(Tree("f 0 " + std::string(256, 'a') + "\n"));
  ExpectRefused(Tree("f 0 \n"));
}

TEST(ShareIndexTest, DuplicatesDisorderAndEntriesUnderAFileAreRefused) {
  ExpectRefused(Tree("f 0 a\nf 0 a\n"));
  ExpectRefused(Tree("d a\nd a\n"));
  ExpectRefused(Tree("f 0 b\nf 0 a\n"));
  ExpectRefused(Tree("f 0 a\nf 0 a/b\n"));       // Below a file.
  ExpectRefused(Tree("f 0 a/b\n"));              // Its folder is not listed.
  EXPECT_TRUE(Parse(Tree("d a\nf 0 a-b\nf 0 a/b\n")).ok());  // '-' sorts before '/'.
}

TEST(ShareIndexTest, ChunkNamesMustBe64LowercaseHexDigits) {
  std::string upper = kA;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ExpectRefused(Tree("f 1 a\nc " + upper + "\n"));
  ExpectRefused(Tree("f 1 a\nc " + kA.substr(1) + "\n"));
  ExpectRefused(Tree("f 1 a\nc " + kA + "0\n"));
  ExpectRefused(Tree("f 1 a\nc " + kA.substr(1) + "g\n"));
  ExpectRefused(Tree("f 1 a\nc ../../../../etc/passwd\n"));
}

TEST(ShareIndexTest, SizesMustMatchTheChunkSizeAndCount) {
  ExpectRefused(Tree("f 5 a\nc " + kA + "\n"));                        // 5 bytes need two chunks of 4.
  ExpectRefused(Tree("f 4 a\nc " + kA + "\nc " + kB + "\n"));        // One chunk too many.
  ExpectRefused(Tree("f 0 a\nc " + kA + "\n"));
  ExpectRefused(Tree("f 01 a\nc " + kA + "\n"));                       // Not plain decimal.
  ExpectRefused(Tree("f -1 a\n"));
  ExpectRefused(Tree("f 99999999999999999999 a\n"));                   // Over 2^64.
  ExpectRefused("mumba-share-index 1\nkind files\nchunk-bytes 3\nlayout tree\nend\n");
  ExpectRefused("mumba-share-index 1\nkind files\nchunk-bytes 0\nlayout tree\nend\n");
  ExpectRefused("mumba-share-index 1\nkind files\nchunk-bytes 33554432\nlayout tree\nend\n");
}

TEST(ShareIndexTest, TheFramingIsStrict) {
  const std::string good = Tree();
  ExpectRefused(good.substr(0, good.size() - 4));  // No "end".
  ExpectRefused(good.substr(0, good.size() - 1));  // No final newline.
  ExpectRefused(good + "\n");
  ExpectRefused("mumba-share-index 2\n" + good.substr(good.find('\n') + 1));
  ExpectRefused(Tree("d a\r\n"));
  ExpectRefused(Tree("q 0 a\n"));
  ExpectRefused("mumba-share-index 1\nkind tables\nchunk-bytes 4\nlayout tree\nend\n");
  ExpectRefused("mumba-share-index 1\nkind files\nchunk-bytes 4\nlayout folder\nend\n");
  ExpectRefused("mumba-share-index 1\nchunk-bytes 4\nkind files\nlayout tree\nend\n");
  // A single file: exactly one file entry, with no path.
  const std::string head = "mumba-share-index 1\nkind sql\nchunk-bytes 4\nlayout file\n";
  ExpectRefused(head + "end\n");
  ExpectRefused(head + "f 0 a\nend\n");
  ExpectRefused(head + "f 0\nf 0\nend\n");
  ExpectRefused(head + "d a\nend\n");
}

TEST(ShareIndexTest, LimitsAreResourceExhausted) {
  IndexLimits limits;
  limits.max_entries = 2;
  EXPECT_EQ(Parse(Tree(), limits).code(), Code::kResourceExhausted);
  limits = {};
  limits.max_total_bytes = 5;
  EXPECT_EQ(Parse(Tree(), limits).code(), Code::kResourceExhausted);
  limits = {};
  limits.max_index_bytes = Tree().size() - 1;
  EXPECT_EQ(Parse(Tree(), limits).code(), Code::kResourceExhausted);
  // Two sizes whose sum wraps around 2^64 are over any limit, not small.
  ExpectRefused(Tree("f 18446744073709551615 a\nf 2 b\n"), Code::kResourceExhausted);
}

TEST(ShareIndexTest, ReadIndexRefusesASymlinkedOrOversizedIndexFile) {
  TempDir tmp("mumba-share");
  const fs::path version = tmp.path() / "v";
  WriteTestFile(tmp.path() / "real-index", Tree());
  fs::create_directories(version);
  fs::create_symlink(tmp.path() / "real-index", version / "index");
  EXPECT_EQ(ReadIndex(version, IndexLimits{}).status().code(), Code::kInvalidArgument);
  fs::remove(version / "index");
  EXPECT_EQ(ReadIndex(version, IndexLimits{}).status().code(), Code::kNotFound);
  fs::create_directory(version / "index");
  EXPECT_EQ(ReadIndex(version, IndexLimits{}).status().code(), Code::kInvalidArgument);
  fs::remove(version / "index");
  WriteTestFile(version / "index", Tree());
  EXPECT_TRUE(ReadIndex(version, IndexLimits{}).ok());
  IndexLimits small;
  small.max_index_bytes = 10;
  EXPECT_EQ(ReadIndex(version, small).status().code(), Code::kResourceExhausted);
}

}  // namespace
}  // namespace mumba::share
