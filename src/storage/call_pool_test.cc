// SPDX-License-Identifier: Apache-2.0
// CallPool's turns and limits, and the storage services on it through real gRPC:
// many calls at once all complete on a bounded number of threads.
#include "storage/call_pool.h"

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "common/temp_dir.h"
#include "storage/storage_service.h"
#include "storage/store_manager.h"

namespace mumba {
namespace {

namespace sv1 = mumba::storage::v1;
using namespace std::chrono_literals;

// Holds every call that waits on it until Open.
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(CallPoolTest, ACallerAtItsLimitLeavesThreadsToOthers) {
  Gate gate;
  std::atomic<int> slow_running{0};
  std::promise<void> quick_ran;
  {
    CallPool pool(4, 2);
    for (int i = 0; i < 8; ++i) {
      pool.Post("slow", [&] {
        slow_running++;
        gate.Wait();
      });
    }
    pool.Post("quick", [&] { quick_ran.set_value(); });
    // Eight slow calls wait, yet the quick caller's call runs at once: the slow
    // caller holds two threads, not all four.
    EXPECT_EQ(quick_ran.get_future().wait_for(10s), std::future_status::ready);
    // The second slow call's thread may not have begun it yet when the quick one
    // ran: wait for both, then give a third (which the limit forbids) time to start.
    for (auto end = std::chrono::steady_clock::now() + 10s;
         slow_running.load() < 2 && std::chrono::steady_clock::now() < end;) {
      std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(slow_running.load(), 2);
    gate.Open();
  }
  EXPECT_EQ(slow_running.load(), 8);
}

TEST(CallPoolTest, RunsEveryCallPostedBeforeItGoes) {
  std::atomic<int> ran{0};
  {
    CallPool pool(2, 1);
    for (int i = 0; i < 100; ++i) pool.Post(i % 2 ? "a" : "b", [&] { ran++; });
  }
  EXPECT_EQ(ran.load(), 100);
}

class OneApp final : public AppDirectory {
 public:
  Expected<std::string> ResolveApp(const std::string& ref) const override {
    if (ref != "a") return NotFound("app '" + ref + "' is not installed");
    return ref;
  }
  bool ExportsTo(const std::string&, StoreKind, const std::string&, const std::string&) const override {
    return false;
  }
  uint64_t QuotaFor(const std::string&) const override { return 0; }
};

int ThreadsOfThisProcess() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) n++;
  return n;
}

TEST(StoragePoolTest, ManyCallsAtOnceAllCompleteOnBoundedThreads) {
  TempDir tmp;
  OneApp apps;
  StoreManager stores(tmp.path() / "stores", &apps);
  StorageServices services(&stores, StoreCaller{"a"});
  grpc::ServerBuilder builder;
  const std::string address = "unix:" + (tmp.path() / "s.sock").string();
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&services.sql);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  auto sql = sv1::Sql::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));

  // Calls that take a while each, so that they are all in flight together.
  constexpr int kCalls = 120;
  const int threads_before = ThreadsOfThisProcess();
  std::atomic<int> most_threads{threads_before};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      most_threads = std::max(most_threads.load(), ThreadsOfThisProcess());
      std::this_thread::sleep_for(5ms);
    }
  });
  struct Call {
    grpc::ClientContext ctx;
    sv1::SqlExecuteRequest req;
    sv1::SqlExecuteResponse resp;
  };
  std::vector<std::unique_ptr<Call>> calls;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto c = std::make_unique<Call>();
    c->ctx.set_deadline(std::chrono::system_clock::now() + 120s);
    c->req.add_statements()->set_sql(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000) "
        "SELECT count(*) FROM c");
    sql->async()->Execute(&c->ctx, &c->req, &c->resp, [&](grpc::Status s) {
      std::lock_guard lock(mu);
      done++;
      if (s.ok()) ok++;
      cv.notify_all();
    });
    calls.push_back(std::move(c));
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 120s, [&] { return done == kCalls; }));
  }
  sampling = false;
  sampler.join();
  EXPECT_EQ(ok, kCalls);
  // The synchronous server made a thread per call in flight (about kCalls more);
  // the pool's eight were started with it, and gRPC adds a few of its own.
  EXPECT_LT(most_threads.load() - threads_before, 24);
  server->Shutdown();
}

}  // namespace
}  // namespace mumba
