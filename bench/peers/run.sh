#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the host, the CLI, the SDK, mumba-links-bench and the peer-probe test app,
# then runs bench/peers/peers_bench.py once: a unary peer call through Mumba's
# authenticated path (PeerChannel, both hosts, the TLS link) against plain gRPC
# between the same two daemons (their unix socket, and plaintext TCP), 1 and N
# clients, beside issue 13's target (>= 0.8x); the time a new host takes from
# `mumba start` to its first peer; and mumba-links-bench's figures for the tunnels alone.
#   bench/peers/run.sh [--calls N] [--clients N] [--rounds N] [--seeds N] [--discoveries N]
# BUILD_DIR picks the build folder (default: build/ in the source tree; see
# bench/lib.sh). The table goes to stdout, progress and the hosts' PIDs (to attach
# perf to) to stderr.
#
# Everything listens and bootstraps on 127.0.0.1 only. As root it also runs in a new
# network namespace that holds nothing but loopback, as bench/p2p/run.sh does.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" --target mumba-host mumba-cli mumba mumba-links-bench >&2
"$build/bin/mumba" build "$root/tests/apps/peer_probe" --build-dir "$build/tests/peer_probe" >&2
set -- python3 "$root/bench/peers/peers_bench.py" --bin "$build/bin" --bundle "$build/tests/peer_probe/bundle" \
  --links-bench "$build/bin/mumba-links-bench" "$@"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
  exec unshare -n sh -c 'ip link set lo up || exit 1; exec "$@"' sh "$@"
fi
echo "run.sh: not root (or no unshare): running without a network namespace, on 127.0.0.1 only" >&2
exec "$@"
