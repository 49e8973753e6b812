// SPDX-License-Identifier: Apache-2.0
#include "host/distribution_service.h"

#include "common/grpc_status.h"
#include "common/keys.h"

namespace mumba {

namespace hv1 = mumba::host::v1;

namespace {

constexpr auto kDefaultResolve = std::chrono::seconds(20);
constexpr auto kDefaultFetch = std::chrono::minutes(30);
// Peers answer a DHT get_peers within milliseconds on a LAN and seconds on the
// Internet; the count is only shown, so it may miss a slow one.
constexpr auto kSeedersLookup = std::chrono::seconds(3);

void FillItem(const ResolvedApp& a, hv1::ResolveResponse* out) {
  out->set_address(a.address);
  out->set_name(a.name);
  out->set_version(a.version);
  out->set_seq(a.seq);
  out->set_size(a.size);
  out->set_info_hash(a.info_hash);
  out->set_info_hash_v2(a.info_hash_v2);
  out->set_magnet(a.magnet);
  out->set_publisher(a.address);
  out->set_seeders(-1);
}

// Streams events to the client as the work goes on; the work stops when the
// client has gone or cancelled, or the server is shutting down.
DistributionEventFn Streamer(grpc::ServerContext* ctx, grpc::ServerWriter<hv1::InstallEvent>* writer) {
  return [ctx, writer](const DistributionEvent& e) {
    if (ctx->IsCancelled()) return false;
    hv1::InstallEvent out;
    switch (e.phase) {
      case DistributionEvent::Phase::kResolving: out.set_phase(hv1::InstallEvent::RESOLVING); break;
      case DistributionEvent::Phase::kResolved: out.set_phase(hv1::InstallEvent::RESOLVED); break;
      case DistributionEvent::Phase::kDownloading: out.set_phase(hv1::InstallEvent::DOWNLOADING); break;
      case DistributionEvent::Phase::kInstalling: out.set_phase(hv1::InstallEvent::INSTALLING); break;
      case DistributionEvent::Phase::kDone: out.set_phase(hv1::InstallEvent::DONE); break;
      case DistributionEvent::Phase::kUpToDate: out.set_phase(hv1::InstallEvent::UP_TO_DATE); break;
    }
    if (!e.item.address.empty()) FillItem(e.item, out.mutable_item());
    out.set_done(e.progress.done);
    out.set_total(e.progress.total);
    out.set_peers(e.progress.peers);
    out.set_rate(e.progress.rate);
    if (!e.app.record.id.empty()) FillAppInfo(e.app, out.mutable_app());
    return writer->Write(out);
  };
}

std::chrono::milliseconds Or(int32_t ms, std::chrono::milliseconds fallback) {
  return ms > 0 ? std::chrono::milliseconds(ms) : fallback;
}

}  // namespace

grpc::Status DistributionService::Publish(grpc::ServerContext*, const hv1::PublishRequest* req,
                                          hv1::PublishResponse* resp) {
  // The passphrase is used where it arrived and wiped right after. The request is
  // gRPC's own, made for this call and dropped after it, so writing over one of its
  // fields harms no one.
  std::string* passphrase = const_cast<hv1::PublishRequest*>(req)->mutable_passphrase();
  auto published = req->bundle_dir().empty() ? distribution_.Publish(req->app(), *passphrase)
                                             : distribution_.PublishBundle(req->bundle_dir(), *passphrase);
  WipeString(*passphrase);
  if (!published.ok()) return ToGrpc(published.status());
  const ResolvedApp& a = published->item;
  resp->set_address(a.address);
  resp->set_name(a.name);
  resp->set_version(a.version);
  resp->set_seq(a.seq);
  resp->set_info_hash(a.info_hash);
  resp->set_info_hash_v2(a.info_hash_v2);
  resp->set_magnet(a.magnet);
  resp->set_size(a.size);
  resp->set_stored_in_dht(published->stored_in_dht);
  return grpc::Status::OK;
}

grpc::Status DistributionService::Resolve(grpc::ServerContext*, const hv1::ResolveRequest* req,
                                          hv1::ResolveResponse* resp) {
  auto item = distribution_.Resolve(req->address(), Or(req->timeout_ms(), kDefaultResolve));
  if (!item.ok()) return ToGrpc(item.status());
  FillItem(*item, resp);
  if (req->count_seeders()) {
    auto seeders = distribution_.CountSeeders(*item, kSeedersLookup);
    if (seeders.ok()) resp->set_seeders(*seeders);
  }
  return grpc::Status::OK;
}

grpc::Status DistributionService::Fetch(grpc::ServerContext* ctx, const hv1::FetchRequest* req,
                                        grpc::ServerWriter<hv1::InstallEvent>* writer) {
  auto app = distribution_.Fetch(req->address(), Or(req->timeout_ms(), kDefaultFetch),
                                         req->min_seq(), Streamer(ctx, writer), /*accept_wider=*/true,
                                         req->accept_asks());
  return ToGrpc(app.status());
}

grpc::Status DistributionService::Update(grpc::ServerContext* ctx, const hv1::UpdateRequest* req,
                                         grpc::ServerWriter<hv1::InstallEvent>* writer) {
  auto app = distribution_.Update(req->app(), Streamer(ctx, writer), req->accept_wider());
  return ToGrpc(app.status());
}

grpc::Status DistributionService::Rollback(grpc::ServerContext*, const hv1::AppRef* req,
                                           hv1::RollbackResponse* resp) {
  auto back = distribution_.Rollback(req->app());
  if (!back.ok()) return ToGrpc(back.status());
  FillAppInfo(back->first, resp->mutable_app());
  resp->set_from_version(back->second);
  return grpc::Status::OK;
}

}  // namespace mumba
