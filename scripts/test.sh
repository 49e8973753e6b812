#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds Mumba and runs every test: unit tests, then integration tests that start
# real hosts and daemons in temporary homes (unix sockets only, no network); then
# the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
# (scripts/sanitize.sh unit: only the unit test executables are built, in
# build-asan/) and the integration modules of hostile input under the same
# sanitizers (scripts/sanitize.sh hostile); then a short run of every fuzzer (scripts/fuzz.sh, 10 s each, a
# fixed seed). This is what CI runs.
# Usage: scripts/test.sh [extra ctest arguments, e.g. -L unit or -R lifecycle]
#   With arguments, only the plain build's ctest runs, with them.
#   Of the integration tests, only the hostile-input modules run under ASan
#   (scripts/sanitize.sh hostile); the whole suite under ASan (scripts/sanitize.sh)
#   and the TSan run (scripts/sanitize.sh thread) are not part of it: run them by hand.
set -euo pipefail
if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
  sed -n '3,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# WebTorrent (pinned, from npm) for the interop test; a no-op when up to date.
bash tests/interop/install.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMUMBA_BUILD_TESTS=ON
cmake --build build
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@")
if [ "$#" -eq 0 ]; then
  bash scripts/sanitize.sh unit
  # The integration modules that feed the host what strangers send, under ASan.
  bash scripts/sanitize.sh hostile
  # A fixed seed: the inputs a short run tries are a prefix of the same sequence on
  # every machine, so CI does not fail on what another run happened to draw.
  FUZZ_SEED=1 bash scripts/fuzz.sh all 10
fi
