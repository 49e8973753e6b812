#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds mumba-bench (with the host, CLI and SDK it drives) and runs it once.
#   bench/run.sh [--seconds S] [--warmup S] [--clients N] [--reps N]
# BUILD_DIR picks the build folder (default: build/ in the source tree); it is
# configured with Ninja if it is not yet. The table goes to stdout.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja
fi
cmake --build "$build" --target mumba-bench >&2
exec "$build/bin/mumba-bench" "$@"
