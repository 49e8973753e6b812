// SPDX-License-Identifier: Apache-2.0
#include "gateway/secret_cookie.h"

#include "gateway/static_files.h"

namespace mumba::gateway_internal {

bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;  // Constant time: the secret is not guessed byte by byte.
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool HasSecretCookie(const http::request_header<>& req, const std::string& secret) {
  for (const auto& f : req) {
    if (f.name() != http::field::cookie) continue;
    std::string_view cookies(f.value().data(), f.value().size());
    while (!cookies.empty()) {
      auto semi = cookies.find(';');
      std::string_view c = cookies.substr(0, semi);
      while (!c.empty() && c.front() == ' ') c.remove_prefix(1);
      if (c.size() > kSecretCookie.size() && c.substr(0, kSecretCookie.size()) == kSecretCookie &&
          c[kSecretCookie.size()] == '=' && SameSecret(c.substr(kSecretCookie.size() + 1), secret)) {
        return true;
      }
      if (semi == std::string_view::npos) break;
      cookies.remove_prefix(semi + 1);
    }
  }
  return false;
}

StringResponse LoginResponse(const Request& req, const std::string& query, const std::string& secret) {
  if (!SameSecret(QueryParam(query, "token"), secret)) {
    return ErrorResponse(req, PermissionDenied("wrong token"));
  }
  std::string next = QueryParam(query, "next");
  // Only a path of this origin: never a redirect elsewhere.
  if (next.empty() || next[0] != '/' || next.rfind("//", 0) == 0 || next.find('\\') != std::string::npos) next = "/";
  StringResponse res = TextResponse(req, http::status::see_other, "");
  res.set(http::field::location, next);
  res.set(http::field::set_cookie,
          std::string(kSecretCookie) + "=" + secret + "; Path=/; HttpOnly; SameSite=Strict");
  res.set(http::field::cache_control, "no-store");
  return res;
}

}  // namespace mumba::gateway_internal
