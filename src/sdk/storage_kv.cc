// SPDX-License-Identifier: Apache-2.0
// mumba::Kv of include/mumba/storage.h: each call is one request to the host's
// mumba.storage.v1.Kv service; a watch is a stream read on a thread of its own.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "mumba/storage.h"
#include "storage_client.h"

namespace mumba {
inline namespace storage_v1 {

namespace sv1 = mumba::storage::v1;
using sdk_internal::HostConnection;
using sdk_internal::OwnStoreMissing;
using sdk_internal::Ready;
using sdk_internal::StoreRequest;

KvBatch& KvBatch::Put(std::string key, std::string value) {
  ops_.push_back({false, std::move(key), std::move(value)});
  return *this;
}

KvBatch& KvBatch::Delete(std::string key) {
  ops_.push_back({true, std::move(key), {}});
  return *this;
}

Kv::Kv() = default;

Kv::Kv(std::shared_ptr<const HostConnection> host, std::string db, std::string app)
    : host_(std::move(host)), db_(std::move(db)), app_(std::move(app)) {}

Expected<std::optional<std::string>> Kv::Get(std::string_view key) const {
  MUMBA_TRY(Ready(host_, "Kv"));
  auto req = StoreRequest<sv1::KvGetRequest>(app_, db_);
  req.set_key(key.data(), key.size());
  sv1::KvGetResponse resp;
  Status st = host_->Call(host_->kv, &sv1::Kv::Stub::Get, req, &resp);
  if (OwnStoreMissing(app_, st)) return std::optional<std::string>();
  MUMBA_TRY(st);
  if (!resp.found()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(*resp.mutable_value()));
}

Status Kv::Put(std::string_view key, std::string_view value) const {
  KvBatch batch;
  batch.Put(std::string(key), std::string(value));
  return Write(batch);
}

Status Kv::Delete(std::string_view key) const {
  KvBatch batch;
  batch.Delete(std::string(key));
  return Write(batch);
}

Status Kv::Write(const KvBatch& batch) const {
  MUMBA_TRY(Ready(host_, "Kv"));
  if (batch.empty()) return Status();
  auto req = StoreRequest<sv1::KvWriteRequest>(app_, db_);
  for (const auto& op : batch.ops_) {
    auto* o = req.add_ops();
    o->set_kind(op.is_delete ? sv1::KvOp::DELETE : sv1::KvOp::PUT);
    o->set_key(op.key);
    if (!op.is_delete) o->set_value(op.value);
  }
  sv1::KvWriteResponse resp;
  return host_->Call(host_->kv, &sv1::Kv::Stub::Write, req, &resp);
}

Expected<KvPage> Kv::Scan(const KvScanOptions& options) const {
  MUMBA_TRY(Ready(host_, "Kv"));
  auto req = StoreRequest<sv1::KvScanRequest>(app_, db_);
  req.set_prefix(options.prefix);
  req.set_start(options.start);
  req.set_end(options.end);
  req.set_cursor(options.cursor);
  req.set_limit(options.limit);
  req.set_keys_only(options.keys_only);
  sv1::KvScanResponse resp;
  Status st = host_->Call(host_->kv, &sv1::Kv::Stub::Scan, req, &resp);
  if (OwnStoreMissing(app_, st)) return KvPage{};
  MUMBA_TRY(st);
  KvPage page;
  page.entries.reserve(resp.pairs_size());
  for (auto& p : *resp.mutable_pairs()) {
    page.entries.push_back({std::move(*p.mutable_key()), std::move(*p.mutable_value())});
  }
  page.next_cursor = std::move(*resp.mutable_next_cursor());
  return page;
}

// One watch stream. gRPC's callback threads only record what happened; a thread of
// the watch's own calls the app, and asks for the next event only once the app has
// taken the last one, so a slow app slows the stream (and the host, past its
// backlog, ends it) instead of piling events up here.
struct KvWatch::Impl final : public grpc::ClientReadReactor<sv1::KvEvent> {
  Impl(std::shared_ptr<const HostConnection> host, sv1::KvWatchRequest request,
       std::function<void(const KvChange&)> callback)
      : host(std::move(host)), req(std::move(request)), on_change(std::move(callback)) {}

  ~Impl() override {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    cv.notify_all();
    ctx.TryCancel();
    if (delivery.joinable()) delivery.join();
    // The reactor must outlive every gRPC callback; OnDone is the last.
    std::unique_lock lock(mu);
    cv.wait(lock, [this] { return done; });
  }

  void Start() {
    host->kv->async()->Watch(&ctx, &req, this);
    AddHold();  // Released by the delivery thread once it stops reading.
    StartRead(&event);
    StartCall();
    delivery = std::thread([this] { Deliver(); });
  }

  void OnReadInitialMetadataDone(bool ok) override {
    // Not ok for a call that failed at once (trailers only): OnDone tells why.
    if (!ok) return;
    std::lock_guard lock(mu);
    ready = true;
    cv.notify_all();
  }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(mu);
    (ok ? event_pending : read_failed) = true;
    cv.notify_all();
  }

  void OnDone(const grpc::Status& s) override {
    std::lock_guard lock(mu);
    final_status = s;
    done = true;
    cv.notify_all();
  }

  void Deliver() {
    for (;;) {
      KvChange change;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [this] { return event_pending || read_failed || stopping; });
        if (stopping || !event_pending) break;
        event_pending = false;
        // No read is in flight now, so `event` is ours.
        change.kind = event.op().kind() == sv1::KvOp::DELETE ? KvChange::Kind::kDelete
                                                              : KvChange::Kind::kPut;
        change.key = std::move(*event.mutable_op()->mutable_key());
        change.value = std::move(*event.mutable_op()->mutable_value());
        change.sequence = event.sequence();
      }
      try {
        on_change(change);
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        callback_error = Internal(std::string("the watch callback threw: ") + e.what());
        break;
      } catch (...) {
        std::lock_guard lock(mu);
        callback_error = Internal("the watch callback threw");
        break;
      }
      {
        std::lock_guard lock(mu);
        if (stopping) break;
      }
      StartRead(&event);
    }
    if (!callback_error.ok()) ctx.TryCancel();
    RemoveHold();
  }

  Status Result() const {
    std::lock_guard lock(mu);
    if (!callback_error.ok()) return callback_error;
    if (!done) return Status();
    if (final_status.ok()) return Unavailable("the host ended the watch");
    return host->FromGrpc(final_status);
  }

  std::shared_ptr<const HostConnection> host;
  grpc::ClientContext ctx;
  sv1::KvWatchRequest req;
  sv1::KvEvent event;
  std::function<void(const KvChange&)> on_change;
  std::thread delivery;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool ready = false;          // The host has the watch in place.
  bool event_pending = false;  // `event` holds a change not delivered yet.
  bool read_failed = false;    // The stream has ended; OnDone follows.
  bool stopping = false;       // The KvWatch is being destroyed.
  bool done = false;           // OnDone ran: gRPC is finished with us.
  grpc::Status final_status;
  Status callback_error;
};

KvWatch::KvWatch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KvWatch::~KvWatch() = default;
Status KvWatch::status() const { return impl_->Result(); }

Expected<std::unique_ptr<KvWatch>> Kv::Watch(std::string_view prefix,
                                             std::function<void(const KvChange&)> on_change) const {
  MUMBA_TRY(Ready(host_, "Kv"));
  if (!on_change) return InvalidArgument("Kv::Watch needs a callback");
  auto req = StoreRequest<sv1::KvWatchRequest>(app_, db_);
  req.set_prefix(prefix.data(), prefix.size());
  auto impl = std::make_unique<KvWatch::Impl>(host_, std::move(req), std::move(on_change));
  impl->Start();
  Status refused;
  {
    // The host sends the stream's headers once the watch is registered.
    std::unique_lock lock(impl->mu);
    bool settled = impl->cv.wait_for(lock, sdk_internal::kCallTimeout,
                                     [&] { return impl->ready || impl->done; });
    if (!settled) {
      refused = DeadlineExceeded("the host did not set up the watch in time");
    } else if (!impl->ready) {
      refused = impl->final_status.ok() ? Unavailable("the host ended the watch at once")
                                        : host_->FromGrpc(impl->final_status);
    }
  }
  if (!refused.ok()) return refused;  // `impl` cancels and cleans up as it goes.
  return std::unique_ptr<KvWatch>(new KvWatch(std::move(impl)));
}

}  // namespace storage_v1
}  // namespace mumba
