// SPDX-License-Identifier: Apache-2.0
// Making the node's torrents, without a session: a folder's files listed in a
// fixed order, hashed in place into a hybrid (v1+v2) torrent whose info-hashes
// depend only on the files and the torrent's name, and the parameters that seed
// it from where the files are.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/torrent_info.hpp>

#include "mumba/status.h"
#include "p2p/p2p_node.h"

namespace mumba::p2p {

// A regular file under a listed folder.
struct FileEntry {
  std::string rel;  // Path relative to the folder, '/'-separated.
  uint64_t size = 0;
  bool executable = false;  // Whether its owner may execute it.
};

// Every regular file under `dir`, sorted by relative path; folders are walked, not
// listed. INVALID_ARGUMENT when `dir` cannot be read or holds a symlink or a
// special file; UNAVAILABLE when reading fails part way.
Expected<std::vector<FileEntry>> ListFiles(const std::filesystem::path& dir);

// A torrent made of a folder, with what seeding it needs.
struct MadeTorrent {
  std::shared_ptr<lt::torrent_info> info;
  TorrentRef ref;
  std::filesystem::path root;  // The folder, absolute and normalised.
};

// Makes a hybrid torrent named `name` of every file in folder `dir`: no mtimes,
// no creation date or creator, the executable bit kept, piece size PieceSizeFor
// the total, so the same files and name always give the same info-hashes whatever
// the folder is called. The files are hashed in place through a temporary
// symlink. INVALID_ARGUMENT for an unsafe name, a missing folder, one ListFiles
// refuses, or one with no data; UNAVAILABLE when the files cannot be read;
// INTERNAL when libtorrent fails to make or read back the torrent.
Expected<MadeTorrent> MakeHybridTorrent(const std::filesystem::path& dir, const std::string& name);

// Parameters that seed `made` from its folder: each file renamed to its absolute
// path under the root, in seed mode with every piece taken as verified (they were
// hashed just now), and neither auto-managed nor paused. Never fails.
lt::add_torrent_params SeedParams(const MadeTorrent& made);

}  // namespace mumba::p2p
