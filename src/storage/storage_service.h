// SPDX-License-Identifier: Apache-2.0
// The mumba.storage.v1 API over gRPC, for one caller: a thin adapter from requests
// to the StoreManager and the engines. The host makes one set per socket it serves:
// one for the owner's admin socket and one for each app's own socket.
#pragma once

#include <memory>

#include "mumba/storage/v1/storage.grpc.pb.h"
#include "storage/store_manager.h"

namespace mumba {

// What every storage service holds: the manager that decides what `caller` may
// reach (borrowed; it must outlive the service) and who the caller is.
template <typename GeneratedService>
class StoreServiceBase : public GeneratedService {
 public:
  StoreServiceBase(StoreManager* stores, StoreCaller caller) : stores_(stores), caller_(std::move(caller)) {}

 protected:
  StoreManager* stores_;
  StoreCaller caller_;
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

// The three services for one caller, to register on one server.
struct StorageServices {
  StorageServices(StoreManager* stores, const StoreCaller& caller)
      : kv(stores, caller), sql(stores, caller), files(stores, caller) {}
  KvService kv;
  SqlService sql;
  FilesService files;
};

}  // namespace mumba
