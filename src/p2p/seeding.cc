// SPDX-License-Identifier: Apache-2.0
// P2pNodeImpl's seeds: a folder made into a hybrid torrent (torrent_maker.h),
// added to the session from where its files are, and announced once libtorrent
// will announce it.
#include <libtorrent/error_code.hpp>

#include "p2p/p2p_node_impl.h"
#include "p2p/torrent_maker.h"

namespace mumba::p2p {
namespace {

// How long a new seed may take to be ready to announce.
constexpr auto kCheckTimeout = std::chrono::seconds(10);

}  // namespace

Expected<TorrentRef> P2pNodeImpl::Seed(const std::filesystem::path& dir, const std::string& name) {
  MUMBA_ASSIGN_OR_RETURN(MadeTorrent made, MakeHybridTorrent(dir, name));
  const TorrentRef& ref = made.ref;
  {
    std::lock_guard lock(mu_);
    if (seeds_.count(ref.info_hash_v1)) return ref;
  }
  const lt::info_hash_t ih = made.info->info_hashes();
  if (session_->find_torrent(ih.v1).is_valid()) {
    return FailedPrecondition("torrent " + ref.info_hash_v1 + " is being fetched by this node");
  }

  auto events = WatchTorrent(ih);
  lt::error_code lec;
  lt::torrent_handle h = session_->add_torrent(SeedParams(made), lec);
  if (!lec) {
    // libtorrent ignores an announce forced before the torrent's files are
    // checked (even in seed mode that is a moment later, and longer under
    // load); the next one it makes on its own is up to 15 minutes away.
    std::unique_lock lock(mu_);
    WaitFor(lock, kCheckTimeout, [&] { return events->checked; });
    lock.unlock();
    h.force_dht_announce();
  }
  UnwatchTorrent(ih, events);
  if (lec == lt::errors::duplicate_torrent) {
    // Another Seed of the same torrent won the race, or a Fetch holds it.
    std::lock_guard lock(mu_);
    if (seeds_.count(ref.info_hash_v1)) return ref;
    return FailedPrecondition("torrent " + ref.info_hash_v1 + " is being fetched by this node");
  }
  if (lec) return Internal("cannot seed " + dir.string() + ": " + lec.message());
  std::lock_guard lock(mu_);
  seeds_[ref.info_hash_v1] = SeedEntry{ref, h};
  return ref;
}

mumba::Status P2pNodeImpl::StopSeeding(const std::string& info_hash_v1) {
  lt::torrent_handle h;
  {
    std::lock_guard lock(mu_);
    auto it = seeds_.find(info_hash_v1);
    if (it == seeds_.end()) return NotFound("torrent " + info_hash_v1 + " is not seeded here");
    h = it->second.handle;
    seeds_.erase(it);
  }
  lt::info_hash_t ih = h.info_hashes();
  auto events = WatchTorrent(ih);
  RemoveAndWait(h, events, /*delete_files=*/false);
  UnwatchTorrent(ih, events);
  return {};
}

std::vector<TorrentRef> P2pNodeImpl::Seeding() const {
  std::lock_guard lock(mu_);
  std::vector<TorrentRef> out;
  for (const auto& [hash, seed] : seeds_) out.push_back(seed.ref);
  return out;
}

}  // namespace mumba::p2p
