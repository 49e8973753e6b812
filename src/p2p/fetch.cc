// SPDX-License-Identifier: Apache-2.0
// P2pNodeImpl::Fetch in named steps: the torrent is added by its info-hashes into
// a private staging folder, watched until every piece is verified and written,
// taken out of the session, and its folder renamed into place. Any failure
// removes the staging folder, so `dest` never holds a partial download. A fetch
// that reuses an earlier version first gets only the metadata, then places the
// reused files and adds the torrent again (see RestartWithReused).
#include <algorithm>
#include <cstdio>
#include <system_error>

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/torrent_info.hpp>

#include "common/files.h"
#include "p2p/format.h"
#include "p2p/p2p_node_impl.h"
#include "p2p/reuse.h"

namespace mumba::p2p {
namespace {

namespace fs = std::filesystem;

// How often the caller hears of progress (and the download's status is read).
constexpr auto kProgressInterval = std::chrono::milliseconds(200);
// A downloader with no peers (or none that sent the metadata) asks the DHT
// again after 250 ms (its first lookup may have raced the seed's announce), then
// backs off to every 4 s (a lookup in the public DHT takes seconds).
constexpr auto kFirstReannounce = std::chrono::milliseconds(250);
constexpr auto kMaxReannounce = std::chrono::milliseconds(4000);

// The info-hashes given in hex, at least one of them. INVALID_ARGUMENT otherwise.
Expected<lt::info_hash_t> ParseInfoHashes(const std::string& v1, const std::string& v2) {
  lt::info_hash_t ih;
  if (!v1.empty() && !FromHex(v1, 20, ih.v1.data())) {
    return InvalidArgument("'" + v1 + "' is not a 40-char hex v1 info-hash");
  }
  if (!v2.empty() && !FromHex(v2, 32, ih.v2.data())) {
    return InvalidArgument("'" + v2 + "' is not a 64-char hex v2 info-hash");
  }
  if (!ih.has_v1() && !ih.has_v2()) return InvalidArgument("no info-hash given");
  return ih;
}

// dest/.mumba-fetch-<hash>-<random>, where libtorrent downloads: dest/<name>
// never holds a partial download, and removing this folder on error cannot touch
// anything that was there before. Removed, with what it holds, on destruction.
class StagingFolder {
 public:
  // Creates `dest` if needed and the staging folder in it; UNAVAILABLE if either fails.
  static Expected<std::unique_ptr<StagingFolder>> Make(const fs::path& dest, const std::string& label) {
    std::error_code ec;
    fs::create_directories(dest, ec);
    if (ec) return Unavailable("cannot create " + dest.string() + ": " + ec.message());
    fs::path path = dest / (".mumba-fetch-" + label.substr(0, 16) + "-" + RandomSuffix());
    fs::create_directory(path, ec);
    if (ec) return Unavailable("cannot create " + path.string() + ": " + ec.message());
    return std::unique_ptr<StagingFolder>(new StagingFolder(std::move(path)));
  }
  ~StagingFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit StagingFolder(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

// Forces DHT announces of a download that is still looking for peers, first
// after kFirstReannounce, then at doubling gaps up to kMaxReannounce.
class Reannouncer {
 public:
  explicit Reannouncer(Clock::time_point now) : next_(now + gap_) {}
  void AnnounceIfDue(const lt::torrent_handle& h, Clock::time_point now) {
    if (now < next_) return;
    h.force_dht_announce();
    gap_ = std::min<Clock::duration>(gap_ * 2, kMaxReannounce);
    next_ = now + gap_;
  }
  Clock::time_point next() const { return next_; }

 private:
  Clock::duration gap_ = std::chrono::duration_cast<Clock::duration>(kFirstReannounce);
  Clock::time_point next_;
};

// OK, or why the download cannot go on. A corrupt peer can make libtorrent see v1
// and v2 hashes disagree; the torrent is fine, so that error is cleared and the
// download goes on with the honest peers until the deadline.
mumba::Status RecoverOrFail(const lt::torrent_handle& h, const lt::torrent_status& st,
                            const std::string& label) {
  if (!st.errc) return {};
  if (st.errc.message().find("v1 and v2 hashes") == std::string::npos) {
    return Unavailable("fetching " + label + " failed: " + st.errc.message());
  }
  h.clear_error();
  h.resume();
  return {};
}

// DATA_LOSS when the torrent, whose metadata has arrived, holds a symlink.
mumba::Status RefuseSymlinks(const lt::torrent_handle& h, const std::string& label) {
  auto ti = h.torrent_file();
  if (!ti) return {};
  const lt::file_storage& files = ti->files();
  for (lt::file_index_t i : files.file_range()) {
    if (files.file_flags(i) & lt::file_storage::flag_symlink) {
      return DataLoss("torrent " + label + " holds a symlink (" + files.file_path(i) + "); bundles may not");
    }
  }
  return {};
}

FetchProgress ProgressOf(const lt::torrent_status& st, uint64_t downloaded_before) {
  FetchProgress p;
  p.downloaded = downloaded_before + static_cast<uint64_t>(std::max<int64_t>(0, st.total_payload_download));
  p.total = st.has_metadata ? static_cast<uint64_t>(st.total_wanted) : 0;
  p.done = static_cast<uint64_t>(st.total_wanted_done);
  p.peers = st.num_peers;
  p.rate = st.download_payload_rate;
  return p;
}

// total_wanted_done counts only pieces that passed their hash check (and, with a
// corrupt peer around, sometimes pad bytes too: it can exceed total_wanted).
// After a cleared error libtorrent may hold every piece and never post
// "finished", so holding them all is complete.
bool IsVerified(const lt::torrent_status& st, const FetchProgress& p) {
  return st.has_metadata && (st.is_finished || (p.total > 0 && p.done >= p.total));
}

mumba::Status TimedOut(const std::string& label, bool has_metadata, const FetchProgress& p,
                       std::chrono::milliseconds timeout) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", std::chrono::duration<double>(timeout).count());
  if (!has_metadata) {
    return DeadlineExceeded("no one served " + label + " within " + std::string(secs) + " s");
  }
  return DeadlineExceeded("fetching " + label + " got " + std::to_string(p.done) + " of " +
                          std::to_string(p.total) + " bytes within " + std::string(secs) + " s");
}

// Renames staging/<name> to dest/<name>. DATA_LOSS for a name that could leave
// `dest`, ALREADY_EXISTS when dest/<name> exists, UNAVAILABLE when renaming fails.
Expected<fs::path> MoveIntoPlace(const fs::path& staging, const fs::path& dest, const std::string& name,
                                 const std::string& label) {
  if (!IsSafeName(name)) return DataLoss("torrent " + label + " has an unusable name '" + name + "'");
  const fs::path target = dest / name;
  std::error_code ec;
  if (fs::exists(fs::symlink_status(target, ec))) return AlreadyExists(target.string() + " already exists");
  fs::rename(staging / name, target, ec);
  if (ec) return Unavailable("cannot move the download to " + target.string() + ": " + ec.message());
  return target;
}

}  // namespace

Expected<fs::path> P2pNodeImpl::Fetch(const std::string& info_hash_v1, const std::string& info_hash_v2,
                                      const fs::path& dest, std::chrono::milliseconds timeout,
                                      const FetchLimits& limits, const ProgressFn& progress) {
  const auto deadline = Now() + timeout;
  MUMBA_ASSIGN_OR_RETURN(lt::info_hash_t ih, ParseInfoHashes(info_hash_v1, info_hash_v2));
  const std::string label = info_hash_v1.empty() ? info_hash_v2 : info_hash_v1;
  for (const auto& key : TorrentKeys(ih)) {
    if (session_->find_torrent(lt::sha1_hash(key.data())).is_valid()) {
      return AlreadyExists("torrent " + label + " is already in this node's session");
    }
  }
  MUMBA_ASSIGN_OR_RETURN(auto staging, StagingFolder::Make(dest, label));
  const bool reuse = !limits.reuse_from.empty();
  MUMBA_ASSIGN_OR_RETURN(Download download, StartDownload(ih, label, staging->path(), limits, reuse));

  FetchProgress last;
  mumba::Status st;
  if (reuse) {
    st = AwaitVerified(download, deadline, timeout, progress, last, /*until_metadata=*/true);
    if (st.ok()) st = RestartWithReused(download, staging->path(), limits, deadline, timeout, progress, last);
  }
  if (st.ok()) st = AwaitVerified(download, deadline, timeout, progress, last, /*until_metadata=*/false);
  if (st.ok()) st = AwaitWritten(download);
  if (!st.ok()) {
    Discard(download);
    return st;
  }
  // Blocks that arrived after the last look (end-game duplicates) count too.
  last.downloaded = ProgressOf(download.handle.status(), download.downloaded_before).downloaded;
  const std::string name = Release(download);
  MUMBA_ASSIGN_OR_RETURN(fs::path target, MoveIntoPlace(staging->path(), dest, name, label));
  // Only the moved folder is left in `dest` by the time the caller hears the
  // fetch is complete.
  staging.reset();
  last.done = last.total;
  if (progress) progress(last);
  return target;
}

Expected<P2pNodeImpl::Download> P2pNodeImpl::StartDownload(const lt::info_hash_t& ih,
                                                           const std::string& label,
                                                           const fs::path& save_path,
                                                           const FetchLimits& limits, bool metadata_only) {
  Download d{ih, label, {}, WatchTorrent(ih, limits, label)};
  lt::add_torrent_params atp;
  atp.info_hashes = ih;
  atp.save_path = save_path.string();
  atp.flags = lt::torrent_flags::duplicate_is_error;
  // Every file not to be downloaded, so no piece is ever requested: the way
  // libtorrent documents to stop a magnet once its metadata is in
  // (torrent_flags.hpp; stop_when_ready fires too early, as fetching metadata
  // already counts as downloading, and pausing on the metadata alert is a race
  // the first blocks win).
  if (metadata_only) atp.flags |= lt::torrent_flags::default_dont_download;
  lt::error_code lec;
  d.handle = session_->add_torrent(std::move(atp), lec);
  if (lec) {
    UnwatchTorrent(ih, d.events);
    return Internal("cannot add torrent " + label + ": " + lec.message());
  }
  d.handle.force_dht_announce();
  return d;
}

mumba::Status P2pNodeImpl::RestartWithReused(Download& d, const fs::path& save_path, const FetchLimits& limits,
                                             Clock::time_point deadline, std::chrono::milliseconds timeout,
                                             const ProgressFn& progress, FetchProgress& last) {
  // Why remove and add again rather than copy the files in and force_recheck
  // the same torrent: a torrent added with its info and no resume data whose
  // files exist is checked in full before it downloads (libtorrent 2.0.8 sees
  // files and asks for a full check); while checking, it makes no outgoing
  // connection (only downloading states want peers) and refuses incoming ones
  // (torrent::attach_peer, "torrent not ready"), and pieces are requested only
  // after the check. So no block lands before the copies are hashed, and the
  // first torrent requested none (default_dont_download): the staging folder
  // holds only what PlaceReusedFiles put there.
  // Copies, not hard links: libtorrent opens every wanted file for writing as
  // it sets up the storage (mmap_storage::initialize), before any check, and
  // downloads into a reused file whose bytes fail the check, so a link would
  // let it write into the earlier version.
  std::shared_ptr<lt::torrent_info> ti = d.handle.torrent_file_with_hashes();
  if (!ti) return Internal("fetching " + d.label + ": the metadata went missing");
  lt::torrent_status st = d.handle.status();
  d.downloaded_before += static_cast<uint64_t>(std::max<int64_t>(0, st.total_payload_download));
  // The peers the first torrent knew are handed to the new one, which would
  // otherwise wait for the DHT to name them again (seconds on the public DHT).
  // They are read from its resume data: by now the seeders are disconnected,
  // as a torrent that wants no file is finished, but still in its peer list.
  std::vector<lt::tcp::endpoint> peers;
  d.handle.save_resume_data();
  {
    std::unique_lock lock(mu_);
    if (WaitFor(lock, kRemoveTimeout, [&] { return d.events->known_peers.has_value(); })) {
      peers = *d.events->known_peers;
    }
  }
  RemoveAndWait(d.handle, d.events, /*delete_files=*/false);
  UnwatchTorrent(d.ih, d.events);
  d.handle = {};  // Discard has nothing left to remove until it is added again.

  // The caller keeps hearing of progress while the files are copied, and its
  // deadline and cancel still hold.
  last = FetchProgress{};
  for (lt::file_index_t i : ti->files().file_range()) {
    if (!ti->files().pad_file_at(i)) last.total += static_cast<uint64_t>(ti->files().file_size(i));
  }
  last.downloaded = d.downloaded_before;
  auto next_report = Now();
  bool cancelled = false;
  Reused reused = PlaceReusedFiles(*ti, limits.reuse_from, save_path, [&] {
    const auto now = Now();
    if (now >= deadline) return false;
    if (progress && now >= next_report) {
      next_report = now + kProgressInterval;
      cancelled = !progress(last);
    }
    return !cancelled;
  });
  if (cancelled) return mumba::Status(Code::kCancelled, "fetching " + d.label + " was cancelled");
  if (reused.stopped) return TimedOut(d.label, /*has_metadata=*/true, last, timeout);

  d.events = WatchTorrent(d.ih, limits, d.label);
  lt::add_torrent_params atp;
  atp.ti = std::move(ti);
  atp.save_path = save_path.string();
  atp.flags = lt::torrent_flags::duplicate_is_error;
  atp.peers = std::move(peers);
  lt::error_code lec;
  d.handle = session_->add_torrent(std::move(atp), lec);
  if (lec) return Internal("cannot add torrent " + d.label + " again: " + lec.message());
  return {};
}

mumba::Status P2pNodeImpl::AwaitVerified(Download& d, Clock::time_point deadline,
                                         std::chrono::milliseconds timeout, const ProgressFn& progress,
                                         FetchProgress& last, bool until_metadata) {
  bool checked_files = false;
  // libtorrent ignores a DHT announce forced while the torrent's files are
  // being checked, which for a torrent added with reused files lasts as long as
  // hashing them: announce once more as soon as the check is over.
  bool announced_checked = false, checked = false;
  Reannouncer reannounce(Now());
  while (true) {
    lt::torrent_status st = d.handle.status();
    MUMBA_TRY(RecoverOrFail(d.handle, st, d.label));
    if (st.has_metadata && !checked_files) {
      checked_files = true;
      MUMBA_TRY(RefuseSymlinks(d.handle, d.label));
      // The alert thread has usually paused such a torrent already; this is
      // the answer the caller gets either way.
      auto ti = d.handle.torrent_file();
      if (ti) MUMBA_TRY(CheckTorrentLimits(*ti, d.label, *d.events->limits));
    }
    if (until_metadata && st.has_metadata) return {};
    if (checked && !announced_checked) {
      d.handle.force_dht_announce();
      announced_checked = true;
    }
    last = ProgressOf(st, d.downloaded_before);
    if (IsVerified(st, last)) return {};
    if (last.total > 0) last.done = std::min(last.done, last.total);
    if (progress && !progress(last)) {
      return mumba::Status(Code::kCancelled, "fetching " + d.label + " was cancelled");
    }
    auto now = Now();
    if (now >= deadline) return TimedOut(d.label, st.has_metadata, last, timeout);
    const bool searching = st.num_peers == 0 || !st.has_metadata;
    if (searching) reannounce.AnnounceIfDue(d.handle, now);
    auto wake = std::min(deadline, now + kProgressInterval);
    if (searching) wake = std::min(wake, reannounce.next());
    std::unique_lock lock(mu_);
    // A reusing fetch goes on the moment its metadata is in, while the peer
    // that sent it is still connected (it leaves once the torrent, wanting no
    // file, counts as finished).
    WaitUntil(lock, wake, [&] {
      return d.events->finished || d.events->refused.has_value() || (d.events->checked && !announced_checked) ||
             (until_metadata && d.events->metadata);
    });
    checked = d.events->checked;
  }
}

mumba::Status P2pNodeImpl::AwaitWritten(Download& d) {
  // "Finished" means every piece passed its hash check, which libtorrent does
  // from memory: some writes may still be queued. Moving the folder before they
  // land loses them (libtorrent then writes into a re-created staging path).
  d.handle.flush_cache();
  std::unique_lock lock(mu_);
  if (!WaitFor(lock, kRemoveTimeout, [&] { return d.events->flushed; })) {
    return Unavailable("fetching " + d.label + ": the download was not written out in time");
  }
  return {};
}

void P2pNodeImpl::Discard(Download& d) {
  // Invalid only between the two torrents of a reusing fetch, when the first
  // is gone from the session and was unwatched already.
  if (!d.handle.is_valid()) return;
  RemoveAndWait(d.handle, d.events, /*delete_files=*/true);
  UnwatchTorrent(d.ih, d.events);
}

std::string P2pNodeImpl::Release(Download& d) {
  auto ti = d.handle.torrent_file();
  std::string name = ti ? ti->name() : std::string();
  RemoveAndWait(d.handle, d.events, /*delete_files=*/false);
  UnwatchTorrent(d.ih, d.events);
  return name;
}

}  // namespace mumba::p2p
