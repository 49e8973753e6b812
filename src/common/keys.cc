// SPDX-License-Identifier: Apache-2.0
#include "common/keys.h"

#include <sodium.h>

#include <algorithm>
#include <vector>

#include "common/base32.h"
#include "common/files.h"

namespace mumba {

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

Status SaveKeyPair(const std::filesystem::path& keys_dir, const KeyPair& pair) {
  std::error_code ec;
  std::filesystem::create_directories(keys_dir, ec);
  if (ec) return Internal("cannot create " + keys_dir.string() + ": " + ec.message());
  std::filesystem::permissions(keys_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  std::string address = AddressOf(pair.public_key);
  auto file = keys_dir / (address.substr(kAddressScheme.size()) + ".key");
  if (std::filesystem::exists(file)) return AlreadyExists("key exists: " + file.string());
  std::string contents(pair.secret_key.begin(), pair.secret_key.end());
  return WriteFileAtomic(file, contents, 0600);
}

Expected<KeyPair> LoadKeyPair(const std::filesystem::path& keys_dir, std::string_view address) {
  MUMBA_ASSIGN_OR_RETURN(std::string canonical, NormalizeAddress(address));
  auto file = keys_dir / (canonical.substr(kAddressScheme.size()) + ".key");
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    return NotFound("the secret key of " + canonical + " is not in " + keys_dir.string() +
                    " (on the machine that has it: mumba keys export " + canonical +
                    "; here: mumba keys import)");
  }
  MUMBA_ASSIGN_OR_RETURN(std::string contents, ReadFile(file));
  if (contents.size() != 64) return DataLoss(file.string() + ": not a secret key (wrong size)");
  KeyPair pair;
  std::copy(contents.begin(), contents.end(), pair.secret_key.begin());
  // libsodium's secret key is seed || public key.
  std::copy(contents.begin() + 32, contents.end(), pair.public_key.begin());
  if (AddressOf(pair.public_key) != canonical) {
    return DataLoss(file.string() + ": holds the key of another address");
  }
  return pair;
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
  return std::string(kExportPrefix) +
         Base32Encode(std::vector<uint8_t>(pair.secret_key.begin(), pair.secret_key.begin() + 32));
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
  return pair;
}

}  // namespace mumba
