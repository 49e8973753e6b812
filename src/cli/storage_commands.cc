// SPDX-License-Identifier: Apache-2.0
// mumba kv | sql | files: an app's stores, from the owner's side.
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <regex>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/options.h"
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

void FillStore(const KvStoreOptions& store, sv1::StoreRef* ref) {
  ref->set_app(store.app);
  ref->set_db(store.db);
}

sv1::FilePathRequest FilePath(const std::string& app, const std::string& path) {
  sv1::FilePathRequest req;
  req.mutable_store()->set_app(app);
  req.set_path(path);
  return req;
}

int KvGet(const Context& ctx, const KvStoreOptions& store, const KvGetOptions& o) {
  sv1::KvGetRequest req;
  FillStore(store, req.mutable_store());
  req.set_key(o.key);
  sv1::KvGetResponse resp;
  if (int rc = Unary(ctx, &sv1::Kv::Stub::Get, req, &resp)) return rc;
  if (!resp.found()) return Fail(NotFound("no key '" + o.key + "' in " + store.app + "/" + store.db));
  PrintRaw(resp.value());
  return 0;
}

// Puts `value` under `key`, or deletes `key`, in one write.
int KvWriteOne(const Context& ctx, const KvStoreOptions& store, sv1::KvOp::Kind kind, const std::string& key,
               const std::string& value) {
  sv1::KvWriteRequest req;
  FillStore(store, req.mutable_store());
  auto* op = req.add_ops();
  op->set_kind(kind);
  op->set_key(key);
  if (kind == sv1::KvOp::PUT) op->set_value(value);
  sv1::KvWriteResponse resp;
  return Unary(ctx, &sv1::Kv::Stub::Write, req, &resp);
}

int KvScan(const Context& ctx, const KvStoreOptions& store, const KvScanOptions& o) {
  auto stub = Connect<sv1::Kv>(ctx);
  if (!stub.ok()) return Fail(stub.status());
  sv1::KvScanRequest req;
  FillStore(store, req.mutable_store());
  req.set_prefix(o.prefix);
  const uint32_t limit = o.limit;
  uint64_t printed = 0;
  for (;;) {
    sv1::KvScanResponse resp;
    if (limit > 0) req.set_limit(static_cast<uint32_t>(std::min<uint64_t>(1000, limit - printed)));
    if (int rc = Unary(**stub, &sv1::Kv::Stub::Scan, req, &resp)) return rc;
    for (const auto& pair : resp.pairs()) {
      if (o.json) {
        nlohmann::json j{{"key", pair.key()}, {"value", pair.value()}};
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else {
        std::printf("%s\t%s\n", Printable(pair.key()).c_str(), Printable(pair.value()).c_str());
      }
      ++printed;
    }
    if (resp.next_cursor().empty() || (limit > 0 && printed >= limit)) break;
    req.set_cursor(resp.next_cursor());
  }
  return 0;
}

int KvDbs(const Context& ctx, const KvStoreOptions& store) {
  sv1::KvListRequest req;
  req.mutable_store()->set_app(store.app);
  sv1::KvListResponse resp;
  if (int rc = Unary(ctx, &sv1::Kv::Stub::List, req, &resp)) return rc;
  for (const auto& name : resp.databases()) std::printf("%s\n", name.c_str());
  return 0;
}

int Sql(const Context& ctx, const SqlOptions& o) {
  sv1::SqlExecuteRequest req;
  req.mutable_store()->set_app(o.app);
  req.mutable_store()->set_db(o.db);
  auto* st = req.add_statements();
  st->set_sql(ReadArg(o.sql));
  for (const auto& p : o.params) *st->add_params() = ParamOf(p);
  sv1::SqlExecuteResponse resp;
  if (int rc = Unary(ctx, &sv1::Sql::Stub::Execute, req, &resp)) return rc;
  for (const auto& r : resp.results()) {
    if (o.json) {
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
}

int FilesList(const Context& ctx, const FilesStoreOptions& store, const FilesListOptions& o) {
  sv1::FileListResponse resp;
  if (int rc = Unary(ctx, &sv1::Files::Stub::List, FilePath(store.app, o.dir), &resp)) return rc;
  for (const auto& e : resp.entries()) {
    std::string name = e.path().substr(e.path().rfind('/') + 1);
    if (e.is_dir()) std::printf("%12s  %s/\n", "-", Printable(name).c_str());
    else std::printf("%12" PRIu64 "  %s\n", static_cast<uint64_t>(e.size()), Printable(name).c_str());
  }
  return 0;
}

int FilesPut(const Context& ctx, const FilesStoreOptions& store, const FilesPutOptions& o) {
  const std::string& src = o.local_path;
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
  chunk.mutable_store()->set_app(store.app);
  chunk.set_path(o.app_path);
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
}

int FilesGet(const Context& ctx, const FilesStoreOptions& store, const FilesGetOptions& o) {
  const std::string& dst = o.local_path;
  auto stub = Connect<sv1::Files>(ctx);
  if (!stub.ok()) return Fail(stub.status());
  grpc::ClientContext c;
  auto reader = (*stub)->Get(&c, FilePath(store.app, o.app_path));
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
}

int FilesRemove(const Context& ctx, const FilesStoreOptions& store, const FilesRemoveOptions& o) {
  sv1::FileDeleteResponse resp;
  return Unary(ctx, &sv1::Files::Stub::Delete, FilePath(store.app, o.path), &resp);
}

int FilesMove(const Context& ctx, const FilesStoreOptions& store, const FilesMoveOptions& o) {
  sv1::FileMoveRequest req;
  req.mutable_store()->set_app(store.app);
  req.set_from(o.from);
  req.set_to(o.to);
  sv1::FileInfo resp;
  return Unary(ctx, &sv1::Files::Stub::Move, req, &resp);
}

}  // namespace

void AddStorageCommands(CLI::App& app, Context& ctx) {
  // The parent's arguments (APP, --db) are one object that its subcommands share.
  auto* kv = app.add_subcommand("kv", "Read and write an app's key-value databases (LMDB)");
  kv->require_subcommand(1);
  auto kv_store = std::make_shared<KvStoreOptions>();
  kv_store->Bind(kv);
  AddCommand<KvGetOptions>(*kv, "get", "Print the value of KEY (exit 1 if absent)",
                           [&ctx, kv_store](KvGetOptions& o) { return KvGet(ctx, *kv_store, o); });
  AddCommand<KvPutOptions>(*kv, "put", "Set KEY to VALUE ('-' reads the value from stdin)",
                           [&ctx, kv_store](KvPutOptions& o) {
                             return KvWriteOne(ctx, *kv_store, sv1::KvOp::PUT, o.key, ReadArg(o.value));
                           });
  AddCommand<KvDelOptions>(*kv, "del", "Delete KEY (no error if absent)",
                           [&ctx, kv_store](KvDelOptions& o) {
                             return KvWriteOne(ctx, *kv_store, sv1::KvOp::DELETE, o.key, "");
                           });
  AddCommand<KvScanOptions>(*kv, "scan", "List keys and values in order, as KEY<TAB>VALUE lines",
                            [&ctx, kv_store](KvScanOptions& o) { return KvScan(ctx, *kv_store, o); });
  AddCommand(*kv, "dbs", "List the app's key-value databases", [&ctx, kv_store] { return KvDbs(ctx, *kv_store); });

  AddCommand<SqlOptions>(app, "sql", "Run SQL on an app's database (SQLite; created on first use) and print the rows",
                         [&ctx](SqlOptions& o) { return Sql(ctx, o); });

  auto* files = app.add_subcommand("files", "List, copy in, copy out and remove an app's files");
  files->require_subcommand(1);
  auto files_store = std::make_shared<FilesStoreOptions>();
  files_store->Bind(files);
  AddCommand<FilesListOptions>(*files, "ls", "List a folder of the app's files (default: the top)",
                               [&ctx, files_store](FilesListOptions& o) { return FilesList(ctx, *files_store, o); });
  AddCommand<FilesPutOptions>(*files, "put", "Copy LOCAL_PATH ('-' = stdin) to APP_PATH, replacing it whole",
                              [&ctx, files_store](FilesPutOptions& o) { return FilesPut(ctx, *files_store, o); });
  AddCommand<FilesGetOptions>(*files, "get", "Copy APP_PATH to LOCAL_PATH ('-' = stdout)",
                              [&ctx, files_store](FilesGetOptions& o) { return FilesGet(ctx, *files_store, o); });
  AddCommand<FilesRemoveOptions>(
      *files, "rm", "Remove a file or an empty folder of the app",
      [&ctx, files_store](FilesRemoveOptions& o) { return FilesRemove(ctx, *files_store, o); });
  AddCommand<FilesMoveOptions>(*files, "mv", "Rename a file or folder of the app",
                               [&ctx, files_store](FilesMoveOptions& o) { return FilesMove(ctx, *files_store, o); });
}

}  // namespace mumba::cli
