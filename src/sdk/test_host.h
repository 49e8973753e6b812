// SPDX-License-Identifier: Apache-2.0
// For the SDK's unit tests: the host's storage API served in-process, one unix
// socket per app as each app sees it on its MUMBA_HOST_SOCKET. Kept apart from the
// tests so that they, like an app, include only the public SDK headers.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>

namespace mumba::sdk_test {

class TestHost {
 public:
  // Serves each app of `apps` (ids, which double as names) the stores kept under
  // `root`. The apps in `exporters` export their kv database "main" to all others.
  // Null if it cannot listen.
  static std::unique_ptr<TestHost> Start(const std::filesystem::path& root, const std::set<std::string>& apps,
                                         const std::set<std::string>& exporters);
  virtual ~TestHost() = default;
  // The socket app `app_id` reaches the host on.
  virtual std::filesystem::path socket(const std::string& app_id) const = 0;
  // Stops serving: calls in flight are cancelled after `grace_ms`.
  virtual void Stop(int grace_ms) = 0;
};

}  // namespace mumba::sdk_test
