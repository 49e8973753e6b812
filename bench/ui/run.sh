#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds everything (the host, the CLI, the SDK and mumba-ui-bench), builds the hello
# bundle the bench installs, and runs the bench once.
#   bench/ui/run.sh [--seconds S] [--lanes N] [--samples N] [--only-calls]
# BUILD_DIR picks the build folder (default: build/ in the source tree; see
# bench/lib.sh). The table goes to stdout.
#
# Needs Chromium (apt-get install chromium). The host's gateway, the daemon and the
# bench's own HTTP server listen on 127.0.0.1 only, and Chromium runs with Mumba's
# flags (no background networking, no component updates), so nothing leaves loopback.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" >&2
# The CLI builds apps/hello against the SDK and its CMake package (only what changed).
"$build/bin/mumba" build "$root/apps/hello" --build-dir "$build/tests/hello" >&2
exec "$build/bin/mumba-ui-bench" --bin-dir "$build/bin" --hello-bundle "$build/tests/hello/bundle" "$@"
