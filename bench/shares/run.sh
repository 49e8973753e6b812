#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds mumba-shares-bench and runs it once.
#   bench/shares/run.sh [--mb N] [--chunk-kib N] [--changed-percent P]
# BUILD_DIR picks the build folder (default: build/ in the source tree; see
# bench/lib.sh). The table goes to stdout.
#
# The bench listens and joins only on 127.0.0.1. As root it also runs in a new
# network namespace that holds nothing but loopback, so no packet can leave the
# machine whatever libtorrent decides.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" --target mumba-shares-bench >&2
bench="$build/bin/mumba-shares-bench"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
  exec unshare -n sh -c 'ip link set lo up || exit 1; exec "$@"' sh "$bench" "$@"
fi
echo "run.sh: not root (or no unshare): running without a network namespace, on 127.0.0.1 only" >&2
exec "$bench" "$@"
