// SPDX-License-Identifier: Apache-2.0
// Fuzzes the manifest parser (src/bundle/manifest.h): a mumba.toml comes from
// whoever publishes an app, and the host parses it before it trusts anything in it.
// Beyond not crashing, a manifest that parses must keep the promises the rest of
// the host relies on: a canonical id, a valid name and version, paths that stay in
// the bundle, and the same answer when the download names its own id.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bundle/manifest.h"
#include "common/keys.h"
#include "fuzz_check.h"

namespace {

// An address no fuzzed manifest claims by chance.
constexpr std::string_view kOtherId = "mumba://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = mumba::ParseManifest(text, "mumba.toml");
  if (!m.ok()) {
    FUZZ_CHECK(m.status().code() == mumba::Code::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(size <= mumba::kMaxManifestBytes);
  auto id = mumba::NormalizeAddress(m->id);
  FUZZ_CHECK(id.ok() && *id == m->id);
  FUZZ_CHECK(mumba::IsValidAppName(m->name));
  FUZZ_CHECK(mumba::IsValidSemver(m->version));
  FUZZ_CHECK(mumba::IsSafeRelativePath(m->daemon_command));
  FUZZ_CHECK(m->ui_entry.empty() || mumba::IsSafeRelativePath(m->ui_entry));
  FUZZ_CHECK(m->icon.empty() || mumba::IsSafeRelativePath(m->icon));
  for (const auto& route : m->routes) FUZZ_CHECK(route.path.starts_with("/"));
  for (const auto& service : m->services) FUZZ_CHECK(mumba::IsValidServiceName(service));
  FUZZ_CHECK(mumba::WiderAsks(*m, *m).empty());
  // A download that names the id it asked for parses the same; any other id is refused.
  auto same = mumba::ParseManifest(text, "mumba.toml", m->id);
  FUZZ_CHECK(same.ok() && same->id == m->id && same->name == m->name);
  if (m->id != kOtherId) {
    auto other = mumba::ParseManifest(text, "mumba.toml", kOtherId);
    FUZZ_CHECK(!other.ok() && other.status().code() == mumba::Code::kPermissionDenied);
  }
  return 0;
}
