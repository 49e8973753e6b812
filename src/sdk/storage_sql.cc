// SPDX-License-Identifier: Apache-2.0
// mumba::Sql of include/mumba/storage.h: each call is one request to the host's
// mumba.storage.v1.Sql service; Query streams its rows.
#include "mumba/storage.h"
#include "storage/sql_value_proto.h"
#include "storage_client.h"

namespace mumba {
inline namespace storage_v1 {
namespace {

namespace sv1 = mumba::storage::v1;

SqlRow RowFromProto(sv1::SqlRow* row) {
  SqlRow out;
  out.reserve(row->values_size());
  for (auto& v : *row->mutable_values()) out.push_back(sql_proto::FromProto<SqlValue>(v));
  return out;
}

void StatementToProto(std::string sql, std::vector<SqlValue> params, sv1::SqlStatement* out) {
  out->set_sql(std::move(sql));
  for (const auto& p : params) sql_proto::ToProto(p, out->add_params());
}

}  // namespace

using sdk_internal::HostConnection;
using sdk_internal::Ready;
using sdk_internal::StoreRequest;

Sql::Sql() = default;

Sql::Sql(std::shared_ptr<const HostConnection> host, std::string db, std::string app)
    : host_(std::move(host)), db_(std::move(db)), app_(std::move(app)) {}

Expected<SqlResult> Sql::Execute(std::string sql, std::vector<SqlValue> params) const {
  std::vector<SqlStatement> one;
  one.push_back({std::move(sql), std::move(params)});
  MUMBA_ASSIGN_OR_RETURN(auto results, Transaction(std::move(one)));
  if (results.size() != 1) return Internal("the host answered " + std::to_string(results.size()) + " results for one statement");
  return std::move(results.front());
}

Expected<std::vector<SqlResult>> Sql::Transaction(std::vector<SqlStatement> statements) const {
  MUMBA_TRY(Ready(host_, "Sql"));
  auto req = StoreRequest<sv1::SqlExecuteRequest>(app_, db_);
  for (auto& s : statements) StatementToProto(std::move(s.sql), std::move(s.params), req.add_statements());
  sv1::SqlExecuteResponse resp;
  MUMBA_TRY(host_->Call(host_->sql, &sv1::Sql::Stub::Execute, req, &resp));
  std::vector<SqlResult> out;
  out.reserve(resp.results_size());
  for (auto& r : *resp.mutable_results()) {
    SqlResult result;
    result.columns.assign(r.columns().begin(), r.columns().end());
    result.rows.reserve(r.rows_size());
    for (auto& row : *r.mutable_rows()) result.rows.push_back(RowFromProto(&row));
    result.changes = r.changes();
    result.last_insert_rowid = r.last_insert_rowid();
    out.push_back(std::move(result));
  }
  return out;
}

Status Sql::Query(std::string sql, std::vector<SqlValue> params,
                  const std::function<bool(const SqlRow&)>& on_row) const {
  MUMBA_TRY(Ready(host_, "Sql"));
  auto req = StoreRequest<sv1::SqlQueryRequest>(app_, db_);
  StatementToProto(std::move(sql), std::move(params), req.mutable_statement());
  grpc::ClientContext c;
  auto reader = host_->sql->Query(&c, req);
  sv1::SqlQueryBatch batch;
  bool stopped = false;
  while (!stopped && reader->Read(&batch)) {
    for (auto& row : *batch.mutable_rows()) {
      if (!on_row(RowFromProto(&row))) {
        stopped = true;
        break;
      }
    }
  }
  if (stopped) c.TryCancel();
  grpc::Status s = reader->Finish();
  return stopped ? Status() : host_->FromGrpc(s);
}

}  // namespace storage_v1
}  // namespace mumba
