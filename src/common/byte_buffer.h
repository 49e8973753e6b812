// SPDX-License-Identifier: Apache-2.0
// Serialized messages in and out of gRPC's ByteBuffer, for the generic calls the
// host and the CLI make with bytes they transcoded themselves. Header-only: its
// users link gRPC themselves.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/support/byte_buffer.h>

namespace mumba {

// One slice: an empty message is still one (empty) slice, since gRPC must not be
// handed an empty ByteBuffer to send.
inline grpc::ByteBuffer ToByteBuffer(std::string_view bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

// All of the buffer's slices, joined; "" when gRPC cannot give them.
inline std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

}  // namespace mumba
