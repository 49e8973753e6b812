#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds mumba-links-bench and runs it once: a unary call through the tunnel path
# of a peer call (client -> calling host's tunnel -> TLS 1.3 link, certificates
# bound to ed25519 node keys -> receiving host's tunnel -> server, four processes)
# vs the same call over plaintext TCP, 1 and N client threads, against the target
# of issue 13 (a peer call at >= 0.8x plaintext), and a new channel's first answer.
#   bench/links/run.sh [--calls N] [--clients N] [--rounds N] [--connects N] [--copy-filter]
# BUILD_DIR picks the build folder (default: build/ in the source tree; see
# bench/lib.sh). The table goes to stdout.
#
# Everything listens on 127.0.0.1 only. As root it also runs in a new network
# namespace that holds nothing but loopback, as bench/p2p/run.sh does.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" --target mumba-links-bench >&2
bench="$build/bin/mumba-links-bench"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
  exec unshare -n sh -c 'ip link set lo up || exit 1; exec "$@"' sh "$bench" "$@"
fi
echo "run.sh: not root (or no unshare): running without a network namespace, on 127.0.0.1 only" >&2
exec "$bench" "$@"
