// SPDX-License-Identifier: Apache-2.0
// The mumba.storage.v1 API over gRPC: a thin adapter from requests to the
// StoreManager and the engines. The host makes two sets: one for the owner's admin
// socket, whose every call is the owner's, and one for the server of all the apps'
// host sockets, where each call is the app whose socket its connection came through.
#pragma once

#include <functional>
#include <memory>

#include "common/grpc_status.h"
#include "common/work_queue.h"
#include "mumba/storage/v1/storage.grpc.pb.h"
#include "storage/call_pool.h"
#include "storage/store_manager.h"

namespace mumba {

// Who made the call `ctx`: an app (never the owner, whose StoreCaller has no app id)
// for a server shared by apps, or an error, with which the call is then refused.
// Called once at the start of every call, from gRPC's threads; `ctx` is null when a
// method is called directly rather than through gRPC (as tests do).
using CallerOfCall = std::function<Expected<StoreCaller>(const grpc::ServerContextBase* ctx)>;

// What every storage service holds: the manager that decides what a caller may
// reach (borrowed; it must outlive the service), how to tell who calls, and the
// pool its unary calls run on (borrowed; without one they run on gRPC's thread).
// Unary methods are callback methods run on the pool, so they hold no thread of
// gRPC's while they wait; Watch is a callback stream (KvService). The other streams
// stay synchronous, a thread each.
template <typename GeneratedService>
class StoreServiceBase : public GeneratedService {
 public:
  // Every call is `caller`'s: for a socket that serves one caller alone.
  StoreServiceBase(StoreManager* stores, StoreCaller caller, CallPool* pool = nullptr)
      : stores_(stores),
        caller_of_([caller = std::move(caller)](const grpc::ServerContextBase*) -> Expected<StoreCaller> {
          return caller;
        }),
        pool_(pool) {}
  // Each call's caller is found with `caller_of`: for a server shared by apps.
  StoreServiceBase(StoreManager* stores, CallerOfCall caller_of, CallPool* pool = nullptr)
      : stores_(stores), caller_of_(std::move(caller_of)), pool_(pool) {}

 protected:
  Expected<StoreCaller> CallerOf(const grpc::ServerContextBase* ctx) const { return caller_of_(ctx); }

  // Runs `body` on the pool in its caller's turn (at once without a pool) and
  // finishes the call with the status it returns. A call whose caller cannot be
  // told is refused at once.
  template <typename Body>
  grpc::ServerUnaryReactor* OnPool(grpc::CallbackServerContext* ctx, Body body) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto caller = CallerOf(ctx);
    if (!caller.ok()) {
      reactor->Finish(ToGrpc(caller.status()));
    } else if (!pool_) {
      reactor->Finish(body());
    } else {
      pool_->Post(caller->app_id, [reactor, body = std::move(body)]() mutable { reactor->Finish(body()); });
    }
    return reactor;
  }

  StoreManager* stores_;

 private:
  CallerOfCall caller_of_;
  CallPool* pool_;
};

// A unary method both ways: the synchronous override (called directly, as tests
// do) and the callback one gRPC calls, which runs the same body on the pool.
#define MUMBA_STORAGE_UNARY(Method, Request, Response)                                                 \
  grpc::Status Method(grpc::ServerContext* ctx, const Request* req, Response* resp) override {        \
    return Method##Call(ctx, req, resp);                                                              \
  }                                                                                                   \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx, const Request* req, Response* resp) \
      override {                                                                                      \
    return OnPool(ctx, [this, ctx, req, resp] { return Method##Call(ctx, req, resp); });              \
  }

namespace storage_internal {
namespace sv1 = mumba::storage::v1;
using KvBase = sv1::Kv::WithCallbackMethod_Get<sv1::Kv::WithCallbackMethod_Write<sv1::Kv::WithCallbackMethod_Scan<
    sv1::Kv::WithCallbackMethod_List<sv1::Kv::WithCallbackMethod_Watch<sv1::Kv::Service>>>>>;
using SqlBase = sv1::Sql::WithCallbackMethod_Execute<sv1::Sql::WithCallbackMethod_List<sv1::Sql::Service>>;
using FilesBase = sv1::Files::WithCallbackMethod_List<sv1::Files::WithCallbackMethod_Stat<
    sv1::Files::WithCallbackMethod_Delete<sv1::Files::WithCallbackMethod_Move<sv1::Files::Service>>>>;
}  // namespace storage_internal

class KvService final : public StoreServiceBase<storage_internal::KvBase> {
 public:
  using StoreServiceBase::StoreServiceBase;

  MUMBA_STORAGE_UNARY(Get, mumba::storage::v1::KvGetRequest, mumba::storage::v1::KvGetResponse)
  MUMBA_STORAGE_UNARY(Write, mumba::storage::v1::KvWriteRequest, mumba::storage::v1::KvWriteResponse)
  MUMBA_STORAGE_UNARY(Scan, mumba::storage::v1::KvScanRequest, mumba::storage::v1::KvScanResponse)
  MUMBA_STORAGE_UNARY(List, mumba::storage::v1::KvListRequest, mumba::storage::v1::KvListResponse)
  grpc::Status GetStream(grpc::ServerContext*,
                         grpc::ServerReaderWriter<mumba::storage::v1::KvGetResponse,
                                                  mumba::storage::v1::KvGetRequest>*) override;
  // A callback stream: an open watch holds no thread and wakes nothing while the
  // store does not change.
  grpc::ServerWriteReactor<mumba::storage::v1::KvEvent>* Watch(grpc::CallbackServerContext* ctx,
                                                               const mumba::storage::v1::KvWatchRequest* req) override;

 private:
  class WatchReactor;
  // Starts watch streams' writes and deletes finished ones (see WatchReactor).
  WorkQueue pump_{1};

  grpc::Status GetCall(const grpc::ServerContextBase*, const mumba::storage::v1::KvGetRequest*,
                       mumba::storage::v1::KvGetResponse*);
  grpc::Status WriteCall(const grpc::ServerContextBase*, const mumba::storage::v1::KvWriteRequest*,
                         mumba::storage::v1::KvWriteResponse*);
  grpc::Status ScanCall(const grpc::ServerContextBase*, const mumba::storage::v1::KvScanRequest*,
                        mumba::storage::v1::KvScanResponse*);
  grpc::Status ListCall(const grpc::ServerContextBase*, const mumba::storage::v1::KvListRequest*,
                        mumba::storage::v1::KvListResponse*);
};

class SqlService final : public StoreServiceBase<storage_internal::SqlBase> {
 public:
  using StoreServiceBase::StoreServiceBase;

  MUMBA_STORAGE_UNARY(Execute, mumba::storage::v1::SqlExecuteRequest, mumba::storage::v1::SqlExecuteResponse)
  MUMBA_STORAGE_UNARY(List, mumba::storage::v1::SqlListRequest, mumba::storage::v1::SqlListResponse)
  grpc::Status Query(grpc::ServerContext*, const mumba::storage::v1::SqlQueryRequest*,
                     grpc::ServerWriter<mumba::storage::v1::SqlQueryBatch>*) override;

 private:
  grpc::Status ExecuteCall(const grpc::ServerContextBase*, const mumba::storage::v1::SqlExecuteRequest*,
                           mumba::storage::v1::SqlExecuteResponse*);
  grpc::Status ListCall(const grpc::ServerContextBase*, const mumba::storage::v1::SqlListRequest*,
                        mumba::storage::v1::SqlListResponse*);
  // Execute on a database the caller may only read: each statement runs as a
  // Query; one that would write ends the call with `refusal` (why writing was
  // refused).
  grpc::Status ExecuteReading(engine::SqlStore& store, const mumba::storage::v1::SqlExecuteRequest& req,
                              const Status& refusal, mumba::storage::v1::SqlExecuteResponse* resp);
};

class FilesService final : public StoreServiceBase<storage_internal::FilesBase> {
 public:
  using StoreServiceBase::StoreServiceBase;

  MUMBA_STORAGE_UNARY(List, mumba::storage::v1::FilePathRequest, mumba::storage::v1::FileListResponse)
  MUMBA_STORAGE_UNARY(Stat, mumba::storage::v1::FilePathRequest, mumba::storage::v1::FileInfo)
  MUMBA_STORAGE_UNARY(Delete, mumba::storage::v1::FilePathRequest, mumba::storage::v1::FileDeleteResponse)
  MUMBA_STORAGE_UNARY(Move, mumba::storage::v1::FileMoveRequest, mumba::storage::v1::FileInfo)
  grpc::Status Put(grpc::ServerContext*, grpc::ServerReader<mumba::storage::v1::FilePutChunk>*,
                   mumba::storage::v1::FileInfo*) override;
  grpc::Status Get(grpc::ServerContext*, const mumba::storage::v1::FilePathRequest*,
                   grpc::ServerWriter<mumba::storage::v1::FileChunk>*) override;

 private:
  grpc::Status ListCall(const grpc::ServerContextBase*, const mumba::storage::v1::FilePathRequest*,
                        mumba::storage::v1::FileListResponse*);
  grpc::Status StatCall(const grpc::ServerContextBase*, const mumba::storage::v1::FilePathRequest*,
                        mumba::storage::v1::FileInfo*);
  grpc::Status DeleteCall(const grpc::ServerContextBase*, const mumba::storage::v1::FilePathRequest*,
                          mumba::storage::v1::FileDeleteResponse*);
  grpc::Status MoveCall(const grpc::ServerContextBase*, const mumba::storage::v1::FileMoveRequest*,
                        mumba::storage::v1::FileInfo*);
};

#undef MUMBA_STORAGE_UNARY

// The three services and the pool their unary calls run on, to register on one
// server. For one caller (the owner's socket; tests), the pool's threads all serve
// it; for callers found per call (the apps' host sockets), each app gets at most a
// quarter of them, so that a few apps with slow calls cannot hold every thread.
struct StorageServices {
  static constexpr int kOneCallerThreads = 8;
  static constexpr int kSharedThreads = 16;
  static constexpr int kSharedPerCaller = 4;

  StorageServices(StoreManager* stores, const StoreCaller& caller)
      : pool(std::make_unique<CallPool>(kOneCallerThreads, kOneCallerThreads)),
        kv(stores, caller, pool.get()),
        sql(stores, caller, pool.get()),
        files(stores, caller, pool.get()) {}
  StorageServices(StoreManager* stores, const CallerOfCall& caller_of)
      : pool(std::make_unique<CallPool>(kSharedThreads, kSharedPerCaller)),
        kv(stores, caller_of, pool.get()),
        sql(stores, caller_of, pool.get()),
        files(stores, caller_of, pool.get()) {}
  // The pool first: the calls it still runs use the services.
  ~StorageServices() { pool.reset(); }

  std::unique_ptr<CallPool> pool;
  KvService kv;
  SqlService sql;
  FilesService files;
};

}  // namespace mumba
