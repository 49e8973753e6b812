// SPDX-License-Identifier: Apache-2.0
#include "storage/call_pool.h"

#include <algorithm>

namespace mumba {

CallPool::CallPool(int threads, int per_caller) : per_caller_(std::max(1, per_caller)) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Run(); });
}

CallPool::~CallPool() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void CallPool::Post(const std::string& caller, std::function<void()> call) {
  std::lock_guard lock(mu_);
  Caller& c = callers_[caller];
  c.calls.push_back(std::move(call));
  MaybeReady(caller, c);
}

void CallPool::MaybeReady(const std::string& key, Caller& caller) {
  if (caller.queued || caller.calls.empty() || caller.running >= per_caller_) return;
  caller.queued = true;
  ready_.push_back(key);
  cv_.notify_one();
}

void CallPool::Run() {
  for (;;) {
    std::string key;
    std::function<void()> call;
    {
      std::unique_lock lock(mu_);
      // A caller at its limit is made ready again by the thread that ends one of
      // its calls, which then comes back here: closing waits for no one else.
      cv_.wait(lock, [this] { return closed_ || !ready_.empty(); });
      if (ready_.empty()) return;
      key = std::move(ready_.front());
      ready_.pop_front();
      Caller& c = callers_[key];
      c.queued = false;
      call = std::move(c.calls.front());
      c.calls.pop_front();
      c.running++;
      MaybeReady(key, c);
    }
    call();
    std::lock_guard lock(mu_);
    auto it = callers_.find(key);
    it->second.running--;
    MaybeReady(key, it->second);
    if (it->second.running == 0 && it->second.calls.empty()) callers_.erase(it);
  }
}

}  // namespace mumba
