// SPDX-License-Identifier: Apache-2.0
// ed25519 identities and the key store under $MUMBA_HOME/keys/.
//
// An app's address is "mumba://" + the 52-char lowercase base32 of its public key.
// Secret keys are written with mode 0600 in a 0700 folder and never logged.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mumba/status.h"

namespace mumba {

inline constexpr std::string_view kAddressScheme = "mumba://";
inline constexpr size_t kAddressKeyChars = 52;

struct KeyPair {
  std::array<uint8_t, 32> public_key{};
  std::array<uint8_t, 64> secret_key{};  // libsodium layout: seed || public key.
};

KeyPair GenerateKeyPair();

// "mumba://<52 chars>".
std::string AddressOf(const std::array<uint8_t, 32>& public_key);

// Accepts "mumba://<52>" or the bare 52 chars; returns the canonical
// "mumba://<52>" form, or INVALID_ARGUMENT saying what is wrong.
Expected<std::string> NormalizeAddress(std::string_view text);

// Whether `text` looks like an address rather than a nickname.
bool LooksLikeAddress(std::string_view text);

// Writes the secret key as <keys_dir>/<52 chars>.key. Fails if one exists.
Status SaveKeyPair(const std::filesystem::path& keys_dir, const KeyPair& pair);

// The key pair of `address` from <keys_dir>. NOT_FOUND (saying how to import it) if
// the key store does not hold it; DATA_LOSS if the file does not match the address.
Expected<KeyPair> LoadKeyPair(const std::filesystem::path& keys_dir, std::string_view address);

// The addresses whose secret keys are in <keys_dir>, sorted.
std::vector<std::string> ListKeys(const std::filesystem::path& keys_dir);

// A key pair as one line of text, "mumba-secret-key:<base32 of the 32-byte seed>",
// and back. The text is a secret: whoever has it can publish as the app.
std::string ExportKeyPair(const KeyPair& pair);
Expected<KeyPair> ImportKeyPair(std::string_view text);

}  // namespace mumba
