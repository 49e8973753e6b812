// SPDX-License-Identifier: Apache-2.0
// CallPool: the fixed set of threads that run storage's unary calls, shared fairly
// among callers. gRPC's synchronous server gives each call in flight a thread of
// its own (132 threads in the host under 100 storage clients); here a call waits
// for its turn instead. A caller never runs more than `per_caller` calls at once,
// and callers with calls waiting take turns, so an app whose calls are slow (SQL up
// to its deadline) holds at most that many threads and cannot stall the others.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mumba {

// Thread-safe.
class CallPool {
 public:
  // Starts `threads` threads (at least one); each caller runs at most `per_caller`
  // calls at once (at least one).
  CallPool(int threads, int per_caller);
  // Runs every call already posted, then joins the threads.
  ~CallPool();
  CallPool(const CallPool&) = delete;
  CallPool& operator=(const CallPool&) = delete;

  // Runs `call` on one of the threads: after the calls `caller` posted before it
  // have started, taking turns with other callers' waiting calls. Never blocks.
  void Post(const std::string& caller, std::function<void()> call);

 private:
  struct Caller {
    std::deque<std::function<void()>> calls;  // Waiting, oldest first.
    int running = 0;
    bool queued = false;  // In ready_.
  };
  // Puts `caller` at the end of the turn when it has a call waiting and room to run
  // it. Holds mu_.
  void MaybeReady(const std::string& key, Caller& caller);
  void Run();

  const int per_caller_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Caller> callers_;  // Only those with calls waiting or running.
  std::deque<std::string> ready_;          // Whose turn it is, in order.
  bool closed_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mumba
