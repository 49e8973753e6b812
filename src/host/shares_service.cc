// SPDX-License-Identifier: Apache-2.0
#include "host/shares_service.h"

#include "common/grpc_status.h"

namespace mumba {
namespace av1 = mumba::app::v1;
namespace hv1 = mumba::host::v1;

namespace {

av1::StoreKind KindOf(const std::string& kind) {
  if (kind == "kv") return av1::KV;
  if (kind == "sql") return av1::SQL;
  if (kind == "files") return av1::FILES;
  return av1::STORE_KIND_UNSPECIFIED;
}

Expected<Shares*> Present(const SharesOf& shares) {
  Shares* s = shares();
  if (!s) return Unavailable("the host is not sharing stores (starting or stopping)");
  return s;
}

// The id and name of app `ref`, or two empty strings for "" (every app's, or
// the owner's own).
Expected<std::pair<std::string, std::string>> AppOrNone(const ResolveAppRef& resolve, const std::string& ref) {
  if (ref.empty()) return std::pair<std::string, std::string>();
  return resolve(ref);
}

}  // namespace

std::string KindName(av1::StoreKind kind) {
  switch (kind) {
    case av1::KV: return "kv";
    case av1::SQL: return "sql";
    case av1::FILES: return "files";
    default: return "";
  }
}

void ToProto(const ShareRecord& r, av1::ShareInfo* out) {
  out->set_address(r.address);
  out->set_kind(KindOf(r.kind));
  out->set_db(r.db);
  out->set_seq(r.seq);
  out->set_bytes(r.bytes);
  out->set_new_bytes(r.new_bytes);
  out->set_stored_in_dht(r.stored_in_dht);
}

void ToProto(const FollowRecord& f, av1::FollowInfo* out) {
  out->set_address(f.address);
  out->set_kind(KindOf(f.kind));
  out->set_db(f.db);
  out->set_seq(f.seq);
  out->set_bytes(f.bytes);
  out->set_updated_unix_ms(f.updated_unix_ms);
  out->set_error(f.error);
  out->set_fetched_bytes(f.fetched_bytes);
}

Expected<std::pair<std::string, Shares*>> AppSharesService::Admit(const grpc::ServerContext& ctx) const {
  MUMBA_ASSIGN_OR_RETURN(std::string app, app_of_(ctx));
  if (!granted_(app)) {
    return PermissionDenied("sharing and following stores needs the peers grant ([permissions] peers = true)");
  }
  MUMBA_ASSIGN_OR_RETURN(Shares * shares, Present(shares_));
  return std::make_pair(app, shares);
}

grpc::Status AppSharesService::Share(grpc::ServerContext* ctx, const av1::ShareRequest* req, av1::ShareInfo* resp) {
  auto admitted = Admit(*ctx);
  if (!admitted.ok()) return ToGrpc(admitted.status());
  auto [app, shares] = *admitted;
  auto record = shares->Share(app, KindName(req->kind()), req->db());
  if (!record.ok()) return ToGrpc(record.status());
  ToProto(*record, resp);
  return grpc::Status::OK;
}

grpc::Status AppSharesService::Unshare(grpc::ServerContext* ctx, const av1::ShareRequest* req,
                                       av1::UnshareResponse*) {
  auto admitted = Admit(*ctx);
  if (!admitted.ok()) return ToGrpc(admitted.status());
  auto [app, shares] = *admitted;
  return ToGrpc(shares->Unshare(app, KindName(req->kind()), req->db()));
}

grpc::Status AppSharesService::ListShares(grpc::ServerContext* ctx, const av1::ListSharesRequest*,
                                          av1::ListSharesResponse* resp) {
  auto admitted = Admit(*ctx);
  if (!admitted.ok()) return ToGrpc(admitted.status());
  auto [app, shares] = *admitted;
  for (const auto& r : shares->ListShares(app)) ToProto(r, resp->add_shares());
  return grpc::Status::OK;
}

grpc::Status AppSharesService::Follow(grpc::ServerContext* ctx, const av1::FollowRequest* req, av1::FollowInfo* resp) {
  auto admitted = Admit(*ctx);
  if (!admitted.ok()) return ToGrpc(admitted.status());
  auto [app, shares] = *admitted;
  auto f = shares->Follow(app, req->address());
  if (!f.ok()) return ToGrpc(f.status());
  ToProto(*f, resp);
  return grpc::Status::OK;
}

grpc::Status AppSharesService::Unfollow(grpc::ServerContext* ctx, const av1::FollowRequest* req,
                                        av1::UnfollowResponse*) {
  auto admitted = Admit(*ctx);
  if (!admitted.ok()) return ToGrpc(admitted.status());
  auto [app, shares] = *admitted;
  return ToGrpc(shares->Unfollow(app, req->address()));
}

grpc::Status AppSharesService::ListFollows(grpc::ServerContext* ctx, const av1::ListFollowsRequest*,
                                           av1::ListFollowsResponse* resp) {
  auto admitted = Admit(*ctx);
  if (!admitted.ok()) return ToGrpc(admitted.status());
  auto [app, shares] = *admitted;
  for (const auto& f : shares->ListFollows(app)) ToProto(f, resp->add_follows());
  return grpc::Status::OK;
}

grpc::Status OwnerSharesService::Share(grpc::ServerContext*, const hv1::OwnerShareRequest* req,
                                       hv1::ShareRecordView* resp) {
  auto shares = Present(shares_);
  if (!shares.ok()) return ToGrpc(shares.status());
  auto app = resolve_(req->app());
  if (!app.ok()) return ToGrpc(app.status());
  auto record = (*shares)->Share(app->first, KindName(req->kind()), req->db());
  if (!record.ok()) return ToGrpc(record.status());
  resp->set_app(app->first);
  resp->set_app_name(app->second);
  ToProto(*record, resp->mutable_share());
  return grpc::Status::OK;
}

grpc::Status OwnerSharesService::Unshare(grpc::ServerContext*, const hv1::OwnerShareRequest* req,
                                         hv1::OwnerSharesEmpty*) {
  auto shares = Present(shares_);
  if (!shares.ok()) return ToGrpc(shares.status());
  auto app = resolve_(req->app());
  if (!app.ok()) return ToGrpc(app.status());
  return ToGrpc((*shares)->Unshare(app->first, KindName(req->kind()), req->db()));
}

grpc::Status OwnerSharesService::ListShares(grpc::ServerContext*, const hv1::OwnerListSharesRequest* req,
                                            hv1::OwnerListSharesResponse* resp) {
  auto shares = Present(shares_);
  if (!shares.ok()) return ToGrpc(shares.status());
  auto app = AppOrNone(resolve_, req->app());
  if (!app.ok()) return ToGrpc(app.status());
  for (const auto& r : (*shares)->ListShares(app->first)) {
    auto* v = resp->add_shares();
    v->set_app(r.app_id);
    if (auto named = resolve_(r.app_id); named.ok()) v->set_app_name(named->second);
    ToProto(r, v->mutable_share());
  }
  return grpc::Status::OK;
}

grpc::Status OwnerSharesService::Follow(grpc::ServerContext*, const hv1::OwnerFollowRequest* req,
                                        hv1::FollowView* resp) {
  auto shares = Present(shares_);
  if (!shares.ok()) return ToGrpc(shares.status());
  auto app = AppOrNone(resolve_, req->app());
  if (!app.ok()) return ToGrpc(app.status());
  auto f = (*shares)->Follow(app->first, req->address());
  if (!f.ok()) return ToGrpc(f.status());
  resp->set_app(app->first);
  resp->set_app_name(app->second);
  ToProto(*f, resp->mutable_follow());
  return grpc::Status::OK;
}

grpc::Status OwnerSharesService::Unfollow(grpc::ServerContext*, const hv1::OwnerFollowRequest* req,
                                          hv1::OwnerSharesEmpty*) {
  auto shares = Present(shares_);
  if (!shares.ok()) return ToGrpc(shares.status());
  auto app = AppOrNone(resolve_, req->app());
  if (!app.ok()) return ToGrpc(app.status());
  return ToGrpc((*shares)->Unfollow(app->first, req->address()));
}

grpc::Status OwnerSharesService::ListFollows(grpc::ServerContext*, const hv1::OwnerListFollowsRequest* req,
                                             hv1::OwnerListFollowsResponse* resp) {
  auto shares = Present(shares_);
  if (!shares.ok()) return ToGrpc(shares.status());
  auto app = AppOrNone(resolve_, req->app());
  if (!app.ok()) return ToGrpc(app.status());
  for (const auto& f : (*shares)->ListFollows(app->first, req->app().empty())) {
    auto* v = resp->add_follows();
    v->set_app(f.reader);
    if (!f.reader.empty()) {
      if (auto app = resolve_(f.reader); app.ok()) v->set_app_name(app->second);
    }
    ToProto(f, v->mutable_follow());
  }
  return grpc::Status::OK;
}

}  // namespace mumba
