// SPDX-License-Identifier: Apache-2.0
// The storage handles of include/mumba/storage.h: each call is one request to the
// host's mumba.storage.v1 API over the app's shared connection.
#include "mumba/storage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "common/unix_channel.h"
#include "host_connection.h"

namespace mumba {
namespace sdk_internal {

namespace {
constexpr char kNoHost[] = "storage needs the host: run this app with `mumba start`";
}

std::shared_ptr<const HostConnection> HostConnection::Connect(const std::string& socket) {
  auto c = std::make_shared<HostConnection>();
  c->socket = socket;
  if (socket.empty()) return c;
  // The host may restart: back quickly once its socket answers again. As large
  // as the host accepts: a KV value may be 16 MiB.
  c->channel = UnixChannel(socket, 20, 200, 32 << 20);
  c->kv = mumba::storage::v1::Kv::NewStub(c->channel);
  c->sql = mumba::storage::v1::Sql::NewStub(c->channel);
  c->files = mumba::storage::v1::Files::NewStub(c->channel);
  c->events = mumba::ui::v1::Events::NewStub(c->channel);
  c->automation = mumba::ui::v1::Automation::NewStub(c->channel);
  return c;
}

Status HostConnection::Usable() const {
  if (!channel) return Unavailable(kNoHost);
  return Status();
}

Status HostConnection::FromGrpc(const grpc::Status& s) const {
  if (s.ok()) return Status();
  auto code = static_cast<Code>(s.error_code());
  if (code == Code::kUnavailable) {
    return Unavailable("cannot reach the host at unix:" + socket + ": " + s.error_message());
  }
  return Status(code, s.error_message());
}

}  // namespace sdk_internal

inline namespace storage_v1 {
namespace {

namespace sv1 = mumba::storage::v1;
using sdk_internal::HostConnection;

constexpr size_t kUploadChunk = 256u << 10;

// OK when `host` can take calls; else why not.
Status Ready(const std::shared_ptr<const HostConnection>& host, const char* kind) {
  if (!host) {
    return FailedPrecondition(std::string("empty ") + kind + " handle: get one from mumba::App::" + kind);
  }
  return host->Usable();
}

void SetDeadline(grpc::ClientContext& c) {
  c.set_deadline(std::chrono::system_clock::now() + sdk_internal::kCallTimeout);
}

// Whether a read failed only because the app's own database does not exist yet:
// with no app named the host resolves nothing, so NOT_FOUND can mean nothing else.
bool OwnStoreMissing(const std::string& app, const grpc::Status& s) {
  return app.empty() && s.error_code() == grpc::StatusCode::NOT_FOUND;
}

void Fill(sv1::StoreRef* ref, const std::string& app, const std::string& db) {
  ref->set_app(app);
  ref->set_db(db);
}

Status FromErrno(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR: return NotFound(msg);
    case EACCES:
    case EPERM: return PermissionDenied(msg);
    case ENOSPC:
    case EDQUOT: return ResourceExhausted(msg);
    case EISDIR:
    case EINVAL: return InvalidArgument(msg);
    default: return Internal(msg);
  }
}

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error a deferred write may surface here.
  int Close() {
    int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

Status WriteAll(int fd, const std::string& data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FromErrno(errno, "cannot write " + what);
    }
    done += static_cast<size_t>(n);
  }
  return Status();
}

// ---- SQL values between the SDK and protobuf. ----
void ToProto(const SqlValue& v, sv1::SqlValue* out) {
  if (auto* i = std::get_if<int64_t>(&v)) out->set_integer(*i);
  else if (auto* d = std::get_if<double>(&v)) out->set_real(*d);
  else if (auto* s = std::get_if<std::string>(&v)) out->set_text(*s);
  else if (auto* b = std::get_if<SqlBlob>(&v)) out->set_blob(b->bytes);
  else out->set_null(true);
}

SqlValue FromProto(sv1::SqlValue* v) {
  switch (v->value_case()) {
    case sv1::SqlValue::kInteger: return v->integer();
    case sv1::SqlValue::kReal: return v->real();
    case sv1::SqlValue::kText: return std::move(*v->mutable_text());
    case sv1::SqlValue::kBlob: return SqlBlob{std::move(*v->mutable_blob())};
    default: return nullptr;
  }
}

SqlRow RowFromProto(sv1::SqlRow* row) {
  SqlRow out;
  out.reserve(row->values_size());
  for (auto& v : *row->mutable_values()) out.push_back(FromProto(&v));
  return out;
}

void StatementToProto(std::string sql, std::vector<SqlValue> params, sv1::SqlStatement* out) {
  out->set_sql(std::move(sql));
  for (const auto& p : params) ToProto(p, out->add_params());
}

FileInfo FileFromProto(const sv1::FileInfo& f) {
  return FileInfo{f.path(), f.is_dir(), f.size(), f.modified_ms()};
}

}  // namespace

// ---------------------------------- Kv ----------------------------------

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
  sv1::KvGetRequest req;
  Fill(req.mutable_store(), app_, db_);
  req.set_key(key.data(), key.size());
  grpc::ClientContext c;
  SetDeadline(c);
  sv1::KvGetResponse resp;
  if (auto s = host_->kv->Get(&c, req, &resp); !s.ok()) {
    if (OwnStoreMissing(app_, s)) return std::optional<std::string>();
    return host_->FromGrpc(s);
  }
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
  sv1::KvWriteRequest req;
  Fill(req.mutable_store(), app_, db_);
  for (const auto& op : batch.ops_) {
    auto* o = req.add_ops();
    o->set_kind(op.is_delete ? sv1::KvOp::DELETE : sv1::KvOp::PUT);
    o->set_key(op.key);
    if (!op.is_delete) o->set_value(op.value);
  }
  grpc::ClientContext c;
  SetDeadline(c);
  sv1::KvWriteResponse resp;
  return host_->FromGrpc(host_->kv->Write(&c, req, &resp));
}

Expected<KvPage> Kv::Scan(const KvScanOptions& options) const {
  MUMBA_TRY(Ready(host_, "Kv"));
  sv1::KvScanRequest req;
  Fill(req.mutable_store(), app_, db_);
  req.set_prefix(options.prefix);
  req.set_start(options.start);
  req.set_end(options.end);
  req.set_cursor(options.cursor);
  req.set_limit(options.limit);
  req.set_keys_only(options.keys_only);
  grpc::ClientContext c;
  SetDeadline(c);
  sv1::KvScanResponse resp;
  if (auto s = host_->kv->Scan(&c, req, &resp); !s.ok()) {
    if (OwnStoreMissing(app_, s)) return KvPage{};
    return host_->FromGrpc(s);
  }
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
  sv1::KvWatchRequest req;
  Fill(req.mutable_store(), app_, db_);
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

// ---------------------------------- Sql ----------------------------------

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
  sv1::SqlExecuteRequest req;
  Fill(req.mutable_store(), app_, db_);
  for (auto& s : statements) StatementToProto(std::move(s.sql), std::move(s.params), req.add_statements());
  grpc::ClientContext c;
  SetDeadline(c);
  sv1::SqlExecuteResponse resp;
  if (auto s = host_->sql->Execute(&c, req, &resp); !s.ok()) return host_->FromGrpc(s);
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
  sv1::SqlQueryRequest req;
  Fill(req.mutable_store(), app_, db_);
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

// ---------------------------------- Files ----------------------------------

Files::Files() = default;

Files::Files(std::shared_ptr<const HostConnection> host, std::string app)
    : host_(std::move(host)), app_(std::move(app)) {}

Status Files::Put(std::string_view path, std::string_view data) const {
  MUMBA_TRY(Ready(host_, "Files"));
  grpc::ClientContext c;
  sv1::FileInfo resp;
  auto writer = host_->files->Put(&c, &resp);
  sv1::FilePutChunk chunk;
  Fill(chunk.mutable_store(), app_, "");
  chunk.set_path(path.data(), path.size());
  // One message of at most kUploadChunk bytes each; the first names the file.
  size_t offset = 0;
  do {
    size_t n = std::min(kUploadChunk, data.size() - offset);
    chunk.set_data(data.data() + offset, n);
    offset += n;
    if (!writer->Write(chunk)) break;  // The host stopped early; Finish says why.
    chunk.clear_store();
    chunk.clear_path();
  } while (offset < data.size());
  writer->WritesDone();
  return host_->FromGrpc(writer->Finish());
}

Status Files::PutFile(std::string_view path, const std::filesystem::path& local) const {
  MUMBA_TRY(Ready(host_, "Files"));
  Fd fd(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return FromErrno(errno, "cannot open " + local.string());
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FromErrno(errno, "cannot stat " + local.string());
  if (!S_ISREG(st.st_mode)) return InvalidArgument(local.string() + " is not a regular file");

  grpc::ClientContext c;
  sv1::FileInfo resp;
  auto writer = host_->files->Put(&c, &resp);
  sv1::FilePutChunk chunk;
  Fill(chunk.mutable_store(), app_, "");
  chunk.set_path(path.data(), path.size());
  std::string buffer(kUploadChunk, '\0');
  Status local_error;
  bool first = true;
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      local_error = FromErrno(errno, "cannot read " + local.string());
      break;
    }
    if (n == 0 && !first) break;
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    if (!writer->Write(chunk)) break;
    chunk.clear_store();
    chunk.clear_path();
    first = false;
    if (n == 0) break;
  }
  if (!local_error.ok()) {
    // A cancelled upload must not land: the host keeps the old file.
    c.TryCancel();
    (void)writer->Finish();
    return local_error;
  }
  writer->WritesDone();
  return host_->FromGrpc(writer->Finish());
}

Expected<std::string> Files::Get(std::string_view path) const {
  MUMBA_TRY(Ready(host_, "Files"));
  sv1::FilePathRequest req;
  Fill(req.mutable_store(), app_, "");
  req.set_path(path.data(), path.size());
  grpc::ClientContext c;
  auto reader = host_->files->Get(&c, req);
  std::string out;
  sv1::FileChunk chunk;
  while (reader->Read(&chunk)) out += chunk.data();
  if (auto s = reader->Finish(); !s.ok()) return host_->FromGrpc(s);
  return out;
}

Status Files::GetFile(std::string_view path, const std::filesystem::path& local) const {
  MUMBA_TRY(Ready(host_, "Files"));
  if (local.filename().empty()) return InvalidArgument("'" + local.string() + "' names no file");
  // The temporary file sits beside `local` so the final rename stays in one
  // filesystem, and is created like any new file (mode 0666 less the umask).
  std::filesystem::path temp;
  int raw = -1;
  std::random_device rd;
  for (int attempt = 0; raw < 0; ++attempt) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
    temp = local;
    temp.replace_filename("." + local.filename().string() + ".part-" + suffix);
    raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (raw < 0 && (errno != EEXIST || attempt == 3)) {
      return FromErrno(errno, "cannot create a file beside " + local.string());
    }
  }
  Fd fd(raw);
  auto fail = [&](Status st) {
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    return st;
  };

  sv1::FilePathRequest req;
  Fill(req.mutable_store(), app_, "");
  req.set_path(path.data(), path.size());
  grpc::ClientContext c;
  auto reader = host_->files->Get(&c, req);
  sv1::FileChunk chunk;
  Status local_error;
  while (reader->Read(&chunk)) {
    local_error = WriteAll(fd.get(), chunk.data(), temp.string());
    if (!local_error.ok()) {
      c.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (!local_error.ok()) return fail(local_error);
  if (!s.ok()) return fail(host_->FromGrpc(s));
  if (::fsync(fd.get()) != 0) return fail(FromErrno(errno, "cannot sync " + temp.string()));
  if (fd.Close() != 0) return fail(FromErrno(errno, "cannot write " + temp.string()));
  if (::rename(temp.c_str(), local.c_str()) != 0) {
    return fail(FromErrno(errno, "cannot rename " + temp.string() + " to " + local.string()));
  }
  return Status();
}

Expected<std::vector<FileInfo>> Files::List(std::string_view dir) const {
  MUMBA_TRY(Ready(host_, "Files"));
  sv1::FilePathRequest req;
  Fill(req.mutable_store(), app_, "");
  req.set_path(dir.data(), dir.size());
  grpc::ClientContext c;
  SetDeadline(c);
  sv1::FileListResponse resp;
  if (auto s = host_->files->List(&c, req, &resp); !s.ok()) return host_->FromGrpc(s);
  std::vector<FileInfo> out;
  out.reserve(resp.entries_size());
  for (const auto& e : resp.entries()) out.push_back(FileFromProto(e));
  return out;
}

Expected<FileInfo> Files::Stat(std::string_view path) const {
  MUMBA_TRY(Ready(host_, "Files"));
  sv1::FilePathRequest req;
  Fill(req.mutable_store(), app_, "");
  req.set_path(path.data(), path.size());
  grpc::ClientContext c;
  SetDeadline(c);
  sv1::FileInfo resp;
  if (auto s = host_->files->Stat(&c, req, &resp); !s.ok()) return host_->FromGrpc(s);
  return FileFromProto(resp);
}

Status Files::Delete(std::string_view path) const {
  MUMBA_TRY(Ready(host_, "Files"));
  sv1::FilePathRequest req;
  Fill(req.mutable_store(), app_, "");
  req.set_path(path.data(), path.size());
  grpc::ClientContext c;
  SetDeadline(c);
  sv1::FileDeleteResponse resp;
  return host_->FromGrpc(host_->files->Delete(&c, req, &resp));
}

Status Files::Move(std::string_view from, std::string_view to) const {
  MUMBA_TRY(Ready(host_, "Files"));
  sv1::FileMoveRequest req;
  Fill(req.mutable_store(), app_, "");
  req.set_from(from.data(), from.size());
  req.set_to(to.data(), to.size());
  grpc::ClientContext c;
  SetDeadline(c);
  sv1::FileInfo resp;
  return host_->FromGrpc(host_->files->Move(&c, req, &resp));
}

}  // namespace storage_v1
}  // namespace mumba
