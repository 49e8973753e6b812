// SPDX-License-Identifier: Apache-2.0
// Shares as callers reach them: an app on its host socket (mumba.app.v1.Shares,
// its own stores and follows only, with the peers grant) and the owner on
// host.sock (mumba.host.v1.OwnerShares, any app's, and the owner's own follows).
#pragma once

#include <functional>

#include "host/app_endpoints.h"
#include "host/shares.h"
#include "mumba/app/v1/shares.grpc.pb.h"
#include "mumba/host/v1/shares.grpc.pb.h"

namespace mumba {

// The host's shares, or nullptr before they exist.
using SharesOf = std::function<Shares*()>;
// Whether app `app_id` was granted "peers" (a share is data leaving the node, a
// follow data from strangers arriving).
using PeersGranted = std::function<bool(const std::string& app_id)>;
// The id and name of installed app `ref` (a name or an id); NOT_FOUND otherwise.
using ResolveAppRef = std::function<Expected<std::pair<std::string, std::string>>(const std::string& ref)>;

class AppSharesService final : public mumba::app::v1::Shares::Service {
 public:
  AppSharesService(SharesOf shares, AppOfCall app_of, PeersGranted granted)
      : shares_(std::move(shares)), app_of_(std::move(app_of)), granted_(std::move(granted)) {}

  // Each: the caller's own shares or follows. PERMISSION_DENIED without the peers
  // grant; UNAVAILABLE while the host has no shares; the errors of Shares.
  grpc::Status Share(grpc::ServerContext* ctx, const mumba::app::v1::ShareRequest* req,
                     mumba::app::v1::ShareInfo* resp) override;
  grpc::Status Unshare(grpc::ServerContext* ctx, const mumba::app::v1::ShareRequest* req,
                       mumba::app::v1::UnshareResponse* resp) override;
  grpc::Status ListShares(grpc::ServerContext* ctx, const mumba::app::v1::ListSharesRequest* req,
                          mumba::app::v1::ListSharesResponse* resp) override;
  grpc::Status Follow(grpc::ServerContext* ctx, const mumba::app::v1::FollowRequest* req,
                      mumba::app::v1::FollowInfo* resp) override;
  grpc::Status Unfollow(grpc::ServerContext* ctx, const mumba::app::v1::FollowRequest* req,
                        mumba::app::v1::UnfollowResponse* resp) override;
  grpc::Status ListFollows(grpc::ServerContext* ctx, const mumba::app::v1::ListFollowsRequest* req,
                           mumba::app::v1::ListFollowsResponse* resp) override;

 private:
  // The caller's app id and the shares, or why the call is refused.
  Expected<std::pair<std::string, Shares*>> Admit(const grpc::ServerContext& ctx) const;

  SharesOf shares_;
  AppOfCall app_of_;
  PeersGranted granted_;
};

class OwnerSharesService final : public mumba::host::v1::OwnerShares::Service {
 public:
  OwnerSharesService(SharesOf shares, ResolveAppRef resolve)
      : shares_(std::move(shares)), resolve_(std::move(resolve)) {}

  grpc::Status Share(grpc::ServerContext* ctx, const mumba::host::v1::OwnerShareRequest* req,
                     mumba::host::v1::ShareRecordView* resp) override;
  grpc::Status Unshare(grpc::ServerContext* ctx, const mumba::host::v1::OwnerShareRequest* req,
                       mumba::host::v1::OwnerSharesEmpty* resp) override;
  grpc::Status ListShares(grpc::ServerContext* ctx, const mumba::host::v1::OwnerListSharesRequest* req,
                          mumba::host::v1::OwnerListSharesResponse* resp) override;
  grpc::Status Follow(grpc::ServerContext* ctx, const mumba::host::v1::OwnerFollowRequest* req,
                      mumba::host::v1::FollowView* resp) override;
  grpc::Status Unfollow(grpc::ServerContext* ctx, const mumba::host::v1::OwnerFollowRequest* req,
                        mumba::host::v1::OwnerSharesEmpty* resp) override;
  grpc::Status ListFollows(grpc::ServerContext* ctx, const mumba::host::v1::OwnerListFollowsRequest* req,
                           mumba::host::v1::OwnerListFollowsResponse* resp) override;

 private:
  SharesOf shares_;
  ResolveAppRef resolve_;
};

// The wire forms of the records.
void ToProto(const ShareRecord& r, mumba::app::v1::ShareInfo* out);
void ToProto(const FollowRecord& f, mumba::app::v1::FollowInfo* out);
// "kv", "sql", "files" of a wire kind; "" for an unspecified one.
std::string KindName(mumba::app::v1::StoreKind kind);

}  // namespace mumba
