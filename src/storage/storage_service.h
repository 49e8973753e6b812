// SPDX-License-Identifier: Apache-2.0
// The mumba.storage.v1 API over gRPC: a thin adapter from requests to the
// StoreManager and the engines. The host makes two sets: one for the owner's admin
// socket, whose every call is the owner's, and one for the server of all the apps'
// host sockets, where each call is the app whose socket its connection came through.
#pragma once

#include <functional>
#include <memory>

#include "mumba/storage/v1/storage.grpc.pb.h"
#include "storage/store_manager.h"

namespace mumba {

// Who made the call `ctx`: an app (never the owner, whose StoreCaller has no app id)
// for a server shared by apps, or an error, with which the call is then refused.
// Called once at the start of every call, from gRPC's threads; `ctx` is null when a
// method is called directly rather than through gRPC (as tests do).
using CallerOfCall = std::function<Expected<StoreCaller>(const grpc::ServerContext* ctx)>;

// What every storage service holds: the manager that decides what a caller may
// reach (borrowed; it must outlive the service) and how to tell who calls.
template <typename GeneratedService>
class StoreServiceBase : public GeneratedService {
 public:
  // Every call is `caller`'s: for a socket that serves one caller alone.
  StoreServiceBase(StoreManager* stores, StoreCaller caller)
      : stores_(stores),
        caller_of_([caller = std::move(caller)](const grpc::ServerContext*) -> Expected<StoreCaller> {
          return caller;
        }) {}
  // Each call's caller is found with `caller_of`: for a server shared by apps.
  StoreServiceBase(StoreManager* stores, CallerOfCall caller_of)
      : stores_(stores), caller_of_(std::move(caller_of)) {}

 protected:
  Expected<StoreCaller> CallerOf(const grpc::ServerContext* ctx) const { return caller_of_(ctx); }

  StoreManager* stores_;

 private:
  CallerOfCall caller_of_;
};

class KvService final : public StoreServiceBase<mumba::storage::v1::Kv::Service> {
 public:
  using StoreServiceBase::StoreServiceBase;

  grpc::Status Get(grpc::ServerContext*, const mumba::storage::v1::KvGetRequest*,
                   mumba::storage::v1::KvGetResponse*) override;
  grpc::Status GetStream(grpc::ServerContext*,
                         grpc::ServerReaderWriter<mumba::storage::v1::KvGetResponse,
                                                  mumba::storage::v1::KvGetRequest>*) override;
  grpc::Status Write(grpc::ServerContext*, const mumba::storage::v1::KvWriteRequest*,
                     mumba::storage::v1::KvWriteResponse*) override;
  grpc::Status Scan(grpc::ServerContext*, const mumba::storage::v1::KvScanRequest*,
                    mumba::storage::v1::KvScanResponse*) override;
  grpc::Status Watch(grpc::ServerContext*, const mumba::storage::v1::KvWatchRequest*,
                     grpc::ServerWriter<mumba::storage::v1::KvEvent>*) override;
  grpc::Status List(grpc::ServerContext*, const mumba::storage::v1::KvListRequest*,
                    mumba::storage::v1::KvListResponse*) override;
};

class SqlService final : public StoreServiceBase<mumba::storage::v1::Sql::Service> {
 public:
  using StoreServiceBase::StoreServiceBase;

  grpc::Status Execute(grpc::ServerContext*, const mumba::storage::v1::SqlExecuteRequest*,
                       mumba::storage::v1::SqlExecuteResponse*) override;
  grpc::Status Query(grpc::ServerContext*, const mumba::storage::v1::SqlQueryRequest*,
                     grpc::ServerWriter<mumba::storage::v1::SqlQueryBatch>*) override;
  grpc::Status List(grpc::ServerContext*, const mumba::storage::v1::SqlListRequest*,
                    mumba::storage::v1::SqlListResponse*) override;
};

class FilesService final : public StoreServiceBase<mumba::storage::v1::Files::Service> {
 public:
  using StoreServiceBase::StoreServiceBase;

  grpc::Status Put(grpc::ServerContext*, grpc::ServerReader<mumba::storage::v1::FilePutChunk>*,
                   mumba::storage::v1::FileInfo*) override;
  grpc::Status Get(grpc::ServerContext*, const mumba::storage::v1::FilePathRequest*,
                   grpc::ServerWriter<mumba::storage::v1::FileChunk>*) override;
  grpc::Status List(grpc::ServerContext*, const mumba::storage::v1::FilePathRequest*,
                    mumba::storage::v1::FileListResponse*) override;
  grpc::Status Stat(grpc::ServerContext*, const mumba::storage::v1::FilePathRequest*,
                    mumba::storage::v1::FileInfo*) override;
  grpc::Status Delete(grpc::ServerContext*, const mumba::storage::v1::FilePathRequest*,
                      mumba::storage::v1::FileDeleteResponse*) override;
  grpc::Status Move(grpc::ServerContext*, const mumba::storage::v1::FileMoveRequest*,
                    mumba::storage::v1::FileInfo*) override;
};

// The three services, to register on one server: for one caller, or for callers
// found per call.
struct StorageServices {
  StorageServices(StoreManager* stores, const StoreCaller& caller)
      : kv(stores, caller), sql(stores, caller), files(stores, caller) {}
  StorageServices(StoreManager* stores, const CallerOfCall& caller_of)
      : kv(stores, caller_of), sql(stores, caller_of), files(stores, caller_of) {}
  KvService kv;
  SqlService sql;
  FilesService files;
};

}  // namespace mumba
