// SPDX-License-Identifier: Apache-2.0
// store-probe: a test app whose routes call the SDK's storage clients, so that the
// integration tests can drive mumba::Kv, mumba::Sql and mumba::Files with
// `mumba route 'store-probe://kv/get?key=a'`.
//
// Every route takes `app=` (another app's name or id: its exported store) and, for
// kv and sql, `db=` (default "main"). Errors answer 400/403/404/409/503/504/507/500
// by the Status code, with the message as the body. Structured answers are JSON.
//
// Run with --check-no-host (and no MUMBA_HOST_SOCKET) it makes one call of each
// kind, prints each Status, and exits 0 only if every call said UNAVAILABLE.
#include <mumba/app.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

using mumba::RouteRequest;
using mumba::RouteResponse;
using mumba::Status;

// ---- Request parsing. ----

std::string UrlDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// Every value of query parameter `name`, in order (RouteRequest::Param gives the first).
std::vector<std::string> Params(const RouteRequest& r, std::string_view name) {
  std::vector<std::string> out;
  std::string_view q = r.query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    auto eq = pair.find('=');
    if (UrlDecode(pair.substr(0, eq)) == name) {
      out.push_back(eq == std::string_view::npos ? "" : UrlDecode(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

int IntParam(const RouteRequest& r, std::string_view name, int fallback) {
  std::string v = r.Param(name);
  return v.empty() ? fallback : std::stoi(v);
}

std::string DbOf(const RouteRequest& r) {
  std::string db = r.Param("db");
  return db.empty() ? "main" : db;
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// A typed SQL parameter: "i:42", "r:1.5", "t:text", "b:<hex>" or "null".
mumba::SqlValue ParseValue(const std::string& p) {
  if (p == "null") return nullptr;
  std::string v = p.size() >= 2 ? p.substr(2) : "";
  switch (p.empty() ? 't' : p[0]) {
    case 'i': return static_cast<int64_t>(std::stoll(v));
    case 'r': return std::stod(v);
    case 'b': return mumba::SqlBlob{FromHex(v)};
    default: return v;
  }
}

std::vector<mumba::SqlValue> SqlParams(const RouteRequest& r) {
  std::vector<mumba::SqlValue> out;
  for (const auto& p : Params(r, "p")) out.push_back(ParseValue(p));
  return out;
}

// ---- Answers. ----

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string Hex(const std::string& bytes) {
  std::string out;
  char buf[4];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

// Integers as numbers, reals as {"real": x} (so 2.0 stays a real), blobs as
// {"blob": "<hex>"}.
std::string JsonValue(const mumba::SqlValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    return std::string("{\"real\":") + buf + "}";
  }
  if (auto* s = std::get_if<std::string>(&v)) return JsonString(*s);
  if (auto* b = std::get_if<mumba::SqlBlob>(&v)) return "{\"blob\":" + JsonString(Hex(b->bytes)) + "}";
  return "null";
}

std::string Json(const mumba::SqlRow& row) {
  std::string out = "[";
  for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + JsonValue(row[i]);
  return out + "]";
}

std::string Json(const mumba::SqlResult& r) {
  std::string out = "{\"columns\":[";
  for (size_t i = 0; i < r.columns.size(); ++i) out += (i ? "," : "") + JsonString(r.columns[i]);
  out += "],\"rows\":[";
  for (size_t i = 0; i < r.rows.size(); ++i) out += (i ? "," : "") + Json(r.rows[i]);
  return out + "],\"changes\":" + std::to_string(r.changes) +
         ",\"last_insert_rowid\":" + std::to_string(r.last_insert_rowid) + "}";
}

std::string Json(const mumba::FileInfo& f) {
  return "{\"path\":" + JsonString(f.path) + ",\"is_dir\":" + (f.is_dir ? "true" : "false") +
         ",\"size\":" + std::to_string(f.size) + ",\"modified_ms\":" + std::to_string(f.modified_ms) + "}";
}

const char* CodeName(mumba::Code code) {
  static const char* const kNames[] = {
      "OK",      "CANCELLED",          "UNKNOWN",         "INVALID_ARGUMENT",    "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS",   "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE",       "UNIMPLEMENTED",   "INTERNAL",            "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  auto i = static_cast<size_t>(code);
  return i < std::size(kNames) ? kNames[i] : "?";
}

int HttpStatus(mumba::Code code) {
  switch (code) {
    case mumba::Code::kInvalidArgument:
    case mumba::Code::kFailedPrecondition:
    case mumba::Code::kOutOfRange: return 400;
    case mumba::Code::kPermissionDenied: return 403;
    case mumba::Code::kNotFound: return 404;
    case mumba::Code::kAlreadyExists: return 409;
    case mumba::Code::kResourceExhausted: return 507;
    case mumba::Code::kUnavailable: return 503;
    case mumba::Code::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

RouteResponse Error(const Status& st) { return RouteResponse::Text(st.message(), HttpStatus(st.code())); }
RouteResponse Done(const Status& st) { return st.ok() ? RouteResponse::Text("ok") : Error(st); }

// ---- Routes. ----

void AddKvRoutes(mumba::App& app) {
  auto kv_of = [&app](const RouteRequest& r) { return app.Kv(DbOf(r), r.Param("app")); };

  app.Route("*", "/kv/get", [kv_of](const RouteRequest& r) {
    auto v = kv_of(r).Get(r.Param("key"));
    if (!v.ok()) return Error(v.status());
    if (!v->has_value()) return RouteResponse::Text("no key '" + r.Param("key") + "'", 404);
    return RouteResponse::Text(**v);
  });
  app.Route("*", "/kv/put", [kv_of](const RouteRequest& r) { return Done(kv_of(r).Put(r.Param("key"), r.body)); });
  app.Route("*", "/kv/delete", [kv_of](const RouteRequest& r) { return Done(kv_of(r).Delete(r.Param("key"))); });

  // Body: one operation a line, "put<TAB>KEY<TAB>VALUE" or "del<TAB>KEY".
  app.Route("*", "/kv/batch", [kv_of](const RouteRequest& r) {
    mumba::KvBatch batch;
    size_t start = 0;
    while (start < r.body.size()) {
      size_t end = r.body.find('\n', start);
      if (end == std::string::npos) end = r.body.size();
      std::string line = r.body.substr(start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      auto t1 = line.find('\t');
      std::string op = line.substr(0, t1);
      std::string rest = t1 == std::string::npos ? "" : line.substr(t1 + 1);
      if (op == "put") {
        auto t2 = rest.find('\t');
        batch.Put(rest.substr(0, t2), t2 == std::string::npos ? "" : rest.substr(t2 + 1));
      } else if (op == "del") {
        batch.Delete(rest);
      } else {
        return RouteResponse::Text("bad batch line: " + line, 400);
      }
    }
    return Done(kv_of(r).Write(batch));
  });

  app.Route("*", "/kv/scan", [kv_of](const RouteRequest& r) {
    mumba::KvScanOptions o;
    o.prefix = r.Param("prefix");
    o.start = r.Param("start");
    o.end = r.Param("end");
    o.cursor = r.Param("cursor");
    o.limit = static_cast<uint32_t>(IntParam(r, "limit", 0));
    o.keys_only = r.Param("keys_only") == "1";
    auto page = kv_of(r).Scan(o);
    if (!page.ok()) return Error(page.status());
    std::string out = "{\"entries\":[";
    for (size_t i = 0; i < page->entries.size(); ++i) {
      out += (i ? ",[" : "[") + JsonString(page->entries[i].key) + "," + JsonString(page->entries[i].value) + "]";
    }
    return RouteResponse::Json(out + "],\"next_cursor\":" + JsonString(page->next_cursor) + "}");
  });

  // Watches `prefix` and answers with the first `n` changes, or those seen within
  // `timeout_ms`. Once the watch is in place it puts `ready_key` = "1" in this
  // app's own "main" database, so a test knows when to start writing.
  app.Route("*", "/kv/watch", [&app, kv_of](const RouteRequest& r) {
    size_t n = static_cast<size_t>(IntParam(r, "n", 1));
    int timeout_ms = std::min(IntParam(r, "timeout_ms", 5000), 30000);
    std::mutex mu;
    std::condition_variable cv;
    std::vector<mumba::KvChange> seen;
    auto watch = kv_of(r).Watch(r.Param("prefix"), [&](const mumba::KvChange& c) {
      std::lock_guard lock(mu);
      seen.push_back(c);
      cv.notify_all();
    });
    if (!watch.ok()) return Error(watch.status());
    if (std::string ready = r.Param("ready_key"); !ready.empty()) {
      if (Status st = app.Kv().Put(ready, "1"); !st.ok()) return Error(st);
    }
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return seen.size() >= n; });
    }
    Status ended = (*watch)->status();
    watch->reset();  // The callback runs no more, so `seen` is ours.
    std::string out = "{\"changes\":[";
    for (size_t i = 0; i < seen.size(); ++i) {
      const auto& c = seen[i];
      out += std::string(i ? "," : "") + "{\"kind\":" +
             (c.kind == mumba::KvChange::Kind::kPut ? "\"put\"" : "\"delete\"") + ",\"key\":" + JsonString(c.key) +
             ",\"value\":" + JsonString(c.value) + ",\"sequence\":" + std::to_string(c.sequence) + "}";
    }
    return RouteResponse::Json(out + "],\"status\":" + JsonString(ended.ok() ? "OK" : ended.message()) + "}");
  });
}

void AddSqlRoutes(mumba::App& app) {
  auto sql_of = [&app](const RouteRequest& r) { return app.Sql(DbOf(r), r.Param("app")); };

  // Body: one statement; parameters as repeated p= (see ParseValue).
  app.Route("*", "/sql/exec", [sql_of](const RouteRequest& r) {
    auto result = sql_of(r).Execute(r.body, SqlParams(r));
    if (!result.ok()) return Error(result.status());
    return RouteResponse::Json(Json(*result));
  });

  // Body: one statement a line, all in one transaction.
  app.Route("*", "/sql/tx", [sql_of](const RouteRequest& r) {
    std::vector<mumba::SqlStatement> statements;
    size_t start = 0;
    while (start < r.body.size()) {
      size_t end = r.body.find('\n', start);
      if (end == std::string::npos) end = r.body.size();
      if (end > start) statements.push_back({r.body.substr(start, end - start), {}});
      start = end + 1;
    }
    auto results = sql_of(r).Transaction(std::move(statements));
    if (!results.ok()) return Error(results.status());
    std::string out = "[";
    for (size_t i = 0; i < results->size(); ++i) out += (i ? "," : "") + Json((*results)[i]);
    return RouteResponse::Json(out + "]");
  });

  // Body: one read-only statement; rows stream in. With stop_after=N the callback
  // asks to stop after N rows.
  app.Route("*", "/sql/query", [sql_of](const RouteRequest& r) {
    int stop_after = IntParam(r, "stop_after", -1);
    std::string rows;
    int count = 0;
    Status st = sql_of(r).Query(r.body, SqlParams(r), [&](const mumba::SqlRow& row) {
      rows += (count ? "," : "") + Json(row);
      ++count;
      return stop_after < 0 || count < stop_after;
    });
    if (!st.ok()) return Error(st);
    return RouteResponse::Json("{\"rows\":[" + rows + "],\"count\":" + std::to_string(count) + "}");
  });
}

void AddFilesRoutes(mumba::App& app) {
  auto files_of = [&app](const RouteRequest& r) { return app.Files(r.Param("app")); };

  app.Route("*", "/files/put", [files_of](const RouteRequest& r) {
    return Done(files_of(r).Put(r.Param("path"), r.body));
  });
  app.Route("*", "/files/get", [files_of](const RouteRequest& r) {
    auto data = files_of(r).Get(r.Param("path"));
    return data.ok() ? RouteResponse::Text(std::move(*data)) : Error(data.status());
  });
  app.Route("*", "/files/putlocal", [files_of](const RouteRequest& r) {
    return Done(files_of(r).PutFile(r.Param("path"), r.Param("local")));
  });
  app.Route("*", "/files/getlocal", [files_of](const RouteRequest& r) {
    return Done(files_of(r).GetFile(r.Param("path"), r.Param("local")));
  });
  app.Route("*", "/files/ls", [files_of](const RouteRequest& r) {
    auto entries = files_of(r).List(r.Param("dir"));
    if (!entries.ok()) return Error(entries.status());
    std::string out = "[";
    for (size_t i = 0; i < entries->size(); ++i) out += (i ? "," : "") + Json((*entries)[i]);
    return RouteResponse::Json(out + "]");
  });
  app.Route("*", "/files/stat", [files_of](const RouteRequest& r) {
    auto info = files_of(r).Stat(r.Param("path"));
    return info.ok() ? RouteResponse::Json(Json(*info)) : Error(info.status());
  });
  app.Route("*", "/files/delete", [files_of](const RouteRequest& r) {
    return Done(files_of(r).Delete(r.Param("path")));
  });
  app.Route("*", "/files/move", [files_of](const RouteRequest& r) {
    return Done(files_of(r).Move(r.Param("from"), r.Param("to")));
  });
}

// Shares and follows through the SDK (test_shares.py): each answers JSON, or the
// error's message with its HTTP-like status.
mumba::StoreKind KindOf(const std::string& kind) {
  if (kind == "kv") return mumba::StoreKind::kKv;
  if (kind == "files") return mumba::StoreKind::kFiles;
  return mumba::StoreKind::kSql;
}

std::string Json(const mumba::ShareInfo& s) {
  return "{\"address\":" + JsonString(s.address) + ",\"seq\":" + std::to_string(s.seq) +
         ",\"bytes\":" + std::to_string(s.bytes) + ",\"new_bytes\":" + std::to_string(s.new_bytes) + "}";
}

std::string Json(const mumba::FollowInfo& f) {
  return "{\"address\":" + JsonString(f.address) + ",\"seq\":" + std::to_string(f.seq) +
         ",\"db\":" + JsonString(f.db) + ",\"error\":" + JsonString(f.error) + "}";
}

void AddShareRoutes(mumba::App& app) {
  app.Route("*", "/share/share", [&app](const RouteRequest& r) {
    auto s = app.Share(KindOf(r.Param("kind")), DbOf(r));
    return s.ok() ? RouteResponse::Json(Json(*s)) : Error(s.status());
  });
  app.Route("*", "/share/unshare", [&app](const RouteRequest& r) {
    return Done(app.Unshare(KindOf(r.Param("kind")), DbOf(r)));
  });
  app.Route("*", "/share/follow", [&app](const RouteRequest& r) {
    auto f = app.Follow(r.Param("address"));
    return f.ok() ? RouteResponse::Json(Json(*f)) : Error(f.status());
  });
  app.Route("*", "/share/unfollow", [&app](const RouteRequest& r) { return Done(app.Unfollow(r.Param("address"))); });
  app.Route("*", "/share/follows", [&app](const RouteRequest&) {
    auto all = app.Follows();
    if (!all.ok()) return Error(all.status());
    std::string out = "[";
    for (const auto& f : *all) out += (out.size() > 1 ? "," : "") + Json(f);
    return RouteResponse::Json(out + "]");
  });
}

// Every kind of call, made without the host: each must say UNAVAILABLE.
int CheckNoHost(mumba::App& app) {
  std::vector<Status> results;
  results.push_back(app.Kv().Put("k", "v"));
  results.push_back(app.Kv().Get("k").status());
  results.push_back(app.Kv().Watch("", [](const mumba::KvChange&) {}).status());
  results.push_back(app.Sql().Execute("SELECT 1").status());
  results.push_back(app.Sql().Query("SELECT 1", {}, [](const mumba::SqlRow&) { return true; }));
  results.push_back(app.Files().Put("a.txt", "data"));
  results.push_back(app.Files().List().status());
  bool all = true;
  for (const auto& st : results) {
    std::printf("%s: %s\n", CodeName(st.code()), st.message().c_str());
    all = all && st.code() == mumba::Code::kUnavailable;
  }
  return all ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--check-no-host") == 0) return CheckNoHost(app);
  }
  AddKvRoutes(app);
  AddSqlRoutes(app);
  AddFilesRoutes(app);
  AddShareRoutes(app);
  return app.Run();
}
