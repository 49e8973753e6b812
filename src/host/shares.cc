// SPDX-License-Identifier: Apache-2.0
// Shares: the records, their state file, and publishing (see shares.h).
#include "host/shares.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "host/announce_decode.h"
#include "host/distribution.h"
#include "share/chunked_tree.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

constexpr auto kPublishLookup = std::chrono::seconds(3);
constexpr auto kPutTimeout = std::chrono::seconds(15);

// The 52 characters of an address, for folder names.
std::string KeyOf(const std::string& address) {
  return address.starts_with(kAddressScheme) ? address.substr(kAddressScheme.size()) : address;
}

nlohmann::json ToJson(const ShareRecord& r) {
  return {{"app", r.app_id},   {"kind", r.kind},      {"db", r.db},
          {"address", r.address}, {"seq", r.seq},     {"bytes", r.bytes},
          {"new_bytes", r.new_bytes}, {"ih", r.info_hash}, {"v2", r.info_hash_v2},
          {"active", r.active}, {"dht", r.stored_in_dht}};
}

nlohmann::json ToJson(const FollowRecord& f) {
  return {{"reader", f.reader}, {"address", f.address}, {"kind", f.kind},  {"db", f.db},
          {"seq", f.seq},       {"bytes", f.bytes},     {"ih", f.info_hash}, {"v2", f.info_hash_v2},
          {"updated", f.updated_unix_ms}};
}

}  // namespace

Shares::Shares(SharesOptions options, StoreManager& stores, Distribution& distribution, const Clock& clock)
    : options_(std::move(options)), stores_(stores), distribution_(distribution), clock_(clock) {}

Expected<std::unique_ptr<Shares>> Shares::Create(SharesOptions options, StoreManager& stores,
                                                 Distribution& distribution, const Clock& clock) {
  std::unique_ptr<Shares> shares(new Shares(std::move(options), stores, distribution, clock));
  MUMBA_TRY(shares->LoadState());
  return shares;
}

Shares::~Shares() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  if (seeder_.joinable()) seeder_.join();
}

bool Shares::Stopping() {
  std::lock_guard lock(stop_mu_);
  return stopping_;
}

Status Shares::LoadState() {
  const fs::path file = options_.dir / "state.json";
  std::error_code ec;
  if (!fs::exists(file, ec)) return Status();
  MUMBA_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return DataLoss(file.string() + " is not valid JSON");
  try {
    for (const auto& j : json.value("shares", nlohmann::json::array())) {
      ShareRecord r;
      r.app_id = j.at("app");
      r.kind = j.at("kind");
      r.db = j.at("db");
      r.address = j.at("address");
      r.seq = j.at("seq");
      r.bytes = j.at("bytes");
      r.new_bytes = j.value("new_bytes", uint64_t{0});
      r.info_hash = j.at("ih");
      r.info_hash_v2 = j.at("v2");
      r.active = j.at("active");
      r.stored_in_dht = j.value("dht", false);
      shares_.push_back(std::move(r));
    }
    for (const auto& j : json.value("follows", nlohmann::json::array())) {
      FollowRecord f;
      f.reader = j.at("reader");
      f.address = j.at("address");
      f.kind = j.at("kind");
      f.db = j.at("db");
      f.seq = j.at("seq");
      f.bytes = j.at("bytes");
      f.info_hash = j.at("ih");
      f.info_hash_v2 = j.at("v2");
      f.updated_unix_ms = j.at("updated");
      follows_.push_back(std::move(f));
    }
  } catch (const nlohmann::json::exception& e) {
    return DataLoss(file.string() + " is damaged: " + e.what());
  }
  std::lock_guard lock(bytes_mu_);
  for (const auto& f : follows_) {
    if (f.seq <= 0) continue;
    replica_bytes_[f.reader] += f.bytes;
    auto kind = StoreKindNamed(f.kind);
    if (kind) replicas_[{f.reader, f.address}] = FollowedReplica{ReplicaStoreId(f.reader, f.address), *kind};
  }
  return Status();
}

Status Shares::SaveStateLocked() const {
  nlohmann::json shares = nlohmann::json::array(), follows = nlohmann::json::array();
  for (const auto& r : shares_) shares.push_back(ToJson(r));
  for (const auto& f : follows_) follows.push_back(ToJson(f));
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  return WriteFileAtomic(options_.dir / "state.json",
                         nlohmann::json{{"shares", shares}, {"follows", follows}}.dump(1), 0600);
}

fs::path Shares::PublishedDir(const std::string& address, int64_t seq) const {
  return options_.dir / "published" / KeyOf(address) / ("v" + std::to_string(seq));
}

fs::path Shares::FollowedDir(const std::string& reader, const std::string& address, int64_t seq) const {
  return options_.dir / "followed" / (reader.empty() ? "owner" : KeyOf(reader)) / KeyOf(address) /
         ("v" + std::to_string(seq));
}

std::string Shares::ReplicaStoreId(const std::string& reader, const std::string& address) {
  return "replicas/" + (reader.empty() ? std::string("owner") : KeyOf(reader)) + "/" + KeyOf(address);
}

Status Shares::Snapshot(const std::string& app_id, const std::string& kind, const std::string& db,
                        const fs::path& dest) {
  const StoreCaller owner;
  if (kind == "kv") {
    MUMBA_ASSIGN_OR_RETURN(auto grant, stores_.Kv(owner, app_id, db, false));
    return grant.store->CopyTo(dest);
  }
  if (kind == "sql") {
    MUMBA_ASSIGN_OR_RETURN(auto grant, stores_.Sql(owner, app_id, db, false));
    return grant.store->CopyTo(dest);
  }
  // A file tree: each file as it is at the moment it is copied (writes replace
  // files whole, by rename, so no file is caught half written).
  const fs::path root = stores_.AppRoot(app_id) / "files";
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) return Internal("cannot create " + dest.string() + ": " + ec.message());
  if (!fs::exists(root, ec)) return Status();  // An empty tree shares as empty.
  fs::copy(root, dest, fs::copy_options::recursive | fs::copy_options::skip_symlinks, ec);
  if (ec) return Internal("cannot copy the file tree of " + app_id + ": " + ec.message());
  return Status();
}

Expected<ShareRecord> Shares::Share(const std::string& app_id, const std::string& kind, std::string db) {
  if (!StoreKindNamed(kind)) {
    return InvalidArgument("a share is of a kv, sql or files store, not '" + kind.substr(0, 20) + "'");
  }
  if (kind == "files") db.clear();
  if (kind != "files" && db.empty()) db = "main";
  if (kind != "files" && !IsValidStoreName(db)) return InvalidArgument("bad database name '" + db.substr(0, 80) + "'");
  std::lock_guard publish(publish_mu_);

  // The share's key: made the first time, kept when unshared.
  ShareRecord record;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : shares_) {
      if (r.app_id == app_id && r.kind == kind && r.db == db) record = r;
    }
  }
  KeyPair key;
  if (record.address.empty()) {
    key = GenerateKeyPair();
    MUMBA_TRY(SaveKeyPair(options_.keys_dir, key));
    record.app_id = app_id;
    record.kind = kind;
    record.db = db;
    record.address = AddressOf(key.public_key);
  } else {
    MUMBA_ASSIGN_OR_RETURN(key, LoadKeyPair(options_.keys_dir, record.address, {}));
  }

  // The snapshot, cut into chunks in a version folder.
  const fs::path work = options_.dir / ".staging" / ("share-" + RandomSuffix());
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{work};
  MUMBA_TRY(Snapshot(app_id, kind, db, work / "store"));
  MUMBA_ASSIGN_OR_RETURN(P2pNode * node, distribution_.Node());
  int64_t seq = record.seq;
  if (auto current = node->GetMutable(key.public_key, kPublishLookup); current.ok()) {
    seq = std::max(seq, current->seq);
  }
  ++seq;
  const fs::path version = PublishedDir(record.address, seq);
  std::error_code ec;
  fs::remove_all(version, ec);
  fs::create_directories(version.parent_path(), ec);
  const fs::path previous = record.seq > 0 ? PublishedDir(record.address, record.seq) : fs::path();
  // Chunks the snapshot before also holds are linked from it, not written again.
  MUMBA_ASSIGN_OR_RETURN(share::ChunkedIndex index, share::WriteChunked(work / "store", version, kind,
                                                                        share::kDefaultChunkBytes, previous));
  // What followers would refuse is not published.
  share::IndexLimits limits;
  limits.max_total_bytes = options_.max_bytes;
  if (Status fits = share::CheckIndex(index, limits); !fits.ok()) {
    fs::remove_all(version, ec);
    return fits.WithContext("the " + kind + " store cannot be shared");
  }
  uint64_t new_bytes = index.total_bytes;
  if (!previous.empty()) {
    if (auto before = share::ReadIndex(previous, {}); before.ok()) new_bytes = share::NewChunkBytes(*before, index);
  }

  auto seeded = node->Seed(version, ShareTorrentName(seq));
  if (!seeded.ok()) {
    fs::remove_all(version, ec);
    return seeded.status().WithContext("cannot seed the snapshot");
  }
  ShareItem item{record.address, seq, kind, db, seeded->total_size, seeded->info_hash_v1, seeded->info_hash_v2};
  MUMBA_ASSIGN_OR_RETURN(auto fields, EncodeShareItem(item));
  Status put = node->PutMutable(key, fields, seq, kPutTimeout);
  if (!put.ok()) spdlog::warn("shares: no DHT node stored {} seq {}: {}", record.address, seq, put.message());

  // The snapshot before is no longer served; its folder goes.
  if (!record.info_hash.empty() && record.info_hash != seeded->info_hash_v1) {
    (void)node->StopSeeding(record.info_hash);
  }
  if (!previous.empty() && previous != version) fs::remove_all(previous, ec);

  record.seq = seq;
  record.bytes = index.total_bytes;
  record.new_bytes = new_bytes;
  record.info_hash = seeded->info_hash_v1;
  record.info_hash_v2 = seeded->info_hash_v2;
  record.active = true;
  record.stored_in_dht = put.ok();
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(shares_.begin(), shares_.end(),
                           [&](const ShareRecord& r) { return r.address == record.address; });
    if (it == shares_.end()) {
      shares_.push_back(record);
    } else {
      *it = record;
    }
    MUMBA_TRY(SaveStateLocked());
  }
  spdlog::info("shares: {} {} of {} as {} seq {} ({} bytes, {} new)", kind, db, app_id, record.address, seq,
               record.bytes, new_bytes);
  return record;
}

Status Shares::Unshare(const std::string& app_id, const std::string& kind, std::string db) {
  if (kind == "files") db.clear();
  if (kind != "files" && db.empty()) db = "main";
  std::lock_guard publish(publish_mu_);
  std::string info_hash;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(shares_.begin(), shares_.end(), [&](const ShareRecord& r) {
      return r.app_id == app_id && r.kind == kind && r.db == db && r.active;
    });
    if (it == shares_.end()) return NotFound("the " + kind + " store " + db + " of " + app_id + " is not shared");
    it->active = false;
    info_hash = it->info_hash;
    MUMBA_TRY(SaveStateLocked());
  }
  if (auto node = distribution_.Node(); node.ok()) (void)(*node)->StopSeeding(info_hash);
  return Status();
}

std::vector<ShareRecord> Shares::ListShares(const std::string& app_id) const {
  std::lock_guard lock(mu_);
  std::vector<ShareRecord> out;
  for (const auto& r : shares_) {
    if (r.active && (app_id.empty() || r.app_id == app_id)) out.push_back(r);
  }
  return out;
}

Expected<FollowRecord> Shares::Follow(const std::string& reader, const std::string& address) {
  MUMBA_ASSIGN_OR_RETURN(AppAddress decoded, DecodeAddress(address));
  std::lock_guard lock(mu_);
  for (const auto& r : shares_) {
    if (r.address == decoded.canonical) {
      return FailedPrecondition(decoded.canonical + " is shared by this host (" + r.kind + " " + r.db + " of " +
                                r.app_id + "): read it directly");
    }
  }
  for (const auto& f : follows_) {
    if (f.reader == reader && f.address == decoded.canonical) return f;
  }
  FollowRecord f;
  f.reader = reader;
  f.address = decoded.canonical;
  follows_.push_back(f);
  MUMBA_TRY(SaveStateLocked());
  stop_cv_.notify_all();  // The loop fetches the first snapshot now.
  return f;
}

Status Shares::Unfollow(const std::string& reader, const std::string& address) {
  MUMBA_ASSIGN_OR_RETURN(AppAddress decoded, DecodeAddress(address));
  std::lock_guard polling(poll_mu_);  // Not while the loop updates it.
  FollowRecord gone;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(follows_.begin(), follows_.end(), [&](const FollowRecord& f) {
      return f.reader == reader && f.address == decoded.canonical;
    });
    if (it == follows_.end()) return NotFound(decoded.canonical + " is not followed");
    gone = *it;
    follows_.erase(it);
    MUMBA_TRY(SaveStateLocked());
  }
  {
    std::lock_guard lock(bytes_mu_);
    replicas_.erase({gone.reader, gone.address});
    if (gone.seq > 0) replica_bytes_[gone.reader] -= std::min(replica_bytes_[gone.reader], gone.bytes);
  }
  if (!gone.info_hash.empty()) {
    if (auto node = distribution_.Node(); node.ok()) (void)(*node)->StopSeeding(gone.info_hash);
  }
  const std::string store_id = ReplicaStoreId(gone.reader, gone.address);
  stores_.Close(store_id);
  std::error_code ec;
  fs::remove_all(stores_.AppRoot(store_id), ec);
  fs::remove_all(FollowedDir(gone.reader, gone.address, 0).parent_path(), ec);
  return Status();
}

void Shares::ForgetApp(const std::string& app_id) {
  if (app_id.empty()) return;  // The owner's follows are nobody's app.
  for (const auto& r : ListShares(app_id)) (void)Unshare(app_id, r.kind, r.db);
  for (const auto& f : ListFollows(app_id)) (void)Unfollow(app_id, f.address);
}

std::vector<FollowRecord> Shares::ListFollows(const std::string& reader, bool all) const {
  std::lock_guard lock(mu_);
  std::vector<FollowRecord> out;
  for (const auto& f : follows_) {
    if (all || f.reader == reader) out.push_back(f);
  }
  return out;
}

std::optional<FollowedReplica> Shares::ReplicaOf(const std::string& reader_app_id,
                                                 const std::string& address) const {
  std::lock_guard lock(bytes_mu_);
  auto it = replicas_.find({reader_app_id, address});
  if (it == replicas_.end()) return std::nullopt;
  return it->second;
}

uint64_t Shares::ReplicaBytes(const std::string& app_id) const {
  if (app_id.empty()) return 0;
  std::lock_guard lock(bytes_mu_);
  auto it = replica_bytes_.find(app_id);
  return it == replica_bytes_.end() ? 0 : it->second;
}

}  // namespace mumba
