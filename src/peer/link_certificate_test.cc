// SPDX-License-Identifier: Apache-2.0
// Link certificates without a network: the one a node makes passes the check and
// names the node; everything else (other key types, another key's signature,
// chains, garbage) is refused.
#include "peer/link_certificate.h"

#include <gtest/gtest.h>

#include "common/keys.h"
#include "peer/test_certificates.h"

namespace mumba {
namespace {

using testing::KeyKind;

NodeKey FreshNode() { return NodeKey{GenerateKeyPair()}; }

void ExpectRefused(const Expected<std::string>& got, const std::string& what) {
  ASSERT_FALSE(got.ok()) << what << " was accepted as " << *got;
  EXPECT_EQ(got.status().code(), Code::kUnauthenticated) << what << ": " << got.status().message();
}

TEST(LinkCertificateTest, ANodesOwnCertificateNamesIt) {
  NodeKey node = FreshNode();
  auto identity = MakeLinkIdentity(node);
  ASSERT_TRUE(identity.ok()) << identity.status().message();
  EXPECT_TRUE(identity->certificate_pem.starts_with("-----BEGIN CERTIFICATE-----"));
  EXPECT_TRUE(identity->private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));

  auto id = CheckLinkCertificate(identity->certificate_pem, "");
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(*id, node.id());
  // The client side sees the leaf in the chain too.
  id = CheckLinkCertificate(identity->certificate_pem, identity->certificate_pem);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(*id, node.id());

  // Each certificate is fresh; the id is the key's.
  auto second = MakeLinkIdentity(node);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->certificate_pem, identity->certificate_pem);
  EXPECT_EQ(*CheckLinkCertificate(second->certificate_pem, ""), node.id());
}

TEST(LinkCertificateTest, OtherKeyTypesAreRefused) {
  for (KeyKind kind : {KeyKind::kRsa, KeyKind::kEcdsa}) {
    auto other = testing::SelfSigned(kind);
    ExpectRefused(CheckLinkCertificate(other.certificate_pem, ""), "a non-ed25519 certificate");
  }
}

TEST(LinkCertificateTest, ACertificateSignedByAnotherKeyIsRefused) {
  NodeKey node = FreshNode();
  auto forged = testing::SignedByAnother(node);
  ExpectRefused(CheckLinkCertificate(forged.certificate_pem, ""), "a certificate signed by another key");
}

TEST(LinkCertificateTest, AnythingBesidesTheLeafIsRefused) {
  NodeKey node = FreshNode();
  auto own = MakeLinkIdentity(node);
  ASSERT_TRUE(own.ok());
  auto other = MakeLinkIdentity(FreshNode());
  ASSERT_TRUE(other.ok());
  ExpectRefused(CheckLinkCertificate(own->certificate_pem, other->certificate_pem), "another certificate in the chain");
  ExpectRefused(CheckLinkCertificate(own->certificate_pem, own->certificate_pem + other->certificate_pem),
                "a chain of two");
  ExpectRefused(CheckLinkCertificate(own->certificate_pem + other->certificate_pem, ""), "two leaves");
  ExpectRefused(CheckLinkCertificate(own->certificate_pem, own->certificate_pem + "junk"), "junk after the chain");
}

TEST(LinkCertificateTest, GarbageIsRefused) {
  auto own = MakeLinkIdentity(FreshNode());
  ASSERT_TRUE(own.ok());
  const std::string& pem = own->certificate_pem;
  std::string flipped = pem;
  size_t at = pem.find('\n') + 40;  // Inside the base64 of the second line.
  flipped[at] = flipped[at] == 'A' ? 'B' : 'A';
  std::string body_only = pem.substr(pem.find('\n') + 1);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"", "nothing"},
      {"garbage", "garbage"},
      {std::string(100000, 'A'), "a long run of bytes"},
      {pem.substr(0, pem.size() / 2), "half a certificate"},
      {flipped, "a certificate with a changed byte"},
      {body_only, "a certificate without its first line"},
      {pem + "trailing junk", "junk after the certificate"},
      {own->private_key_pem, "a private key"},
      {"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "an empty certificate"},
      {std::string("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), "an empty DER sequence"},
  };
  for (const auto& [text, what] : cases) {
    ExpectRefused(CheckLinkCertificate(text, ""), what);
    ExpectRefused(CheckLinkCertificate(pem, text.empty() ? "junk" : text), what + " as the chain");
  }
}

}  // namespace
}  // namespace mumba
