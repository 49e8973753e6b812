// SPDX-License-Identifier: Apache-2.0
#include "shell/input.h"

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

Status InputClient::InsertText(const std::string& text) {
  return cdp_->Call("Input.insertText", {{"text", text}}, session_id_).status();
}

}  // namespace mumba::shell
