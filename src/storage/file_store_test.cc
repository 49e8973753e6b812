// SPDX-License-Identifier: Apache-2.0
// The file tree engine: whole-file round trips, atomic replace, the path check,
// symlinks planted by someone else, folder semantics, crash leftovers, usage
// accounting and read-only stores.
#include "storage/file_store.h"
#include "common/temp_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace mumba::engine {
namespace {

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

// Writes a file on disk directly, behind the store's back.
void Plant(const fs::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  ASSERT_TRUE(out.good()) << path;
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t CountEntries(const fs::path& dir) {
  size_t n = 0;
  for (auto it = fs::directory_iterator(dir); it != fs::directory_iterator(); ++it) ++n;
  return n;
}

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path() / "root";
    outside_ = tmp_.path() / "outside";
    fs::create_directory(outside_);
    auto store = FileStore::Open(root_);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
  }

  void Put(const std::string& path, const std::string& data) {
    auto writer = store_->Create(path);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    ASSERT_TRUE((*writer)->Append(data).ok());
    auto entry = (*writer)->Commit();
    ASSERT_TRUE(entry.ok()) << entry.status().message();
    EXPECT_EQ(entry->size, data.size());
  }

  // Reads the whole file through the store, `chunk` bytes at a time.
  std::string Get(const std::string& path, size_t chunk = 1 << 16) {
    auto reader = store_->OpenRead(path);
    EXPECT_TRUE(reader.ok()) << reader.status().message();
    if (!reader.ok()) return "<error>";
    return ReadAll(**reader, chunk);
  }

  static std::string ReadAll(FileReader& reader, size_t chunk = 1 << 16) {
    std::string out;
    while (true) {
      auto data = reader.Read(chunk);
      EXPECT_TRUE(data.ok()) << data.status().message();
      if (!data.ok() || data->empty()) return out;
      EXPECT_LE(data->size(), chunk);
      out += *data;
    }
  }

  std::vector<std::string> Names(const std::string& dir) {
    auto list = store_->List(dir);
    EXPECT_TRUE(list.ok()) << list.status().message();
    std::vector<std::string> out;
    if (list.ok())
      for (const auto& e : *list) out.push_back(e.path + (e.is_dir ? "/" : ""));
    return out;
  }

  TempDir tmp_;
  fs::path root_;
  fs::path outside_;
  std::unique_ptr<FileStore> store_;
};

TEST_F(FileStoreTest, RoundTripsAFiveMebibyteFileInChunks) {
  const std::string data = RandomBytes(5 << 20, 1);
  auto writer = store_->Create("media/big.bin");
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  for (size_t off = 0; off < data.size(); off += 64 << 10) {
    ASSERT_TRUE((*writer)->Append(std::string_view(data).substr(off, 64 << 10)).ok());
  }
  EXPECT_EQ((*writer)->written(), data.size());
  auto entry = (*writer)->Commit();
  ASSERT_TRUE(entry.ok()) << entry.status().message();
  EXPECT_EQ(entry->path, "media/big.bin");
  EXPECT_FALSE(entry->is_dir);
  EXPECT_EQ(entry->size, data.size());

  auto reader = store_->OpenRead("media/big.bin");
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ((*reader)->size(), data.size());
  std::string back = ReadAll(**reader, 64 << 10);
  ASSERT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data) << "contents differ";
  // An odd chunk size that does not divide the file, and the file on disk itself.
  EXPECT_TRUE(Get("media/big.bin", 100003) == data);
  EXPECT_TRUE(Slurp(root_ / "media" / "big.bin") == data);
}

TEST_F(FileStoreTest, EmptyFileAndReadEdges) {
  Put("empty", "");
  auto reader = store_->OpenRead("empty");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->size(), 0u);
  auto data = (*reader)->Read(10);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "");
  EXPECT_EQ((*reader)->Read(0).status().code(), Code::kInvalidArgument);

  Put("small", "hello");
  reader = store_->OpenRead("small");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*(*reader)->Read(3), "hel");
  EXPECT_EQ(*(*reader)->Read(SIZE_MAX), "lo");
  EXPECT_EQ(*(*reader)->Read(SIZE_MAX), "");
  EXPECT_EQ(*(*reader)->Read(1), "");
}

TEST_F(FileStoreTest, ReplaceIsAtomicForReaders) {
  const std::string v1 = RandomBytes(300000, 2);
  const std::string v2 = RandomBytes(200000, 3);
  Put("doc", v1);
  auto old_reader = store_->OpenRead("doc");
  ASSERT_TRUE(old_reader.ok());
  // Half of the old file before the replace, the rest after.
  auto head = (*old_reader)->Read(100000);
  ASSERT_TRUE(head.ok());

  auto writer = store_->Create("doc");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(v2).ok());
  // Not yet committed: everyone still sees v1.
  EXPECT_TRUE(Get("doc") == v1);
  EXPECT_EQ(store_->Stat("doc")->size, v1.size());
  ASSERT_TRUE((*writer)->Commit().ok());

  EXPECT_TRUE(*head + ReadAll(**old_reader) == v1) << "old reader saw a mix";
  EXPECT_EQ((*old_reader)->size(), v1.size());
  EXPECT_TRUE(Get("doc") == v2);
  EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 0u);
}

TEST_F(FileStoreTest, WriterDroppedWithoutCommitLeavesOldFileAndNoTemp) {
  Put("doc", "old");
  {
    auto writer = store_->Create("doc");
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(RandomBytes(70000, 4)).ok());
    // The partial file lives in the hidden temporary folder, not beside "doc".
    EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 1u);
    EXPECT_EQ(Names(""), std::vector<std::string>({"doc"}));
  }
  EXPECT_EQ(Get("doc"), "old");
  EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 0u);

  // A new path dropped without Commit never appears.
  { ASSERT_TRUE(store_->Create("new/file").ok()); }
  EXPECT_EQ(store_->Stat("new/file").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Stat("new").status().code(), Code::kNotFound);
  EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 0u);
}

TEST_F(FileStoreTest, WriterIsFinishedAfterCommit) {
  auto writer = store_->Create("f");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("a").ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ((*writer)->Append("b").code(), Code::kFailedPrecondition);
  EXPECT_EQ((*writer)->Commit().status().code(), Code::kFailedPrecondition);
  writer->reset();
  EXPECT_EQ(Get("f"), "a");
}

TEST_F(FileStoreTest, WriterOutlivesTheStore) {
  auto writer = store_->Create("late");
  ASSERT_TRUE(writer.ok());
  store_.reset();
  ASSERT_TRUE((*writer)->Append("still here").ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(Slurp(root_ / "late"), "still here");
}

TEST_F(FileStoreTest, RefusesPathsThatCouldEscapeOrAreReserved) {
  Put("ok", "x");
  const std::vector<std::string> bad = {
      "../x", "/etc/passwd", "a/../../b", "a\\b", ".mumba-tmp/x", "", "a//b", ".", "..",
      "a/.", "a/..", "./a", "a/", "/", std::string("a\0b", 3), ".mumba-tmp", ".mumbafoo",
      "a/.mumba-tmp", std::string(256, 'n'), "a/" + std::string(4095, 'b'),
  };
  for (const auto& path : bad) {
    SCOPED_TRACE("path: " + path);
    auto writer = store_->Create(path);
    EXPECT_EQ(writer.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(store_->OpenRead(path).status().code(), Code::kInvalidArgument);
    EXPECT_EQ(store_->Stat(path).status().code(), Code::kInvalidArgument);
    EXPECT_EQ(store_->Delete(path).code(), Code::kInvalidArgument);
    EXPECT_EQ(store_->Move("ok", path).status().code(), Code::kInvalidArgument);
    EXPECT_EQ(store_->Move(path, "ok2").status().code(), Code::kInvalidArgument);
    if (path != "" && path != ".") {
      EXPECT_EQ(store_->List(path).status().code(), Code::kInvalidArgument);
    }
    // The message is one line and names the path.
    const std::string message = writer.status().message();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    std::string shown = path.find('\0') == std::string::npos ? path.substr(0, 20) : "a\\x00b";
    EXPECT_NE(message.find("'" + shown), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(tmp_.path() / "x"));
  EXPECT_EQ(Get("ok"), "x");
  EXPECT_EQ(Names(""), std::vector<std::string>({"ok"}));
}

TEST_F(FileStoreTest, AcceptsUnusualButValidNames) {
  const std::vector<std::string> good = {
      "..a", ".a", "a..", "a b", "ünïcödé", ".mumb", "x.mumba-tmp", "a/b/c/d",
      std::string(255, 'n'), "deep/" + std::string(255, 'm'),
  };
  for (const auto& path : good) {
    SCOPED_TRACE("path: " + path);
    Put(path, path);
    EXPECT_EQ(Get(path), path);
  }
  // Exactly 4096 bytes is allowed.
  std::string longest;
  while (longest.size() + 200 < 4096) longest += std::string(199, 'p') + "/";
  longest += std::string(4096 - longest.size(), 'q');
  ASSERT_EQ(longest.size(), 4096u);
  Put(longest, "long");
  EXPECT_EQ(Get(longest), "long");
}

TEST_F(FileStoreTest, SymlinksInsideTheTreeAreNeverFollowed) {
  Plant(outside_ / "secret", "top secret");
  ASSERT_TRUE(fs::create_directory(root_ / "a"));
  fs::create_directory_symlink(outside_, root_ / "dirlink");
  fs::create_directory_symlink(outside_, root_ / "a" / "deeplink");
  fs::create_symlink(outside_ / "secret", root_ / "filelink");

  // Read.
  for (const char* path : {"filelink", "dirlink/secret", "a/deeplink/secret"}) {
    SCOPED_TRACE(path);
    auto reader = store_->OpenRead(path);
    EXPECT_EQ(reader.status().code(), Code::kInvalidArgument) << reader.status().message();
    EXPECT_EQ(store_->Stat(path).status().code(), Code::kInvalidArgument);
  }
  // Stat and list.
  EXPECT_EQ(store_->Stat("dirlink").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->List("dirlink").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->List("a/deeplink").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Names(""), std::vector<std::string>({"a/"}));
  EXPECT_EQ(Names("a"), std::vector<std::string>());
  // Write: through a symlinked folder is refused; over a symlink replaces the link.
  EXPECT_EQ(store_->Create("dirlink/evil").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Create("a/deeplink/evil").status().code(), Code::kInvalidArgument);
  Put("filelink", "mine");
  EXPECT_EQ(Get("filelink"), "mine");
  EXPECT_FALSE(fs::is_symlink(root_ / "filelink"));
  // Move and delete through or of a symlink.
  Put("f", "f");
  EXPECT_EQ(store_->Move("f", "dirlink/f").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Move("dirlink/secret", "stolen").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Move("dirlink", "moved").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Delete("dirlink/secret").code(), Code::kInvalidArgument);
  // Deleting the link removes the link only.
  EXPECT_TRUE(store_->Delete("dirlink").ok());
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "dirlink")));
  EXPECT_EQ(Slurp(outside_ / "secret"), "top secret");
  EXPECT_EQ(CountEntries(outside_), 1u);
  // The usage count ignores what the links point at.
  EXPECT_EQ(store_->UsedBytes(), 5u);
}

TEST_F(FileStoreTest, SymlinkSwappedInAfterCreateIsNotFollowedOnCommit) {
  ASSERT_TRUE(fs::create_directory(root_ / "d"));
  auto writer = store_->Create("d/file");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("payload").ok());
  fs::remove(root_ / "d");
  fs::create_directory_symlink(outside_, root_ / "d");
  EXPECT_EQ((*writer)->Commit().status().code(), Code::kInvalidArgument);
  EXPECT_EQ(CountEntries(outside_), 0u);
  EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 0u);
}

TEST_F(FileStoreTest, SpecialFilesAreNotOpened) {
  ASSERT_EQ(::mkfifo((root_ / "pipe").c_str(), 0600), 0);
  // Would block forever if the store opened the FIFO for reading normally.
  EXPECT_EQ(store_->OpenRead("pipe").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->Stat("pipe").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(Names(""), std::vector<std::string>());
}

TEST_F(FileStoreTest, ListIsOneSortedFolder) {
  Put("b.txt", "bb");
  Put("a.txt", "a");
  Put("dir/inner/deep.txt", "deep");
  Put("dir/x", "xxx");
  Put("C", "");
  auto root_list = store_->List("");
  ASSERT_TRUE(root_list.ok());
  ASSERT_EQ(root_list->size(), 4u);
  EXPECT_EQ((*root_list)[0].path, "C");
  EXPECT_EQ((*root_list)[1].path, "a.txt");
  EXPECT_EQ((*root_list)[1].size, 1u);
  EXPECT_FALSE((*root_list)[1].is_dir);
  EXPECT_EQ((*root_list)[2].path, "b.txt");
  EXPECT_EQ((*root_list)[2].size, 2u);
  EXPECT_EQ((*root_list)[3].path, "dir");
  EXPECT_TRUE((*root_list)[3].is_dir);
  EXPECT_EQ(Names("."), Names(""));
  EXPECT_EQ(Names("dir"), std::vector<std::string>({"dir/inner/", "dir/x"}));
  EXPECT_EQ(Names("dir/inner"), std::vector<std::string>({"dir/inner/deep.txt"}));

  EXPECT_EQ(store_->List("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->List("dir/nope").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->List("a.txt").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->List("a.txt/x").status().code(), Code::kNotFound);
  auto missing = store_->List("nope");
  EXPECT_NE(missing.status().message().find("'nope'"), std::string::npos);
}

TEST_F(FileStoreTest, StatFilesAndFolders) {
  int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  Put("d/f", "12345");
  auto file = store_->Stat("d/f");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->path, "d/f");
  EXPECT_FALSE(file->is_dir);
  EXPECT_EQ(file->size, 5u);
  EXPECT_GE(file->modified_ms, before - 2000);
  EXPECT_LE(file->modified_ms, before + 60000);
  auto dir = store_->Stat("d");
  ASSERT_TRUE(dir.ok());
  EXPECT_TRUE(dir->is_dir);
  EXPECT_EQ(dir->size, 0u);
  auto missing = store_->Stat("d/g");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("'d/g'"), std::string::npos);
  EXPECT_EQ(store_->Stat("d/f/g").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Stat("x/y/z").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->OpenRead("d").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->OpenRead("d/g").status().code(), Code::kNotFound);
}

TEST_F(FileStoreTest, PutRefusesToMixFilesAndFolders) {
  Put("d/f", "x");
  auto onto_folder = store_->Create("d");
  EXPECT_EQ(onto_folder.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(onto_folder.status().message().find("'d'"), std::string::npos);
  EXPECT_EQ(store_->Create("d/f/g").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->Create("d/f/g/h").status().code(), Code::kFailedPrecondition);

  // A folder that appears between Create and Commit is caught by Commit.
  auto writer = store_->Create("later");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("data").ok());
  Put("later/inside", "y");
  EXPECT_EQ((*writer)->Commit().status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 0u);
  EXPECT_EQ(Get("later/inside"), "y");
}

TEST_F(FileStoreTest, CreatesFoldersPrivately) {
  Put("p/q/r", "x");
  EXPECT_EQ(fs::status(root_).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(root_ / "p").permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(root_ / "p" / "q").permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(root_ / "p" / "q" / "r").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(FileStoreTest, DeleteFilesAndEmptyFolders) {
  Put("d/f", "x");
  Put("d/g", "y");
  auto not_empty = store_->Delete("d");
  EXPECT_EQ(not_empty.code(), Code::kFailedPrecondition);
  EXPECT_NE(not_empty.message().find("'d'"), std::string::npos);
  EXPECT_TRUE(store_->Delete("d/f").ok());
  EXPECT_EQ(Names("d"), std::vector<std::string>({"d/g"}));
  EXPECT_EQ(store_->Delete("d/f").code(), Code::kNotFound);
  EXPECT_EQ(store_->Delete("nope/f").code(), Code::kNotFound);
  EXPECT_EQ(store_->Delete("d/g/h").code(), Code::kNotFound);
  EXPECT_TRUE(store_->Delete("d/g").ok());
  EXPECT_TRUE(store_->Delete("d").ok());
  EXPECT_EQ(Names(""), std::vector<std::string>());
  EXPECT_EQ(store_->Delete("d").code(), Code::kNotFound);
}

TEST_F(FileStoreTest, MoveFilesAndFolders) {
  Put("a/f", "file f");
  Put("a/sub/g", "file g");
  Put("other", "other");

  // A file to a new place, creating its parents.
  auto moved = store_->Move("a/f", "x/y/f2");
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(moved->path, "x/y/f2");
  EXPECT_EQ(moved->size, 6u);
  EXPECT_EQ(Get("x/y/f2"), "file f");
  EXPECT_EQ(store_->Stat("a/f").status().code(), Code::kNotFound);

  // A file over another file replaces it.
  ASSERT_TRUE(store_->Move("x/y/f2", "other").ok());
  EXPECT_EQ(Get("other"), "file f");

  // A folder with its contents.
  moved = store_->Move("a", "b/a2");
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_TRUE(moved->is_dir);
  EXPECT_EQ(Get("b/a2/sub/g"), "file g");
  EXPECT_EQ(store_->Stat("a").status().code(), Code::kNotFound);

  // Onto itself is a no-op.
  ASSERT_TRUE(store_->Move("other", "other").ok());
  EXPECT_EQ(Get("other"), "file f");

  // Errors.
  auto into_itself = store_->Move("b", "b/a2/b");
  EXPECT_EQ(into_itself.status().code(), Code::kInvalidArgument);
  EXPECT_NE(into_itself.status().message().find("'b'"), std::string::npos);
  EXPECT_EQ(store_->Stat("b/a2/b").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Move("missing", "z").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Move("other", "b").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->Move("b/a2", "other").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->Move("b/a2", "x").status().code(), Code::kFailedPrecondition);
  // POSIX would let a folder replace an empty folder; the store replaces files only.
  ASSERT_TRUE(fs::create_directory(root_ / "empty"));
  EXPECT_EQ(store_->Move("b/a2", "empty").status().code(), Code::kFailedPrecondition);
  ASSERT_TRUE(store_->Delete("empty").ok());
  EXPECT_EQ(store_->Move("x", "other/inside").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(Get("other"), "file f");
  EXPECT_EQ(Get("b/a2/sub/g"), "file g");
  EXPECT_EQ(Names(""), std::vector<std::string>({"b/", "other", "x/"}));
}

TEST_F(FileStoreTest, OpenRemovesLeftoversInTheTemporaryFolder) {
  store_.reset();
  Plant(root_ / ".mumba-tmp" / "crashed1.part", "half");
  Plant(root_ / ".mumba-tmp" / "crashed2.part", "written");
  ASSERT_EQ(CountEntries(root_ / ".mumba-tmp"), 2u);
  auto store = FileStore::Open(root_);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 0u);
  EXPECT_EQ((*store)->UsedBytes(), 0u);
}

TEST_F(FileStoreTest, SecondOpenLeavesAnotherStoresWritersAlone) {
  auto writer = store_->Create("inflight");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("part one").ok());
  auto second = FileStore::Open(root_);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 1u);
  ASSERT_TRUE((*writer)->Append(", part two").ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(Get("inflight"), "part one, part two");
}

TEST_F(FileStoreTest, UsedBytesFollowsTheTree) {
  EXPECT_EQ(store_->UsedBytes(), 0u);
  Put("a", std::string(100, 'a'));
  Put("d/b", std::string(200, 'b'));
  EXPECT_EQ(store_->UsedBytes(), 300u);
  Put("a", std::string(50, 'a'));
  EXPECT_EQ(store_->UsedBytes(), 250u);
  {
    // Uncommitted data is not counted.
    auto writer = store_->Create("pending");
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(std::string(1000, 'p')).ok());
    EXPECT_EQ(store_->UsedBytes(), 250u);
  }
  ASSERT_TRUE(store_->Move("d", "e/d").ok());
  EXPECT_EQ(store_->UsedBytes(), 250u);
  ASSERT_TRUE(store_->Delete("e/d/b").ok());
  EXPECT_EQ(store_->UsedBytes(), 50u);
  ASSERT_TRUE(store_->Delete("a").ok());
  EXPECT_EQ(store_->UsedBytes(), 0u);
}

TEST_F(FileStoreTest, UsageCountsEntriesAndFollowsEveryChange) {
  Put("a/b/one", "12345");
  fs::create_directories(root_ / "c");  // Made outside the store: seen by the walk.
  auto usage = store_->Usage();
  EXPECT_EQ(usage.bytes, 5u);
  EXPECT_EQ(usage.entries, 4u);  // a, a/b, a/b/one, c.
  EXPECT_EQ(usage.charged(), 5 + 4 * kFileEntryCost);

  Put("a/b/one", "1234567");  // Replaces: the old size leaves, no new entry.
  Put("x/y/empty", "");       // Two folders and an empty file.
  EXPECT_EQ(store_->Usage().bytes, 7u);
  EXPECT_EQ(store_->Usage().entries, 7u);
  ASSERT_TRUE(store_->Move("x/y/empty", "a/b/one").ok());  // Replaces a 7-byte file.
  EXPECT_EQ(store_->Usage().bytes, 0u);
  EXPECT_EQ(store_->Usage().entries, 6u);
  ASSERT_TRUE(store_->Move("a/b/one", "m/n/moved").ok());  // Makes two folders.
  EXPECT_EQ(store_->Usage().entries, 8u);
  ASSERT_TRUE(store_->Delete("m/n/moved").ok());
  ASSERT_TRUE(store_->Delete("m/n").ok());
  EXPECT_EQ(store_->Usage().entries, 6u);
  // The count matches a fresh walk.
  auto reopened = FileStore::Open(root_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Usage().entries, store_->Usage().entries);
  EXPECT_EQ((*reopened)->Usage().bytes, store_->Usage().bytes);
}

TEST_F(FileStoreTest, UsedBytesCountsTenThousandFilesQuickly) {
  // Planted as hard links to a few seed files: creating 10k inodes (let alone
  // committing them with fsync) takes many seconds on a loaded disk. Each link
  // is a file of the tree and counts once.
  for (int s = 0; s < 10; ++s) {
    Plant(outside_ / ("seed" + std::to_string(s)), std::string(s * 10, 'x'));
  }
  uint64_t expected = 0;
  for (int d = 0; d < 100; ++d) {
    fs::path dir = root_ / ("d" + std::to_string(d)) / "sub";
    fs::create_directories(dir);
    for (int f = 0; f < 100; ++f) {
      int seed = (d + f) % 10;
      fs::create_hard_link(outside_ / ("seed" + std::to_string(seed)), dir / std::to_string(f));
      expected += static_cast<uint64_t>(seed * 10);
    }
  }
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(store_->UsedBytes(), expected);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST_F(FileStoreTest, UsedBytesWalksDeepTreesWithFewDescriptors) {
  // 200 levels, far more than the descriptor limit set below. Planted directly
  // one level at a time: a path this long is too long for most calls, and Commit
  // would fsync each new folder.
  int dir = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dir, 0);
  std::string path;
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(::mkdirat(dir, "d", 0700), 0);
    int child = ::openat(dir, "d", O_RDONLY | O_DIRECTORY);
    ::close(dir);
    ASSERT_GE(dir = child, 0);
    path += "d/";
    if (i == 99) Plant(root_ / (path + "mid"), std::string(10, 'm'));
  }
  int leaf = ::openat(dir, "leaf", O_WRONLY | O_CREAT | O_EXCL, 0600);
  ::close(dir);
  ASSERT_GE(leaf, 0);
  ASSERT_EQ(::ftruncate(leaf, 1234), 0);
  ::close(leaf);
  Put("top", "t");
  EXPECT_EQ(Get(path + "leaf"), std::string(1234, '\0'));

  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  struct rlimit low = old_limit;
  low.rlim_cur = 32;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  uint64_t used = store_->UsedBytes();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old_limit), 0);
  EXPECT_EQ(used, 1234u + 10u + 1u);
}

TEST_F(FileStoreTest, ReadOnlyStoreRefusesChanges) {
  Put("f", "data");
  Put("d/g", "more");
  Plant(root_ / ".mumba-tmp" / "someone-elses.part", "x");
  auto opened = FileStore::Open(root_, /*read_only=*/true);
  ASSERT_TRUE(opened.ok());
  auto& ro = *opened;
  EXPECT_EQ(ro->Create("new").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(ro->Create("f").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(ro->Delete("f").code(), Code::kFailedPrecondition);
  EXPECT_EQ(ro->Move("f", "g").status().code(), Code::kFailedPrecondition);
  // Reads work, nothing changed and the temporary folder was not touched.
  auto reader = ro->OpenRead("f");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(ReadAll(**reader), "data");
  EXPECT_EQ(ro->Stat("d/g")->size, 4u);
  ASSERT_TRUE(ro->List("").ok());
  EXPECT_EQ(ro->List("")->size(), 2u);
  EXPECT_EQ(ro->UsedBytes(), 8u);
  EXPECT_EQ(Get("f"), "data");
  EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 1u);
}

TEST(FileStoreOpenTest, RootHandling) {
  TempDir tmp;
  // Read-only never creates the root.
  auto missing = FileStore::Open(tmp.path() / "nope", /*read_only=*/true);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(tmp.path() / "nope"));
  // Writable creates it and its parents, 0700, with the temporary folder.
  fs::path root = tmp.path() / "x" / "y" / "files";
  auto store = FileStore::Open(root);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ(fs::status(root).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_TRUE(fs::is_directory(root / ".mumba-tmp"));
  // A file in place of the root.
  Plant(tmp.path() / "file", "x");
  EXPECT_EQ(FileStore::Open(tmp.path() / "file").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(FileStore::Open(tmp.path() / "file", true).status().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(FileStore::Open("").status().code(), Code::kInvalidArgument);
}

TEST(FileStoreOpenTest, ReplacesAPlantedTemporaryFolderSymlink) {
  TempDir tmp;
  fs::create_directory(tmp.path() / "root");
  fs::create_directory(tmp.path() / "outside");
  Plant(tmp.path() / "outside" / "keep", "keep");
  fs::create_directory_symlink(tmp.path() / "outside", tmp.path() / "root" / ".mumba-tmp");
  auto store = FileStore::Open(tmp.path() / "root");
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ(Slurp(tmp.path() / "outside" / "keep"), "keep");
  EXPECT_FALSE(fs::is_symlink(tmp.path() / "root" / ".mumba-tmp"));
  auto writer = (*store)->Create("f");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("x").ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(CountEntries(tmp.path() / "outside"), 1u);
}

TEST_F(FileStoreTest, ConcurrentWritersAndReadersSeeWholeFiles) {
  const std::string v1(100000, '1');
  const std::string v2(150000, '2');
  Put("shared", v1);
  std::atomic<bool> torn{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto writer = store_->Create(t % 2 ? "shared" : "own/" + std::to_string(t) + "/" +
                                                            std::to_string(i));
        if (!writer.ok() || !(*writer)->Append((t + i) % 2 ? v1 : v2).ok() ||
            !(*writer)->Commit().ok()) {
          ++failures;
        }
      }
    });
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto reader = store_->OpenRead("shared");
        if (!reader.ok()) {
          ++failures;
          continue;
        }
        std::string data = ReadAll(**reader, 7000);
        if (data != v1 && data != v2) torn = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_FALSE(torn);
  EXPECT_EQ(Names("own").size(), 2u);
  EXPECT_EQ(CountEntries(root_ / ".mumba-tmp"), 0u);
}

}  // namespace
}  // namespace mumba::engine
