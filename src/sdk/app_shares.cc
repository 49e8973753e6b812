// SPDX-License-Identifier: Apache-2.0
// App's side of shares and follows: its stores published to other nodes and other
// nodes' stores followed, through mumba.app.v1.Shares on the host socket
// (proto/mumba/app/v1/shares.proto). Reading a followed share goes through the
// ordinary storage handles, with the share's address as the database or app.
#include "app_impl.h"

namespace mumba {
namespace {

namespace av1 = mumba::app::v1;

av1::StoreKind ToProto(StoreKind kind) {
  switch (kind) {
    case StoreKind::kKv:
      return av1::KV;
    case StoreKind::kSql:
      return av1::SQL;
    case StoreKind::kFiles:
      return av1::FILES;
  }
  return av1::STORE_KIND_UNSPECIFIED;
}

StoreKind FromProto(av1::StoreKind kind) {
  if (kind == av1::KV) return StoreKind::kKv;
  if (kind == av1::FILES) return StoreKind::kFiles;
  return StoreKind::kSql;
}

ShareInfo FromProto(const av1::ShareInfo& s) {
  return ShareInfo{s.address(), FromProto(s.kind()), s.db(), s.seq(), s.bytes(), s.new_bytes()};
}

FollowInfo FromProto(const av1::FollowInfo& f) {
  return FollowInfo{f.address(), FromProto(f.kind()), f.db(), f.seq(), f.bytes(), f.updated_unix_ms(), f.error()};
}

av1::ShareRequest ShareRequestOf(StoreKind kind, std::string db) {
  av1::ShareRequest req;
  req.set_kind(ToProto(kind));
  req.set_db(std::move(db));
  return req;
}

}  // namespace

Expected<ShareInfo> App::Share(StoreKind kind, std::string db) {
  const auto& host = impl_->Host();
  av1::ShareInfo resp;
  MUMBA_TRY(host->Call(host->shares, &av1::Shares::Stub::Share, ShareRequestOf(kind, std::move(db)), &resp));
  return FromProto(resp);
}

Status App::Unshare(StoreKind kind, std::string db) {
  const auto& host = impl_->Host();
  av1::UnshareResponse resp;
  return host->Call(host->shares, &av1::Shares::Stub::Unshare, ShareRequestOf(kind, std::move(db)), &resp);
}

Expected<std::vector<ShareInfo>> App::Shares() {
  const auto& host = impl_->Host();
  av1::ListSharesResponse resp;
  MUMBA_TRY(host->Call(host->shares, &av1::Shares::Stub::ListShares, av1::ListSharesRequest(), &resp));
  std::vector<ShareInfo> out;
  for (const auto& s : resp.shares()) out.push_back(FromProto(s));
  return out;
}

Expected<FollowInfo> App::Follow(std::string_view address) {
  const auto& host = impl_->Host();
  av1::FollowRequest req;
  req.set_address(std::string(address));
  av1::FollowInfo resp;
  MUMBA_TRY(host->Call(host->shares, &av1::Shares::Stub::Follow, req, &resp));
  return FromProto(resp);
}

Status App::Unfollow(std::string_view address) {
  const auto& host = impl_->Host();
  av1::FollowRequest req;
  req.set_address(std::string(address));
  av1::UnfollowResponse resp;
  return host->Call(host->shares, &av1::Shares::Stub::Unfollow, req, &resp);
}

Expected<std::vector<FollowInfo>> App::Follows() {
  const auto& host = impl_->Host();
  av1::ListFollowsResponse resp;
  MUMBA_TRY(host->Call(host->shares, &av1::Shares::Stub::ListFollows, av1::ListFollowsRequest(), &resp));
  std::vector<FollowInfo> out;
  for (const auto& f : resp.follows()) out.push_back(FromProto(f));
  return out;
}

}  // namespace mumba
