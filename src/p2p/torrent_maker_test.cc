// SPDX-License-Identifier: Apache-2.0
// Torrents made of folders without a session: what is listed, what the
// info-hashes depend on, and how seeding reads the files in place.
#include "p2p/torrent_maker.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "common/temp_dir.h"

namespace fs = std::filesystem;

namespace mumba::p2p {
namespace {

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

void MakeFolder(const fs::path& dir) {
  Write(dir / "b.txt", "bee");
  Write(dir / "a/z.txt", "zed");
  Write(dir / "a/run", "#!/bin/sh\n");
  fs::permissions(dir / "a/run", fs::perms::owner_exec, fs::perm_options::add);
  Write(dir / "empty", "");
  fs::create_directories(dir / "no/files");
}

TEST(P2pTorrentMakerTest, ListsRegularFilesSortedWithSizeAndExecBit) {
  TempDir tmp("p2p-maker");
  MakeFolder(tmp.path());
  auto files = ListFiles(tmp.path());
  ASSERT_TRUE(files.ok()) << files.status().message();
  ASSERT_EQ(files->size(), 4u);
  EXPECT_EQ((*files)[0].rel, "a/run");
  EXPECT_TRUE((*files)[0].executable);
  EXPECT_EQ((*files)[1].rel, "a/z.txt");
  EXPECT_EQ((*files)[1].size, 3u);
  EXPECT_FALSE((*files)[1].executable);
  EXPECT_EQ((*files)[2].rel, "b.txt");
  EXPECT_EQ((*files)[3].rel, "empty");
  EXPECT_EQ((*files)[3].size, 0u);

  fs::create_symlink("b.txt", tmp.path() / "link");
  auto linked = ListFiles(tmp.path());
  ASSERT_FALSE(linked.ok());
  EXPECT_EQ(linked.status().code(), Code::kInvalidArgument);
  EXPECT_NE(linked.status().message().find("'link' is a symlink"), std::string::npos);
}

TEST(P2pTorrentMakerTest, HashesDependOnFilesAndNameOnly) {
  TempDir tmp("p2p-maker");
  MakeFolder(tmp.path() / "one");
  fs::create_directories(tmp.path() / "deeper");
  fs::copy(tmp.path() / "one", tmp.path() / "deeper/two", fs::copy_options::recursive);
  auto a = MakeHybridTorrent(tmp.path() / "one", "bundle");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->ref.name, "bundle");
  EXPECT_EQ(a->ref.total_size, 16u);
  EXPECT_EQ(a->ref.info_hash_v1.size(), 40u);
  EXPECT_EQ(a->ref.info_hash_v2.size(), 64u);
  EXPECT_EQ(a->root, tmp.path() / "one");

  auto b = MakeHybridTorrent(tmp.path() / "deeper/two/", "bundle");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->ref.info_hash_v1, a->ref.info_hash_v1);
  EXPECT_EQ(b->ref.info_hash_v2, a->ref.info_hash_v2);
  EXPECT_EQ(b->ref.magnet, a->ref.magnet);

  auto renamed = MakeHybridTorrent(tmp.path() / "one", "other");
  ASSERT_TRUE(renamed.ok());
  EXPECT_NE(renamed->ref.info_hash_v1, a->ref.info_hash_v1);
  fs::permissions(tmp.path() / "deeper/two/a/run", fs::perms::owner_exec, fs::perm_options::remove);
  auto not_exec = MakeHybridTorrent(tmp.path() / "deeper/two", "bundle");
  ASSERT_TRUE(not_exec.ok());
  EXPECT_NE(not_exec->ref.info_hash_v1, a->ref.info_hash_v1);
  EXPECT_NE(not_exec->ref.info_hash_v2, a->ref.info_hash_v2);
}

TEST(P2pTorrentMakerTest, RefusesBadNamesMissingAndEmptyFolders) {
  TempDir tmp("p2p-maker");
  MakeFolder(tmp.path() / "ok");
  for (const char* name : {"", ".", "..", "a/b"}) {
    EXPECT_EQ(MakeHybridTorrent(tmp.path() / "ok", name).status().code(), Code::kInvalidArgument) << name;
  }
  EXPECT_EQ(MakeHybridTorrent(tmp.path() / "missing", "x").status().code(), Code::kInvalidArgument);
  fs::create_directories(tmp.path() / "hollow/sub");
  Write(tmp.path() / "hollow/sub/empty", "");
  EXPECT_EQ(MakeHybridTorrent(tmp.path() / "hollow", "x").status().code(), Code::kInvalidArgument);
}

TEST(P2pTorrentMakerTest, SeedParamsReadEveryFileWhereItIs) {
  TempDir tmp("p2p-maker");
  MakeFolder(tmp.path() / "src");
  auto made = MakeHybridTorrent(tmp.path() / "src", "bundle");
  ASSERT_TRUE(made.ok()) << made.status().message();
  lt::add_torrent_params atp = SeedParams(*made);
  EXPECT_EQ(atp.save_path, (tmp.path() / "src").string());
  EXPECT_TRUE(atp.flags & lt::torrent_flags::seed_mode);
  EXPECT_EQ(atp.verified_pieces.size(), static_cast<size_t>(made->info->num_pieces()));
  std::set<std::string> renamed;
  for (const auto& [index, path] : atp.renamed_files) renamed.insert(path);
  const std::string root = (tmp.path() / "src").string();
  EXPECT_EQ(renamed,
            (std::set<std::string>{root + "/a/run", root + "/a/z.txt", root + "/b.txt", root + "/empty"}));
}

}  // namespace
}  // namespace mumba::p2p
