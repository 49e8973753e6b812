#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages Mumba builds and tests with. Safe to run again:
# it only calls apt-get when a package is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  protobuf-compiler libprotobuf-dev libgrpc++-dev protobuf-compiler-grpc
  libsqlite3-dev liblmdb-dev libsodium-dev libssl-dev libnghttp2-dev
  libcli11-dev libspdlog-dev nlohmann-json3-dev libtomlplusplus-dev
  libboost-dev libtorrent-rasterbar-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  procps python3 iproute2 bubblewrap libseccomp-dev systemd dpkg-dev util-linux
  chromium fonts-liberation xvfb
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
