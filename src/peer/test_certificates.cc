// SPDX-License-Identifier: Apache-2.0
#include "peer/test_certificates.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace mumba::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("OpenSSL failed: ") + what);
}

std::string Pem(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(size));
  BIO_free(bio);
  return out;
}

// A certificate for `subject` signed by `signer`, with the same name as issuer
// and subject, as a self-signed one has.
std::string Certificate(EVP_PKEY* subject, EVP_PKEY* signer) {
  X509* cert = X509_new();
  Check(cert != nullptr && X509_set_version(cert, 2) == 1, "X509_new");
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  Check(X509_set_pubkey(cert, subject) == 1, "X509_set_pubkey");
  bool ed = EVP_PKEY_is_a(signer, "ED25519");
  Check(X509_sign(cert, signer, ed ? nullptr : EVP_sha256()) > 0, "X509_sign");
  BIO* bio = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_X509(bio, cert) == 1, "PEM_write_bio_X509");
  X509_free(cert);
  return Pem(bio);
}

std::string PrivatePem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM_write_bio_PrivateKey");
  return Pem(bio);
}

EVP_PKEY* NewKey(KeyKind kind) {
  EVP_PKEY* key = nullptr;
  switch (kind) {
    case KeyKind::kRsa: key = EVP_RSA_gen(2048); break;
    case KeyKind::kEcdsa: key = EVP_EC_gen("P-256"); break;
    case KeyKind::kEd25519: key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"); break;
  }
  Check(key != nullptr, "keygen");
  return key;
}

}  // namespace

TestIdentity SelfSigned(KeyKind kind) {
  EVP_PKEY* key = NewKey(kind);
  TestIdentity out{Certificate(key, key), PrivatePem(key)};
  EVP_PKEY_free(key);
  return out;
}

TestIdentity SignedByAnother(const NodeKey& subject) {
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, subject.pair.secret_key.data(), 32);
  Check(key != nullptr, "EVP_PKEY_new_raw_private_key");
  EVP_PKEY* other = NewKey(KeyKind::kEd25519);
  TestIdentity out{Certificate(key, other), PrivatePem(key)};
  EVP_PKEY_free(other);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace mumba::testing
