#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Apps calling apps, measured in one run on one host:
#   - a unary call (hello.v1.Greeter/SayHello) over a connection the broker handed
#     out vs the same call on the callee's own socket, with 1 and N client threads,
#     both made by the same daemon (tests/apps/call_probe) one after the other;
#   - the time App::Connect takes to obtain a brokered channel (median and p90).
#   bench/broker/run.sh [--calls N] [--clients N] [--connects N]
# The host runs with [security] sandbox = false so that the probe can also reach
# hello's socket directly, the baseline; the brokered path is the same either way.
# BUILD_DIR picks the build folder (default: build/; see bench/lib.sh).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/lib.sh"
calls=20000 clients=8 connects=200
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --connects) connects=$2; shift 2 ;;
    -h|--help) sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
cmake --build "$build" --target mumba mumba-cli mumba-host >&2
ensure_hello_bundle
mumba=$build/bin/mumba
probe_build=$build/tests/call_probe
"$mumba" build "$root/tests/apps/call_probe" --build-dir "$probe_build" >/dev/null

work=$(mktemp -d /tmp/mbb-XXXXXX)
export MUMBA_HOME=$work/home
cleanup() {
  "$mumba" host stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
mkdir -p "$MUMBA_HOME"
printf '[security]\nsandbox = false\n' > "$MUMBA_HOME/config.toml"
cp -r "$probe_build/bundle" "$work/probe"
printf '\n[permissions]\ncall = ["hello.v1.Greeter"]\n' >> "$work/probe/mumba.toml"
"$mumba" install "$build/tests/hello/bundle" >/dev/null
"$mumba" install --yes "$work/probe" >/dev/null
"$mumba" start hello >/dev/null
"$mumba" start call-probe >/dev/null
socket=$("$mumba" status hello --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["socket"])')
url="call-probe://bench?target=hello.v1.Greeter&method=/hello.v1.Greeter/SayHello&n=$calls&clients=$clients&connects=$connects&direct=$socket"
"$mumba" route "$url" | python3 -c '
import json, sys
r = json.load(sys.stdin)
if r.get("error"):
    sys.exit("bench failed: " + r["error"])
if "connect_median_us" not in r:
    sys.exit("bench failed: %s" % r)
clients = int(sys.argv[1])
print("| what | brokered | direct (baseline) | ratio |")
print("|---|---|---|---|")
for c in sorted({1, clients}):
    b, d = r["brokered_%d" % c], r["direct_%d" % c]
    print("| SayHello, %d client%s | %.0f/s | %.0f/s | %.2fx |" % (c, "" if c == 1 else "s", b, d, b / d))
print("| App::Connect | median %.0f us, p90 %.0f us | | |" % (r["connect_median_us"], r["connect_p90_us"]))
' "$clients"
