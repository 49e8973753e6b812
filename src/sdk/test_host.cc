// SPDX-License-Identifier: Apache-2.0
#include "test_host.h"

#include <grpcpp/grpcpp.h>

#include <vector>

#include "storage/storage_service.h"

namespace mumba::sdk_test {
namespace {

class Directory final : public AppDirectory {
 public:
  Directory(std::set<std::string> apps, std::set<std::string> exporters)
      : apps_(std::move(apps)), exporters_(std::move(exporters)) {}
  Expected<std::string> ResolveApp(const std::string& ref) const override {
    if (!apps_.count(ref)) return NotFound("app '" + ref + "' is not installed");
    return ref;
  }
  bool ExportsTo(const std::string& owner_id, StoreKind kind, const std::string& db,
                 const std::string&) const override {
    return kind == StoreKind::kKv && db == "main" && exporters_.count(owner_id);
  }
  uint64_t QuotaFor(const std::string&) const override { return 0; }

 private:
  std::set<std::string> apps_;
  std::set<std::string> exporters_;
};

class TestHostImpl final : public TestHost {
 public:
  TestHostImpl(const std::filesystem::path& root, const std::set<std::string>& apps,
               std::set<std::string> exporters)
      : root_(root), directory_(apps, std::move(exporters)), stores_(root / "stores", &directory_) {
    for (const auto& id : apps) {
      services_.push_back(std::make_unique<StorageServices>(&stores_, StoreCaller{id}));
      // A server per socket: the socket is who the caller is.
      grpc::ServerBuilder b;
      b.AddListeningPort("unix:" + socket(id).string(), grpc::InsecureServerCredentials());
      b.RegisterService(&services_.back()->kv);
      b.RegisterService(&services_.back()->sql);
      b.RegisterService(&services_.back()->files);
      b.SetMaxReceiveMessageSize(32 << 20);
      b.SetMaxSendMessageSize(32 << 20);
      servers_.push_back(b.BuildAndStart());
      if (!servers_.back()) ok_ = false;
    }
  }
  ~TestHostImpl() override { Stop(0); }

  bool ok() const { return ok_; }
  std::filesystem::path socket(const std::string& app_id) const override {
    return root_ / (app_id.substr(app_id.rfind('/') + 1) + ".sock");
  }
  void Stop(int grace_ms) override {
    for (auto& s : servers_) {
      if (!s) continue;
      s->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
      s->Wait();
      s.reset();
    }
  }

 private:
  std::filesystem::path root_;
  Directory directory_;
  StoreManager stores_;
  std::vector<std::unique_ptr<StorageServices>> services_;
  std::vector<std::unique_ptr<grpc::Server>> servers_;
  bool ok_ = true;
};

}  // namespace

std::unique_ptr<TestHost> TestHost::Start(const std::filesystem::path& root, const std::set<std::string>& apps,
                                          const std::set<std::string>& exporters) {
  auto host = std::make_unique<TestHostImpl>(root, apps, exporters);
  if (!host->ok()) return nullptr;
  return host;
}

}  // namespace mumba::sdk_test
