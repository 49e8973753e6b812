#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the independent BitTorrent clients the interop tests run against Mumba
# (WebTorrent, from npm) into tests/interop/node_modules, exactly as package-lock.json
# pins them. Safe to run again: it does nothing while node_modules matches the lock.
# Needs the npm registry; the tests themselves run offline, on loopback only.
set -euo pipefail
cd "$(dirname "$0")"

STAMP=node_modules/.mumba-install-stamp
# The same digest test_p2p_interop.py computes to tell whether node_modules is current.
digest() { cat package.json package-lock.json .npmrc | sha256sum | cut -d' ' -f1; }

# Node.js 18.20+ and npm. The machine's own Node.js is used when there is one; only
# when there is none do we install Debian 12's (apt would refuse npm next to a
# Node.js from elsewhere that already bundles npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing=()
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "interop/install.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1
    fi
  fi
  echo "interop/install.sh: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 20) ? 0 : 1)'; then
  echo "interop/install.sh: Node.js $(node --version) is too old: WebTorrent 2.8.5 needs 18.20 or newer" >&2
  exit 1
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(digest)" ]; then
  exit 0
fi
echo "interop/install.sh: npm ci in tests/interop (WebTorrent and its dependencies)"
# .npmrc here sets ignore-scripts=true: no package may fetch binaries from elsewhere.
timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
digest > "$STAMP"
