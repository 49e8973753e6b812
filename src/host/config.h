// SPDX-License-Identifier: Apache-2.0
// The host's settings: $MUMBA_HOME/config.toml. Every key is optional.
//
//   [storage]
//   quota_bytes = 1073741824      # what each app may store, in bytes (0 = no limit)
//
//   [apps.notes]                  # per app, by name or id ("mumba://...")
//   quota_bytes = 52428800
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "mumba/status.h"

namespace mumba {

struct HostConfig {
  uint64_t quota_bytes = 1ull << 30;
  std::map<std::string, uint64_t> app_quota_bytes;  // By app name or id.

  // Reads `file`; a missing file gives the defaults. Unknown keys and wrong types
  // are INVALID_ARGUMENT naming the file, line and key.
  static Expected<HostConfig> Load(const std::filesystem::path& file);

  // The quota of the app with this id and name.
  uint64_t QuotaFor(const std::string& id, const std::string& name) const;
};

}  // namespace mumba
