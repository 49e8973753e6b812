// SPDX-License-Identifier: Apache-2.0
#include "p2p/torrent_maker.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include <libtorrent/create_torrent.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/file_storage.hpp>

#include "p2p/format.h"

namespace mumba::p2p {
namespace {

namespace fs = std::filesystem;

// A temporary folder holding one symlink `name` -> `dir`, so that libtorrent,
// which reads a torrent's files at <path>/<name>/..., hashes them in place
// whatever `dir` is called. Removed on destruction.
class NameAlias {
 public:
  static Expected<std::unique_ptr<NameAlias>> Make(const fs::path& dir, const std::string& name) {
    std::string tmpl = (fs::temp_directory_path() / "mumba-seed-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return Unavailable("cannot create a temporary folder: " + std::string(std::strerror(errno)));
    }
    auto alias = std::unique_ptr<NameAlias>(new NameAlias(tmpl));
    std::error_code ec;
    fs::create_directory_symlink(fs::absolute(dir), alias->root_ / name, ec);
    if (ec) return Unavailable("cannot link " + dir.string() + ": " + ec.message());
    return alias;
  }
  ~NameAlias() {
    std::error_code ec;
    fs::remove_all(root_, ec);  // Removes the link, never what it points at.
  }
  const fs::path& root() const { return root_; }

 private:
  explicit NameAlias(fs::path root) : root_(std::move(root)) {}
  fs::path root_;
};

// The bencoded torrent of `files` under `name`, hashed from `root`.
Expected<std::vector<char>> GenerateTorrent(const fs::path& dir, const fs::path& root,
                                            const std::string& name, const std::vector<FileEntry>& files,
                                            uint64_t total) {
  lt::file_storage storage;
  for (const auto& f : files) {
    // No mtime, so the same contents always give the same info-hashes.
    storage.add_file(name + "/" + f.rel, static_cast<std::int64_t>(f.size),
                     f.executable ? lt::file_storage::flag_executable : lt::file_flags_t{});
  }
  // Default flags: hybrid v1+v2, files piece-aligned with pad files (libtorrent
  // 2.0.8 also pads the last file, as BEP 47 says; 2.0.7 did not, so its hashes
  // of the same files differ).
  lt::create_torrent creator(storage, PieceSizeFor(total));
  creator.set_creation_date(0);
  {
    MUMBA_ASSIGN_OR_RETURN(auto alias, NameAlias::Make(root, name));
    lt::error_code lec;
    lt::set_piece_hashes(creator, alias->root().string(), lec);
    if (lec) return Unavailable("cannot hash " + dir.string() + ": " + lec.message());
  }
  try {
    return creator.generate_buf();
  } catch (const std::system_error& e) {
    return Internal("cannot make a torrent of " + dir.string() + ": " + e.what());
  }
}

}  // namespace

Expected<std::vector<FileEntry>> ListFiles(const fs::path& dir) {
  std::vector<FileEntry> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return InvalidArgument("cannot read " + dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Unavailable("cannot read " + dir.string() + ": " + ec.message());
    fs::file_status st = it->symlink_status(ec);
    if (ec) return Unavailable("cannot stat " + it->path().string() + ": " + ec.message());
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (fs::is_directory(st)) continue;
    if (fs::is_symlink(st)) {
      return InvalidArgument("'" + rel + "' is a symlink; a shared folder holds only files and folders");
    }
    if (!fs::is_regular_file(st)) {
      return InvalidArgument("'" + rel + "' is not a regular file");
    }
    uint64_t size = it->file_size(ec);
    if (ec) return Unavailable("cannot stat " + it->path().string() + ": " + ec.message());
    bool exec = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
    files.push_back({rel, size, exec});
  }
  std::sort(files.begin(), files.end(), [](const FileEntry& a, const FileEntry& b) { return a.rel < b.rel; });
  return files;
}

Expected<MadeTorrent> MakeHybridTorrent(const fs::path& dir, const std::string& name) {
  if (!IsSafeName(name)) return InvalidArgument("'" + name + "' is not a valid torrent name");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return InvalidArgument(dir.string() + " is not a folder");
  MadeTorrent made;
  made.root = fs::absolute(dir).lexically_normal();
  MUMBA_ASSIGN_OR_RETURN(auto files, ListFiles(made.root));
  uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  if (total == 0) return InvalidArgument(dir.string() + " holds no data (torrents need at least one byte)");

  MUMBA_ASSIGN_OR_RETURN(std::vector<char> buf, GenerateTorrent(dir, made.root, name, files, total));
  lt::error_code lec;
  made.info = std::make_shared<lt::torrent_info>(buf, lec, lt::from_span);
  if (lec) return Internal("libtorrent rejected its own torrent: " + lec.message());

  made.ref.info_hash_v1 = HashHex(made.info->info_hashes().v1);
  made.ref.info_hash_v2 = HashHex(made.info->info_hashes().v2);
  made.ref.magnet = MagnetLink(made.ref.info_hash_v1, made.ref.info_hash_v2, name);
  made.ref.total_size = total;
  made.ref.name = name;
  return made;
}

lt::add_torrent_params SeedParams(const MadeTorrent& made) {
  lt::add_torrent_params atp;
  atp.ti = made.info;
  // Files are read where they are: each is renamed to its absolute path under
  // the root, so neither the folder's name nor its parent matters.
  atp.save_path = made.root.string();
  const lt::file_storage& tfs = made.info->files();
  const size_t prefix = made.ref.name.size() + 1;
  for (lt::file_index_t i : tfs.file_range()) {
    if (tfs.pad_file_at(i)) continue;
    std::string path = tfs.file_path(i);  // "<name>/<rel>"
    atp.renamed_files[i] = (made.root / path.substr(prefix)).string();
  }
  // Seed mode trusts the data just hashed (pieces are checked lazily as they
  // are first served). Not auto-managed and not paused: a paused torrent makes
  // the session refuse incoming peers, who then wait 60 s to retry.
  atp.flags = lt::torrent_flags::seed_mode | lt::torrent_flags::duplicate_is_error;
  // Every piece was hashed just now: do not hash it again when first served.
  atp.verified_pieces.resize(made.info->num_pieces(), true);
  return atp;
}

}  // namespace mumba::p2p
