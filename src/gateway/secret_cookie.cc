// SPDX-License-Identifier: Apache-2.0
#include "gateway/secret_cookie.h"

#include "bundle/manifest.h"
#include "gateway/static_files.h"

namespace mumba {

std::string SecretCookieName(int port) { return "mumba_secret_" + std::to_string(port); }

namespace gateway_internal {
namespace {

constexpr std::string_view kApiPrefix = "/_mumba/";
constexpr std::string_view kLoginPath = "/_mumba/login";
constexpr std::string_view kMumbaJsPath = "/_mumba/mumba.js";
constexpr std::string_view kEventsPath = "/_mumba/events";
constexpr std::string_view kCallPrefix = "/_mumba/call/";

}  // namespace

RequestKind ClassifyRequest(const GatewayApp& app, std::string_view method, std::string_view path,
                            const std::string& decoded) {
  if (path == kMumbaJsPath) return RequestKind::kMumbaJs;
  if (path == kEventsPath) return RequestKind::kEvents;
  if (path.starts_with(kCallPrefix)) return RequestKind::kCall;
  if (path == kLoginPath && app.secret_guards_ui) return RequestKind::kLogin;
  if (path.starts_with(kApiPrefix)) return RequestKind::kOtherApi;
  if (app.manifest) {
    if (app.manifest->FindRoute(std::string(method), decoded)) return RequestKind::kRoute;
  } else if (!app.route_prefix.empty() && decoded.starts_with(app.route_prefix)) {
    return RequestKind::kRoute;
  }
  return RequestKind::kUiFile;
}

bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;  // Constant time: the secret is not guessed byte by byte.
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool HasSecretCookie(const http::request_header<>& req, std::string_view name, std::string_view secret) {
  // An empty secret would match an empty cookie: an app without one opens to nobody.
  if (secret.empty()) return false;
  bool found = false;
  for (const auto& f : req) {
    if (f.name() != http::field::cookie) continue;
    std::string_view cookies(f.value().data(), f.value().size());
    while (!cookies.empty()) {
      auto semi = cookies.find(';');
      std::string_view c = cookies.substr(0, semi);
      while (!c.empty() && c.front() == ' ') c.remove_prefix(1);
      // Every cookie of that name is compared, so the time taken tells nothing.
      if (c.size() > name.size() && c.substr(0, name.size()) == name && c[name.size()] == '=') {
        found |= SameSecret(c.substr(name.size() + 1), secret);
      }
      if (semi == std::string_view::npos) break;
      cookies.remove_prefix(semi + 1);
    }
  }
  return found;
}

Status CheckSecret(const GatewayApp& app, RequestKind kind, const http::request_header<>& h, int port) {
  const bool read_only = h.method() == http::verb::get || h.method() == http::verb::head;
  if (kind == RequestKind::kLogin) return {};
  if (!app.secret_guards_ui && read_only && (kind == RequestKind::kUiFile || kind == RequestKind::kMumbaJs)) {
    return {};
  }
  if (HasSecretCookie(h, SecretCookieName(port), app.secret)) return {};
  if (app.secret_guards_ui) {
    return Status(Code::kUnauthenticated, app.name + " opens only from `mumba launch " + app.name + "`");
  }
  return PermissionDenied(app.name + " answers this only to its own Mumba window (`mumba launch " + app.name + "`)");
}

StringResponse LoginResponse(const Request& req, const std::string& query, const std::string& secret,
                             const std::string& cookie_name) {
  if (secret.empty() || !SameSecret(QueryParam(query, "token"), secret)) {
    return ErrorResponse(req, PermissionDenied("wrong token"));
  }
  std::string next = QueryParam(query, "next");
  // Only a path of this origin: never a redirect elsewhere.
  if (next.empty() || next[0] != '/' || next.rfind("//", 0) == 0 || next.find('\\') != std::string::npos) next = "/";
  StringResponse res = TextResponse(req, http::status::see_other, "");
  res.set(http::field::location, next);
  res.set(http::field::set_cookie, cookie_name + "=" + secret + "; Path=/; HttpOnly; SameSite=Strict");
  res.set(http::field::cache_control, "no-store");
  return res;
}

}  // namespace gateway_internal
}  // namespace mumba
