// SPDX-License-Identifier: Apache-2.0
// Conversions between mumba::Status and grpc::Status (same codes, same message).
#pragma once

#include <grpcpp/support/status.h>

#include "mumba/status.h"

namespace mumba {

inline grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

inline Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status();
  return Status(static_cast<Code>(s.error_code()), s.error_message());
}

}  // namespace mumba
