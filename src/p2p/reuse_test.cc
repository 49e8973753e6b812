// SPDX-License-Identifier: Apache-2.0
// Fetching a version while holding the previous one (FetchLimits::reuse_from):
// which files PlaceReusedFiles takes, without a session, and real libtorrent
// sessions on 127.0.0.1 that fetch a changed store and must download only what
// changed, never touching the folder they reuse.
#include "p2p/reuse.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "common/temp_dir.h"
#include "p2p/p2p_node.h"
#include "p2p/torrent_maker.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace mumba::p2p {
namespace {

constexpr size_t kChunk = 64 * 1024;

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, std::min<size_t>(8, n - i));
  }
  return s;
}

// A chunk's name as the store layout has it: 64 hex digits (here made from the
// seed, not the contents' SHA-256, which nothing below depends on).
std::string ChunkName(uint64_t seed) {
  char name[65];
  std::snprintf(name, sizeof name, "%016llx%016llx%016llx%016llx", static_cast<unsigned long long>(seed), 1ull,
                2ull, 3ull);
  return std::string("chunks/") + name;
}

// A file's bytes with what shows whether anyone wrote to it: inode, mtime, mode.
struct FileState {
  std::string bytes;
  ino_t inode = 0;
  int64_t mtime_ns = 0;
  mode_t mode = 0;
  bool operator==(const FileState&) const = default;
};

// Relative path -> state of every entry under `dir` (symlinks as links, not followed).
std::map<std::string, FileState> States(const fs::path& dir) {
  std::map<std::string, FileState> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    ::lstat(e.path().c_str(), &st);
    FileState s{S_ISREG(st.st_mode) ? Read(e.path()) : std::string(), st.st_ino,
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, st.st_mode};
    out[e.path().lexically_relative(dir).generic_string()] = std::move(s);
  }
  return out;
}

// Relative path -> contents of every regular file under `dir`.
std::map<std::string, std::string> Contents(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out[e.path().lexically_relative(dir).generic_string()] = Read(e.path());
  }
  return out;
}

// Version 1 of a store: `chunks` chunk files of 64 KiB of random bytes and an index.
void MakeV1(const fs::path& dir, int chunks) {
  std::string index;
  for (int i = 0; i < chunks; ++i) {
    Write(dir / ChunkName(i), RandomBytes(kChunk, i));
    index += ChunkName(i) + "\n";
  }
  Write(dir / "index", index);
}

// Version 2: v1 with chunks 0 and 1 replaced by two new ones under new names and
// the index rewritten. Returns the bytes v2 holds that v1 does not.
uint64_t MakeV2(const fs::path& v1, const fs::path& v2) {
  fs::copy(v1, v2, fs::copy_options::recursive);
  fs::remove(v2 / ChunkName(0));
  fs::remove(v2 / ChunkName(1));
  Write(v2 / ChunkName(1000), RandomBytes(kChunk, 1000));
  Write(v2 / ChunkName(1001), RandomBytes(kChunk, 1001));
  Write(v2 / "index", Read(v1 / "index") + "v2\n");
  return 2 * kChunk + fs::file_size(v2 / "index");
}

TEST(P2pReuseFilesTest, CopiesOnlyRegularFilesOfTheRightSizeReachedWithoutSymlinks) {
  TempDir tmp("p2p-reuse");
  const fs::path src = tmp.path() / "src";
  Write(src / "same", "same bytes");
  Write(src / "resized", "twelve bytes");
  Write(src / "link", "through a link");
  Write(src / "fifo", "a fifo");
  Write(src / "linked/inside", "in a linked folder");
  Write(src / "deep/er/file", "deep");
  fs::permissions(src / "deep/er/file", fs::perms::owner_exec, fs::perm_options::add);
  auto made = MakeHybridTorrent(src, "v2");
  ASSERT_TRUE(made.ok()) << made.status().message();

  const fs::path old = tmp.path() / "old";
  Write(old / "same", "same bytes");
  Write(old / "resized", "ten bytes!");
  Write(tmp.path() / "outside/link", "through a link");
  fs::create_symlink(tmp.path() / "outside/link", old / "link");
  ASSERT_EQ(::mkfifo((old / "fifo").c_str(), 0600), 0);
  Write(tmp.path() / "outside/linked/inside", "in a linked folder");
  fs::create_directory_symlink(tmp.path() / "outside/linked", old / "linked");
  Write(old / "deep/er/file", "deep");
  const auto before = States(old);

  const fs::path save = tmp.path() / "save";
  Reused reused = PlaceReusedFiles(*made->info, old, save);
  EXPECT_EQ(reused.files, 2u);
  EXPECT_EQ(reused.bytes, 14u);
  EXPECT_EQ(Contents(save / "v2"),
            (std::map<std::string, std::string>{{"same", "same bytes"}, {"deep/er/file", "deep"}}));
  // Copies, not links, with the executable bit the torrent gives.
  EXPECT_NE(fs::status(save / "v2/same").type(), fs::file_type::symlink);
  EXPECT_EQ(fs::hard_link_count(old / "same"), 1u);
  EXPECT_NE(fs::status(save / "v2/deep/er/file").permissions() & fs::perms::owner_exec, fs::perms::none);
  EXPECT_EQ(States(old), before);

  // A missing folder reuses nothing, and a file already placed is left alone.
  EXPECT_EQ(PlaceReusedFiles(*made->info, tmp.path() / "missing", save).files, 0u);
  Write(save / "v2/same", "0123456789");
  EXPECT_EQ(PlaceReusedFiles(*made->info, old, save).files, 0u);
  EXPECT_EQ(Read(save / "v2/same"), "0123456789");
}

// Three nodes bootstrapped from one another; A seeds, C fetches.
class P2pReuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = MakeNode({});
    ASSERT_TRUE(a_);
    b_ = MakeNode({a_->Status().listen});
    ASSERT_TRUE(b_);
    c_ = MakeNode({a_->Status().listen, b_->Status().listen});
    ASSERT_TRUE(c_);
    ASSERT_TRUE(a_->AddDhtNode(b_->Status().listen).ok());
    ASSERT_TRUE(a_->AddDhtNode(c_->Status().listen).ok());
    ASSERT_TRUE(b_->AddDhtNode(c_->Status().listen).ok());
    for (int i = 0; i < 500; ++i) {
      if (a_->Status().dht_nodes >= 2 && b_->Status().dht_nodes >= 2 && c_->Status().dht_nodes >= 2) return;
      std::this_thread::sleep_for(10ms);
    }
    FAIL() << "the DHT did not form";
  }

  static std::unique_ptr<P2pNode> MakeNode(std::vector<std::string> bootstrap) {
    P2pOptions options;
    options.listen = "127.0.0.1:0";
    options.bootstrap = std::move(bootstrap);
    auto node = P2pNode::Create(std::move(options));
    EXPECT_TRUE(node.ok()) << node.status().message();
    return node.ok() ? std::move(node).value() : nullptr;
  }

  // Fetches `ref` at C into `dest`, reusing `reuse_from`; the last progress
  // report lands in `last`.
  Expected<fs::path> FetchAtC(const TorrentRef& ref, const fs::path& dest, const fs::path& reuse_from,
                              FetchProgress& last) {
    FetchLimits limits;
    limits.reuse_from = reuse_from;
    return c_->Fetch(ref.info_hash_v1, ref.info_hash_v2, dest, 20s, limits, [&](const FetchProgress& p) {
      last = p;
      return true;
    });
  }

  std::unique_ptr<P2pNode> a_, b_, c_;
  TempDir tmp_{"p2p-reuse"};
};

// What may arrive beyond the new files' bytes: libtorrent asks for whole 16 KiB
// blocks, so a file's last block travels whole, the pad bytes that align the
// next file included (up to 16 KiB less one byte per new file). Hashes and
// metadata are not payload, and with one seeder no block is asked twice.
constexpr uint64_t kBlockRounding = 16 * 1024;

TEST_F(P2pReuseTest, OnlyTheChangedFilesTravelAndTheReusedFolderIsUntouched) {
  const fs::path pub = tmp_.path() / "pub";
  MakeV1(pub / "v1", 200);
  auto v1 = a_->Seed(pub / "v1", "v1");
  ASSERT_TRUE(v1.ok()) << v1.status().message();
  FetchProgress first;
  auto held = FetchAtC(*v1, tmp_.path() / "c", {}, first);
  ASSERT_TRUE(held.ok()) << held.status().message();
  EXPECT_GE(first.downloaded, v1->total_size);
  EXPECT_EQ(first.done, first.total);

  const uint64_t fresh = MakeV2(pub / "v1", pub / "v2");
  auto v2 = a_->Seed(pub / "v2", "v2");
  ASSERT_TRUE(v2.ok()) << v2.status().message();
  const auto before = States(*held);
  FetchProgress last;
  const auto start = std::chrono::steady_clock::now();
  auto got = FetchAtC(*v2, tmp_.path() / "c", *held, last);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(got.ok()) << got.status().message();
  std::printf("[ figure   ] v2 of %llu bytes fetched reusing v1 in %.0f ms: downloaded %llu, new %llu\n",
              static_cast<unsigned long long>(v2->total_size), ms, static_cast<unsigned long long>(last.downloaded),
              static_cast<unsigned long long>(fresh));
  EXPECT_EQ(Contents(*got), Contents(pub / "v2"));
  EXPECT_GE(last.downloaded, fresh);
  EXPECT_LE(last.downloaded, fresh + 3 * kBlockRounding);  // Two chunks and the index.
  EXPECT_EQ(last.done, last.total);
  EXPECT_EQ(States(*held), before);
}

TEST_F(P2pReuseTest, AReusedFileThatFailsItsCheckIsDownloadedAgain) {
  const fs::path pub = tmp_.path() / "pub";
  MakeV1(pub / "v1", 20);
  const uint64_t fresh = MakeV2(pub / "v1", pub / "v2");
  auto v2 = a_->Seed(pub / "v2", "v2");
  ASSERT_TRUE(v2.ok()) << v2.status().message();
  // The follower's copy of v1 with one chunk damaged in place (same name, same size).
  const fs::path old = tmp_.path() / "old";
  fs::copy(pub / "v1", old, fs::copy_options::recursive);
  std::string damaged = Read(old / ChunkName(7));
  damaged[kChunk / 2] ^= 0x5a;
  Write(old / ChunkName(7), damaged);
  const auto before = States(old);

  FetchProgress last;
  auto got = FetchAtC(*v2, tmp_.path() / "c", old, last);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Contents(*got), Contents(pub / "v2"));
  EXPECT_GE(last.downloaded, fresh + kChunk);
  EXPECT_LE(last.downloaded, fresh + kChunk + 3 * kBlockRounding);
  EXPECT_EQ(States(old), before);
}

TEST_F(P2pReuseTest, AReusingFetchStillStopsAtItsLimitsAndWhenCancelled) {
  const fs::path pub = tmp_.path() / "pub";
  MakeV1(pub / "v1", 20);
  MakeV2(pub / "v1", pub / "v2");
  auto v2 = a_->Seed(pub / "v2", "v2");
  ASSERT_TRUE(v2.ok()) << v2.status().message();
  const fs::path old = pub / "v1";
  const auto before = States(old);

  // A caller that cancels once the metadata is in (while the reused files are
  // copied) gets CANCELLED and nothing left behind.
  FetchLimits reusing;
  reusing.reuse_from = old;
  auto cancelled = c_->Fetch(v2->info_hash_v1, v2->info_hash_v2, tmp_.path() / "c", 20s, reusing,
                             [](const FetchProgress& p) { return p.total == 0; });
  EXPECT_EQ(cancelled.status().code(), Code::kCancelled);
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "c"));

  // The limits still hold a reusing fetch at its metadata.
  FetchLimits tight;
  tight.reuse_from = old;
  tight.max_files = 3;
  auto refused = c_->Fetch(v2->info_hash_v1, v2->info_hash_v2, tmp_.path() / "c", 20s, tight, nullptr);
  EXPECT_EQ(refused.status().code(), Code::kResourceExhausted);
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "c"));

  EXPECT_EQ(States(old), before);
}

TEST_F(P2pReuseTest, FilesOfManyPiecesAreReusedToo) {
  // A 3 MB file spans 12 pieces, whose v2 piece hashes are not in the metadata
  // a magnet fetches (only the file's root is): the copy must still pass its
  // check rather than be downloaded again.
  const fs::path pub = tmp_.path() / "pub";
  Write(pub / "v1/big", RandomBytes(3 * 1000 * 1000 + 17, 77));
  Write(pub / "v1/small", "small");
  fs::copy(pub / "v1", pub / "v2", fs::copy_options::recursive);
  Write(pub / "v2/small", "changed");
  auto v2 = a_->Seed(pub / "v2", "v2");
  ASSERT_TRUE(v2.ok()) << v2.status().message();

  FetchProgress last;
  auto got = FetchAtC(*v2, tmp_.path() / "c", pub / "v1", last);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Contents(*got), Contents(pub / "v2"));
  EXPECT_LE(last.downloaded, kBlockRounding);
}

TEST_F(P2pReuseTest, ASymlinkInTheReusedFolderIsNotFollowed) {
  const fs::path pub = tmp_.path() / "pub";
  MakeV1(pub / "v1", 20);
  const uint64_t fresh = MakeV2(pub / "v1", pub / "v2");
  auto v2 = a_->Seed(pub / "v2", "v2");
  ASSERT_TRUE(v2.ok()) << v2.status().message();
  // The chunk's right bytes, but reached through a link to a file outside.
  const fs::path old = tmp_.path() / "old";
  fs::copy(pub / "v1", old, fs::copy_options::recursive);
  fs::rename(old / ChunkName(7), tmp_.path() / "outside");
  fs::create_symlink(tmp_.path() / "outside", old / ChunkName(7));
  const auto before = States(old);
  const std::string outside = Read(tmp_.path() / "outside");

  FetchProgress last;
  auto got = FetchAtC(*v2, tmp_.path() / "c", old, last);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Contents(*got), Contents(pub / "v2"));
  EXPECT_FALSE(fs::is_symlink(*got / ChunkName(7)));
  EXPECT_GE(last.downloaded, fresh + kChunk);
  EXPECT_EQ(States(old), before);
  EXPECT_EQ(Read(tmp_.path() / "outside"), outside);
}

}  // namespace
}  // namespace mumba::p2p
