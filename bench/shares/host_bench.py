# SPDX-License-Identifier: Apache-2.0
"""Shares between two real hosts on loopback (bench/shares/host_run.sh runs it):
an SQL store of about MB megabytes is shared by host A and followed by host B.

Prints, in one run:
  - the first follow: time from `mumba follow` to B's replica holding it, beside
    the same bytes installed as an app over BitTorrent (A publishes a bundle of a
    file of that size; B installs it by address), the baseline;
  - a 1 % update (a contiguous range of rows rewritten): how long `mumba share`
    took on A, the time from its return to B's replica holding it, and the bytes
    B received for it (what `mumba follows` reports) against the store's size.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
MB = int(sys.argv[2]) if len(sys.argv) > 2 else 100
MUMBA = os.path.join(BIN, "mumba")
HELLO = sys.argv[3] if len(sys.argv) > 3 else ""


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Host:
    def __init__(self, port, other):
        self.path = tempfile.mkdtemp(prefix="mbs-", dir="/tmp")
        self.env = dict(os.environ, MUMBA_HOME=self.path)
        self.run("host", "start", "--listen", f"127.0.0.1:{port}", "--bootstrap", f"127.0.0.1:{other}")

    def run(self, *args, timeout=600):
        p = subprocess.run([MUMBA, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise SystemExit(f"mumba {' '.join(args[:3])} failed: {p.stderr.strip()}")
        return p.stdout

    def json(self, *args):
        return json.loads(self.run(*args, "--json"))

    def stop(self):
        subprocess.run([MUMBA, "host", "stop"], env=self.env, capture_output=True, timeout=60)
        shutil.rmtree(self.path, ignore_errors=True)


def follow_of(host, address):
    for f in host.json("follows").get("follows", []):
        if f["follow"]["address"] == address:
            return f["follow"]
    return {}


def wait_seq(host, address, seq, limit=600):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        f = follow_of(host, address)
        if int(f.get("seq", 0)) >= seq:
            return time.monotonic(), f
        time.sleep(0.02)
    raise SystemExit(f"the replica did not reach seq {seq} in {limit} s")


def main():
    pa, pb = free_ports(2)
    a, b = Host(pa, pb), Host(pb, pa)
    try:
        a.run("install", HELLO)
        rows = MB * 1024  # 1 KiB rows.
        a.run("sql", "hello", "feed", "CREATE TABLE posts(id INTEGER PRIMARY KEY, body BLOB)")
        for start in range(0, rows, 8192):  # In steps, each well inside the SQL deadline.
            n = min(8192, rows - start)
            a.run("sql", "hello", "feed", f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                  f"LIMIT {n}) INSERT INTO posts(body) SELECT randomblob(1000) FROM c")
        t = time.monotonic()
        first = a.json("share", "hello", "sql", "feed")["share"]
        share_s = time.monotonic() - t
        address, size = first["address"], int(first["bytes"])

        t = time.monotonic()
        b.run("follow", address)
        done, f = wait_seq(b, address, 1)
        follow_s = done - t

        # Baseline: the same bytes as an app installed by address.
        app = a.run("keys", "new").strip()
        bundle = tempfile.mkdtemp(prefix="mbb-", dir="/tmp")
        shutil.copytree(HELLO, bundle, dirs_exist_ok=True)
        with open(os.path.join(bundle, "mumba.toml")) as fh:
            text = fh.read()
        old_id = text.split('id = "', 1)[1].split('"', 1)[0]
        text = text.replace(old_id, app).replace('name = "hello"', 'name = "heavy"')
        with open(os.path.join(bundle, "mumba.toml"), "w") as fh:
            fh.write(text)
        with open(os.path.join(bundle, "payload.bin"), "wb") as fh:
            fh.write(os.urandom(size))
        a.run("publish", bundle)
        t = time.monotonic()
        b.run("install", "--yes", app)
        install_s = time.monotonic() - t
        shutil.rmtree(bundle, ignore_errors=True)

        # A 1 % update: a contiguous range of rows rewritten.
        changed = rows // 100
        a.run("sql", "hello", "feed", f"UPDATE posts SET body = randomblob(1000) WHERE id > {rows // 2} "
              f"AND id <= {rows // 2 + changed}")
        t = time.monotonic()
        second = a.json("share", "hello", "sql", "feed")["share"]
        reshare_s = time.monotonic() - t
        t = time.monotonic()
        done, f = wait_seq(b, address, 2)
        current_s = done - t
        fetched = int(f.get("fetched_bytes", 0))
        new = int(second.get("new_bytes", 0))

        print(f"  2 hosts on 127.0.0.1, an SQL store of {size / 1e6:.1f} MB, [p2p] follow_poll_ms at its default (1000)")
        print(f"  {'':52s} {'figure':>12s}  {'baseline':>22s}  target")
        print(f"  {'first follow: follow -> replica holds it':52s} {follow_s:10.2f} s  "
              f"{install_s:8.2f} s (app install)")
        print(f"  {'share (snapshot, chunk, seed, put): first':52s} {share_s:10.2f} s")
        print(f"  {'share again after a 1 % update':52s} {reshare_s:10.2f} s")
        print(f"  {'share returned -> follower replica current':52s} {current_s:10.2f} s  "
              f"{'':22s}  <= 2 s: {'met' if current_s <= 2 else 'MISSED'}")
        print(f"  {'bytes received for the 1 % update':52s} {fetched / 1e6:9.2f} MB  "
              f"{size / 1e6:8.1f} MB (the store)   {100 * fetched / size:.2f} %  <= 2 %: "
              f"{'met' if fetched <= 0.02 * size else 'MISSED'}")
        print(f"  {'new chunk bytes of the update (publisher side)':52s} {new / 1e6:9.2f} MB")
    finally:
        a.stop()
        b.stop()


main()
