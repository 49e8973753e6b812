// SPDX-License-Identifier: Apache-2.0
// The certificates of links between hosts (on OpenSSL 3): making a host's own, and
// the strict check of a peer's that tells which node it is.
//
// A link certificate is a self-signed X.509 v3 certificate whose key is the node's
// ed25519 key itself, signed with that key. Nothing in it is trusted but its
// public key: names, dates and extensions are ignored. That the peer holds the
// matching private key is what the TLS handshake proves (its CertificateVerify
// signature); the check here only makes sure the key is an ed25519 key, the
// certificate is well formed and its self-signature holds, and nothing else came
// along with it.
#pragma once

#include <string>
#include <string_view>

#include "mumba/status.h"
#include "peer/node_key.h"

namespace mumba {

// The common name of every link certificate, and so the name a link's client
// asks for (SNI). It says nothing about the node.
inline constexpr const char* kLinkCertificateName = "mumba-link";

// A certificate and its private key, both PEM, as a link's TLS context loads
// them (peer/tunnel_tls.h). The private key is the node's secret: it is wiped
// when this goes. Move-only.
struct LinkIdentity {
  std::string certificate_pem;
  std::string private_key_pem;

  LinkIdentity() = default;
  LinkIdentity(LinkIdentity&&) = default;
  LinkIdentity& operator=(LinkIdentity&&) = default;
  LinkIdentity(const LinkIdentity&) = delete;
  LinkIdentity& operator=(const LinkIdentity&) = delete;
  ~LinkIdentity();
};

// A fresh link certificate for `key` (random serial, valid from an hour ago for
// a hundred years, though no one looks) and its private key. INTERNAL only if
// OpenSSL fails, which a working installation does not.
Expected<LinkIdentity> MakeLinkIdentity(const NodeKey& key);

// The node id a peer proved, from the PEM text a link's certificate check makes
// of what the TLS handshake gave (so text around a PEM block is not the peer's):
// `leaf_pem`, the certificate it presented (exactly one PEM certificate), and
// `chain_pem`, the chain it sent (PEM certificates, possibly none; the leaf may
// be in it, as OpenSSL gives it to a verify callback). UNAUTHENTICATED, saying
// why, unless the leaf is one well-formed certificate with an ed25519 key and a
// valid signature by that same key, and the chain holds nothing but that leaf.
Expected<std::string> CheckLinkCertificate(std::string_view leaf_pem, std::string_view chain_pem);

}  // namespace mumba
