// SPDX-License-Identifier: Apache-2.0
#include "common/keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/base32.h"
#include "common/files.h"

namespace mumba {

KeyPair::~KeyPair() { sodium_memzero(secret_key.data(), secret_key.size()); }

KeyPair GenerateKeyPair() {
  if (sodium_init() < 0) std::abort();
  KeyPair pair;
  crypto_sign_ed25519_keypair(pair.public_key.data(), pair.secret_key.data());
  return pair;
}

std::string AddressOf(const std::array<uint8_t, 32>& public_key) {
  return std::string(kAddressScheme) +
         Base32Encode(std::vector<uint8_t>(public_key.begin(), public_key.end()));
}

bool LooksLikeAddress(std::string_view text) {
  if (text.starts_with(kAddressScheme)) return true;
  return text.size() == kAddressKeyChars;
}

Expected<std::string> NormalizeAddress(std::string_view text) {
  std::string_view key = text;
  if (key.starts_with(kAddressScheme)) key.remove_prefix(kAddressScheme.size());
  while (!key.empty() && key.back() == '/') key.remove_suffix(1);
  if (key.size() != kAddressKeyChars) {
    return InvalidArgument("an address has " + std::to_string(kAddressKeyChars) +
                           " base32 characters after mumba://, this one has " +
                           std::to_string(key.size()));
  }
  auto bytes = Base32Decode(key);
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() != 32) return InvalidArgument("an address must hold a 32-byte public key");
  std::array<uint8_t, 32> pk{};
  std::copy(bytes->begin(), bytes->end(), pk.begin());
  return AddressOf(pk);
}

namespace {

constexpr std::string_view kSealedMagic = "mumbakey";
constexpr uint8_t kSealedVersion = 1;
constexpr uint8_t kArgon2idXChaCha = 1;
constexpr size_t kSeedBytes = 32;
constexpr size_t kRawKeyBytes = 64;
// Where each field of the protected form starts (the table in keys.h).
constexpr size_t kVersionAt = 8;
constexpr size_t kAlgorithmAt = 9;
constexpr size_t kOpsAt = 10;
constexpr size_t kMemAt = 18;
constexpr size_t kSaltAt = 26;
constexpr size_t kNonceAt = kSaltAt + crypto_pwhash_SALTBYTES;
constexpr size_t kHeaderBytes = kNonceAt + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kSealedBytes = kHeaderBytes + kSeedBytes + crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kChecksumBytes = crypto_generichash_BYTES;
constexpr size_t kProtectedFileBytes = kSealedBytes + kChecksumBytes;
static_assert(kProtectedFileBytes == 146, "the format in keys.h says 146 bytes");

// A key file's bytes, read with plain read(2) into a buffer that is wiped when it
// goes away: a stream would leave copies of the secret in buffers freed unwiped.
class KeyFileBytes {
 public:
  ~KeyFileBytes() { sodium_memzero(bytes_.data(), bytes_.size()); }
  Status Read(const std::filesystem::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Internal("cannot read " + file.string() + ": " + std::strerror(errno));
    size_ = 0;
    while (size_ < bytes_.size()) {
      ssize_t n = ::read(fd, bytes_.data() + size_, bytes_.size() - size_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        return Internal("cannot read " + file.string() + ": " + std::strerror(err));
      }
      if (n == 0) break;
      size_ += static_cast<size_t>(n);
    }
    ::close(fd);
    return Status();
  }
  const uint8_t* data() const { return bytes_.data(); }
  // One more than the largest form when the file is bigger than any key.
  size_t size() const { return size_; }

 private:
  std::array<uint8_t, kProtectedFileBytes + 1> bytes_{};
  size_t size_ = 0;
};

// The file of `canonical`'s key in `keys_dir`.
std::filesystem::path KeyFile(const std::filesystem::path& keys_dir, const std::string& canonical) {
  return keys_dir / (canonical.substr(kAddressScheme.size()) + ".key");
}

// Reads the key file of `address`; NOT_FOUND saying how to import it.
Status ReadKeyFile(const std::filesystem::path& keys_dir, const std::string& canonical,
                   KeyFileBytes& out) {
  auto file = KeyFile(keys_dir, canonical);
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    return NotFound("the secret key of " + canonical + " is not in " + keys_dir.string() +
                    " (on the machine that has it: mumba keys export " + canonical +
                    "; here: mumba keys import)");
  }
  return out.Read(file);
}

void PutLe64(uint8_t* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLe64(const uint8_t* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | in[i];
  return v;
}

// The raw form is exactly 64 bytes, so a longer file that opens with the magic is sealed.
bool IsSealed(const KeyFileBytes& f) {
  return f.size() > kRawKeyBytes &&
         std::memcmp(f.data(), kSealedMagic.data(), kSealedMagic.size()) == 0;
}

// The key pair of the raw 64-byte form, checked against `canonical`.
Expected<KeyPair> OpenRaw(const KeyFileBytes& f, const std::string& canonical, const std::string& name) {
  if (f.size() != kRawKeyBytes) return DataLoss(name + ": not a secret key (wrong size)");
  KeyPair pair;
  std::copy(f.data(), f.data() + kRawKeyBytes, pair.secret_key.begin());
  // libsodium's secret key is seed || public key.
  std::copy(f.data() + kSeedBytes, f.data() + kRawKeyBytes, pair.public_key.begin());
  if (AddressOf(pair.public_key) != canonical) return DataLoss(name + ": holds the key of another address");
  return pair;
}

// Derives the sealing key from `passphrase` and `salt`. RESOURCE_EXHAUSTED when
// the memory Argon2id needs cannot be had.
Status DeriveKey(std::string_view passphrase, const uint8_t* salt, const PassphraseCost& cost,
                 std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_KEYBYTES>& key) {
  if (crypto_pwhash(key.data(), key.size(), passphrase.data(), passphrase.size(), salt, cost.ops,
                    static_cast<size_t>(cost.mem_bytes), crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return ResourceExhausted("not enough memory to open a protected key (" +
                             std::to_string(cost.mem_bytes >> 20) + " MiB)");
  }
  return Status();
}

// The key pair sealed in `f`, opened with `passphrase` and checked against `canonical`.
Expected<KeyPair> OpenSealed(const KeyFileBytes& f, const std::string& canonical, const std::string& name,
                             std::string_view passphrase) {
  if (sodium_init() < 0) std::abort();
  const uint8_t* p = f.data();
  if (p[kVersionAt] != kSealedVersion) {
    return FailedPrecondition(name + ": protected in format version " + std::to_string(p[kVersionAt]) +
                              ", which a newer Mumba wrote");
  }
  if (f.size() != kProtectedFileBytes) return DataLoss(name + ": damaged (wrong size)");
  std::array<uint8_t, kChecksumBytes> sum{};
  crypto_generichash(sum.data(), sum.size(), p, kSealedBytes, nullptr, 0);
  if (sodium_memcmp(sum.data(), p + kSealedBytes, sum.size()) != 0) return DataLoss(name + ": damaged");
  PassphraseCost cost{GetLe64(p + kOpsAt), GetLe64(p + kMemAt)};
  // A file could ask for any cost; more than SENSITIVE is not ours, and asking
  // the allocator for it would only fail slowly.
  if (p[kAlgorithmAt] != kArgon2idXChaCha || cost.ops < crypto_pwhash_OPSLIMIT_MIN ||
      cost.ops > crypto_pwhash_OPSLIMIT_SENSITIVE || cost.mem_bytes < crypto_pwhash_MEMLIMIT_MIN ||
      cost.mem_bytes > crypto_pwhash_MEMLIMIT_SENSITIVE) {
    return DataLoss(name + ": damaged (unknown algorithm or cost)");
  }
  if (passphrase.size() > kMaxPassphraseBytes) {
    return InvalidArgument("a passphrase has at most " + std::to_string(kMaxPassphraseBytes) + " bytes");
  }
  if (passphrase.empty()) {
    return PermissionDenied("the key of " + canonical +
                            " is protected by a passphrase: type it when asked, or give "
                            "--passphrase-file FILE");
  }
  std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> key{};
  std::array<uint8_t, kSeedBytes> seed{};
  Status derived = DeriveKey(passphrase, p + kSaltAt, cost, key);
  int opened = derived.ok() ? crypto_aead_xchacha20poly1305_ietf_decrypt(
                                  seed.data(), nullptr, nullptr, p + kHeaderBytes, kSealedBytes - kHeaderBytes,
                                  p, kHeaderBytes, p + kNonceAt, key.data())
                            : -1;
  sodium_memzero(key.data(), key.size());
  if (!derived.ok()) return derived;
  if (opened != 0) {
    return PermissionDenied("wrong passphrase for the key of " + canonical + "; nothing was changed");
  }
  KeyPair pair;
  crypto_sign_ed25519_seed_keypair(pair.public_key.data(), pair.secret_key.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());
  if (AddressOf(pair.public_key) != canonical) return DataLoss(name + ": holds the key of another address");
  return pair;
}

// The protected form of `pair` under `passphrase`, into `out` (wiped by the caller).
Status Seal(const KeyPair& pair, std::string_view passphrase, const PassphraseCost& cost, std::string& out) {
  if (sodium_init() < 0) std::abort();
  out.assign(kProtectedFileBytes, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(p, kSealedMagic.data(), kSealedMagic.size());
  p[kVersionAt] = kSealedVersion;
  p[kAlgorithmAt] = kArgon2idXChaCha;
  PutLe64(p + kOpsAt, cost.ops);
  PutLe64(p + kMemAt, cost.mem_bytes);
  randombytes_buf(p + kSaltAt, crypto_pwhash_SALTBYTES);
  randombytes_buf(p + kNonceAt, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> key{};
  MUMBA_TRY(DeriveKey(passphrase, p + kSaltAt, cost, key));
  crypto_aead_xchacha20poly1305_ietf_encrypt(p + kHeaderBytes, nullptr, pair.secret_key.data(), kSeedBytes, p,
                                             kHeaderBytes, nullptr, p + kNonceAt, key.data());
  sodium_memzero(key.data(), key.size());
  crypto_generichash(p + kSealedBytes, kChecksumBytes, p, kSealedBytes, nullptr, 0);
  return Status();
}

// Writes `contents` over the key file of `canonical`, atomically, mode 0600.
Status Replace(const std::filesystem::path& keys_dir, const std::string& canonical, std::string& contents) {
  Status st = WriteFileAtomic(KeyFile(keys_dir, canonical), contents, 0600);
  WipeString(contents);
  return st;
}

}  // namespace

PassphraseCost DefaultPassphraseCost() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}

Status SaveKeyPair(const std::filesystem::path& keys_dir, const KeyPair& pair) {
  std::error_code ec;
  std::filesystem::create_directories(keys_dir, ec);
  if (ec) return Internal("cannot create " + keys_dir.string() + ": " + ec.message());
  std::filesystem::permissions(keys_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  auto file = KeyFile(keys_dir, AddressOf(pair.public_key));
  if (std::filesystem::exists(file)) return AlreadyExists("key exists: " + file.string());
  std::string contents(pair.secret_key.begin(), pair.secret_key.end());
  Status st = WriteFileAtomic(file, contents, 0600);
  WipeString(contents);
  return st;
}

Expected<KeyPair> LoadKeyPair(const std::filesystem::path& keys_dir, std::string_view address,
                              std::string_view passphrase) {
  MUMBA_ASSIGN_OR_RETURN(std::string canonical, NormalizeAddress(address));
  KeyFileBytes f;
  MUMBA_TRY(ReadKeyFile(keys_dir, canonical, f));
  std::string name = KeyFile(keys_dir, canonical).string();
  return IsSealed(f) ? OpenSealed(f, canonical, name, passphrase) : OpenRaw(f, canonical, name);
}

Expected<bool> IsKeyProtected(const std::filesystem::path& keys_dir, std::string_view address) {
  MUMBA_ASSIGN_OR_RETURN(std::string canonical, NormalizeAddress(address));
  KeyFileBytes f;
  MUMBA_TRY(ReadKeyFile(keys_dir, canonical, f));
  if (IsSealed(f)) return true;
  if (f.size() != kRawKeyBytes) return DataLoss(KeyFile(keys_dir, canonical).string() + ": not a secret key");
  return false;
}

Status ProtectKey(const std::filesystem::path& keys_dir, std::string_view address, std::string_view passphrase,
                  PassphraseCost cost) {
  if (passphrase.empty()) return InvalidArgument("an empty passphrase protects nothing");
  if (passphrase.size() > kMaxPassphraseBytes) {
    return InvalidArgument("a passphrase has at most " + std::to_string(kMaxPassphraseBytes) + " bytes");
  }
  MUMBA_ASSIGN_OR_RETURN(std::string canonical, NormalizeAddress(address));
  MUMBA_ASSIGN_OR_RETURN(bool is_protected, IsKeyProtected(keys_dir, canonical));
  if (is_protected) {
    return FailedPrecondition("the key of " + canonical +
                              " is protected already (mumba keys unprotect, then protect again)");
  }
  // Should it have been protected meanwhile, the empty passphrase is refused here.
  MUMBA_ASSIGN_OR_RETURN(KeyPair pair, LoadKeyPair(keys_dir, canonical));
  std::string sealed;
  Status st = Seal(pair, passphrase, cost, sealed);
  if (!st.ok()) {
    WipeString(sealed);
    return st;
  }
  return Replace(keys_dir, canonical, sealed);
}

Status UnprotectKey(const std::filesystem::path& keys_dir, std::string_view address,
                    std::string_view passphrase) {
  MUMBA_ASSIGN_OR_RETURN(std::string canonical, NormalizeAddress(address));
  MUMBA_ASSIGN_OR_RETURN(bool is_protected, IsKeyProtected(keys_dir, canonical));
  if (!is_protected) return FailedPrecondition("the key of " + canonical + " is not protected");
  MUMBA_ASSIGN_OR_RETURN(KeyPair pair, LoadKeyPair(keys_dir, canonical, passphrase));
  std::string raw(pair.secret_key.begin(), pair.secret_key.end());
  return Replace(keys_dir, canonical, raw);
}

std::vector<std::string> ListKeys(const std::filesystem::path& keys_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(keys_dir, ec)) {
    auto name = e.path().filename().string();
    if (name.size() == kAddressKeyChars + 4 && name.ends_with(".key")) {
      auto address = NormalizeAddress(name.substr(0, kAddressKeyChars));
      if (address.ok()) out.push_back(*address);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
constexpr std::string_view kExportPrefix = "mumba-secret-key:";
}

std::string ExportKeyPair(const KeyPair& pair) {
  std::vector<uint8_t> seed(pair.secret_key.begin(), pair.secret_key.begin() + 32);
  std::string text = std::string(kExportPrefix) + Base32Encode(seed);
  sodium_memzero(seed.data(), seed.size());
  return text;
}

Expected<KeyPair> ImportKeyPair(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  if (!text.starts_with(kExportPrefix)) {
    return InvalidArgument("not an exported key: it should start with " + std::string(kExportPrefix));
  }
  text.remove_prefix(kExportPrefix.size());
  auto seed = Base32Decode(text);
  if (!seed.ok() || seed->size() != 32) return InvalidArgument("the exported key is damaged");
  if (sodium_init() < 0) std::abort();
  KeyPair pair;
  crypto_sign_ed25519_seed_keypair(pair.public_key.data(), pair.secret_key.data(), seed->data());
  sodium_memzero(seed->data(), seed->size());
  return pair;
}

Passphrase::Passphrase() : bytes_(kMaxPassphraseBytes, 0) {}

Passphrase::Passphrase(std::string_view text) : Passphrase() {
  for (char c : text) Append(c);
}

Passphrase::Passphrase(Passphrase&& other) noexcept : bytes_(std::move(other.bytes_)), size_(other.size_) {
  other.size_ = 0;
}

Passphrase& Passphrase::operator=(Passphrase&& other) noexcept {
  if (this != &other) {
    Clear();
    bytes_ = std::move(other.bytes_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

Passphrase::~Passphrase() { Clear(); }

bool Passphrase::Append(char c) {
  // A moved-from passphrase gave its buffer away; it gets a fresh one.
  if (bytes_.empty()) bytes_.assign(kMaxPassphraseBytes, 0);
  if (size_ >= bytes_.size()) return false;
  bytes_[size_++] = c;
  return true;
}

void Passphrase::PopBack() {
  if (size_ == 0) return;
  bytes_[--size_] = 0;
}

void Passphrase::Clear() {
  if (!bytes_.empty()) sodium_memzero(bytes_.data(), bytes_.size());
  size_ = 0;
}

void WipeString(std::string& text) {
  // The whole buffer: a string that once held more keeps it past size().
  sodium_memzero(text.data(), text.capacity());
  text.clear();
}

}  // namespace mumba
