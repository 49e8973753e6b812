// SPDX-License-Identifier: Apache-2.0
#include "shell/input.h"

#include <cctype>

namespace mumba::shell {

using json = nlohmann::json;

namespace {

const char* ButtonName(MouseButton button) {
  switch (button) {
    case MouseButton::kLeft: return "left";
    case MouseButton::kMiddle: return "middle";
    case MouseButton::kRight: return "right";
  }
  return "left";
}

// The `buttons` bit mask of a pressed button, as in the DOM's MouseEvent.buttons.
int ButtonMask(MouseButton button) {
  switch (button) {
    case MouseButton::kLeft: return 1;
    case MouseButton::kRight: return 2;
    case MouseButton::kMiddle: return 4;
  }
  return 1;
}

}  // namespace

Status InputClient::Click(double x, double y, MouseButton button) {
  // Moving first gives the page the hover and mouseover it would see from a user.
  MUMBA_TRY(cdp_->Call("Input.dispatchMouseEvent", {{"type", "mouseMoved"}, {"x", x}, {"y", y}},
                       session_id_)
                .status());
  json press = {{"type", "mousePressed"}, {"x", x}, {"y", y}, {"button", ButtonName(button)},
                {"buttons", ButtonMask(button)}, {"clickCount", 1}};
  MUMBA_TRY(cdp_->Call("Input.dispatchMouseEvent", press, session_id_).status());
  json release = press;
  release["type"] = "mouseReleased";
  release["buttons"] = 0;
  return cdp_->Call("Input.dispatchMouseEvent", release, session_id_).status();
}

Status InputClient::PressKey(const std::string& key) {
  struct Named {
    const char* name;
    const char* key;
    int code;          // Windows virtual key code, which pages see as keyCode.
    const char* text;  // What the key types, if anything.
  };
  static constexpr Named kKeys[] = {
      {"Enter", "Enter", 13, "\r"},         {"Tab", "Tab", 9, ""},
      {"Escape", "Escape", 27, ""},         {"Backspace", "Backspace", 8, ""},
      {"Delete", "Delete", 46, ""},         {"ArrowLeft", "ArrowLeft", 37, ""},
      {"ArrowUp", "ArrowUp", 38, ""},       {"ArrowRight", "ArrowRight", 39, ""},
      {"ArrowDown", "ArrowDown", 40, ""},   {"Home", "Home", 36, ""},
      {"End", "End", 35, ""},               {"PageUp", "PageUp", 33, ""},
      {"PageDown", "PageDown", 34, ""},     {"Space", " ", 32, " "},
  };
  json down = {{"type", "keyDown"}};
  std::string code;
  for (const auto& k : kKeys) {
    if (key == k.name) {
      down["key"] = k.key;
      down["code"] = k.name;
      down["windowsVirtualKeyCode"] = k.code;
      if (*k.text) down["text"] = k.text;
    }
  }
  if (!down.contains("key")) {
    if (key.size() != 1 || key[0] < 0x20 || key[0] > 0x7e) {
      return InvalidArgument("'" + key + "' is not a key PressKey knows");
    }
    const char c = key[0];
    const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    down["key"] = key;
    down["text"] = key;
    down["windowsVirtualKeyCode"] = static_cast<int>(std::isalnum(static_cast<unsigned char>(c)) ? upper : c);
    if (std::isalpha(static_cast<unsigned char>(c))) down["code"] = std::string("Key") + upper;
    if (std::isdigit(static_cast<unsigned char>(c))) down["code"] = std::string("Digit") + c;
  }
  MUMBA_TRY(cdp_->Call("Input.dispatchKeyEvent", down, session_id_).status());
  json up = down;
  up["type"] = "keyUp";
  up.erase("text");
  return cdp_->Call("Input.dispatchKeyEvent", up, session_id_).status();
}

Status InputClient::InsertText(const std::string& text) {
  return cdp_->Call("Input.insertText", {{"text", text}}, session_id_).status();
}

}  // namespace mumba::shell
