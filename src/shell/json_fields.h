// SPDX-License-Identifier: Apache-2.0
// Reading fields of DevTools answers without exceptions: a missing field or one of
// another type reads as empty, as the protocol leaves optional fields out.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mumba::shell {

inline std::string StringField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

inline const nlohmann::json& Field(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it != object.end() ? *it : kNull;
}

}  // namespace mumba::shell
