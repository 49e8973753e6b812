#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds mumba-storage-bench (with the host and CLI it drives), makes sure the hello
# bundle it installs exists, and runs it once.
#   bench/storage/run.sh [--seconds S] [--file-mib N] [--clients N] [--bundle DIR]
# BUILD_DIR picks the build folder (default: build/ in the source tree); it is
# configured with Ninja if it is not yet. The table goes to stdout.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja
fi
cmake --build "$build" --target mumba-storage-bench >&2
if [ ! -f "$build/tests/hello/bundle/mumba.toml" ]; then
  # The CLI builds apps/hello against the SDK and its CMake package.
  cmake --build "$build" --target mumba mumba-cli >&2
  ctest --test-dir "$build" -R '^build_hello_bundle$' --output-on-failure >&2
fi
exec "$build/bin/mumba-storage-bench" --bundle "$build/tests/hello/bundle" "$@"
