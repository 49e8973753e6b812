// SPDX-License-Identifier: Apache-2.0
// Lowercase RFC 4648 base32 without padding: the alphabet of Mumba addresses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mumba/status.h"

namespace mumba {

std::string Base32Encode(const std::vector<uint8_t>& bytes);

// Accepts lowercase or uppercase; refuses padding and characters outside the
// alphabet, and trailing bits that are not zero (so every input has one encoding).
Expected<std::vector<uint8_t>> Base32Decode(std::string_view text);

}  // namespace mumba
