#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds mumba-bench (with the host, CLI and SDK it drives) and runs it once.
#   bench/run.sh [--seconds S] [--warmup S] [--clients N] [--reps N]
# BUILD_DIR picks the build folder (default: build/ in the source tree; see
# bench/lib.sh). The table goes to stdout.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" --target mumba-bench >&2
exec "$build/bin/mumba-bench" "$@"
