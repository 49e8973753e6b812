// SPDX-License-Identifier: Apache-2.0
#include "peer/node_key.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common/base32.h"
#include "common/files.h"
#include "platform/errno_status.h"
#include "platform/unique_fd.h"

namespace mumba {
namespace {

constexpr size_t kSeedBytes = 32;
constexpr size_t kFileBytes = 64;

// The bytes of a node key file, in a buffer wiped when it goes away: a stream
// would leave copies of the secret in buffers freed unwiped. One byte longer than
// a key, so an over-long file is seen as such.
class KeyFileBytes {
 public:
  ~KeyFileBytes() { sodium_memzero(bytes_.data(), bytes_.size()); }

  Status Read(const std::filesystem::path& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) return ErrnoStatus(errno, "cannot read the node key " + file.string());
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "cannot read the node key " + file.string());
    if (!S_ISREG(st.st_mode)) return FailedPrecondition("the node key " + file.string() + " is not a regular file");
    size_ = 0;
    while (size_ < bytes_.size()) {
      ssize_t n = ::read(fd.get(), bytes_.data() + size_, bytes_.size() - size_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "cannot read the node key " + file.string());
      if (n == 0) break;
      size_ += static_cast<size_t>(n);
    }
    return Status();
  }

  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return size_; }

 private:
  std::array<uint8_t, kFileBytes + 1> bytes_{};
  size_t size_ = 0;
};

// The node key in `f`, whose public half must be the one its seed derives.
Expected<NodeKey> OpenKeyFile(const KeyFileBytes& f, const std::filesystem::path& file) {
  if (f.size() != kFileBytes) {
    return DataLoss("the node key " + file.string() + " is damaged (" + std::to_string(f.size()) +
                    " bytes, a node key has " + std::to_string(kFileBytes) +
                    "); move it away to make this host a new node");
  }
  if (sodium_init() < 0) std::abort();
  NodeKey key;
  crypto_sign_ed25519_seed_keypair(key.pair.public_key.data(), key.pair.secret_key.data(), f.data());
  if (sodium_memcmp(key.pair.secret_key.data(), f.data(), kFileBytes) != 0) {
    return DataLoss("the node key " + file.string() +
                    " is damaged (its public half is not its seed's); move it away to make this host a new node");
  }
  return key;
}

// Creates the missing folders of `dir`, each with mode 0700. Folders that exist
// keep their mode.
Status MakeFolders(const std::filesystem::path& dir) {
  if (dir.empty()) return Status();
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (auto p = dir; !p.empty(); p = p.parent_path()) {
    if (std::filesystem::exists(p, ec)) break;
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus(errno, "cannot create " + it->string());
  }
  return Status();
}

void SyncFolder(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd) ::fsync(fd.get());
}

// Writes the 64 secret bytes of `key` to a new file `tmp`, mode 0600, synced.
Status WriteNewKeyFile(const std::filesystem::path& tmp, const NodeKey& key) {
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return ErrnoStatus(errno, "cannot create " + tmp.string());
  // The umask can only take bits away from 0600; fchmod makes sure of the rest.
  if (::fchmod(fd.get(), 0600) != 0) return ErrnoStatus(errno, "cannot set the mode of " + tmp.string());
  size_t done = 0;
  while (done < kFileBytes) {
    ssize_t n = ::write(fd.get(), key.pair.secret_key.data() + done, kFileBytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "cannot write " + tmp.string());
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "cannot sync " + tmp.string());
  if (fd.Close() != 0) return ErrnoStatus(errno, "cannot write " + tmp.string());
  return Status();
}

// Creates `file` holding a fresh key. ALREADY_EXISTS when another process created
// it first (its key is then the one to use).
Expected<NodeKey> CreateKeyFile(const std::filesystem::path& file) {
  MUMBA_TRY(MakeFolders(file.parent_path()));
  NodeKey key{GenerateKeyPair()};
  auto tmp = file;
  tmp += ".tmp-" + RandomSuffix();
  Status written = WriteNewKeyFile(tmp, key);
  // link(2), unlike rename(2), never replaces a file that is there: whoever links
  // first wins, and everyone else loads the winner's key.
  if (written.ok() && ::link(tmp.c_str(), file.c_str()) != 0) {
    written = ErrnoStatus(errno, "cannot create the node key " + file.string());
  }
  ::unlink(tmp.c_str());
  MUMBA_TRY(written);
  SyncFolder(file.parent_path());
  return key;
}

}  // namespace

std::string NodeKey::id() const { return NodeIdOf(pair.public_key); }

std::string NodeIdOf(const std::array<uint8_t, 32>& public_key) {
  return Base32Encode(std::vector<uint8_t>(public_key.begin(), public_key.end()));
}

Expected<std::array<uint8_t, 32>> ParseNodeId(std::string_view id) {
  if (id.size() != kNodeIdChars) {
    return InvalidArgument("a node id has " + std::to_string(kNodeIdChars) + " base32 characters, this one has " +
                           std::to_string(id.size()));
  }
  // Base32Decode also takes capitals; a node id has one spelling only.
  if (!std::all_of(id.begin(), id.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); })) {
    return InvalidArgument("a node id holds only the characters a-z and 2-7");
  }
  auto bytes = Base32Decode(id);
  if (!bytes.ok()) return InvalidArgument("not a node id: " + bytes.status().message());
  if (bytes->size() != 32) return InvalidArgument("a node id must hold a 32-byte public key");
  std::array<uint8_t, 32> key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

Expected<NodeKey> LoadOrCreateNodeKey(const std::filesystem::path& file) {
  // Two tries: a file another process links between our look and our link is
  // then read like any other.
  for (int attempt = 0; attempt < 2; ++attempt) {
    KeyFileBytes f;
    Status read = f.Read(file);
    if (read.ok()) return OpenKeyFile(f, file);
    if (read.code() != Code::kNotFound) return read;
    auto created = CreateKeyFile(file);
    if (created.ok() || created.status().code() != Code::kAlreadyExists) return created;
  }
  return Internal("the node key " + file.string() + " appeared and vanished while it was being created");
}

}  // namespace mumba
