// SPDX-License-Identifier: Apache-2.0
// mumba::Files of include/mumba/storage.h: each call is one request to the host's
// mumba.storage.v1.Files service; uploads and downloads stream in chunks.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "local_file.h"
#include "mumba/storage.h"
#include "storage_client.h"

namespace mumba {
inline namespace storage_v1 {
namespace {

namespace sv1 = mumba::storage::v1;

constexpr size_t kUploadChunk = 256u << 10;

FileInfo FileFromProto(const sv1::FileInfo& f) {
  return FileInfo{f.path(), f.is_dir(), f.size(), f.modified_ms()};
}

// A request about `path` in the file tree of `app`.
sv1::FilePathRequest PathRequest(const std::string& app, std::string_view path) {
  auto req = sdk_internal::StoreRequest<sv1::FilePathRequest>(app, "");
  req.set_path(path.data(), path.size());
  return req;
}

}  // namespace

using sdk_internal::HostConnection;
using sdk_internal::Ready;

Files::Files() = default;

Files::Files(std::shared_ptr<const HostConnection> host, std::string app)
    : host_(std::move(host)), app_(std::move(app)) {}

Status Files::Put(std::string_view path, std::string_view data) const {
  MUMBA_TRY(Ready(host_, "Files"));
  grpc::ClientContext c;
  sv1::FileInfo resp;
  auto writer = host_->files->Put(&c, &resp);
  auto chunk = sdk_internal::StoreRequest<sv1::FilePutChunk>(app_, "");
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
  UniqueFd fd(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open " + local.string());
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "cannot stat " + local.string());
  if (!S_ISREG(st.st_mode)) return InvalidArgument(local.string() + " is not a regular file");

  grpc::ClientContext c;
  sv1::FileInfo resp;
  auto writer = host_->files->Put(&c, &resp);
  auto chunk = sdk_internal::StoreRequest<sv1::FilePutChunk>(app_, "");
  chunk.set_path(path.data(), path.size());
  std::string buffer(kUploadChunk, '\0');
  Status local_error;
  bool first = true;
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      local_error = ErrnoStatus(errno, "cannot read " + local.string());
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
  auto req = PathRequest(app_, path);
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
  MUMBA_ASSIGN_OR_RETURN(int raw, sdk_internal::CreateBeside(local, &temp));
  UniqueFd fd(raw);
  auto fail = [&](Status st) {
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    return st;
  };

  auto req = PathRequest(app_, path);
  grpc::ClientContext c;
  auto reader = host_->files->Get(&c, req);
  sv1::FileChunk chunk;
  Status local_error;
  while (reader->Read(&chunk)) {
    local_error = sdk_internal::WriteAll(fd.get(), chunk.data(), temp.string());
    if (!local_error.ok()) {
      c.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (!local_error.ok()) return fail(local_error);
  if (!s.ok()) return fail(host_->FromGrpc(s));
  if (::fsync(fd.get()) != 0) return fail(ErrnoStatus(errno, "cannot sync " + temp.string()));
  if (fd.Close() != 0) return fail(ErrnoStatus(errno, "cannot write " + temp.string()));
  if (::rename(temp.c_str(), local.c_str()) != 0) {
    return fail(ErrnoStatus(errno, "cannot rename " + temp.string() + " to " + local.string()));
  }
  return Status();
}

Expected<std::vector<FileInfo>> Files::List(std::string_view dir) const {
  MUMBA_TRY(Ready(host_, "Files"));
  sv1::FileListResponse resp;
  MUMBA_TRY(host_->Call(host_->files, &sv1::Files::Stub::List, PathRequest(app_, dir), &resp));
  std::vector<FileInfo> out;
  out.reserve(resp.entries_size());
  for (const auto& e : resp.entries()) out.push_back(FileFromProto(e));
  return out;
}

Expected<FileInfo> Files::Stat(std::string_view path) const {
  MUMBA_TRY(Ready(host_, "Files"));
  sv1::FileInfo resp;
  MUMBA_TRY(host_->Call(host_->files, &sv1::Files::Stub::Stat, PathRequest(app_, path), &resp));
  return FileFromProto(resp);
}

Status Files::Delete(std::string_view path) const {
  MUMBA_TRY(Ready(host_, "Files"));
  sv1::FileDeleteResponse resp;
  return host_->Call(host_->files, &sv1::Files::Stub::Delete, PathRequest(app_, path), &resp);
}

Status Files::Move(std::string_view from, std::string_view to) const {
  MUMBA_TRY(Ready(host_, "Files"));
  auto req = sdk_internal::StoreRequest<sv1::FileMoveRequest>(app_, "");
  req.set_from(from.data(), from.size());
  req.set_to(to.data(), to.size());
  sv1::FileInfo resp;
  return host_->Call(host_->files, &sv1::Files::Stub::Move, req, &resp);
}

}  // namespace storage_v1
}  // namespace mumba
