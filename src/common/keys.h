// SPDX-License-Identifier: Apache-2.0
// ed25519 identities and the key store under $MUMBA_HOME/keys/.
//
// An app's address is "mumba://" + the 52-char lowercase base32 of its public key.
// Secret keys are written with mode 0600 in a 0700 folder, always atomically
// (a temporary file renamed into place), and never logged.
//
// A key file <52 chars>.key holds one of two forms:
// - unprotected: the 64-byte libsodium secret key (seed || public key), raw;
// - protected by a passphrase (`mumba keys protect`), 146 bytes, version 1:
//     offset size
//       0     8   magic "mumbakey"
//       8     1   version, 1
//       9     1   algorithm, 1: Argon2id v1.3 derives a 32-byte key from the
//                 passphrase; XChaCha20-Poly1305 (IETF) seals the 32-byte seed
//      10     8   Argon2id opslimit, little-endian
//      18     8   Argon2id memlimit in bytes, little-endian
//      26    16   salt, random
//      42    24   nonce, random
//      66    48   the sealed seed (32 bytes) and its tag (16); the associated data
//                 is bytes 0..65, so the header cannot be changed either
//     114    32   BLAKE2b-256 of bytes 0..113, unkeyed: it tells a damaged file
//                 (DATA_LOSS) from a wrong passphrase (PERMISSION_DENIED); the
//                 tag alone could not, and it is the tag that keeps the secret
// The two forms never look alike: the raw form is exactly 64 bytes.
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

  // Wipes the secret key, so that no copy of it outlives its use in freed memory.
  ~KeyPair();
};

KeyPair GenerateKeyPair();

// "mumba://<52 chars>".
std::string AddressOf(const std::array<uint8_t, 32>& public_key);

// Accepts "mumba://<52>" or the bare 52 chars; returns the canonical
// "mumba://<52>" form, or INVALID_ARGUMENT saying what is wrong.
Expected<std::string> NormalizeAddress(std::string_view text);

// Whether `text` looks like an address rather than a nickname.
bool LooksLikeAddress(std::string_view text);

// Writes the secret key, unprotected, as <keys_dir>/<52 chars>.key (creating the
// folder 0700). ALREADY_EXISTS if a key of that address is there; INTERNAL when
// the file cannot be written, in which case nothing is left behind.
Status SaveKeyPair(const std::filesystem::path& keys_dir, const KeyPair& pair);

// The key pair of `address` from <keys_dir>. An unprotected key ignores
// `passphrase`. A protected one is opened with it: PERMISSION_DENIED when it is
// empty (saying how to give it) or wrong, INVALID_ARGUMENT when it is longer than
// any passphrase may be. NOT_FOUND (saying how to import it) if
// the key store does not hold the key; DATA_LOSS if the file is damaged or holds
// the key of another address; FAILED_PRECONDITION if a newer Mumba wrote it.
// Slow for a protected key (one Argon2id run; see DefaultPassphraseCost).
Expected<KeyPair> LoadKeyPair(const std::filesystem::path& keys_dir, std::string_view address,
                              std::string_view passphrase = {});

// True if the key of `address` is protected by a passphrase, false if it is not;
// NOT_FOUND and DATA_LOSS as LoadKeyPair. Fast: it reads only the file's form.
Expected<bool> IsKeyProtected(const std::filesystem::path& keys_dir, std::string_view address);

// How hard each guess at a passphrase is made: Argon2id's passes and memory.
struct PassphraseCost {
  uint64_t ops = 0;
  uint64_t mem_bytes = 0;
};

// libsodium's MODERATE limits (3 passes over 256 MiB): a publishing key is worth
// more than a login, and it is opened only to publish or export, so each guess may
// cost an attacker 4x what INTERACTIVE (2 passes over 64 MiB) would. Measured on
// the 2-core development machine with other builds running (load 5): 0.44-0.67 s
// per run in a warm loop, 1.0-1.4 s for a whole `mumba keys protect` (fresh memory),
// up to 3.3 s while a build held both cores; INTERACTIVE took 62-117 ms.
PassphraseCost DefaultPassphraseCost();

// The longest passphrase accepted, in bytes.
inline constexpr size_t kMaxPassphraseBytes = 1024;

// Encrypts the key of `address` in place with `passphrase`: the file is replaced
// atomically, so after a crash it holds the old form or the new one. INVALID_ARGUMENT
// for an empty or too long passphrase; FAILED_PRECONDITION if it is protected
// already; NOT_FOUND and DATA_LOSS as LoadKeyPair; INTERNAL when the file cannot be
// written. On any error the file is unchanged.
Status ProtectKey(const std::filesystem::path& keys_dir, std::string_view address,
                  std::string_view passphrase, PassphraseCost cost = DefaultPassphraseCost());

// Decrypts the key of `address` back to the unprotected form, atomically.
// FAILED_PRECONDITION if it is not protected; otherwise the errors of LoadKeyPair
// and INTERNAL when the file cannot be written. On any error the file is unchanged.
Status UnprotectKey(const std::filesystem::path& keys_dir, std::string_view address,
                    std::string_view passphrase);

// The addresses whose secret keys are in <keys_dir>, sorted.
std::vector<std::string> ListKeys(const std::filesystem::path& keys_dir);

// A key pair as one line of text, "mumba-secret-key:<base32 of the 32-byte seed>",
// and back. The text is a secret: whoever has it can publish as the app.
std::string ExportKeyPair(const KeyPair& pair);
Expected<KeyPair> ImportKeyPair(std::string_view text);

// A passphrase in memory: at most kMaxPassphraseBytes in one buffer allocated
// once, so appending never leaves a copy behind, and wiped when it goes away.
// Move-only. Not thread-safe.
class Passphrase {
 public:
  Passphrase();
  // Copies `text`; the caller wipes its own copy. Precondition: it fits.
  explicit Passphrase(std::string_view text);
  Passphrase(Passphrase&& other) noexcept;
  Passphrase& operator=(Passphrase&& other) noexcept;
  Passphrase(const Passphrase&) = delete;
  Passphrase& operator=(const Passphrase&) = delete;
  ~Passphrase();

  // Adds one byte; false (and nothing added) once it holds kMaxPassphraseBytes.
  bool Append(char c);
  // Removes the last byte, if any (a line ending, a backspace).
  void PopBack();
  // Wipes and empties it.
  void Clear();

  std::string_view view() const { return {bytes_.data(), size_}; }
  bool empty() const { return size_ == 0; }

 private:
  std::vector<char> bytes_;  // Always kMaxPassphraseBytes long.
  size_t size_ = 0;
};

// Overwrites the bytes of `text` with zeros (sodium_memzero), for the copies of a
// secret that other code hands out as std::string, e.g. a protobuf field.
void WipeString(std::string& text);

}  // namespace mumba
