#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the host, the CLI and the SDK, then runs bench/dev/dev_bench.py once: how
# soon `mumba dev` shows a UI edit in the app's window (issue 15: <= 300 ms) beside
# a plain reload of the same page, how soon a source edit is live in the window
# after its build (<= 2 s) beside bare `mumba build` + `mumba install`, and how long
# `mumba doctor` takes beside the programs it runs.
#   bench/dev/run.sh [--ui-rounds N] [--source-rounds N] [--doctor-rounds N]
# BUILD_DIR picks the build folder (default: build/ in the source tree; see
# bench/lib.sh). The table goes to stdout, progress to stderr. Needs Chromium.
#
# The host's gateway listens on 127.0.0.1 and starts no p2p node. As root the bench
# also runs in a new network namespace that holds nothing but loopback. It ends in
# at most a few minutes, and cleans up after itself on any exit, Ctrl-C included.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
cmake --build "$build" --target mumba-host mumba-cli mumba >&2
set -- python3 "$root/bench/dev/dev_bench.py" "$@"
export MUMBA_BIN_DIR="$build/bin"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
  exec timeout --signal=INT --kill-after=60 1200 unshare -n sh -c 'ip link set lo up || exit 1; exec "$@"' sh "$@"
fi
echo "run.sh: not root (or no unshare): running without a network namespace, on 127.0.0.1 only" >&2
exec timeout --signal=INT --kill-after=60 1200 "$@"
