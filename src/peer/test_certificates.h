// SPDX-License-Identifier: Apache-2.0
// Test only: certificates that are not link certificates, made with OpenSSL, for
// the tests that check each kind is refused (RSA, ECDSA, a foreign signature, a
// chain of two).
#pragma once

#include <string>

#include "peer/node_key.h"

namespace mumba::testing {

// A key and a certificate, PEM.
struct TestIdentity {
  std::string certificate_pem;
  std::string private_key_pem;
};

enum class KeyKind { kRsa, kEcdsa, kEd25519 };

// A fresh key of `kind` and a certificate for it signed by that same key.
TestIdentity SelfSigned(KeyKind kind);

// A certificate for `subject`'s node key that is signed by another, fresh ed25519
// key; its private key is `subject`'s, so a TLS handshake with it succeeds.
TestIdentity SignedByAnother(const NodeKey& subject);

}  // namespace mumba::testing
