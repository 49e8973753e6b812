// SPDX-License-Identifier: Apache-2.0
// The daemon's side of the broker (MUMBA_BROKER_SOCKET, see
// proto/mumba/app/v1/broker.proto): asks the host for connections to other apps,
// and takes the connections other apps are given to it. Internal to the SDK.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mumba/status.h"
#include "platform/unique_fd.h"

namespace mumba::sdk_internal {

// One end of a connection the host made between two apps.
struct BrokeredConnection {
  UniqueFd fd;
  std::string peer_id;    // The other app, as the host knows it.
  std::string peer_name;
  std::vector<std::string> services;  // What the callee serves on it.
  std::string note;                   // Which provider was picked among several.
};

// Thread-safe.
class BrokerClient {
 public:
  // Connects to the broker socket. UNAVAILABLE when `socket` is empty (started by
  // hand) or cannot be reached.
  static Expected<std::unique_ptr<BrokerClient>> Open(const std::string& socket);
  ~BrokerClient();

  // Asks for a connection to `target` (an address, an app name or a service name)
  // and waits up to `timeout` for the host's answer: the caller's end, or the
  // host's refusal (PERMISSION_DENIED without a grant, NOT_FOUND, ...).
  // UNAVAILABLE when the host went away.
  Expected<BrokeredConnection> Connect(std::string_view target, std::chrono::milliseconds timeout);

  // Tells the host this daemon takes connections; `on_incoming` is then called, on
  // the client's reader thread, with the callee's end of each. Call once.
  Status Listen(std::function<void(BrokeredConnection)> on_incoming);

 private:
  explicit BrokerClient(UniqueFd fd);
  void ReadLoop();

  UniqueFd fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::optional<Expected<BrokeredConnection>>> pending_;
  std::function<void(BrokeredConnection)> on_incoming_;
  std::thread reader_;
};

}  // namespace mumba::sdk_internal
