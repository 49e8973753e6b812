// SPDX-License-Identifier: Apache-2.0
// One call per line of a stream: the loop of `mumba call --lines`, apart from how
// a line is called, so that it is tested on its own.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

#include "mumba/status.h"

namespace mumba::cli {

// Makes one call of a line and gives its reply (one line, no newline).
using LineCall = std::function<Expected<std::string>(const std::string& line)>;

// Reads `in` a line at a time (the last one may lack its newline) and calls `call`
// with each line that is not blank (blank: only spaces, tabs and a CR), without its
// newline or a CR before it. Each reply goes to `out` with a newline, flushed at
// once, in the order of the lines. OK at the end of `in`. At the first failed call,
// its status with "line N: " in front (N counts every line, blank ones too), and
// no later line is read. When `in` cannot be read or `out` written, that error as
// ErrnoStatus (platform/errno_status.h) makes it, naming the line.
Status CallEachLine(const LineCall& call, std::FILE* in, std::FILE* out);

}  // namespace mumba::cli
