// SPDX-License-Identifier: Apache-2.0
// Quotas through the storage services, on real LMDB, SQLite and folders: writes
// running at once share what is left, entries cost room, usage survives a restart,
// and measuring one app's stores never holds up another app's.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "storage/storage_service.h"
#include "storage/store_manager.h"

namespace mumba {
namespace {

namespace fs = std::filesystem;
namespace sv1 = mumba::storage::v1;

class Directory final : public AppDirectory {
 public:
  explicit Directory(const std::map<std::string, uint64_t>& quotas) {
    for (const auto& [app, quota] : quotas) quotas_[app] = quota;
  }
  Expected<std::string> ResolveApp(const std::string& ref) const override {
    if (!quotas_.count(ref)) return NotFound("app '" + ref + "' is not installed");
    return ref;
  }
  bool ExportsTo(const std::string&, StoreKind, const std::string&, const std::string&) const override {
    return false;
  }
  uint64_t QuotaFor(const std::string& app_id) const override { return quotas_.at(app_id).load(); }
  void SetQuota(const std::string& app_id, uint64_t quota) { quotas_.at(app_id) = quota; }

 private:
  std::map<std::string, std::atomic<uint64_t>> quotas_;
};

constexpr uint64_t kQuota = 1u << 20;

class QuotaTest : public ::testing::Test {
 protected:
  QuotaTest()
      : directory_({{"a", kQuota}, {"b", kQuota}}),
        stores_(std::make_unique<StoreManager>(tmp_.path() / "stores", &directory_)) {}

  // Serves app "a"'s storage on a unix socket and returns a channel to it.
  std::shared_ptr<grpc::Channel> Serve() {
    services_ = std::make_unique<StorageServices>(stores_.get(), StoreCaller{"a"});
    grpc::ServerBuilder builder;
    std::string address = "unix:" + (tmp_.path() / "a.sock").string();
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(&services_->files);
    server_ = builder.BuildAndStart();
    EXPECT_TRUE(server_);
    return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }

  // Puts `data` at `path` of app "a" through the service in one chunk.
  grpc::Status PutFile(sv1::Files::Stub& stub, const std::string& path, const std::string& data) {
    grpc::ClientContext ctx;
    sv1::FileInfo info;
    auto writer = stub.Put(&ctx, &info);
    sv1::FilePutChunk chunk;
    chunk.set_path(path);
    chunk.set_data(data);
    writer->Write(chunk);
    writer->WritesDone();
    return writer->Finish();
  }

  // The bytes of the files of app "a", listed by the engine.
  uint64_t FileBytes() {
    auto files = stores_->Files(StoreCaller{"a"}, "", false);
    EXPECT_TRUE(files.ok());
    return files.ok() ? files->store->UsedBytes() : 0;
  }

  grpc::Status KvPut(const std::string& db, const std::string& key, const std::string& value) {
    KvService kv(stores_.get(), StoreCaller{"a"});
    sv1::KvWriteRequest req;
    req.mutable_store()->set_db(db);
    auto* op = req.add_ops();
    op->set_kind(sv1::KvOp::PUT);
    op->set_key(key);
    op->set_value(value);
    sv1::KvWriteResponse resp;
    return kv.Write(nullptr, &req, &resp);
  }

  TempDir tmp_;
  Directory directory_;
  std::unique_ptr<StoreManager> stores_;
  std::unique_ptr<StorageServices> services_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(QuotaTest, ParallelUploadsShareWhatIsLeft) {
  auto stub = sv1::Files::NewStub(Serve());
  const std::string data(600 * 1024, 'x');
  // Both uploads are under way, each with more than half of the quota, before
  // either lands.
  grpc::ClientContext ctx1, ctx2;
  sv1::FileInfo info1, info2;
  auto first = stub->Put(&ctx1, &info1);
  auto second = stub->Put(&ctx2, &info2);
  sv1::FilePutChunk chunk;
  chunk.set_path("one");
  chunk.set_data(data);
  first->Write(chunk);
  chunk.set_path("two");
  second->Write(chunk);
  first->WritesDone();
  second->WritesDone();
  grpc::Status s1 = first->Finish();
  grpc::Status s2 = second->Finish();

  EXPECT_NE(s1.ok(), s2.ok()) << s1.error_message() << " / " << s2.error_message();
  grpc::Status refused = s1.ok() ? s2 : s1;
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("quota"), std::string::npos);
  EXPECT_EQ(FileBytes(), data.size());
  EXPECT_LE(stores_->UsedBytes("a"), kQuota);
}

TEST_F(QuotaTest, ConcurrentKvPutsNeverPassTheQuota) {
  const std::string value(10 * 1024, 'v');
  std::atomic<int> stored{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      // Each thread its own database too, so the writes really run at once.
      const std::string db = (t % 2 == 0) ? "main" : "db" + std::to_string(t);
      for (int i = 0; i < 40; ++i) {
        grpc::Status s = KvPut(db, "t" + std::to_string(t) + "-" + std::to_string(i), value);
        if (s.ok()) {
          ++stored;
        } else {
          EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_GT(stored.load(), 0);
  EXPECT_LE(static_cast<uint64_t>(stored.load()) * value.size(), kQuota);
  EXPECT_LE(stores_->UsedBytes("a"), kQuota);
}

TEST_F(QuotaTest, EmptyFilesAndFoldersHitTheQuota) {
  auto stub = sv1::Files::NewStub(Serve());
  // A big file leaves room for a few dozen entries; each empty file costs one.
  ASSERT_TRUE(PutFile(*stub, "filler", std::string(900 * 1024, 'f')).ok());
  int put = 0;
  grpc::Status last;
  while (put < 1000 && (last = PutFile(*stub, "e" + std::to_string(put), "")).ok()) ++put;
  EXPECT_EQ(last.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << put << " empty files fit";
  EXPECT_LE(stores_->UsedBytes("a"), kQuota);

  // Folders left behind by deleted files cost an entry each as well.
  FilesService files(stores_.get(), StoreCaller{"a"});
  for (int i = 0; i < put; ++i) {
    sv1::FilePathRequest req;
    req.set_path("e" + std::to_string(i));
    sv1::FileDeleteResponse resp;
    ASSERT_TRUE(files.Delete(nullptr, &req, &resp).ok());
  }
  int folders = 0;
  while (folders < 1000) {
    std::string path = "d" + std::to_string(folders) + "/x";
    if (!(last = PutFile(*stub, path, "")).ok()) break;
    sv1::FilePathRequest req;
    req.set_path(path);
    sv1::FileDeleteResponse resp;
    ASSERT_TRUE(files.Delete(nullptr, &req, &resp).ok());
    ++folders;
  }
  EXPECT_EQ(last.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << folders << " folders fit";
  EXPECT_LE(stores_->UsedBytes("a"), kQuota);
}

TEST_F(QuotaTest, AnAppOverItsQuotaCanStillFreeRoom) {
  SqlService sql(stores_.get(), StoreCaller{"a"});
  auto execute = [&](const std::string& text) {
    sv1::SqlExecuteRequest req;
    req.add_statements()->set_sql(text);
    sv1::SqlExecuteResponse resp;
    return sql.Execute(nullptr, &req, &resp);
  };
  ASSERT_TRUE(execute("CREATE TABLE t(v BLOB)").ok());
  ASSERT_TRUE(execute("INSERT INTO t VALUES(randomblob(300000))").ok());
  ASSERT_TRUE(KvPut("main", "k", std::string(100000, 'k')).ok());
  // The owner lowers the quota below what the app stores.
  directory_.SetQuota("a", 100000);
  EXPECT_EQ(execute("INSERT INTO t VALUES(randomblob(20000))").error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(KvPut("main", "k2", "v").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  grpc::Status deleted = execute("DELETE FROM t");
  EXPECT_TRUE(deleted.ok()) << deleted.error_message();
  KvService kv(stores_.get(), StoreCaller{"a"});
  sv1::KvWriteRequest req;
  req.mutable_store()->set_db("main");
  req.add_ops()->set_kind(sv1::KvOp::DELETE);
  req.mutable_ops(0)->set_key("k");
  sv1::KvWriteResponse resp;
  EXPECT_TRUE(kv.Write(nullptr, &req, &resp).ok());
}

TEST_F(QuotaTest, UsageIsTheSameAfterARestart) {
  auto stub = sv1::Files::NewStub(Serve());
  ASSERT_TRUE(PutFile(*stub, "docs/readme", std::string(5000, 'r')).ok());
  ASSERT_TRUE(PutFile(*stub, "empty", "").ok());
  ASSERT_TRUE(KvPut("main", "k", std::string(3000, 'k')).ok());
  const uint64_t used = stores_->UsedBytes("a");
  // Two files and a folder, one KV database with one key.
  EXPECT_EQ(used, 5000 + 3 * engine::kFileEntryCost + kDatabaseCost + 1 + 3000 + engine::kKvKeyCost);
  server_->Shutdown();
  server_.reset();
  services_.reset();
  stores_ = std::make_unique<StoreManager>(tmp_.path() / "stores", &directory_);
  EXPECT_EQ(stores_->UsedBytes("a"), used);
}

TEST_F(QuotaTest, MeasuringOneAppDoesNotHoldUpAnother) {
  // App "b" has a store from before; opening it again needs no sync, so it is
  // quick whatever the disk is doing.
  {
    auto kv = stores_->Kv(StoreCaller{"b"}, "", "main", true);
    ASSERT_TRUE(kv.ok()) << kv.status().message();
    ASSERT_TRUE((*kv).store->Write({{engine::KvMutation::Kind::kPut, "k", "v"}}).ok());
  }
  stores_->Close("b");
  // App "a" has many entries, made behind the manager's back as a previous run of
  // the host would have left them.
  const fs::path tree = tmp_.path() / "stores" / "a" / "files";
  for (int d = 0; d < 10; ++d) {
    fs::path folder = tree / ("d" + std::to_string(d));
    fs::create_directories(folder);
    for (int f = 0; f < 1000; ++f) {
      int fd = ::open((folder / std::to_string(f)).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      ASSERT_GE(fd, 0);
      ::close(fd);
    }
  }
  std::atomic<bool> measured{false};
  std::chrono::steady_clock::duration walk{};
  std::thread measure([&] {
    auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(stores_->UsedBytes("a"), 10 * 1001 * engine::kFileEntryCost);
    walk = std::chrono::steady_clock::now() - started;
    measured = true;
  });
  // App "b"'s store is opened and read again and again while the walk runs; were
  // it held up, one of those would last about as long as the walk.
  std::chrono::steady_clock::duration slowest{};
  int opened = 0;
  while (!measured.load()) {
    auto started = std::chrono::steady_clock::now();
    auto kv = stores_->Kv(StoreCaller{"b"}, "", "main", false);
    ASSERT_TRUE(kv.ok()) << kv.status().message();
    auto value = (*kv).store->Get("k");
    ASSERT_TRUE(value.ok() && value->has_value());
    slowest = std::max(slowest, std::chrono::steady_clock::now() - started);
    kv = Status();
    stores_->Close("b");
    ++opened;
  }
  measure.join();
  EXPECT_GT(opened, 1);
  EXPECT_LT(slowest, walk / 2) << "app b's store waited for app a's walk";
}

}  // namespace
}  // namespace mumba
