// SPDX-License-Identifier: Apache-2.0
// The DevTools Input domain for one attached tab: trusted mouse and keyboard input.
#pragma once

#include <string>

#include "mumba/status.h"
#include "shell/cdp_connection.h"

namespace mumba::shell {

enum class MouseButton { kLeft, kMiddle, kRight };

// Borrows `cdp`, which must outlive it; `session_id` comes from
// TargetClient::AttachToTarget. Thread-safe like CdpConnection; errors are
// CdpConnection::Call's. The events are trusted (isTrusted is true in the page).
class InputClient {
 public:
  InputClient(CdpConnection* cdp, std::string session_id)
      : cdp_(cdp), session_id_(std::move(session_id)) {}

  // Moves the mouse to (x, y) in CSS pixels relative to the viewport, then presses
  // and releases `button` there: a single click.
  Status Click(double x, double y, MouseButton button = MouseButton::kLeft);

  // Inserts `text` into the focused element as an IME would: input events fire,
  // key events do not.
  Status InsertText(const std::string& text);
  // Presses and releases one key, with the keydown/keypress/keyup events a user's
  // key gives: a named key ("Enter", "Tab", "Escape", "Backspace", "Delete",
  // "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp",
  // "PageDown", "Space") or one printable ASCII character. INVALID_ARGUMENT otherwise.
  Status PressKey(const std::string& key);

 private:
  CdpConnection* cdp_;
  std::string session_id_;
};

}  // namespace mumba::shell
