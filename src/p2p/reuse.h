// SPDX-License-Identifier: Apache-2.0
// Starting a download from an earlier version: the files of a torrent found in a
// folder the caller names are copied into the download's folder before libtorrent
// checks it, so only the pieces they do not hold travel. No session needed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include <libtorrent/torrent_info.hpp>

namespace mumba::p2p {

// What PlaceReusedFiles put in place.
struct Reused {
  uint64_t files = 0;
  uint64_t bytes = 0;
  bool stopped = false;  // `go_on` said no before every file was looked at.
};

// For each file of `ti` at "<torrent name>/REL" (pad files aside), copies
// `reuse_from`/REL to `save_path`/<torrent name>/REL when it is a regular file of
// the size `ti` declares, reached without following a symlink at any step below
// `reuse_from`. The copy is a new file (never a link): nothing under `reuse_from`
// is opened for writing, so nothing libtorrent later writes can reach it. Never
// fails: a file that is missing, of another kind or size, or that cannot be
// copied (the partial copy is removed) is simply left to be downloaded; a file
// already at the destination is left as it is. Whether a copy holds the right
// bytes is libtorrent's hash check to say. `go_on` (if set) is asked before each
// file: copying 100 MB takes a second or two, and a caller with a deadline or a
// cancel button stops it there.
Reused PlaceReusedFiles(const lt::torrent_info& ti, const std::filesystem::path& reuse_from,
                        const std::filesystem::path& save_path, const std::function<bool()>& go_on = nullptr);

}  // namespace mumba::p2p
