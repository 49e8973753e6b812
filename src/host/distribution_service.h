// SPDX-License-Identifier: Apache-2.0
// mumba.host.v1.Distribution over gRPC: a thin adapter onto Distribution.
#pragma once

#include "host/distribution.h"
#include "mumba/host/v1/distribution.grpc.pb.h"

namespace mumba {

class DistributionService final : public mumba::host::v1::Distribution::Service {
 public:
  // `distribution` is borrowed and must outlive the service.
  explicit DistributionService(Distribution& distribution) : distribution_(distribution) {}

  grpc::Status Publish(grpc::ServerContext*, const mumba::host::v1::PublishRequest*,
                       mumba::host::v1::PublishResponse*) override;
  grpc::Status Resolve(grpc::ServerContext*, const mumba::host::v1::ResolveRequest*,
                       mumba::host::v1::ResolveResponse*) override;
  grpc::Status Fetch(grpc::ServerContext*, const mumba::host::v1::FetchRequest*,
                     grpc::ServerWriter<mumba::host::v1::InstallEvent>*) override;
  grpc::Status Update(grpc::ServerContext*, const mumba::host::v1::UpdateRequest*,
                      grpc::ServerWriter<mumba::host::v1::InstallEvent>*) override;
  grpc::Status Rollback(grpc::ServerContext*, const mumba::host::v1::AppRef*,
                        mumba::host::v1::RollbackResponse*) override;

 private:
  Distribution& distribution_;
};

// Fills the control API's view of an app (shared with ControlService).
void FillAppInfo(const AppView& view, mumba::host::v1::AppInfo* out);

}  // namespace mumba
