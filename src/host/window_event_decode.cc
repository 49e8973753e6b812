// SPDX-License-Identifier: Apache-2.0
// Decoding an app browser's DevTools events; see window_event_decode.h.
#include "host/window_event_decode.h"

#include <climits>
#include <vector>

#include "shell/json_fields.h"

namespace mumba {
namespace {

using json = nlohmann::json;
using shell::Field;
using shell::StringField;

// How deep a console argument's value may nest and still be shown as JSON. Writing
// JSON out recurses once per level, and a renderer may send a value nested a
// million deep; real console values carry primitives only.
constexpr size_t kMaxShownDepth = 32;

// An integer field that fits an int; -1 otherwise.
int IntField(const json& object, const char* key) {
  const json& v = Field(object, key);
  if (v.is_number_unsigned()) {
    return v.get<uint64_t>() <= static_cast<uint64_t>(INT_MAX) ? static_cast<int>(v.get<uint64_t>()) : -1;
  }
  if (v.is_number_integer()) {
    const int64_t n = v.get<int64_t>();
    return n >= INT_MIN && n <= INT_MAX ? static_cast<int>(n) : -1;
  }
  return -1;
}

bool BoolField(const json& object, const char* key) {
  const json& v = Field(object, key);
  return v.is_boolean() && v.get<bool>();
}

// Whether `value` nests no deeper than `limit`, found without recursion.
bool NestsAtMost(const json& value, size_t limit) {
  std::vector<std::pair<const json*, size_t>> pending = {{&value, 0}};
  while (!pending.empty()) {
    auto [v, depth] = pending.back();
    pending.pop_back();
    if (!v->is_structured()) continue;
    if (depth >= limit) return false;
    for (const json& child : *v) pending.emplace_back(&child, depth + 1);
  }
  return true;
}

// Cuts `text` to at most `limit` bytes without splitting a UTF-8 sequence, and
// says it was cut.
void Truncate(std::string& text, size_t limit) {
  static constexpr std::string_view kMore = "…";
  if (text.size() <= limit) return;
  size_t end = limit - kMore.size();
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  text += kMore;
}

// console.log("a", 1) -> "a 1".
std::string ConsoleText(const json& args) {
  std::string out;
  if (!args.is_array()) return out;
  for (const json& a : args) {
    if (out.size() > kMaxConsoleTextBytes) break;
    if (!out.empty()) out += " ";
    const json& v = Field(a, "value");
    if (v.is_string()) {
      out += v.get_ref<const std::string&>();
    } else if (!v.is_null() && NestsAtMost(v, kMaxShownDepth)) {
      out += v.dump(-1, ' ', false, json::error_handler_t::replace);
    } else {
      out += StringField(a, "description");
    }
  }
  Truncate(out, kMaxConsoleTextBytes);
  return out;
}

}  // namespace

WindowEvent DecodeWindowEvent(std::string_view method, const nlohmann::json& params,
                              std::string_view notify_binding) {
  using Kind = WindowEvent::Kind;
  WindowEvent e;
  if (method == "Target.targetDestroyed") {
    e.target_id = StringField(params, "targetId");
    if (!e.target_id.empty()) e.kind = Kind::kTargetDestroyed;
  } else if (method == "Target.targetInfoChanged") {
    const json& info = Field(params, "targetInfo");
    e.target_id = StringField(info, "targetId");
    e.url = StringField(info, "url");
    e.title = StringField(info, "title");
    if (!e.target_id.empty()) e.kind = Kind::kTargetInfoChanged;
  } else if (method == "Runtime.executionContextCreated") {
    const json& c = Field(params, "context");
    const json& aux = Field(c, "auxData");
    e.context_id = IntField(c, "id");
    e.origin = StringField(c, "origin");
    e.unique_id = StringField(c, "uniqueId");
    e.frame_id = StringField(aux, "frameId");
    e.is_default = BoolField(aux, "isDefault");
    if (e.context_id >= 0) e.kind = Kind::kContextCreated;
  } else if (method == "Runtime.executionContextDestroyed") {
    e.context_id = IntField(params, "executionContextId");
    if (e.context_id >= 0) e.kind = Kind::kContextDestroyed;
  } else if (method == "Runtime.executionContextsCleared") {
    e.kind = Kind::kContextsCleared;
  } else if (method == "Runtime.consoleAPICalled") {
    e.kind = Kind::kConsole;
    e.level = StringField(params, "type");
    e.text = ConsoleText(Field(params, "args"));
  } else if (method == "Runtime.bindingCalled") {
    if (StringField(params, "name") != notify_binding || notify_binding.empty()) return e;
    e.context_id = IntField(params, "executionContextId");
    e.payload = StringField(params, "payload");
    if (e.context_id >= 0) e.kind = Kind::kNotify;
  } else if (method == "Page.frameNavigated") {
    const json& frame = Field(params, "frame");
    // Only the main frame, which has no parent, says where the window is.
    if (!frame.is_object() || frame.contains("parentId")) return e;
    e.url = StringField(frame, "url");
    e.kind = Kind::kMainFrameNavigated;
  }
  return e;
}

}  // namespace mumba
