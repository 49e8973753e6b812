// SPDX-License-Identifier: Apache-2.0
// Standard base64 (RFC 4648 section 4), as DevTools sends binary data such as
// screenshots.
#pragma once

#include <string>
#include <string_view>

#include "mumba/status.h"

namespace mumba::shell {

// Decodes `text` into raw bytes. Padding is optional; whitespace is not allowed.
// Returns INVALID_ARGUMENT on a character outside the alphabet or a truncated
// final group.
Expected<std::string> Base64Decode(std::string_view text);

}  // namespace mumba::shell
