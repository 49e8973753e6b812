#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/peers: what Mumba's peer path costs a unary call, and how soon a new host
finds a peer. Run through bench/peers/run.sh, which builds what this drives.

Two hosts on 127.0.0.1 with a private DHT run tests/apps/peer_probe (a copy whose
Echo takes 100000 calls a second from one node instead of 20). Host A's daemon calls
host B's daemon's /probe.v1.Echo/Say three ways, in alternating rounds after a
warm-up, with the same client code (peer-probe's /call and /direct routes):

  peer   App::PeerChannel: daemon A -> socket pair -> host A's tunnel -> TLS link ->
         host B's tunnel and HTTP/2 gate -> daemon B's unix socket (gRPC end to end)
  unix   a plain insecure channel straight to daemon B's own unix socket
  tcp    a plain insecure channel to a plaintext TCP server in daemon B (127.0.0.1)

The hosts run daemons without the sandbox ([security] sandbox = false): only so can
daemon A reach daemon B at all without its host. Each figure is the median of the
rounds; calls/s is calls over wall time, and the mean latency is wall time x clients
/ calls (every client waits for its answer before the next call). The ratio is peer
over each baseline, beside the issue's target (>= 0.8x). Then new hosts, started
and bootstrapped to the others, are timed from `mumba start peer-probe` to the first
`mumba peers peer-probe` that lists host A (median of --discoveries hosts), twice:
while every DHT node answers (the new hosts stay up), and after those hosts stopped
and linger in the others' routing tables as silent nodes. Last, mumba-links-bench
gives the tunnels alone (a call through two tunnels in host processes vs plaintext TCP).

Every host started is stopped (`mumba host stop`, then by PID) on any exit, error
or Ctrl-C included.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

# The integration tests' helpers: ports free for TCP and UDP, live pids, bounded waits.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/integration"))
import harness  # noqa: E402
from harness import Home, free_ports, wait_for  # noqa: E402

ECHO = "/probe.v1.Echo/Say"
TARGET = 0.8
COMMAND_TIMEOUT = 120
CONFIG = """[p2p]
peer_refresh_ms = 300
peer_expiry_ms = 3000

[security]
sandbox = false
"""


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class _Untested:
    """What Home registers its cleanup with; outside unittest, Host.all and
    stop_all do that job."""

    def addCleanup(self, fn):
        pass


class Host(Home):
    """One MUMBA_HOME and the host on it (the integration tests' Home, which keeps
    every PID it sees and ends them by PID), with peer-probe's bench bundle."""

    all = []

    def __init__(self, bundle):
        super().__init__(_Untested())
        self.bundle = bundle
        Host.all.append(self)
        with open(os.path.join(self.path, "config.toml"), "w") as f:
            f.write(CONFIG)

    def run(self, *args):
        p = super().run(*args, timeout=COMMAND_TIMEOUT)
        if p.returncode != 0:
            raise RuntimeError(f"mumba {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
        return p.stdout

    def json(self, *args):
        return json.loads(self.run(*args, "--json"))

    def start(self, port, bootstrap):
        self.run("host", "start", "--listen", f"127.0.0.1:{port}", "--bootstrap", ",".join(bootstrap))
        self.run("install", "--yes", self.bundle)
        self.node = self.json("node")["node"]

    def route(self, route, **params):
        return json.loads(self.run("route", f"peer-probe://{route}?" + urllib.parse.urlencode(params)))

    def peers(self):
        return {p["node"] for p in self.json("peers", "peer-probe").get("peers", [])}

    def stop(self):
        self.cleanup()
        if self in Host.all:
            Host.all.remove(self)


def stop_all():
    for host in list(Host.all):
        host.stop()


def bench_bundle(source):
    """A copy of the peer-probe bundle whose Echo takes far more than a bench sends."""
    root = tempfile.mkdtemp(prefix="mpb-bundle-", dir="/tmp")
    dst = os.path.join(root, "bundle")
    shutil.copytree(source, dst, symlinks=True)
    path = os.path.join(dst, "mumba.toml")
    with open(path) as f:
        text = f.read()
    old = "calls_per_second = 20\n"
    if old not in text:
        raise RuntimeError(f"{path}: no '{old.strip()}' to raise")
    with open(path, "w") as f:
        f.write(text.replace(old, "calls_per_second = 100000\n", 1))
    return root, dst


def timed(caller, path, target, n, clients):
    """Microseconds for n calls of Echo.Say on `clients` threads of daemon A."""
    params = dict(method=ECHO, text="bench", n=n, clients=clients)
    if path == "peer":
        r = caller.route("call", node=target["node"], **params)
    elif path == "unix":
        r = caller.route("direct", socket=target["socket"], **params)
    else:
        r = caller.route("direct", address=target["address"], **params)
    if r.get("codes") != {"0": n}:
        raise RuntimeError(f"{path} calls failed: {r}")
    return r["us"]


def measure_calls(a, target, args, paths):
    rows = []
    for clients in sorted({1, args.clients}):
        n = args.calls * (1 if clients == 1 else 2)
        for path in paths:
            timed(a, path, target, max(200, n // 5), clients)  # Warm-up.
        us = {p: [] for p in paths}
        for r in range(args.rounds):
            # Each round in the other order, so that neither path always runs after
            # the same one.
            for path in (paths if r % 2 == 0 else paths[::-1]):
                us[path].append(timed(a, path, target, n, clients))
        for path in paths:
            t = statistics.median(us[path])
            rows.append((clients, path, n / (t / 1e6), t * clients / n, [n / (x / 1e6) for x in us[path]]))
        log(f"  {clients} client(s) measured")
    return rows


def time_new_host(bundle, seeds):
    """A new host bootstrapped to the seeds, and the seconds from its `mumba start
    peer-probe` to its first sight of seeds[0]."""
    (port,) = free_ports(1)
    h = Host(bundle)
    h.port = port
    h.start(port, [f"127.0.0.1:{s.port}" for s in seeds])
    t0 = time.monotonic()
    h.run("start", "peer-probe")
    wait_for(lambda: seeds[0].node in h.peers(), 30, interval=0.02, what="a new host to find host A")
    return h, time.monotonic() - t0


def measure_discovery(bundle, seeds, trials):
    """Two phases of `trials` new hosts each. Live: each new host stays up, so the
    DHT grows by one answering node a time. Silent: those hosts are stopped, and
    stay in the others' routing tables as nodes that never answer (as much of the
    real DHT does); each new host is then stopped before the next one."""
    live, silent, joined = [], [], []
    try:
        for _ in range(trials):
            h, seconds = time_new_host(bundle, seeds)
            joined.append(h)
            live.append(seconds)
    finally:
        for h in joined:
            h.stop()
    for _ in range(trials):
        h = None
        try:
            h, seconds = time_new_host(bundle, seeds)
            silent.append(seconds)
        finally:
            if h:
                h.stop()
    return live, silent


def run_links_bench(binary):
    """The tunnels alone: mumba-links-bench's table (two tunnels vs plaintext TCP)."""
    if not binary or not os.path.exists(binary):
        return ["(mumba-links-bench not built: skipped)"]
    p = subprocess.run([binary, "--calls", "5000", "--rounds", "2", "--connects", "5"], capture_output=True,
                       text=True, timeout=600)
    return p.stdout.rstrip().splitlines() or [f"(mumba-links-bench failed: {p.stderr.strip()})"]


def main():
    ap = argparse.ArgumentParser(description="Peer calls through Mumba vs plain gRPC between the same daemons.")
    ap.add_argument("--bin", required=True, help="folder with mumba and mumba-host")
    ap.add_argument("--bundle", required=True, help="the built peer-probe bundle")
    ap.add_argument("--calls", type=int, default=2000, help="calls per round with 1 client (twice as many with more)")
    ap.add_argument("--clients", type=int, default=8, help="the larger client count (1 is always measured)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of each path, alternating")
    ap.add_argument("--seeds", type=int, default=2, help="hosts running peer-probe before discovery is timed")
    ap.add_argument("--discoveries", type=int, default=5, help="new hosts timed to their first peer, in each phase")
    ap.add_argument("--links-bench", default="", help="mumba-links-bench to run for the tunnels alone")
    args = ap.parse_args()
    if args.calls < 100 or args.clients < 1 or args.rounds < 1 or args.seeds < 2 or args.discoveries < 0:
        ap.error("out-of-range flag")
    harness.MUMBA = os.path.join(args.bin, "mumba")  # What Home runs.

    # Ctrl-C and SIGTERM unwind through the finally below (SIGINT too when the shell
    # that started this in the background left it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    bundle_root, bundle = bench_bundle(args.bundle)
    try:
        ports = free_ports(args.seeds)
        seeds = []
        for i, port in enumerate(ports):
            h = Host(bundle)
            h.port = port
            h.start(port, [f"127.0.0.1:{p}" for p in ports if p != port])
            h.run("start", "peer-probe")
            seeds.append(h)
        a, b = seeds[0], seeds[1]
        log(f"hosts: A pid {a.host_pid()}, B pid {b.host_pid()} (perf record -g -p PID to profile)")
        wait_for(lambda: b.node in a.peers() and a.node in b.peers(), 60, interval=0.2, what="A and B to find each other")
        b_status = b.json("status", "peer-probe")
        target = {"node": b.node, "socket": b_status["socket"],
                  "address": f"127.0.0.1:{b.route('listen')['port']}"}
        log(f"B's daemon: {target['socket']} and {target['address']}")
        rows = measure_calls(a, target, args, ["peer", "unix", "tcp"])
        live, silent = measure_discovery(bundle, seeds, args.discoveries) if args.discoveries else ([], [])
    finally:
        stop_all()
        shutil.rmtree(bundle_root, ignore_errors=True)

    links = run_links_bench(args.links_bench)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# peer calls: unary Echo.Say, daemon A -> daemon B on 127.0.0.1; median of {args.rounds} alternating "
          f"rounds; load {load}")
    print(f"# peer = PeerChannel (A's host's tunnel, TLS link, B's host's tunnel and gate); unix/tcp = plain gRPC straight to B's daemon")
    print(f"{'clients':>7} {'path':>5} {'calls/s':>9} {'mean us':>8} {'peer/this':>9}  rounds (calls/s)")
    by = {(c, p): (rate, lat, all_) for c, p, rate, lat, all_ in rows}
    for clients, path, rate, lat, all_ in rows:
        peer_rate = by[(clients, "peer")][0]
        ratio = "" if path == "peer" else f"{peer_rate / rate:.2f}x"
        print(f"{clients:>7} {path:>5} {rate:>9.0f} {lat:>8.0f} {ratio:>9}  {' '.join(f'{x:.0f}' for x in all_)}")
    for clients in sorted({c for c, *_ in rows}):
        for base in ("tcp", "unix"):
            ratio = by[(clients, "peer")][0] / by[(clients, base)][0]
            verdict = "meets" if ratio >= TARGET else "misses"
            print(f"ratio {clients} client(s): peer/{base} = {ratio:.2f}x (target >= {TARGET}x: {verdict})")
    n, total = args.discoveries, args.seeds + args.discoveries
    for name, times, how in (("live", live, f"each new host stays: {args.seeds + 1} to {total} nodes, all answering"),
                             ("silent", silent, f"{n} of {total} nodes stopped and silent at first, one more after each")):
        if not times:
            continue
        med = statistics.median(times)
        print(f"discovery, {name}: mumba start -> first peer listed, median {med * 1000:.0f} ms "
              f"(target <= 1000 ms: {'meets' if med <= 1.0 else 'misses'}); "
              f"in order {' '.join(f'{t * 1000:.0f}' for t in times)} ms; {how}")
    print("# the tunnels alone (mumba-links-bench: a call through two tunnels in host processes vs plaintext TCP, no app)")
    for line in links:
        print("  " + line)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
