// SPDX-License-Identifier: Apache-2.0
// How the supervisor learns that a daemon is ready: it asks, again and again,
// whether the daemon says SERVING. An interface so that tests decide the answer;
// the real one asks the daemon's grpc.health.v1 service on its unix socket.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>

namespace mumba {

enum class HealthAnswer {
  kNoSocket,    // The daemon has not made its socket yet.
  kNotServing,  // It answered something else, or did not answer in time.
  kServing,
};

// One run of one daemon: a connection kept for as long as that run lasts, so that
// repeated questions reuse it.
class HealthCheck {
 public:
  virtual ~HealthCheck() = default;

  // Asks once. `done` runs exactly once with the answer, on any thread (at once, or
  // later from the probe's own thread); it may outlive this HealthCheck.
  virtual void Ask(std::function<void(HealthAnswer)> done) = 0;
};

// Thread-safe.
class HealthProbe {
 public:
  virtual ~HealthProbe() = default;

  // A check of the daemon that is to serve gRPC at `socket`; the socket need not
  // exist yet. Never fails: a daemon that cannot be reached answers kNoSocket or
  // kNotServing.
  virtual std::unique_ptr<HealthCheck> Connect(const std::filesystem::path& socket) = 0;

  // The real probe: waits for the socket file, then asks grpc.health.v1.Health/Check
  // for the whole server ("") with a 500 ms deadline. Lives forever.
  static HealthProbe& Grpc();
};

}  // namespace mumba
