// SPDX-License-Identifier: Apache-2.0
#include "common/keys.h"

#include <sodium.h>

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

}  // namespace mumba
