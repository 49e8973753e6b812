// SPDX-License-Identifier: Apache-2.0
// Reading a DevTools event of an app's browser into what `Windows` acts on: which
// window closed or changed, which JavaScript context of which origin appeared or
// went, what a page logged, notified or navigated to. The event comes from
// Chromium, but its Runtime and Page events are written by the renderer, which
// runs what any web page sends: every field may be missing, of another type, or
// huge. Decoding is a pure function, so it is unit-tested and fuzzed
// (fuzz/window_event_fuzzer.cc) without a browser; what a window does with the
// result stays in windows.cc.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mumba {

// A console message is cut to this many bytes (at a UTF-8 boundary, with "…"
// added): pages can log megabytes in one call, and every subscriber copies it.
inline constexpr size_t kMaxConsoleTextBytes = 64 * 1024;

// One DevTools event, decoded. Fields a kind does not use stay empty (-1 for ids).
struct WindowEvent {
  enum class Kind {
    kIgnored,             // Another method, or one missing what makes it useful.
    kTargetDestroyed,     // target_id.
    kTargetInfoChanged,   // target_id, url, title.
    kContextCreated,      // context_id, origin, unique_id, frame_id, is_default.
    kContextDestroyed,    // context_id.
    kContextsCleared,     // Nothing more.
    kConsole,             // level, text.
    kNotify,              // context_id, payload: the page's binding was called.
    kMainFrameNavigated,  // url (a child frame's navigation is kIgnored).
  };
  Kind kind = Kind::kIgnored;
  std::string target_id;
  std::string url;
  std::string title;
  int context_id = -1;
  std::string origin;
  std::string unique_id;
  std::string frame_id;
  bool is_default = false;
  std::string level;
  std::string text;
  std::string payload;
};

// Decodes the DevTools event `method` with `params` (any JSON value) for a window
// whose notify binding is named `notify_binding`. Never throws and never fails: a
// field that is missing or of the wrong type reads as empty (or -1, or false); an
// event that is of no use reads as kIgnored, as does a call of any other binding.
// Context ids that are not integers fitting an int are -1 (which no context has).
// A console message's arguments are joined by spaces, primitives by value and
// others by their description, and cut to kMaxConsoleTextBytes.
WindowEvent DecodeWindowEvent(std::string_view method, const nlohmann::json& params,
                              std::string_view notify_binding);

}  // namespace mumba
