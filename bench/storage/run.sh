#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds mumba-storage-bench (with the host and CLI it drives), makes sure the hello
# bundle it installs exists, and runs it once.
#   bench/storage/run.sh [--seconds S] [--file-mib N] [--clients N] [--bundle DIR]
# BUILD_DIR picks the build folder (default: build/ in the source tree; see
# bench/lib.sh). The table goes to stdout.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" --target mumba-storage-bench >&2
ensure_hello_bundle
exec "$build/bin/mumba-storage-bench" --bundle "$build/tests/hello/bundle" "$@"
