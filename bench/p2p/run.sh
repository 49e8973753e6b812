#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds mumba-p2p-bench (with the host and CLI it drives), makes sure the hello
# bundle it publishes exists, and runs it once.
#   bench/p2p/run.sh [--mb N] [--nodes N] [--lookups N] [--bundle DIR] [--skip-install] [--skip-dht]
# BUILD_DIR picks the build folder (default: build/ in the source tree; see
# bench/lib.sh). The table goes to stdout.
#
# The bench listens and bootstraps only on 127.0.0.1. As root it also runs in a new
# network namespace that holds nothing but loopback (as tests/integration/netns.sh
# does), so no packet can leave the machine whatever libtorrent decides.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" --target mumba-p2p-bench >&2
ensure_hello_bundle
bench="$build/bin/mumba-p2p-bench"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
  exec unshare -n sh -c 'ip link set lo up || exit 1; exec "$@"' sh "$bench" --bundle "$build/tests/hello/bundle" "$@"
fi
echo "run.sh: not root (or no unshare): running without a network namespace, on 127.0.0.1 only" >&2
exec "$bench" --bundle "$build/tests/hello/bundle" "$@"
