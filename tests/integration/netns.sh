#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs a command in a new network namespace that holds only loopback, so a p2p
# test cannot reach any other address. Where namespaces cannot be made (no root,
# no unshare), runs it as it is: the tests bind and bootstrap only on 127.0.0.1.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
  exec unshare -n sh -c 'ip link set lo up 2>/dev/null || true; exec "$@"' sh "$@"
fi
exec "$@"
