#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian package: build/mumba_<version>_<arch>.deb (e.g. mumba_0.1.0_amd64.deb)
# holding mumba, mumba-host, the home app and the SDK under /usr, with its Depends
# (the runtime libraries and bubblewrap) and Recommends (Chromium, the tools that
# build apps). Install it with `sudo apt-get install ./build/mumba_<version>_amd64.deb`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build
(cd build && cpack -G DEB -B "$PWD" >/dev/null)
deb=$(ls -t build/mumba_*.deb | head -n 1)
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\|Recommends\):/\1:/p'
echo "$deb"
