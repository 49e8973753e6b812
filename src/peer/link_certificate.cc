// SPDX-License-Identifier: Apache-2.0
#include "peer/link_certificate.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <sodium.h>

#include <array>
#include <cctype>
#include <memory>
#include <vector>

#include "common/keys.h"
#include "peer/openssl_owners.h"

namespace mumba {
namespace {

using peer_internal::Bio;
using peer_internal::Bn;
using peer_internal::Cert;
using peer_internal::Pkey;

Status Refused(const std::string& why) { return Status(Code::kUnauthenticated, "link certificate refused: " + why); }

// A PEM password callback that gives none: an encrypted PEM block is refused
// instead of OpenSSL asking the terminal for a passphrase.
int NoPassword(char*, int, int, void*) { return -1; }

// Whether `text` holds nothing but white space.
bool OnlySpace(const char* data, long size) {
  for (long i = 0; i < size; ++i) {
    if (!std::isspace(static_cast<unsigned char>(data[i]))) return false;
  }
  return true;
}

// Every PEM certificate in `pem`, which must hold nothing else (white space
// aside). UNAUTHENTICATED for anything that is not a well-formed certificate.
Expected<std::vector<Cert>> ParseCertificates(std::string_view pem, const char* what) {
  std::vector<Cert> certs;
  if (pem.size() > 64 * 1024) return Refused(std::string(what) + " is too long");
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Internal("OpenSSL cannot allocate a buffer");
  for (;;) {
    char* rest = nullptr;
    long left = BIO_get_mem_data(bio.get(), &rest);
    if (left <= 0 || OnlySpace(rest, left)) break;
    Cert cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr));
    if (!cert) return Refused(std::string(what) + " is not a PEM certificate");
    certs.push_back(std::move(cert));
  }
  return certs;
}

// The raw 32-byte public key of `cert` when it is an ed25519 key.
Expected<std::array<uint8_t, 32>> Ed25519KeyOf(X509* cert) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr || !EVP_PKEY_is_a(key, "ED25519")) return Refused("its key is not an ed25519 key");
  std::array<uint8_t, 32> raw{};
  size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, raw.data(), &size) != 1 || size != raw.size()) {
    return Refused("its ed25519 key cannot be read");
  }
  return raw;
}

// The one certificate in `leaf_pem`, with its ed25519 key.
Expected<Cert> ParseLeaf(std::string_view leaf_pem) {
  MUMBA_ASSIGN_OR_RETURN(auto certs, ParseCertificates(leaf_pem, "the peer's certificate"));
  if (certs.empty()) return Refused("the peer presented no certificate");
  if (certs.size() != 1) return Refused("the peer's certificate is more than one");
  return std::move(certs.front());
}

// The DER encoding of `cert`.
std::string Der(X509* cert) {
  unsigned char* der = nullptr;
  int size = i2d_X509(cert, &der);
  if (size <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(size));
  OPENSSL_free(der);
  return out;
}

// The PEM text in `bio` (a memory BIO).
std::string PemOf(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : std::string();
}

}  // namespace

LinkIdentity::~LinkIdentity() { WipeString(private_key_pem); }

Expected<LinkIdentity> MakeLinkIdentity(const NodeKey& key) {
  // libsodium's secret key starts with the 32-byte seed, which is what RFC 8032
  // (and so OpenSSL) calls the ed25519 private key.
  Pkey pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.pair.secret_key.data(), 32));
  if (!pkey) return Internal("OpenSSL cannot load an ed25519 key");
  std::array<uint8_t, 32> derived{};
  size_t size = derived.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), derived.data(), &size) != 1 || derived != key.pair.public_key) {
    return Internal("OpenSSL derives another public key from the node key's seed");
  }
  Cert cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) return Internal("OpenSSL cannot make a certificate");
  // A random positive 127-bit serial, as certificates are expected to have.
  std::array<unsigned char, 16> serial{};
  if (RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1) return Internal("OpenSSL has no randomness");
  serial[0] &= 0x7f;
  Bn bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return Internal("OpenSSL cannot set a serial number");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  // A fixed name: the peer's id comes from the key, and a name would only invite
  // someone to trust it.
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(kLinkCertificateName),
                                 -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), 36500, 0, nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), pkey.get()) != 1) {
    return Internal("OpenSSL cannot fill in a certificate");
  }
  // ed25519 hashes inside the signature: no digest is given.
  if (X509_sign(cert.get(), pkey.get(), nullptr) <= 0) return Internal("OpenSSL cannot sign a certificate");

  LinkIdentity identity;
  Bio cert_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) {
    return Internal("OpenSSL cannot write a certificate");
  }
  identity.certificate_pem = PemOf(cert_bio.get());
  // The secure-memory BIO wipes what it held when it is freed.
  Bio key_bio(BIO_new(BIO_s_secmem()));
  if (!key_bio || PEM_write_bio_PrivateKey(key_bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("OpenSSL cannot write a private key");
  }
  identity.private_key_pem = PemOf(key_bio.get());
  return identity;
}

Expected<std::string> CheckLinkCertificate(std::string_view leaf_pem, std::string_view chain_pem) {
  MUMBA_ASSIGN_OR_RETURN(Cert leaf, ParseLeaf(leaf_pem));
  MUMBA_ASSIGN_OR_RETURN(auto key, Ed25519KeyOf(leaf.get()));
  if (X509_verify(leaf.get(), X509_get0_pubkey(leaf.get())) != 1) {
    return Refused("it is not signed by its own key");
  }
  MUMBA_ASSIGN_OR_RETURN(auto chain, ParseCertificates(chain_pem, "the peer's certificate chain"));
  if (chain.size() > 1) return Refused("the peer sent a chain of " + std::to_string(chain.size()) + " certificates");
  if (chain.size() == 1 && Der(chain.front().get()) != Der(leaf.get())) {
    return Refused("the peer sent a certificate besides its own");
  }
  return NodeIdOf(key);
}

}  // namespace mumba
