// SPDX-License-Identifier: Apache-2.0
// Fuzzes DecodeWindowEvent (src/host/window_event_decode.h): how the host reads the
// DevTools events of an app's browser into window changes, console lines, notify
// calls and navigations. The Runtime events are written by the renderer, which runs
// whatever a web page sends, so their fields may be anything.
//
// The input's first byte picks the event's method (one the host reads, or another);
// the rest is its params as JSON text, parsed the way CdpConnection parses a
// message. Beyond not crashing or throwing: every kind carries what it promises (a
// target id, a context id that no context lacks), a notify comes only from the
// window's own binding, a console line stays under its cap, and every text is UTF-8
// that a protobuf string field and the JSON the gateway writes both accept.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "host/window_event_decode.h"

using json = nlohmann::json;
using Kind = mumba::WindowEvent::Kind;

namespace {

constexpr std::string_view kMethods[] = {
    "Target.targetDestroyed",  "Target.targetInfoChanged",         "Runtime.executionContextCreated",
    "Runtime.consoleAPICalled", "Runtime.executionContextDestroyed", "Runtime.executionContextsCleared",
    "Runtime.bindingCalled",   "Page.frameNavigated",              "Page.loadEventFired",
};
constexpr char kBinding[] = "__mumbaNotify";

// Text the host puts into a PageEvent must be valid UTF-8: json's strict dump
// throws on anything else.
void CheckUtf8(const std::string& text) {
  bool valid = true;
  try {
    (void)json(text).dump();
  } catch (const json::exception&) {
    valid = false;
  }
  FUZZ_CHECK_SAYING(valid, text.substr(0, 80).c_str());
}

// Whether the event's params name the binding `name`.
bool Names(const json& params, std::string_view name) {
  if (!params.is_object()) return false;
  auto it = params.find("name");
  return it != params.end() && it->is_string() && it->get_ref<const std::string&>() == name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view method = kMethods[data[0] % std::size(kMethods)];
  const json params = json::parse(reinterpret_cast<const char*>(data) + 1, reinterpret_cast<const char*>(data) + size,
                            nullptr, /*allow_exceptions=*/false);
  if (params.is_discarded()) return 0;

  const mumba::WindowEvent e = mumba::DecodeWindowEvent(method, params, kBinding);
  for (const std::string* text : {&e.target_id, &e.url, &e.title, &e.origin, &e.unique_id, &e.frame_id, &e.level,
                                  &e.text, &e.payload}) {
    CheckUtf8(*text);
  }
  FUZZ_CHECK(e.text.size() <= mumba::kMaxConsoleTextBytes);
  switch (e.kind) {
    case Kind::kIgnored:
      break;
    case Kind::kTargetDestroyed:
      FUZZ_CHECK(method == "Target.targetDestroyed" && !e.target_id.empty());
      break;
    case Kind::kTargetInfoChanged:
      FUZZ_CHECK(method == "Target.targetInfoChanged" && !e.target_id.empty());
      break;
    case Kind::kContextCreated:
      FUZZ_CHECK(method == "Runtime.executionContextCreated" && e.context_id >= 0);
      break;
    case Kind::kContextDestroyed:
      FUZZ_CHECK(method == "Runtime.executionContextDestroyed" && e.context_id >= 0);
      break;
    case Kind::kContextsCleared:
      FUZZ_CHECK(method == "Runtime.executionContextsCleared");
      break;
    case Kind::kConsole:
      FUZZ_CHECK(method == "Runtime.consoleAPICalled");
      break;
    case Kind::kNotify:
      FUZZ_CHECK(method == "Runtime.bindingCalled" && e.context_id >= 0);
      FUZZ_CHECK(Names(params, kBinding));
      break;
    case Kind::kMainFrameNavigated:
      FUZZ_CHECK(method == "Page.frameNavigated" && !params.at("frame").contains("parentId"));
      break;
  }
  if (method == "Page.loadEventFired") FUZZ_CHECK(e.kind == Kind::kIgnored);
  // Another binding's name never notifies, whatever else the event says.
  FUZZ_CHECK(mumba::DecodeWindowEvent(method, params, "__otherBinding").kind != Kind::kNotify ||
             Names(params, "__otherBinding"));
  return 0;
}
