// SPDX-License-Identifier: Apache-2.0
#include "storage/storage_service.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "common/grpc_status.h"
#include "common/work_queue.h"
#include "storage/sql_value_proto.h"

namespace mumba {

namespace sv1 = mumba::storage::v1;
using engine::FileEntry;
using engine::KvMutation;
using engine::KvScanOptions;
using engine::KvStore;
using engine::SqlRowValues;
using engine::SqlStatementSpec;

namespace {

// Large chunks: each message costs a syscall pair and a copy on both sides.
constexpr size_t kFileChunk = 1u << 20;
constexpr size_t kWatchBacklog = 10000;  // Events a slow watcher may fall behind.

std::string DbOf(const sv1::StoreRef& ref) { return ref.db().empty() ? "main" : ref.db(); }

SqlStatementSpec SpecOf(const sv1::SqlStatement& s) {
  SqlStatementSpec spec{s.sql(), {}};
  for (const auto& p : s.params()) spec.params.push_back(sql_proto::FromProto<engine::SqlValue>(p));
  return spec;
}

void RowsToProto(std::vector<SqlRowValues>&& rows, google::protobuf::RepeatedPtrField<sv1::SqlRow>* out) {
  out->Reserve(static_cast<int>(rows.size()));
  for (auto& row : rows) {
    auto* r = out->Add();
    for (const auto& v : row) sql_proto::ToProto(v, r->add_values());
  }
}

void FileToProto(const FileEntry& e, sv1::FileInfo* out) {
  out->set_path(e.path);
  out->set_is_dir(e.is_dir);
  out->set_size(e.size);
  out->set_modified_ms(e.modified_ms);
}

// The reply of a List method: the database names, or why there are none.
template <typename ListResponse>
grpc::Status NamesReply(Expected<std::vector<std::string>> names, ListResponse* resp) {
  if (!names.ok()) return ToGrpc(names.status());
  for (auto& n : *names) resp->add_databases(std::move(n));
  return grpc::Status::OK;
}

// How many files and folders `path` names: its last component and each folder on
// the way, which a put or a move creates when missing.
uint64_t EntriesOnPath(const std::string& path) {
  return 1 + static_cast<uint64_t>(std::count(path.begin(), path.end(), '/'));
}

// The reply of a method that answers with the entry the engine returned.
grpc::Status EntryReply(const Expected<FileEntry>& entry, sv1::FileInfo* resp) {
  if (!entry.ok()) return ToGrpc(entry.status());
  FileToProto(*entry, resp);
  return grpc::Status::OK;
}

}  // namespace

// ---------------------------------- Kv ----------------------------------

grpc::Status KvService::GetCall(const grpc::ServerContextBase* ctx, const sv1::KvGetRequest* req,
                            sv1::KvGetResponse* resp) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Kv(*caller, req->store().app(), DbOf(req->store()), false);
  if (!grant.ok()) return ToGrpc(grant.status());
  auto value = grant->store->Get(req->key());
  if (!value.ok()) return ToGrpc(value.status());
  if (value->has_value()) {
    resp->set_found(true);
    resp->set_value(std::move(**value));
  }
  return grpc::Status::OK;
}

grpc::Status KvService::GetStream(
    grpc::ServerContext* ctx, grpc::ServerReaderWriter<sv1::KvGetResponse, sv1::KvGetRequest>* stream) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  sv1::KvGetRequest req;
  // The store of the previous request, reused while requests name the same one.
  std::string last_app, last_db;
  std::shared_ptr<KvStore> store;
  while (stream->Read(&req)) {
    std::string db = DbOf(req.store());
    if (!store || req.store().app() != last_app || db != last_db) {
      auto grant = stores_->Kv(*caller, req.store().app(), db, false);
      if (!grant.ok()) return ToGrpc(grant.status());
      store = grant->store;
      last_app = req.store().app();
      last_db = db;
    }
    auto value = store->Get(req.key());
    if (!value.ok()) return ToGrpc(value.status());
    sv1::KvGetResponse resp;
    if (value->has_value()) {
      resp.set_found(true);
      resp.set_value(std::move(**value));
    }
    if (!stream->Write(resp)) break;
  }
  return grpc::Status::OK;
}

grpc::Status KvService::WriteCall(const grpc::ServerContextBase* ctx, const sv1::KvWriteRequest* req,
                              sv1::KvWriteResponse*) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Kv(*caller, req->store().app(), DbOf(req->store()), true);
  if (!grant.ok()) return ToGrpc(grant.status());
  std::vector<KvMutation> batch;
  batch.reserve(req->ops_size());
  // The most the batch can add to the store's usage (KvStore::Write): deletes and
  // replaced values only make it less.
  uint64_t growth = 0;
  for (const auto& op : req->ops()) {
    KvMutation m;
    m.kind = op.kind() == sv1::KvOp::DELETE ? KvMutation::Kind::kDelete : KvMutation::Kind::kPut;
    m.key = op.key();
    if (m.kind == KvMutation::Kind::kPut) {
      m.value = op.value();
      growth += m.key.size() + m.value.size() + engine::kKvKeyCost;
    }
    batch.push_back(std::move(m));
  }
  // Held until the batch is in the store's count (or failed); a batch of deletes
  // needs no room, so an app over its quota can always free some.
  std::optional<QuotaReservation> room;
  if (growth > 0) {
    auto reserved = stores_->Reserve(grant->app_id, growth);
    if (!reserved.ok()) return ToGrpc(reserved.status());
    room.emplace(std::move(*reserved));
  }
  auto seq = grant->store->Write(batch);
  return ToGrpc(seq.status());
}

grpc::Status KvService::ScanCall(const grpc::ServerContextBase* ctx, const sv1::KvScanRequest* req,
                             sv1::KvScanResponse* resp) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Kv(*caller, req->store().app(), DbOf(req->store()), false);
  if (!grant.ok()) return ToGrpc(grant.status());
  KvScanOptions o;
  o.prefix = req->prefix();
  o.start = req->start();
  o.end = req->end();
  o.cursor = req->cursor();
  o.limit = req->limit();
  o.keys_only = req->keys_only();
  auto result = grant->store->Scan(o);
  if (!result.ok()) return ToGrpc(result.status());
  resp->mutable_pairs()->Reserve(static_cast<int>(result->entries.size()));
  for (auto& e : result->entries) {
    auto* p = resp->add_pairs();
    p->set_key(std::move(e.key));
    p->set_value(std::move(e.value));
  }
  resp->set_next_cursor(std::move(result->next_cursor));
  return grpc::Status::OK;
}

// One Kv.Watch stream: each change the store reports is written as it comes, one
// write at a time, the rest queued (up to kWatchBacklog, then the call ends with
// RESOURCE_EXHAUSTED). The store calls watchers on its writing thread holding its
// lock, and gRPC may run a reaction (OnDone among them, which unwatches) inline at
// the end of a Start* call: so writes start on the service's pump thread, never
// there. Deleted on the pump thread once the call is done.
class KvService::WatchReactor final : public grpc::ServerWriteReactor<sv1::KvEvent> {
 public:
  WatchReactor(WorkQueue& pump, std::shared_ptr<KvStore> store, const std::string& prefix)
      : pump_(pump), store_(std::move(store)), state_(std::make_shared<State>()) {
    state_->reactor = this;
    handle_ = store_->Watch(prefix, [state = state_, pump = &pump_](const KvMutation& m, uint64_t seq) {
      std::lock_guard lock(state->mu);
      if (!state->reactor) return;
      if (state->events.size() >= kWatchBacklog) {
        state->overflow = true;
      } else {
        sv1::KvEvent e;
        e.mutable_op()->set_kind(m.kind == KvMutation::Kind::kDelete ? sv1::KvOp::DELETE : sv1::KvOp::PUT);
        e.mutable_op()->set_key(m.key);
        e.mutable_op()->set_value(m.value);
        e.set_sequence(seq);
        state->events.push_back(std::move(e));
      }
      if (state->pump_posted) return;
      state->pump_posted = true;
      pump->Post([state] {
        WatchReactor* reactor = nullptr;
        {
          std::lock_guard lock(state->mu);
          state->pump_posted = false;
          reactor = state->reactor;
        }
        // Deleted only by a later task of this same thread (OnDone).
        if (reactor) reactor->WriteNext();
      });
    });
    // Headers go out at once, so the client knows the watch is in place.
    StartSendInitialMetadata();
  }

  void OnSendInitialMetadataDone(bool ok) override {
    if (!ok) return Stop(grpc::Status::OK);
    {
      std::lock_guard lock(state_->mu);
      ready_ = true;
    }
    WriteNext();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return Stop(grpc::Status::OK);
    {
      std::lock_guard lock(state_->mu);
      writing_ = false;
    }
    WriteNext();
  }
  void OnCancel() override { Stop(grpc::Status::OK); }
  void OnDone() override {
    {
      std::lock_guard lock(state_->mu);
      state_->reactor = nullptr;
    }
    store_->Unwatch(handle_);
    // A pump task may be writing to this reactor now: it goes after that task.
    pump_.Post([this] { delete this; });
  }

 private:
  struct State {
    std::mutex mu;
    std::deque<sv1::KvEvent> events;
    bool overflow = false;
    WatchReactor* reactor = nullptr;  // Null once the call is done.
    bool pump_posted = false;         // A task to write is waiting on the pump.
  };

  // Starts writing the next queued change unless a write is under way; ends the
  // call once the watcher has fallen too far behind.
  void WriteNext() {
    bool overflowed = false;
    {
      std::lock_guard lock(state_->mu);
      if (!ready_ || writing_ || finished_) return;
      if (state_->overflow) {
        overflowed = finished_ = true;
      } else {
        if (state_->events.empty()) return;
        current_ = std::move(state_->events.front());
        state_->events.pop_front();
        writing_ = true;
      }
    }
    if (overflowed) {
      return Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "the watcher fell more than " + std::to_string(kWatchBacklog) +
                                     " events behind; watch again and rescan"));
    }
    StartWrite(&current_);
  }
  // Ends the call once with `status`.
  void Stop(const grpc::Status& status) {
    {
      std::lock_guard lock(state_->mu);
      if (finished_) return;
      finished_ = true;
    }
    Finish(status);
  }

  WorkQueue& pump_;
  std::shared_ptr<KvStore> store_;
  std::shared_ptr<State> state_;
  uint64_t handle_ = 0;
  // Guarded by state_->mu.
  bool ready_ = false;
  bool writing_ = false;
  bool finished_ = false;
  sv1::KvEvent current_;
};

grpc::ServerWriteReactor<sv1::KvEvent>* KvService::Watch(grpc::CallbackServerContext* ctx,
                                                         const sv1::KvWatchRequest* req) {
  class Refused final : public grpc::ServerWriteReactor<sv1::KvEvent> {
   public:
    explicit Refused(const grpc::Status& s) { Finish(s); }
    void OnDone() override { delete this; }
  };
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return new Refused(ToGrpc(caller.status()));
  auto grant = stores_->Kv(*caller, req->store().app(), DbOf(req->store()), false);
  if (!grant.ok()) return new Refused(ToGrpc(grant.status()));
  return new WatchReactor(pump_, grant->store, req->prefix());
}

grpc::Status KvService::ListCall(const grpc::ServerContextBase* ctx, const sv1::KvListRequest* req,
                             sv1::KvListResponse* resp) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  return NamesReply(stores_->List(*caller, req->store().app(), StoreKind::kKv), resp);
}

// ---------------------------------- Sql ----------------------------------

grpc::Status SqlService::ExecuteCall(const grpc::ServerContextBase* ctx, const sv1::SqlExecuteRequest* req,
                                 sv1::SqlExecuteResponse* resp) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Sql(*caller, req->store().app(), DbOf(req->store()), true);
  if (!grant.ok() && grant.status().code() == Code::kPermissionDenied) {
    // A database the caller may only read (exported read-only, a followed share)
    // still answers statements that only read; any other keeps the refusal.
    auto reading = stores_->Sql(*caller, req->store().app(), DbOf(req->store()), false);
    if (reading.ok()) return ExecuteReading(*reading->store, *req, grant.status(), resp);
  }
  if (!grant.ok()) return ToGrpc(grant.status());
  std::vector<SqlStatementSpec> specs;
  uint64_t bytes = 0;
  for (const auto& s : req->statements()) {
    specs.push_back(SpecOf(s));
    bytes += s.ByteSizeLong();
  }
  if (specs.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no statement given");
  // How much a statement adds is known only once it runs, so the call holds a share
  // of what is left and the database may grow only into it; SQLite then refuses
  // the write that would pass it and rolls the transaction back.
  auto room = [&]() -> Expected<QuotaReservation> {
    auto share = stores_->ReserveShare(grant->app_id, bytes);
    if (share.ok() || share.status().code() != Code::kResourceExhausted) return share;
    // With no room left the call still runs, held at the database's size, so an
    // app over its quota can DELETE and UPDATE in place to get back under it.
    return stores_->Reserve(grant->app_id, 0);
  }();
  if (!room.ok()) return ToGrpc(room.status());
  std::optional<uint64_t> max_growth;
  if (!room->unlimited()) max_growth = room->bytes();
  auto outcomes = grant->store->Execute(specs, 64u << 20, max_growth);
  if (!outcomes.ok() && outcomes.status().code() == Code::kResourceExhausted) {
    return ToGrpc(ResourceExhausted("over the storage quota: " + outcomes.status().message()));
  }
  if (!outcomes.ok()) return ToGrpc(outcomes.status());
  for (auto& o : *outcomes) {
    auto* r = resp->add_results();
    for (auto& c : o.columns) r->add_columns(std::move(c));
    RowsToProto(std::move(o.rows), r->mutable_rows());
    r->set_changes(o.changes);
    r->set_last_insert_rowid(o.last_insert_rowid);
  }
  return grpc::Status::OK;
}

grpc::Status SqlService::ExecuteReading(engine::SqlStore& store, const sv1::SqlExecuteRequest& req,
                                        const Status& refusal, sv1::SqlExecuteResponse* resp) {
  if (req.statements().empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no statement given");
  uint64_t bytes = 0;
  for (const auto& s : req.statements()) {
    auto* r = resp->add_results();
    bool first = true;
    Status st = store.Query(SpecOf(s), [&](const std::vector<std::string>& columns, std::vector<SqlRowValues>&& rows) {
      if (first) {
        for (const auto& c : columns) r->add_columns(c);
        first = false;
      }
      RowsToProto(std::move(rows), r->mutable_rows());
      bytes = resp->ByteSizeLong();
      return bytes <= (64u << 20);
    });
    // A statement that would write gets the refusal of the write access it needs.
    if (!st.ok() && st.code() == Code::kInvalidArgument && st.message().find("read-only") != std::string::npos) {
      return ToGrpc(refusal);
    }
    if (!st.ok()) return ToGrpc(st);
    if (bytes > (64u << 20)) return ToGrpc(ResourceExhausted("the result is over 64 MiB; use Query"));
  }
  return grpc::Status::OK;
}

grpc::Status SqlService::Query(grpc::ServerContext* ctx, const sv1::SqlQueryRequest* req,
                               grpc::ServerWriter<sv1::SqlQueryBatch>* writer) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Sql(*caller, req->store().app(), DbOf(req->store()), false);
  if (!grant.ok()) return ToGrpc(grant.status());
  bool first = true;
  Status st = grant->store->Query(
      SpecOf(req->statement()),
      [&](const std::vector<std::string>& columns, std::vector<SqlRowValues>&& rows) {
        sv1::SqlQueryBatch batch;
        if (first) {
          for (const auto& c : columns) batch.add_columns(c);
          first = false;
        }
        RowsToProto(std::move(rows), batch.mutable_rows());
        return !ctx->IsCancelled() && writer->Write(batch);
      });
  return ToGrpc(st);
}

grpc::Status SqlService::ListCall(const grpc::ServerContextBase* ctx, const sv1::SqlListRequest* req,
                              sv1::SqlListResponse* resp) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  return NamesReply(stores_->List(*caller, req->store().app(), StoreKind::kSql), resp);
}

// ---------------------------------- Files ----------------------------------

grpc::Status FilesService::Put(grpc::ServerContext* ctx, grpc::ServerReader<sv1::FilePutChunk>* reader,
                               sv1::FileInfo* resp) {
  sv1::FilePutChunk chunk;
  if (!reader->Read(&chunk)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty upload: the first message names the file");
  }
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Files(*caller, chunk.store().app(), true);
  if (!grant.ok()) return ToGrpc(grant.status());
  const std::string path = chunk.path();
  auto writer = grant->store->Create(path);
  if (!writer.ok()) return ToGrpc(writer.status());
  // Room for the file and for each folder on its path that Commit may make is held
  // first, then each chunk's bytes before it is written, so uploads running at once
  // share what is left. A file being replaced frees its size only when the new one
  // lands, which then releases the room.
  auto room = stores_->Reserve(grant->app_id, EntriesOnPath(path) * engine::kFileEntryCost);
  if (!room.ok()) return ToGrpc(room.status());
  do {
    if (!chunk.data().empty()) {
      if (Status q = room->Grow(chunk.data().size()); !q.ok()) {
        return ToGrpc(q.WithContext("writing '" + path + "'"));
      }
      if (Status st = (*writer)->Append(chunk.data()); !st.ok()) return ToGrpc(st);
    }
  } while (reader->Read(&chunk));
  // A client that gave up did not send the whole file: keep the old one (the
  // writer's destructor removes the partial copy).
  if (ctx->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "upload of '" + path + "' cancelled");
  }
  return EntryReply((*writer)->Commit(), resp);
}

grpc::Status FilesService::Get(grpc::ServerContext* ctx, const sv1::FilePathRequest* req,
                               grpc::ServerWriter<sv1::FileChunk>* writer) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Files(*caller, req->store().app(), false);
  if (!grant.ok()) return ToGrpc(grant.status());
  auto reader = grant->store->OpenRead(req->path());
  if (!reader.ok()) return ToGrpc(reader.status());
  sv1::FileChunk chunk;
  for (;;) {
    auto data = (*reader)->Read(kFileChunk);
    if (!data.ok()) return ToGrpc(data.status());
    if (data->empty()) break;
    chunk.set_data(std::move(*data));
    if (ctx->IsCancelled() || !writer->Write(chunk)) break;
  }
  return grpc::Status::OK;
}

grpc::Status FilesService::ListCall(const grpc::ServerContextBase* ctx, const sv1::FilePathRequest* req,
                                sv1::FileListResponse* resp) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Files(*caller, req->store().app(), false);
  if (!grant.ok()) return ToGrpc(grant.status());
  auto entries = grant->store->List(req->path());
  if (!entries.ok()) return ToGrpc(entries.status());
  for (const auto& e : *entries) FileToProto(e, resp->add_entries());
  return grpc::Status::OK;
}

grpc::Status FilesService::StatCall(const grpc::ServerContextBase* ctx, const sv1::FilePathRequest* req,
                                sv1::FileInfo* resp) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Files(*caller, req->store().app(), false);
  if (!grant.ok()) return ToGrpc(grant.status());
  return EntryReply(grant->store->Stat(req->path()), resp);
}

grpc::Status FilesService::DeleteCall(const grpc::ServerContextBase* ctx, const sv1::FilePathRequest* req,
                                  sv1::FileDeleteResponse*) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Files(*caller, req->store().app(), true);
  if (!grant.ok()) return ToGrpc(grant.status());
  return ToGrpc(grant->store->Delete(req->path()));
}

grpc::Status FilesService::MoveCall(const grpc::ServerContextBase* ctx, const sv1::FileMoveRequest* req,
                                sv1::FileInfo* resp) {
  auto caller = CallerOf(ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto grant = stores_->Files(*caller, req->store().app(), true);
  if (!grant.ok()) return ToGrpc(grant.status());
  // Room for the folders the move may make on the way to its target.
  auto room = stores_->Reserve(grant->app_id, (EntriesOnPath(req->to()) - 1) * engine::kFileEntryCost);
  if (!room.ok()) return ToGrpc(room.status());
  return EntryReply(grant->store->Move(req->from(), req->to()), resp);
}

}  // namespace mumba
