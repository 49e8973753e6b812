// SPDX-License-Identifier: Apache-2.0
// Small helpers of tweedy's daemon: the wall clock, and SQL values read as the
// types its tables hold.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include <mumba/storage.h>

namespace tweedy {

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A TEXT value, or "" for any other type (NULL, or a replica that holds
// something else than tweedy's own rows).
inline std::string Text(const mumba::SqlValue& v) {
  const auto* s = std::get_if<std::string>(&v);
  return s ? *s : std::string();
}

// An INTEGER value, or 0 for any other type.
inline int64_t Int(const mumba::SqlValue& v) {
  const auto* i = std::get_if<int64_t>(&v);
  return i ? *i : 0;
}

}  // namespace tweedy
