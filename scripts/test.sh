#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds Mumba and runs every test: unit tests, then integration tests that start
# real hosts and daemons in temporary homes (unix sockets only, no network).
# Usage: scripts/test.sh [extra ctest arguments, e.g. -L unit or -R lifecycle]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# WebTorrent (pinned, from npm) for the interop test; a no-op when up to date.
bash tests/interop/install.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMUMBA_BUILD_TESTS=ON
cmake --build build
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
