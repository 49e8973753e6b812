// SPDX-License-Identifier: Apache-2.0
// Where the mumba command gets the passphrase of a protected key: the terminal,
// without echo, or the first line of a --passphrase-file. Never argv nor the
// environment: every local user can read the first in /proc, every process of
// the owner the second.
#pragma once

#include <filesystem>
#include <string>

#include "common/keys.h"
#include "mumba/status.h"

namespace mumba::cli {

// Reads a passphrase. With `file` set: its first line, without the line ending.
// Otherwise, when stdin is a terminal: typed on /dev/tty without echo after
// `prompt`, twice with `confirm` (for a new passphrase). The terminal's echo is
// restored even when the user interrupts. INVALID_ARGUMENT for an empty or too
// long passphrase or two that differ; NOT_FOUND or PERMISSION_DENIED when `file`
// cannot be read; FAILED_PRECONDITION when there is no file and no terminal,
// naming --passphrase-file.
Expected<Passphrase> ReadPassphrase(const std::string& file, const std::string& prompt, bool confirm);

// The passphrase that opens the key of `address` in `keys_dir`: empty when the
// key is not protected, or not there (the command that loads it then says so);
// else read as ReadPassphrase does, with a prompt naming the address.
Expected<Passphrase> PassphraseFor(const std::filesystem::path& keys_dir, const std::string& address,
                                   const std::string& file);

}  // namespace mumba::cli
