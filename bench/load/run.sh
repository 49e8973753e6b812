#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds everything (the host, the CLI, the SDK and mumba-load-bench), builds the
# hello bundle the bench installs, and runs the bench once.
#   bench/load/run.sh [--seconds S] [--clients N] [--apps N] [--running N] [--skip-load] [--skip-scale]
# BUILD_DIR picks the build folder (default: build/ in the source tree; see
# bench/lib.sh). The table goes to stdout. Everything listens on 127.0.0.1 only.
# The full run takes about 8 minutes and needs about 1.5 GB in /tmp (1000 copies
# of the hello bundle and their installs).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" >&2
# The CLI builds apps/hello against the SDK and its CMake package (only what changed).
"$build/bin/mumba" build "$root/apps/hello" --build-dir "$build/tests/hello" >&2
exec "$build/bin/mumba-load-bench" --bin-dir "$build/bin" --hello-bundle "$build/tests/hello/bundle" "$@"
