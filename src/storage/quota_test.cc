// SPDX-License-Identifier: Apache-2.0
// Quotas through the storage services, on real LMDB, SQLite and folders: writes
// running at once share what is left, entries cost room, usage survives a restart,
// and measuring one app's stores never holds up another app's.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <mutex>
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
// The context of a method called directly rather than through gRPC.
grpc::ServerContext* const kDirect = nullptr;

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
    return kv.Write(kDirect, &req, &resp);
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
    ASSERT_TRUE(files.Delete(kDirect, &req, &resp).ok());
  }
  int folders = 0;
  while (folders < 1000) {
    std::string path = "d" + std::to_string(folders) + "/x";
    if (!(last = PutFile(*stub, path, "")).ok()) break;
    sv1::FilePathRequest req;
    req.set_path(path);
    sv1::FileDeleteResponse resp;
    ASSERT_TRUE(files.Delete(kDirect, &req, &resp).ok());
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
    return sql.Execute(kDirect, &req, &resp);
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
  EXPECT_TRUE(kv.Write(kDirect, &req, &resp).ok());
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

// A file tree whose first usage count does not end until the test says so: a walk
// of as many entries as a test wants, on any disk.
class SlowToMeasure final : public engine::FileStore {
 public:
  SlowToMeasure(std::unique_ptr<engine::FileStore> inner, std::shared_future<void> release,
                std::function<void()> walking)
      : inner_(std::move(inner)), release_(std::move(release)), walking_(std::move(walking)) {}

  Expected<std::unique_ptr<engine::FileWriter>> Create(std::string_view path) override {
    return inner_->Create(path);
  }
  Expected<std::unique_ptr<engine::FileReader>> OpenRead(std::string_view path) const override {
    return inner_->OpenRead(path);
  }
  Expected<std::vector<engine::FileEntry>> List(std::string_view dir) const override {
    return inner_->List(dir);
  }
  Expected<engine::FileEntry> Stat(std::string_view path) const override { return inner_->Stat(path); }
  Status Delete(std::string_view path) override { return inner_->Delete(path); }
  Expected<engine::FileEntry> Move(std::string_view from, std::string_view to) override {
    return inner_->Move(from, to);
  }
  uint64_t UsedBytes() const override { return inner_->UsedBytes(); }
  engine::FileUsage Usage() const override {
    walking_();
    release_.wait();
    return inner_->Usage();
  }

 private:
  std::unique_ptr<engine::FileStore> inner_;
  std::shared_future<void> release_;
  std::function<void()> walking_;
};

TEST_F(QuotaTest, MeasuringOneAppDoesNotHoldUpAnother) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> walking;
  std::once_flag walking_once;
  // App "a"'s file tree takes as long to measure as this test wants.
  stores_ = std::make_unique<StoreManager>(
      tmp_.path() / "stores", &directory_, engine::SqlStoreOptions{},
      [&](const fs::path& dir) -> Expected<std::unique_ptr<engine::FileStore>> {
        MUMBA_ASSIGN_OR_RETURN(auto tree, engine::FileStore::Open(dir));
        if (dir.parent_path().filename() != "a") return tree;
        return std::unique_ptr<engine::FileStore>(new SlowToMeasure(
            std::move(tree), released, [&] { std::call_once(walking_once, [&] { walking.set_value(); }); }));
      });
  fs::create_directories(tmp_.path() / "stores" / "a" / "files");
  auto measured = std::async(std::launch::async, [&] { return stores_->UsedBytes("a"); });
  ASSERT_EQ(walking.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);

  // While it is measured, another app opens, creates and writes its store.
  auto other = std::async(std::launch::async, [&] {
    auto kv = stores_->Kv(StoreCaller{"b"}, "", "main", true);
    return kv.ok() && (*kv).store->Write({{engine::KvMutation::Kind::kPut, "k", "v"}}).ok();
  });
  bool done = other.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  release.set_value();
  EXPECT_TRUE(done) << "app b's store waited for app a's walk";
  EXPECT_TRUE(other.get());
  EXPECT_EQ(measured.get(), 0u);
}

}  // namespace
}  // namespace mumba
