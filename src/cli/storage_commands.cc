// SPDX-License-Identifier: Apache-2.0
// mumba kv | sql | files: an app's stores, from the owner's side.
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "mumba/storage/v1/storage.grpc.pb.h"

namespace mumba::cli {
namespace sv1 = mumba::storage::v1;

namespace {

constexpr size_t kChunk = 256u << 10;

std::string ReadArg(const std::string& value) {
  if (value != "-") return value;
  return std::string(std::istreambuf_iterator<char>(std::cin), {});
}

void PrintRaw(const std::string& data) {
  std::fwrite(data.data(), 1, data.size(), stdout);
  if (isatty(1) && (data.empty() || data.back() != '\n')) std::printf("\n");
}

// Text that is safe on one line of a terminal: control bytes and invalid UTF-8 show
// as \xNN.
std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

nlohmann::json ValueJson(const sv1::SqlValue& v) {
  switch (v.value_case()) {
    case sv1::SqlValue::kInteger: return v.integer();
    case sv1::SqlValue::kReal: return v.real();
    case sv1::SqlValue::kText: return v.text();
    case sv1::SqlValue::kBlob: {
      // Blobs as hex, marked so they are not mistaken for text.
      std::string hex = "x'";
      char buf[4];
      for (unsigned char c : v.blob()) {
        std::snprintf(buf, sizeof buf, "%02x", c);
        hex += buf;
      }
      return nlohmann::json{{"blob", hex + "'"}};
    }
    default: return nullptr;
  }
}

std::string ValueText(const sv1::SqlValue& v) {
  switch (v.value_case()) {
    case sv1::SqlValue::kInteger: return std::to_string(v.integer());
    case sv1::SqlValue::kReal: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v.real());
      return buf;
    }
    case sv1::SqlValue::kText: return Printable(v.text());
    case sv1::SqlValue::kBlob: return ValueJson(v)["blob"].get<std::string>();
    default: return "NULL";
  }
}

// A parameter from the command line: integers and reals as numbers, NULL as null,
// everything else as text.
sv1::SqlValue ParamOf(const std::string& text) {
  static const std::regex integer(R"(-?(0|[1-9][0-9]{0,17}))");
  static const std::regex real(R"(-?[0-9]+\.[0-9]+([eE][-+]?[0-9]+)?)");
  sv1::SqlValue v;
  if (std::regex_match(text, integer)) v.set_integer(std::stoll(text));
  else if (std::regex_match(text, real)) v.set_real(std::stod(text));
  else if (text == "NULL") v.set_null(true);
  else v.set_text(text);
  return v;
}

template <typename Service>
Expected<std::unique_ptr<typename Service::Stub>> Connect(const Context& ctx) {
  MUMBA_ASSIGN_OR_RETURN(auto channel, ConnectHostChannel(ctx));
  return Service::NewStub(channel);
}

// Calls one unary method of the host's `Service`; on error prints it and returns 1.
template <typename Service, typename Request, typename Response>
int Unary(const Context& ctx,
          grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
          const Request& request, Response* response) {
  auto stub = Connect<Service>(ctx);
  if (!stub.ok()) return Fail(stub.status());
  grpc::ClientContext c;
  if (auto s = ((**stub).*method)(&c, request, response); !s.ok()) return Fail(s);
  return 0;
}

sv1::FilePathRequest FilePath(const std::string& app, const std::string& path) {
  sv1::FilePathRequest req;
  req.mutable_store()->set_app(app);
  req.set_path(path);
  return req;
}

}  // namespace

void AddStorageCommands(CLI::App& app, Context& ctx) {
  // ---------------------------------- kv ----------------------------------
  auto* kv = app.add_subcommand("kv", "Read and write an app's key-value databases (LMDB)");
  kv->require_subcommand(1);
  static std::string kv_app, kv_db = "main", key, value, prefix;
  static uint32_t limit = 0;
  static bool kv_json = false;
  kv->add_option("APP", kv_app, "App name or id")->required();
  kv->add_option("--db", kv_db, "Database name")->default_val("main");

  auto store_of = [](sv1::StoreRef* ref) {
    ref->set_app(kv_app);
    ref->set_db(kv_db);
  };

  auto* get = kv->add_subcommand("get", "Print the value of KEY (exit 1 if absent)");
  get->add_option("KEY", key, "The key")->required();
  OnRun(get, [&ctx, store_of] {
    sv1::KvGetRequest req;
    store_of(req.mutable_store());
    req.set_key(key);
    sv1::KvGetResponse resp;
    if (int rc = Unary<sv1::Kv>(ctx, &sv1::Kv::Stub::Get, req, &resp)) return rc;
    if (!resp.found()) return Fail(NotFound("no key '" + key + "' in " + kv_app + "/" + kv_db));
    PrintRaw(resp.value());
    return 0;
  });

  auto* put = kv->add_subcommand("put", "Set KEY to VALUE ('-' reads the value from stdin)");
  put->add_option("KEY", key, "The key")->required();
  put->add_option("VALUE", value, "The value")->required();
  OnRun(put, [&ctx, store_of] {
    sv1::KvWriteRequest req;
    store_of(req.mutable_store());
    auto* op = req.add_ops();
    op->set_kind(sv1::KvOp::PUT);
    op->set_key(key);
    op->set_value(ReadArg(value));
    sv1::KvWriteResponse resp;
    return Unary<sv1::Kv>(ctx, &sv1::Kv::Stub::Write, req, &resp);
  });

  auto* del = kv->add_subcommand("del", "Delete KEY (no error if absent)");
  del->add_option("KEY", key, "The key")->required();
  OnRun(del, [&ctx, store_of] {
    sv1::KvWriteRequest req;
    store_of(req.mutable_store());
    auto* op = req.add_ops();
    op->set_kind(sv1::KvOp::DELETE);
    op->set_key(key);
    sv1::KvWriteResponse resp;
    return Unary<sv1::Kv>(ctx, &sv1::Kv::Stub::Write, req, &resp);
  });

  auto* scan = kv->add_subcommand("scan", "List keys and values in order, as KEY<TAB>VALUE lines");
  scan->add_option("PREFIX", prefix, "Only keys starting with PREFIX");
  scan->add_option("-n,--limit", limit, "At most this many (default: all)");
  scan->add_flag("--json", kv_json, "One JSON object per line: {\"key\":...,\"value\":...}");
  OnRun(scan, [&ctx, store_of] {
    auto stub = Connect<sv1::Kv>(ctx);
    if (!stub.ok()) return Fail(stub.status());
    sv1::KvScanRequest req;
    store_of(req.mutable_store());
    req.set_prefix(prefix);
    uint64_t printed = 0;
    for (;;) {
      grpc::ClientContext c;
      sv1::KvScanResponse resp;
      if (limit > 0) req.set_limit(static_cast<uint32_t>(std::min<uint64_t>(1000, limit - printed)));
      if (auto s = (*stub)->Scan(&c, req, &resp); !s.ok()) return Fail(s);
      for (const auto& p : resp.pairs()) {
        if (kv_json) {
          nlohmann::json j{{"key", p.key()}, {"value", p.value()}};
          std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        } else {
          std::printf("%s\t%s\n", Printable(p.key()).c_str(), Printable(p.value()).c_str());
        }
        ++printed;
      }
      if (resp.next_cursor().empty() || (limit > 0 && printed >= limit)) break;
      req.set_cursor(resp.next_cursor());
    }
    return 0;
  });

  auto* dbs = kv->add_subcommand("dbs", "List the app's key-value databases");
  OnRun(dbs, [&ctx] {
    sv1::KvListRequest req;
    req.mutable_store()->set_app(kv_app);
    sv1::KvListResponse resp;
    if (int rc = Unary<sv1::Kv>(ctx, &sv1::Kv::Stub::List, req, &resp)) return rc;
    for (const auto& d : resp.databases()) std::printf("%s\n", d.c_str());
    return 0;
  });

  // ---------------------------------- sql ----------------------------------
  auto* sql = app.add_subcommand(
      "sql", "Run SQL on an app's database (SQLite; created on first use) and print the rows");
  static std::string sql_app, sql_db, sql_text;
  static std::vector<std::string> params;
  static bool sql_json = false;
  sql->add_option("APP", sql_app, "App name or id")->required();
  sql->add_option("DB", sql_db, "Database name, e.g. main")->required();
  sql->add_option("SQL", sql_text, "Statements ('-' reads stdin); several run in one transaction")
      ->required();
  sql->add_option("-p,--param", params,
                  "Value for the next ? (repeatable): integers and decimals bind as numbers, "
                  "NULL as null, anything else as text");
  sql->add_flag("--json", sql_json, "One JSON object per statement: columns, rows, changes");
  OnRun(sql, [&ctx] {
    sv1::SqlExecuteRequest req;
    req.mutable_store()->set_app(sql_app);
    req.mutable_store()->set_db(sql_db);
    auto* st = req.add_statements();
    st->set_sql(ReadArg(sql_text));
    for (const auto& p : params) *st->add_params() = ParamOf(p);
    sv1::SqlExecuteResponse resp;
    if (int rc = Unary<sv1::Sql>(ctx, &sv1::Sql::Stub::Execute, req, &resp)) return rc;
    for (const auto& r : resp.results()) {
      if (sql_json) {
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& row : r.rows()) {
          nlohmann::json jr = nlohmann::json::array();
          for (const auto& v : row.values()) jr.push_back(ValueJson(v));
          rows.push_back(std::move(jr));
        }
        nlohmann::json out{{"columns", r.columns()}, {"rows", rows}, {"changes", r.changes()},
                           {"last_insert_rowid", r.last_insert_rowid()}};
        std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        continue;
      }
      if (r.columns_size() > 0) {
        std::string line;
        for (int i = 0; i < r.columns_size(); ++i) line += (i ? "\t" : "") + Printable(r.columns(i));
        std::printf("%s\n", line.c_str());
        for (const auto& row : r.rows()) {
          line.clear();
          for (int i = 0; i < row.values_size(); ++i) line += (i ? "\t" : "") + ValueText(row.values(i));
          std::printf("%s\n", line.c_str());
        }
      } else if (isatty(1)) {
        std::printf("%" PRId64 " row(s) changed\n", static_cast<int64_t>(r.changes()));
      }
    }
    return 0;
  });

  // ---------------------------------- files ----------------------------------
  auto* files = app.add_subcommand("files", "List, copy in, copy out and remove an app's files");
  files->require_subcommand(1);
  static std::string files_app, src, dst, dir;
  files->add_option("APP", files_app, "App name or id")->required();

  auto* ls = files->add_subcommand("ls", "List a folder of the app's files (default: the top)");
  ls->add_option("DIR", dir, "Folder, e.g. photos/2026");
  OnRun(ls, [&ctx] {
    sv1::FileListResponse resp;
    if (int rc = Unary<sv1::Files>(ctx, &sv1::Files::Stub::List, FilePath(files_app, dir), &resp)) {
      return rc;
    }
    for (const auto& e : resp.entries()) {
      std::string name = e.path().substr(e.path().rfind('/') + 1);
      if (e.is_dir()) std::printf("%12s  %s/\n", "-", Printable(name).c_str());
      else std::printf("%12" PRIu64 "  %s\n", static_cast<uint64_t>(e.size()), Printable(name).c_str());
    }
    return 0;
  });

  auto* fput = files->add_subcommand("put", "Copy LOCAL_PATH ('-' = stdin) to APP_PATH, replacing it whole");
  fput->add_option("LOCAL_PATH", src, "The file to copy")->required();
  fput->add_option("APP_PATH", dst, "Where it goes in the app's files")->required();
  OnRun(fput, [&ctx] {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (src != "-") {
      file.open(src, std::ios::binary);
      if (!file) return Fail(NotFound("cannot read " + src));
      in = &file;
    }
    auto stub = Connect<sv1::Files>(ctx);
    if (!stub.ok()) return Fail(stub.status());
    grpc::ClientContext c;
    sv1::FileInfo info;
    auto writer = (*stub)->Put(&c, &info);
    sv1::FilePutChunk chunk;
    chunk.mutable_store()->set_app(files_app);
    chunk.set_path(dst);
    std::string buf(kChunk, '\0');
    bool first = true;
    while (true) {
      in->read(buf.data(), static_cast<std::streamsize>(buf.size()));
      auto n = static_cast<size_t>(in->gcount());
      if (n == 0 && !first) break;
      chunk.set_data(buf.data(), n);
      // A refused upload ends the stream early; Finish says why.
      if (!writer->Write(chunk)) break;
      chunk.clear_store();
      chunk.clear_path();
      first = false;
      if (n == 0) break;
    }
    if (in->bad()) {
      c.TryCancel();
      (void)writer->Finish();
      return Fail(Internal("error reading " + src + "; nothing was stored"));
    }
    writer->WritesDone();
    if (auto s = writer->Finish(); !s.ok()) return Fail(s);
    return 0;
  });

  auto* fget = files->add_subcommand("get", "Copy APP_PATH to LOCAL_PATH ('-' = stdout)");
  fget->add_option("APP_PATH", src, "The app's file")->required();
  fget->add_option("LOCAL_PATH", dst, "Where to write it")->required();
  OnRun(fget, [&ctx] {
    auto stub = Connect<sv1::Files>(ctx);
    if (!stub.ok()) return Fail(stub.status());
    grpc::ClientContext c;
    auto reader = (*stub)->Get(&c, FilePath(files_app, src));
    // Write beside the destination and rename at the end, so a failed copy leaves
    // any existing file alone.
    std::string tmp = dst == "-" ? "" : dst + ".mumba-part";
    std::ofstream out;
    if (!tmp.empty()) {
      out.open(tmp, std::ios::binary | std::ios::trunc);
      if (!out) return Fail(Internal("cannot write " + tmp));
    }
    sv1::FileChunk chunk;
    while (reader->Read(&chunk)) {
      if (tmp.empty()) std::fwrite(chunk.data().data(), 1, chunk.data().size(), stdout);
      else out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    }
    auto s = reader->Finish();
    if (!tmp.empty()) {
      out.close();
      if (!s.ok() || !out) {
        std::remove(tmp.c_str());
        return s.ok() ? Fail(Internal("cannot write " + dst)) : Fail(s);
      }
      if (std::rename(tmp.c_str(), dst.c_str()) != 0) {
        std::remove(tmp.c_str());
        return Fail(Internal("cannot write " + dst));
      }
    }
    return s.ok() ? 0 : Fail(s);
  });

  auto* rm = files->add_subcommand("rm", "Remove a file or an empty folder of the app");
  rm->add_option("APP_PATH", src, "The app's file or folder")->required();
  OnRun(rm, [&ctx] {
    sv1::FileDeleteResponse resp;
    return Unary<sv1::Files>(ctx, &sv1::Files::Stub::Delete, FilePath(files_app, src), &resp);
  });

  auto* mv = files->add_subcommand("mv", "Rename a file or folder of the app");
  mv->add_option("FROM", src, "Current path")->required();
  mv->add_option("TO", dst, "New path")->required();
  OnRun(mv, [&ctx] {
    sv1::FileMoveRequest req;
    req.mutable_store()->set_app(files_app);
    req.set_from(src);
    req.set_to(dst);
    sv1::FileInfo resp;
    return Unary<sv1::Files>(ctx, &sv1::Files::Stub::Move, req, &resp);
  });
}

}  // namespace mumba::cli
