// SPDX-License-Identifier: Apache-2.0
#include "gateway/page_frames.h"

#include <nlohmann/json.hpp>

#include "gateway/http_responses.h"
#include "gateway/route_relay.h"

namespace mumba::gateway_internal {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxMethodChars = 512;
constexpr size_t kMaxHttpMethodChars = 32;
constexpr size_t kMaxHeaders = 100;

// A token of RFC 9110 (method and header names).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// A request target as an HTTP request line carries it: "/", then printable ASCII.
bool IsTarget(std::string_view s) {
  if (!s.starts_with("/")) return false;
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// A header value an HTTP header could carry: no line breaks, no NUL.
bool IsHeaderValue(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

// A method name "package.Service/Method": letters, digits, '_', '.' and one '/'.
bool IsMethodName(std::string_view s) {
  if (s.empty() || s.size() > kMaxMethodChars) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '/';
    if (!ok) return false;
  }
  return true;
}

Expected<PageRoute> RouteOf(const json& header, std::string body) {
  PageRoute route;
  route.target = header["route"].get<std::string>();
  if (!IsTarget(route.target)) return InvalidArgument("\"route\" must be a path starting with '/', percent-encoded");
  if (auto m = header.find("method"); m != header.end()) {
    if (!m->is_string() || m->get_ref<const std::string&>().size() > kMaxHttpMethodChars ||
        !IsToken(m->get_ref<const std::string&>())) {
      return InvalidArgument("\"method\" must be an HTTP method");
    }
    route.method = m->get<std::string>();
  }
  if (auto h = header.find("headers"); h != header.end()) {
    if (!h->is_array() || h->size() > kMaxHeaders) {
      return InvalidArgument("\"headers\" must be an array of at most " + std::to_string(kMaxHeaders) +
                             " [name, value] pairs");
    }
    for (const auto& pair : *h) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string() ||
          !IsToken(pair[0].get_ref<const std::string&>()) || !IsHeaderValue(pair[1].get_ref<const std::string&>())) {
        return InvalidArgument("each header must be a [name, value] pair of strings an HTTP header could carry");
      }
      route.headers.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
    }
  }
  route.body = std::move(body);
  return route;
}

}  // namespace

ParsedPageFrame ParsePageFrame(std::string_view frame) {
  ParsedPageFrame out;
  const size_t newline = frame.find('\n');
  const std::string_view head = frame.substr(0, newline);
  const std::string_view body = newline == std::string_view::npos ? std::string_view() : frame.substr(newline + 1);
  json header = json::parse(head, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) {
    out.request = InvalidArgument("a frame starts with a JSON object on its first line");
    return out;
  }
  auto id = header.find("id");
  if (id == header.end() || !id->is_number_unsigned() || id->get<uint64_t>() > kMaxPageFrameId) {
    out.request = InvalidArgument("a frame needs an \"id\": a whole number from 0 to 2^53-1");
    return out;
  }
  out.id = id->get<uint64_t>();
  auto call = header.find("call");
  auto route = header.find("route");
  if ((call == header.end()) == (route == header.end())) {
    out.request = InvalidArgument("a frame names either a \"call\" or a \"route\"");
    return out;
  }
  PageRequest request;
  request.id = *out.id;
  if (call != header.end()) {
    if (!call->is_string() || !IsMethodName(call->get_ref<const std::string&>())) {
      out.request = InvalidArgument("\"call\" must name a method as package.Service/Method");
      return out;
    }
    request.what = PageCall{call->get<std::string>(), body.empty() ? std::string("{}") : std::string(body)};
  } else {
    if (!route->is_string()) {
      out.request = InvalidArgument("\"route\" must be a path starting with '/', percent-encoded");
      return out;
    }
    auto r = RouteOf(header, std::string(body));
    if (!r.ok()) {
      out.request = r.status();
      return out;
    }
    request.what = std::move(*r);
  }
  out.request = std::move(request);
  return out;
}

std::string HelloFrame(const GatewayLimits& limits) {
  return "{\"hello\":{\"max_frame\":" + std::to_string(limits.max_call_frame_bytes) +
         ",\"max_in_flight\":" + std::to_string(limits.max_calls_in_flight) + "}}";
}

std::string CallReplyFrame(uint64_t id, std::string_view json_reply) {
  std::string out = "{\"id\":" + std::to_string(id) + ",\"reply\":";
  out.append(json_reply.empty() ? std::string_view("null") : json_reply);
  out += '}';
  return out;
}

std::string ErrorFrame(uint64_t id, const Status& st) {
  json j{{"id", id},
         {"error", st.message()},
         {"code", CodeName(st.code())},
         {"status", static_cast<int>(HttpStatusFor(st.code()))}};
  // Messages may quote what the page sent; what is not UTF-8 is replaced, since the
  // default would throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string FetchFrame(uint64_t id) { return "{\"id\":" + std::to_string(id) + ",\"fetch\":true}"; }

std::string RouteReplyFrame(uint64_t id, const mumba::app::v1::RouteResponse& reply) {
  json headers = json::array();
  bool typed = false;
  for (const auto& h : reply.headers()) {
    if (IsFramingHeader(h.name())) continue;
    std::string lower = h.name();
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    typed |= lower == "content-type";
    headers.push_back({h.name(), h.value()});
  }
  if (!typed) headers.push_back({"content-type", "text/plain; charset=utf-8"});
  json head{{"id", id}, {"status", reply.status() ? reply.status() : 200}, {"headers", std::move(headers)}};
  std::string out = head.dump(-1, ' ', false, json::error_handler_t::replace);
  out += '\n';
  out += reply.body();
  return out;
}

}  // namespace mumba::gateway_internal
