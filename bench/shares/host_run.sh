#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Shares between two real hosts: first follow vs an app install of the same bytes,
# and a 1 % update (bytes received, republish to replica current).
#   bench/shares/host_run.sh [MB]      (default 100)
# As root it runs in a network namespace that holds nothing but loopback.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" --target mumba-cli mumba-host >&2
ensure_hello_bundle
set -- python3 "$root/bench/shares/host_bench.py" "$build/bin" "${1:-100}" "$build/tests/hello/bundle"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
  exec unshare -n sh -c 'ip link set lo up || exit 1; exec "$@"' sh "$@"
fi
exec "$@"
