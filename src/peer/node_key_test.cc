// SPDX-License-Identifier: Apache-2.0
// The node key file (created once, 0600 in a 0700 folder, read back the same,
// damage told apart) and the one spelling of node ids.
#include "peer/node_key.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <thread>
#include <vector>

#include "common/temp_dir.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

constexpr const char* kId = "onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

std::string Contents(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Overwrite(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(NodeKeyTest, CreatedOnceWithPrivateModesAndReadBackTheSame) {
  TempDir dir;
  fs::path file = dir.path() / "home" / "node" / "node.key";
  auto created = LoadOrCreateNodeKey(file);
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ(ModeOf(file), 0600u);
  EXPECT_EQ(ModeOf(file.parent_path()), 0700u);
  EXPECT_EQ(ModeOf(file.parent_path().parent_path()), 0700u);
  EXPECT_EQ(fs::file_size(file), 64u);
  // Nothing but the key is left in the folder.
  EXPECT_EQ(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator()), 1);

  std::string id = created->id();
  EXPECT_EQ(id.size(), kNodeIdChars);
  EXPECT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567"), std::string::npos);
  EXPECT_EQ(id, NodeIdOf(created->pair.public_key));

  auto again = LoadOrCreateNodeKey(file);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->id(), id);
  EXPECT_EQ(again->pair.secret_key, created->pair.secret_key);
  EXPECT_EQ(ModeOf(file), 0600u);
}

TEST(NodeKeyTest, AnExistingFolderKeepsItsMode) {
  TempDir dir;
  fs::permissions(dir.path(), fs::perms(0755));
  ASSERT_TRUE(LoadOrCreateNodeKey(dir.path() / "node.key").ok());
  EXPECT_EQ(ModeOf(dir.path()), 0755u);
  EXPECT_EQ(ModeOf(dir.path() / "node.key"), 0600u);
}

TEST(NodeKeyTest, ADamagedFileIsDataLossAndStaysAsItWas) {
  TempDir dir;
  fs::path file = dir.path() / "node.key";
  ASSERT_TRUE(LoadOrCreateNodeKey(file).ok());
  std::string good = Contents(file);

  for (size_t at : {0u, 31u, 32u, 63u}) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    Overwrite(file, bad);
    auto loaded = LoadOrCreateNodeKey(file);
    ASSERT_FALSE(loaded.ok()) << "flipped byte " << at;
    EXPECT_EQ(loaded.status().code(), Code::kDataLoss) << loaded.status().message();
    EXPECT_EQ(Contents(file), bad) << "a damaged key must never be replaced";
  }
  for (std::string bad : {std::string(), good.substr(0, 63), good + "x", std::string(146, 'm')}) {
    Overwrite(file, bad);
    auto loaded = LoadOrCreateNodeKey(file);
    ASSERT_FALSE(loaded.ok()) << bad.size() << " bytes";
    EXPECT_EQ(loaded.status().code(), Code::kDataLoss) << loaded.status().message();
  }
}

TEST(NodeKeyTest, TheMessageNeverHoldsTheSecret) {
  TempDir dir;
  fs::path file = dir.path() / "node.key";
  ASSERT_TRUE(LoadOrCreateNodeKey(file).ok());
  std::string good = Contents(file);
  std::string bad = good;
  bad[40] = static_cast<char>(bad[40] ^ 0x80);
  Overwrite(file, bad);
  auto loaded = LoadOrCreateNodeKey(file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message().find(good.substr(0, 8)), std::string::npos);
}

TEST(NodeKeyTest, SomethingElseWhereTheFileShouldBeIsRefused) {
  TempDir dir;
  fs::create_directory(dir.path() / "folder.key");
  // A pipe would otherwise be read as an empty (damaged) key, or block.
  ASSERT_EQ(::mkfifo((dir.path() / "fifo.key").c_str(), 0600), 0);
  for (const char* name : {"folder.key", "fifo.key"}) {
    auto loaded = LoadOrCreateNodeKey(dir.path() / name);
    ASSERT_FALSE(loaded.ok()) << name;
    EXPECT_EQ(loaded.status().code(), Code::kFailedPrecondition) << name << ": " << loaded.status().message();
  }
}

TEST(NodeKeyTest, ProcessesStartingTogetherGetTheSameKey) {
  for (int round = 0; round < 20; ++round) {
    TempDir dir;
    fs::path file = dir.path() / "node.key";
    std::vector<std::string> ids(4);
    std::vector<std::thread> threads;
    for (auto& id : ids) {
      threads.emplace_back([&file, &id] {
        auto key = LoadOrCreateNodeKey(file);
        id = key.ok() ? key->id() : key.status().message();
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  }
}

TEST(NodeKeyTest, ParseNodeIdAcceptsOnlyTheOneSpelling) {
  auto key = ParseNodeId(kId);
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(NodeIdOf(*key), kId);

  std::string upper = kId;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string bad_char = kId;
  bad_char[3] = '1';
  // 52 characters carry 260 bits; the last 4 must be zero.
  std::string trailing_bits = kId;
  trailing_bits.back() = 'b';
  for (const std::string& bad : {std::string(), std::string(kId).substr(1), std::string(kId) + "a",
                                 std::string("mumba://") + kId, upper, bad_char, trailing_bits,
                                 std::string(kNodeIdChars, '=')}) {
    auto parsed = ParseNodeId(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace mumba
