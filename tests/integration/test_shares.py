# SPDX-License-Identifier: Apache-2.0
"""Stores as torrents: hosts on this machine, in a private loopback DHT, share an
app's SQL, key-value and file stores and follow each other's. A follower's replica
is read-only, stays current as the publisher shares again, and is served by the
followers when the publisher is away.

Run through netns.sh: the module lives in a network namespace that holds nothing
but loopback.
"""
import hashlib
import json
import os
import shutil
import tempfile
import time
import unittest

from harness import Home, copy_bundle, edit_manifest, free_ports, wait_for
from test_p2p_refusals import wait_resolves

CONFIG = """[p2p]
follow_poll_ms = 300
"""


def rows(home, app, db, sql):
    p = home.run("sql", app, db, sql, "--json", check=True)
    return json.loads(p.stdout.splitlines()[-1])["rows"]


def follow_of(home, address):
    for f in home.json("follows").get("follows", []):
        if f["follow"]["address"] == address:
            return f["follow"]
    return None


def seq_of(home, address):
    f = follow_of(home, address)
    return int(f.get("seq", 0)) if f else 0


class SharesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ports = free_ports(3)
        cls.homes = [cls.start_host(i) for i in range(3)]
        for home in cls.homes:
            home.install_hello()

    @classmethod
    def start_host(cls, i, home=None):
        home = home or Home(cls)
        with open(os.path.join(home.path, "config.toml"), "w") as f:
            f.write(CONFIG)
        others = ",".join(f"127.0.0.1:{p}" for j, p in enumerate(cls.ports) if j != i)
        home.run("host", "start", "--listen", f"127.0.0.1:{cls.ports[i]}", "--bootstrap", others, check=True)
        return home

    def share(self, home, *args):
        return json.loads(home.run("share", *args, "--json", check=True).stdout)["share"]

    def test_sql_share_followed_updated_and_served_by_followers(self):
        a, b, c = self.homes
        rows(a, "hello", "feed", "CREATE TABLE posts(id INTEGER PRIMARY KEY, text TEXT);"
             "INSERT INTO posts(text) VALUES ('first'), ('second');"
             "CREATE TABLE filler(x BLOB);"
             "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 2000) "
             "INSERT INTO filler SELECT randomblob(1000) FROM c")
        first = self.share(a, "hello", "sql", "feed")
        address = first["address"]
        self.assertTrue(address.startswith("mumba://"))
        self.assertEqual(int(first["seq"]), 1)
        self.assertIn(address, a.run("shares", check=True).stdout)

        b.run("follow", address, check=True)
        wait_for(lambda: seq_of(b, address) >= 1, 30, what="b's first snapshot")
        self.assertEqual(rows(b, address, "main", "SELECT text FROM posts ORDER BY id"), [["first"], ["second"]])
        # Read-only: the replica is the publisher's, not the follower's.
        p = b.run("sql", address, "main", "INSERT INTO posts(text) VALUES ('mine')")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("read-only", p.stderr)

        # Sharing again: a higher seq under the same address, and only what changed is new.
        rows(a, "hello", "feed", "INSERT INTO posts(text) VALUES ('third')")
        second = self.share(a, "hello", "sql", "feed")
        self.assertEqual(second["address"], address)
        self.assertEqual(int(second["seq"]), 2)
        # About 2 MB, of which a row appended and the header changed: two 64 KiB chunks.
        self.assertGreater(int(second["bytes"]), 2_000_000)
        self.assertLessEqual(int(second.get("new_bytes", 0)), 4 * 65536)
        wait_for(lambda: seq_of(b, address) >= 2, 30, what="b's second snapshot")
        self.assertEqual(rows(b, address, "main", "SELECT count(*) FROM posts"), [[3]])
        # b held the first snapshot: only the new chunks (and the index) travelled,
        # each in whole 16 KiB blocks.
        self.assertLess(int(follow_of(b, address).get("fetched_bytes", 0)), 6 * 65536)

        # The publisher goes away: a host following for the first time gets the
        # snapshot from b's copy.
        a.run("host", "stop", check=True)
        try:
            c.run("follow", address, check=True)
            wait_for(lambda: seq_of(c, address) >= 2, 45, what="c's snapshot from b")
            self.assertEqual(rows(c, address, "main", "SELECT text FROM posts ORDER BY id"),
                             [["first"], ["second"], ["third"]])
        finally:
            self.start_host(0, a)

        # Unfollowing deletes the replica.
        c.run("unfollow", address, check=True)
        self.assertIsNone(follow_of(c, address))
        self.assertNotEqual(c.run("sql", address, "main", "SELECT 1").returncode, 0)

    def test_kv_and_files_shares(self):
        a, b, _ = self.homes
        a.run("kv", "hello", "put", "greeting", "hi", check=True)
        kv = self.share(a, "hello", "kv")
        src = os.path.join(a.path, "upload.txt")
        with open(src, "w") as f:
            f.write("a file for the world\n")
        a.run("files", "hello", "put", src, "docs/readme.txt", check=True)
        files = self.share(a, "hello", "files")
        b.run("follow", kv["address"], check=True)
        b.run("follow", files["address"], check=True)
        wait_for(lambda: seq_of(b, kv["address"]) >= 1 and seq_of(b, files["address"]) >= 1, 30,
                 what="both snapshots")
        self.assertEqual(b.run("kv", kv["address"], "get", "greeting", check=True).stdout.strip(), "hi")
        got = b.run("files", files["address"], "get", "docs/readme.txt", "-", check=True).stdout
        self.assertEqual(got, "a file for the world\n")

    def test_refusals(self):
        a, b, _ = self.homes
        # Not an address; the address of an app (its item is no share).
        self.assertNotEqual(b.run("follow", "mumba://not-an-address").returncode, 0)
        # An app published under a fresh key of a's (as `mumba publish` does it).
        hello_id = a.run("keys", "new", check=True).stdout.strip()
        bundle = copy_bundle(self)
        with open(os.path.join(bundle, "mumba.toml")) as f:
            old_id = f.read().split('id = "', 1)[1].split('"', 1)[0]
        edit_manifest(bundle, old_id, hello_id)
        edit_manifest(bundle, 'name = "hello"', 'name = "hello2"')
        a.run("publish", bundle, check=True)
        b.run("follow", hello_id, check=True)
        wait_for(lambda: "not a share" in (follow_of(b, hello_id) or {}).get("error", ""), 30,
                 what="the refusal of an app's item")
        self.assertEqual(seq_of(b, hello_id), 0)
        b.run("unfollow", hello_id, check=True)
        # A database never written cannot be shared; nor can one's own share be followed.
        self.assertNotEqual(a.run("share", "hello", "sql", "nothing-here").returncode, 0)
        own = self.share(a, "hello", "sql", "mine") if rows(a, "hello", "mine", "CREATE TABLE t(x)") == [] else None
        p = a.run("follow", own["address"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("shared by this host", p.stderr)


class SdkSharesTest(unittest.TestCase):
    """The SDK's calls (tests/apps/store_probe's /share routes): an app shares its own
    store and follows another node's share only with the peers grant, and reads the
    replica with its ordinary storage handles, read-only."""

    def test_an_app_shares_follows_and_reads_a_replica(self):
        from test_storage_sdk import PROBE_BUNDLE, new_id, probe_copy, query
        if not PROBE_BUNDLE:
            self.skipTest("MUMBA_PROBE_BUNDLE is not set (run through ctest)")
        ports = free_ports(2)
        homes = []
        for i in range(2):
            home = Home(self)
            with open(os.path.join(home.path, "config.toml"), "w") as f:
                f.write(CONFIG + "[apps.small]\nquota_bytes = 400000\n")
            home.run("host", "start", "--listen", f"127.0.0.1:{ports[i]}", "--bootstrap",
                     f"127.0.0.1:{ports[1 - i]}", check=True)
            homes.append(home)
        granted = probe_copy(self, "sharer", new_id(), "\n[permissions]\npeers = true\n")
        plain = probe_copy(self, "plain", new_id())
        for home in homes:
            home.run("install", "--yes", granted, check=True)
            home.run("start", "sharer", check=True)
        homes[1].run("install", plain, check=True)
        homes[1].run("start", "plain", check=True)
        small = probe_copy(self, "small", new_id(), "\n[permissions]\npeers = true\n")
        homes[1].run("install", "--yes", small, check=True)
        homes[1].run("start", "small", check=True)

        def route(home, app, path, **params):
            p = home.run("route", "-i", f"{app}://{path}?{query(**params)}")
            head, _, body = p.stdout.partition("\n\n")
            return int(head.split("\n")[0]), body

        a, b = homes
        a.run("sql", "sharer", "notes", "CREATE TABLE n(t TEXT); INSERT INTO n VALUES ('from a')", check=True)
        status, body = route(a, "sharer", "share/share", kind="sql", db="notes")
        self.assertEqual(status, 200, body)
        address = json.loads(body)["address"]

        # Without the peers grant, neither sharing nor following.
        status, body = route(b, "plain", "share/follow", address=address)
        self.assertEqual(status, 403, body)
        self.assertIn("peers", body)
        self.assertEqual(route(b, "plain", "share/share", kind="sql")[0], 403)

        status, body = route(b, "sharer", "share/follow", address=address)
        self.assertEqual(status, 200, body)

        def arrived():
            status, body = route(b, "sharer", "share/follows")
            return status == 200 and any(f["seq"] >= 1 for f in json.loads(body))
        wait_for(arrived, 30, what="the app's replica")
        p = b.run("route", "-d", "SELECT t FROM n", f"sharer://sql/exec?{query(db=address)}", check=True)
        self.assertEqual(json.loads(p.stdout)["rows"], [["from a"]])
        # Read-only; and another app of the same host does not see it.
        p = b.run("route", "-i", "-d", "INSERT INTO n VALUES ('b')", f"sharer://sql/exec?{query(db=address)}")
        self.assertTrue(p.stdout.startswith("403"), p.stdout)
        p = b.run("route", "-i", "-d", "SELECT t FROM n", f"plain://sql/exec?{query(db=address)}")
        self.assertTrue(p.stdout.startswith("404"), p.stdout)
        self.assertEqual(route(b, "sharer", "share/unfollow", address=address)[0], 200)

        # A replica counts against the follower's quota: one that does not fit is
        # refused, and nothing of it stays.
        a.run("sql", "sharer", "big", "CREATE TABLE b(x BLOB); WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL "
              "SELECT n + 1 FROM c LIMIT 1000) INSERT INTO b SELECT randomblob(1000) FROM c", check=True)
        status, body = route(a, "sharer", "share/share", kind="sql", db="big")
        self.assertEqual(status, 200, body)
        big = json.loads(body)["address"]
        self.assertEqual(route(b, "small", "share/follow", address=big)[0], 200)

        def refused():
            status, body = route(b, "small", "share/follows")
            return status == 200 and any("quota" in f["error"] for f in json.loads(body))
        wait_for(refused, 30, what="the replica over the follower's quota to be refused")
        status, body = route(b, "small", "share/follows")
        self.assertEqual([f["seq"] for f in json.loads(body)], [0])
        # An app uninstalled takes its follows with it.
        b.run("uninstall", "small", check=True)
        self.assertEqual([f for f in b.json("follows").get("follows", []) if f["follow"]["address"] == big], [])


class ShareRefusalsTest(unittest.TestCase):
    """A follower holding a snapshot is offered older and tampered ones by a
    dishonest DHT node (mumba-p2p-tool, as in test_p2p_refusals) and keeps what it
    holds. (A forged item never reaches it: honest DHT nodes drop it, and lookups
    check signatures, as test_p2p_refusals shows for apps' items, which shares
    resolve the same way.) The publisher here is a host outside the swarm: the tool alone serves
    its items and snapshots, so the follower sees exactly what the tool offers."""

    def test_older_and_tampered_snapshots_are_refused(self):
        from test_p2p_refusals import Swarm, Tool
        publisher = Home(self)
        publisher.run("host", "start", "--listen", "127.0.0.1:0", "--bootstrap", "", check=True)
        publisher.install_hello()
        rows(publisher, "hello", "feed", "CREATE TABLE posts(text TEXT); INSERT INTO posts VALUES ('one')")
        share = json.loads(publisher.run("share", "hello", "sql", "feed", "--json", check=True).stdout)["share"]
        address, key52 = share["address"], share["address"][len("mumba://"):]
        published = os.path.join(publisher.path, "shares", "published", key52)
        v1 = os.path.join(tempfile.mkdtemp(prefix="ms-", dir="/tmp"), "v1")
        self.addCleanup(shutil.rmtree, os.path.dirname(v1), True)
        shutil.copytree(os.path.join(published, "v1"), v1)
        rows(publisher, "hello", "feed", "INSERT INTO posts VALUES ('two')")
        publisher.run("share", "hello", "sql", "feed", check=True)
        v2 = os.path.join(published, "v2")
        key_file = os.path.join(publisher.path, "keys", key52 + ".key")

        swarm = Swarm(self, 2, configs={0: CONFIG, 1: CONFIG})
        follower, other = swarm.homes
        tool = Tool(self, swarm)

        def item(ref, seq):
            return ["--seq", str(seq), "--ih", ref["info_hash"], "--v2", ref["info_hash_v2"], "--name", "hello",
                    "--version", "0.1.0", "--size", str(ref["size"]), "--field", "share=sql", "--field", "db=feed"]

        _, ref1 = tool.start("seed", "--dir", v1, "--name", "mumba-share-1")
        _, ref2 = tool.start("seed", "--dir", v2, "--name", "mumba-share-2")
        newer, _ = tool.put("--plant-only", "--key-file", key_file, *item(ref2, 2))
        follower.run("follow", address, check=True)
        wait_for(lambda: seq_of(follower, address) == 2, 30, what="the follower to hold seq 2")
        self.assertEqual(rows(follower, address, "main", "SELECT count(*) FROM posts"), [[2]])
        tool.stop(newer)

        # An older item, still validly signed, is all the DHT offers now.
        older, _ = tool.put("--plant-only", "--key-file", key_file, *item(ref1, 1))
        wait_resolves(other, address, 1)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:  # Several polls of the follow loop.
            self.assertEqual(seq_of(follower, address), 2)
            time.sleep(0.3)
        self.assertEqual(rows(follower, address, "main", "SELECT count(*) FROM posts"), [[2]])
        tool.stop(older)

        # A newer, validly signed item whose snapshot was tampered with: one chunk
        # changed under its name (its torrent is self-consistent, so only the
        # chunk's own hash can tell).
        v3 = os.path.join(os.path.dirname(v1), "v3")
        shutil.copytree(v2, v3)
        chunks = sorted(os.listdir(os.path.join(v3, "chunks")))
        with open(os.path.join(v3, "chunks", chunks[0]), "r+b") as f:
            f.write(b"X")
        _, ref3 = tool.start("seed", "--dir", v3, "--name", "mumba-share-3")
        tool.put("--plant-only", "--key-file", key_file, *item(ref3, 3))
        wait_for(lambda: "does not match" in (follow_of(follower, address) or {}).get("error", "") or
                 "DATA_LOSS" in (follow_of(follower, address) or {}).get("error", ""), 30,
                 what="the tampered snapshot's refusal")
        self.assertEqual(seq_of(follower, address), 2)
        self.assertEqual(rows(follower, address, "main", "SELECT count(*) FROM posts"), [[2]])


    def test_a_key_value_snapshot_that_lmdb_cannot_read_is_refused_and_the_host_stays_up(self):
        from test_p2p_refusals import Swarm, Tool
        publisher = Home(self)
        publisher.run("host", "start", "--listen", "127.0.0.1:0", "--bootstrap", "", check=True)
        publisher.install_hello()
        for i in range(4):
            publisher.run("kv", "hello", "put", f"key{i}", "v" * 3000, check=True)
        publisher.run("kv", "hello", "put", "greeting", "hi", check=True)
        share = json.loads(publisher.run("share", "hello", "kv", "--json", check=True).stdout)["share"]
        address, key52 = share["address"], share["address"][len("mumba://"):]
        key_file = os.path.join(publisher.path, "keys", key52 + ".key")
        # The publisher's honest snapshot, its data.mdb damaged past the meta pages
        # (LMDB opens it, then meets garbage where its B-tree should be), cut again
        # into a valid index and chunks: only LMDB itself can tell.
        v1 = os.path.join(publisher.path, "shares", "published", key52, "v1")
        bad = os.path.join(tempfile.mkdtemp(prefix="ms-", dir="/tmp"), "bad")
        self.addCleanup(shutil.rmtree, os.path.dirname(bad), True)
        data = read_store(v1, "data.mdb")
        data = data[:8192] + bytes((b ^ 0x5a) for b in data[8192:])
        write_store(bad, "kv", "data.mdb", data)

        swarm = Swarm(self, 2, configs={0: CONFIG, 1: CONFIG})
        follower = swarm.homes[0]
        tool = Tool(self, swarm)
        _, ref = tool.start("seed", "--dir", bad, "--name", "mumba-share-1")
        tool.put("--plant-only", "--key-file", key_file, "--seq", "1", "--ih", ref["info_hash"], "--v2",
                 ref["info_hash_v2"], "--name", "hello", "--version", "0.1.0", "--size", str(ref["size"]),
                 "--field", "share=kv", "--field", "db=main")
        follower.run("follow", address, check=True)
        wait_for(lambda: "not a sound LMDB" in (follow_of(follower, address) or {}).get("error", ""), 30,
                 what="the damaged store's refusal")
        self.assertEqual(seq_of(follower, address), 0)
        self.assertEqual(follower.run("host", "status").returncode, 0)
        self.assertNotEqual(follower.run("kv", address, "get", "greeting").returncode, 0)


def read_store(version, name):
    """The file `name` of a version folder, joined from its chunks (src/share's index)."""
    with open(os.path.join(version, "index")) as f:
        lines = f.read().splitlines()
    out, taking = b"", False
    for line in lines:
        if line.startswith("f "):
            taking = line.split(" ", 2)[2] == name
        elif line.startswith("c ") and taking:
            with open(os.path.join(version, "chunks", line[2:]), "rb") as c:
                out += c.read()
    return out


def write_store(version, kind, name, data, chunk=65536):
    """A version folder holding one file `name`, as WriteChunked lays it out."""
    os.makedirs(os.path.join(version, "chunks"))
    lines = ["mumba-share-index 1", f"kind {kind}", f"chunk-bytes {chunk}", "layout tree", f"f {len(data)} {name}"]
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        digest = hashlib.sha256(piece).hexdigest()
        with open(os.path.join(version, "chunks", digest), "wb") as f:
            f.write(piece)
        lines.append(f"c {digest}")
    with open(os.path.join(version, "index"), "w") as f:
        f.write("\n".join(lines + ["end"]) + "\n")


if __name__ == "__main__":
    unittest.main()
