// SPDX-License-Identifier: Apache-2.0
// Fuzzes the frames a page sends on its socket (src/gateway/page_frames.h): any
// page of an app, or any local process holding its cookie, writes them. Parsing
// never throws; a refusal is INVALID_ARGUMENT; a parsed request has a valid id,
// either a method name or a route path and header fields an HTTP request could
// carry; and every answer made for it (even quoting what is not UTF-8) is JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "gateway/page_frames.h"

namespace gi = mumba::gateway_internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  gi::ParsedPageFrame parsed = gi::ParsePageFrame(frame);
  if (parsed.id) FUZZ_CHECK(*parsed.id <= gi::kMaxPageFrameId);
  if (!parsed.request.ok()) {
    FUZZ_CHECK(parsed.request.status().code() == mumba::Code::kInvalidArgument);
    if (parsed.id) {
      auto answer = nlohmann::json::parse(gi::ErrorFrame(*parsed.id, parsed.request.status()), nullptr, false);
      FUZZ_CHECK(answer.is_object() && answer["id"] == *parsed.id);
    }
    return 0;
  }
  FUZZ_CHECK(parsed.id && parsed.request->id == *parsed.id);
  if (auto* call = std::get_if<gi::PageCall>(&parsed.request->what)) {
    FUZZ_CHECK(!call->method.empty() && call->method.find_first_of(" \r\n\"") == std::string::npos);
    FUZZ_CHECK(!call->json.empty());
    // The error answering it quotes the method; the answer is JSON all the same.
    auto answer = nlohmann::json::parse(gi::ErrorFrame(*parsed.id, mumba::NotFound("no " + call->method)), nullptr,
                                        false);
    FUZZ_CHECK(answer.is_object());
  } else {
    const auto& route = std::get<gi::PageRoute>(parsed.request->what);
    FUZZ_CHECK(route.target.starts_with("/"));
    FUZZ_CHECK(route.target.find_first_of(" \r\n") == std::string::npos);
    FUZZ_CHECK(!route.method.empty() && route.method.find_first_of(" \r\n:") == std::string::npos);
    for (const auto& [name, value] : route.headers) {
      FUZZ_CHECK(!name.empty() && name.find_first_of(" \r\n:") == std::string::npos);
      FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    }
  }
  return 0;
}
