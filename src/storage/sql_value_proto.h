// SPDX-License-Identifier: Apache-2.0
// SQL values between mumba.storage.v1.SqlValue and a C++ variant, written once for
// both sides of the API: the host's storage service (the engine's SqlValue) and the
// SDK (the public mumba::SqlValue). Header-only and dependent on the generated
// contract alone, so the installed SDK library can use it without linking any part
// of the host.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "mumba/storage/v1/storage.pb.h"

namespace mumba::sql_proto {

// `Value` is a std::variant<Null, int64_t, double, std::string, Blob>: SQLite's five
// storage classes in that order, where Null is default-constructible (std::monostate
// or std::nullptr_t) and Blob holds its bytes in a std::string member `bytes`.

// Writes `value` into `out`, which is set to exactly one of its cases.
template <typename Value>
void ToProto(const Value& value, mumba::storage::v1::SqlValue* out) {
  using Blob = std::variant_alternative_t<4, Value>;
  if (auto* i = std::get_if<int64_t>(&value)) out->set_integer(*i);
  else if (auto* d = std::get_if<double>(&value)) out->set_real(*d);
  else if (auto* s = std::get_if<std::string>(&value)) out->set_text(*s);
  else if (auto* b = std::get_if<Blob>(&value)) out->set_blob(b->bytes);
  else out->set_null(true);
}

// The value `proto` holds; a message with no case set is NULL. Given a mutable
// message, text and blob bytes are moved out of it instead of copied.
template <typename Value, typename Proto>
Value FromProto(Proto& proto) {
  static_assert(std::is_same_v<std::remove_const_t<Proto>, mumba::storage::v1::SqlValue>);
  using Null = std::variant_alternative_t<0, Value>;
  using Blob = std::variant_alternative_t<4, Value>;
  constexpr bool kMove = !std::is_const_v<Proto>;
  switch (proto.value_case()) {
    case mumba::storage::v1::SqlValue::kInteger:
      return static_cast<int64_t>(proto.integer());
    case mumba::storage::v1::SqlValue::kReal:
      return proto.real();
    case mumba::storage::v1::SqlValue::kText:
      if constexpr (kMove) return std::move(*proto.mutable_text());
      else return proto.text();
    case mumba::storage::v1::SqlValue::kBlob:
      if constexpr (kMove) return Blob{std::move(*proto.mutable_blob())};
      else return Blob{proto.blob()};
    default:
      return Null{};
  }
}

}  // namespace mumba::sql_proto
