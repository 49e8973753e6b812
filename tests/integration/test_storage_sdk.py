# SPDX-License-Identifier: Apache-2.0
"""The SDK's storage clients (mumba::Kv, Sql, Files) against real hosts.

tests/apps/store_probe is an app whose routes call the SDK; these tests drive it with
`mumba route` and look at the stores from the owner's side with `mumba kv|files`.
A second copy of its bundle, with another id and name, plays the other app.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
from urllib.parse import quote

from harness import MUMBA, Home, edit_manifest, wait_for

PROBE_BUNDLE = os.environ.get("MUMBA_PROBE_BUNDLE", "")
A = "store-probe"
B = "probe-b"


def new_id():
    """A fresh app id: mumba:// and the base32 of 32 random bytes."""
    return "mumba://" + base64.b32encode(os.urandom(32)).decode().rstrip("=").lower()


def query(**params):
    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())


def probe_copy(cls, name, app_id, extra_manifest=""):
    """A copy of the probe bundle named `name` with id `app_id`, removed after the class."""
    root = tempfile.mkdtemp(prefix="mb-", dir="/tmp")
    cls.addClassCleanup(shutil.rmtree, root, True)
    dst = os.path.join(root, "bundle")
    shutil.copytree(PROBE_BUNDLE, dst, symlinks=True)
    with open(os.path.join(dst, "mumba.toml")) as f:
        text = f.read()
    old_id = next(line for line in text.splitlines() if line.startswith("id = "))
    edit_manifest(dst, old_id, f'id = "{app_id}"')
    edit_manifest(dst, f'name = "{A}"', f'name = "{name}"')
    if extra_manifest:
        with open(os.path.join(dst, "mumba.toml"), "a") as f:
            f.write(extra_manifest)
    return dst


class ProbeHome:
    """A host with the probe (A) and its copy (B) installed and running."""

    def __init__(self, cls, a_exports=""):
        if not PROBE_BUNDLE:
            raise unittest.SkipTest("MUMBA_PROBE_BUNDLE is not set (run through ctest)")
        self.home = Home(cls)
        self.b_id = new_id()
        self.a_id = new_id()
        a_bundle = probe_copy(cls, A, self.a_id, a_exports.replace("B_ID", self.b_id))
        b_bundle = probe_copy(cls, B, self.b_id)
        self.home.run("host", "start", check=True)
        for bundle, name in ((a_bundle, A), (b_bundle, B)):
            self.home.run("install", bundle, check=True)
            self.home.run("start", name, check=True)

    def route(self, app, path, data=None, /, **params):
        """(status, body) of a request to `app`'s route; POST when data is given."""
        url = f"{app}://{path}" + (("?" + query(**params)) if params else "")
        args = ["route", "-i", url]
        if data is not None:
            args += ["-d", data] if data else ["-X", "POST"]
        p = self.home.run(*args)
        head, sep, body = p.stdout.partition("\n\n")
        if not sep or not head.split("\n")[0].isdigit():
            raise AssertionError(f"mumba route {url} failed ({p.returncode}): {p.stderr}")
        return int(head.split("\n")[0]), body

    def ok(self, app, path, data=None, /, **params):
        status, body = self.route(app, path, data, **params)
        if status != 200:
            raise AssertionError(f"{app}://{path} {params} answered {status}: {body}")
        return body

    def json(self, app, path, data=None, /, **params):
        return json.loads(self.ok(app, path, data, **params))


class StorageSdkTest(unittest.TestCase):
    """One host, two apps, nothing exported."""

    @classmethod
    def setUpClass(cls):
        cls.p = ProbeHome(cls)

    def test_kv_put_get_delete_is_the_owners_store(self):
        p = self.p
        self.assertEqual(p.ok(A, "kv/put", "v1", key="k/one"), "ok")
        self.assertEqual(p.ok(A, "kv/get", key="k/one"), "v1")
        # Same store as the owner sees from the CLI, both ways.
        self.assertEqual(p.home.run("kv", A, "get", "k/one", check=True).stdout, "v1")
        p.home.run("kv", A, "put", "k/two", "from-cli", check=True)
        self.assertEqual(p.ok(A, "kv/get", key="k/two"), "from-cli")
        self.assertEqual(p.ok(A, "kv/delete", "", key="k/one"), "ok")
        self.assertEqual(p.route(A, "kv/get", key="k/one")[0], 404)
        p.home.run("kv", A, "get", "k/one", check=False)
        # Deleting an absent key is fine; an empty key is not.
        self.assertEqual(p.ok(A, "kv/delete", "", key="k/never"), "ok")
        self.assertEqual(p.route(A, "kv/put", "x", key="")[0], 400)

    def test_kv_batch_is_atomic(self):
        p = self.p
        p.ok(A, "kv/put", "old", key="b/gone")
        p.ok(A, "kv/batch", "put\tb/1\tone\nput\tb/2\ttwo\ndel\tb/gone\nput\tb/1\tuno\n")
        scan = p.json(A, "kv/scan", prefix="b/")
        self.assertEqual(scan["entries"], [["b/1", "uno"], ["b/2", "two"]])
        # One bad operation (an empty key) and none of the batch lands.
        status, body = p.route(A, "kv/batch", "put\tb/3\tthree\ndel\tb/1\nput\t\tbad\n")
        self.assertEqual(status, 400, body)
        self.assertEqual(p.json(A, "kv/scan", prefix="b/")["entries"], scan["entries"])

    def test_kv_scan_pages_ranges_and_keys_only(self):
        p = self.p
        keys = [f"s/{i:02d}" for i in range(25)]
        p.ok(A, "kv/batch", "".join(f"put\t{k}\tv{k}\n" for k in reversed(keys)))
        seen, cursor, pages = [], "", 0
        while True:
            page = p.json(A, "kv/scan", prefix="s/", limit=10, cursor=cursor)
            seen += [k for k, _ in page["entries"]]
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                break
            self.assertEqual(len(page["entries"]), 10)
        self.assertEqual(seen, keys)
        self.assertEqual(pages, 3)
        page = p.json(A, "kv/scan", start="s/05", end="s/08", keys_only=1)
        self.assertEqual(page["entries"], [["s/05", ""], ["s/06", ""], ["s/07", ""]])
        # Another database of the same app is another store.
        p.ok(A, "kv/put", "elsewhere", key="s/00", db="second")
        self.assertEqual(p.ok(A, "kv/get", key="s/00", db="second"), "elsewhere")
        self.assertEqual(p.ok(A, "kv/get", key="s/00"), "vs/00")
        self.assertEqual(p.json(A, "kv/scan", db="second")["entries"], [["s/00", "elsewhere"]])
        self.assertEqual(p.route(A, "kv/get", key="x", db="Bad Name")[0], 400)

    def test_kv_watch_sees_changes_under_its_prefix_in_order(self):
        p = self.p
        url = f"{A}://kv/watch?" + query(prefix="w/", n=3, timeout_ms=10000, ready_key="w-ready")
        watcher = subprocess.Popen([MUMBA, "route", url], env=p.home.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            # Kv::Watch returns once the watch is in place; the probe then sets w-ready.
            wait_for(lambda: p.route(A, "kv/get", key="w-ready")[0] == 200, 10,
                     what="the watch to be in place")
            p.ok(A, "kv/put", "1", key="w/a")
            p.ok(A, "kv/put", "not watched", key="x/a")
            p.home.run("kv", A, "put", "w/b", "2", check=True)  # The owner's writes too.
            p.ok(A, "kv/delete", "", key="w/a")
            out, err = watcher.communicate(timeout=20)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait(5)
        self.assertEqual(watcher.returncode, 0, err)
        result = json.loads(out)
        changes = [(c["kind"], c["key"], c["value"]) for c in result["changes"]]
        self.assertEqual(changes, [("put", "w/a", "1"), ("put", "w/b", "2"), ("delete", "w/a", "")])
        seqs = [c["sequence"] for c in result["changes"]]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertEqual(result["status"], "OK")
        # Nothing happens: the watch ends empty at its timeout, promptly.
        start = time.monotonic()
        self.assertEqual(p.json(A, "kv/watch", prefix="nobody/", n=1, timeout_ms=300)["changes"], [])
        self.assertLess(time.monotonic() - start, 5)

    def test_sql_typed_values_params_and_streaming(self):
        p = self.p
        p.ok(A, "sql/exec", "CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB)")
        big = 2**62 + 1
        # Repeated p= parameters: typed as i:, r:, t:, b:<hex> or null.
        url_params = "&".join(["p=" + quote(v, safe="") for v in
                               (f"i:{big}", "r:2.5", "t:h\u00e9llo 'quoted'", "b:00ff10")])
        status, body = p.route(A, "sql/exec?" + url_params, "INSERT INTO t(i, r, s, b) VALUES (?, ?, ?, ?)")
        self.assertEqual(status, 200, body)
        r = json.loads(body)
        self.assertEqual((r["changes"], r["last_insert_rowid"]), (1, 1))
        status, body = p.route(A, "sql/exec?p=null&p=r:-1&p=t:&p=i:-7",
                               "INSERT INTO t(i, r, s, b) VALUES (?, ?, ?, ?)")
        self.assertEqual(status, 200, body)
        rows = p.json(A, "sql/exec", "SELECT i, r, s, b, typeof(b) FROM t ORDER BY id")["rows"]
        self.assertEqual(rows, [[big, {"real": 2.5}, "h\u00e9llo 'quoted'", {"blob": "00ff10"}, "blob"],
                                [None, {"real": -1.0}, "", -7, "integer"]])
        # A parameter never becomes SQL.
        status, body = p.route(A, "sql/query?p=" + quote("t:x' OR 1=1 --"), "SELECT id FROM t WHERE s = ?")
        self.assertEqual((status, json.loads(body)["rows"]), (200, []))

        p.ok(A, "sql/tx", "\n".join(f"INSERT INTO t(i) VALUES ({n})" for n in range(100, 150)))
        q = p.json(A, "sql/query", "SELECT i FROM t WHERE i BETWEEN 100 AND 999 ORDER BY i")
        self.assertEqual(q["rows"], [[n] for n in range(100, 150)])
        # The row callback may stop the stream early.
        self.assertEqual(p.json(A, "sql/query?stop_after=3", "SELECT i FROM t WHERE i >= 100")["count"], 3)

        # A transaction commits whole or not at all.
        status, body = p.route(A, "sql/tx", "INSERT INTO t(id, i) VALUES (500, 1)\nINSERT INTO t(id) VALUES (1)")
        self.assertEqual(status, 400, body)
        self.assertIn("UNIQUE", body)
        self.assertEqual(p.json(A, "sql/query", "SELECT count(*) FROM t WHERE id = 500")["rows"], [[0]])
        # Errors: bad SQL, and a write through the read-only Query.
        self.assertEqual(p.route(A, "sql/exec", "SELEKT 1")[0], 400)
        self.assertEqual(p.route(A, "sql/query", "DELETE FROM t")[0], 400)
        self.assertEqual(p.json(A, "sql/query", "SELECT count(*) FROM t")["rows"], [[52]])
        # The owner sees the same database.
        out = p.home.run("sql", A, "main", "SELECT count(*) AS n FROM t", "--json", check=True)
        self.assertEqual(json.loads(out.stdout.splitlines()[0])["rows"], [[52]])

    def test_files_put_get_list_stat_move_delete(self):
        p = self.p
        p.ok(A, "files/put", "hello files", path="docs/a.txt")
        p.ok(A, "files/put", "", path="docs/empty")
        self.assertEqual(p.ok(A, "files/get", path="docs/a.txt"), "hello files")
        self.assertEqual(p.ok(A, "files/get", path="docs/empty"), "")
        listing = p.json(A, "files/ls", dir="docs")
        self.assertEqual([(e["path"], e["is_dir"], e["size"]) for e in listing],
                         [("docs/a.txt", False, 11), ("docs/empty", False, 0)])
        top = p.json(A, "files/ls")
        self.assertIn(("docs", True), [(e["path"], e["is_dir"]) for e in top])
        self.assertEqual(p.json(A, "files/stat", path="docs/a.txt")["size"], 11)
        p.ok(A, "files/move", "", **{"from": "docs/a.txt", "to": "docs/b.txt"})
        self.assertEqual(p.route(A, "files/get", path="docs/a.txt")[0], 404)
        # The owner sees the same tree.
        self.assertEqual(p.home.run("files", A, "get", "docs/b.txt", "-", check=True).stdout, "hello files")
        p.ok(A, "files/delete", "", path="docs/b.txt")
        self.assertEqual(p.route(A, "files/stat", path="docs/b.txt")[0], 404)
        self.assertEqual(p.route(A, "files/put", "x", path="../escape")[0], 400)
        self.assertEqual(p.route(A, "files/put", "x", path="/abs")[0], 400)

    def test_files_20mb_stream_round_trip(self):
        p = self.p
        # The daemon runs in its sandbox, where its own data folder is all it can
        # write and is called /data.
        data_dir = p.home.status(A)["data_dir"]
        tmp = tempfile.mkdtemp(prefix="sdk-", dir=data_dir)
        self.addCleanup(shutil.rmtree, tmp, True)

        def inside(path):
            return "/data/" + os.path.relpath(path, data_dir)
        src, dst = os.path.join(tmp, "big.bin"), os.path.join(tmp, "copy.bin")
        data = os.urandom(20 << 20)
        with open(src, "wb") as f:
            f.write(data)
        with open(dst, "wb") as f:
            f.write(b"old content")
        p.ok(A, "files/putlocal", "", path="big/blob.bin", local=inside(src))
        self.assertEqual(p.json(A, "files/stat", path="big/blob.bin")["size"], len(data))
        p.ok(A, "files/getlocal", "", path="big/blob.bin", local=inside(dst))
        with open(dst, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(data).hexdigest())
        # The temporary file was renamed into place, nothing left beside it.
        self.assertEqual(sorted(os.listdir(tmp)), ["big.bin", "copy.bin"])
        # A failed download leaves the local file as it was, and no temporary file.
        status, _ = p.route(A, "files/getlocal", "", path="big/missing.bin", local=inside(dst))
        self.assertEqual(status, 404)
        self.assertEqual(os.path.getsize(dst), len(data))
        self.assertEqual(sorted(os.listdir(tmp)), ["big.bin", "copy.bin"])
        # Local errors name the local file.
        status, body = p.route(A, "files/putlocal", "", path="x", local=inside(os.path.join(tmp, "nope")))
        self.assertEqual(status, 404)
        self.assertIn("nope", body)
        self.assertEqual(p.route(A, "files/stat", path="x")[0], 404)

    def test_apps_are_isolated(self):
        p = self.p
        p.ok(A, "kv/put", "a's", key="iso")
        p.ok(A, "sql/exec", "CREATE TABLE IF NOT EXISTS iso(x)")
        p.ok(A, "files/put", "a's file", path="iso.txt")
        for name in (A, p.a_id):
            for path, data, params in (("kv/get", None, {"key": "iso"}),
                                       ("kv/put", "b's", {"key": "iso"}),
                                       ("kv/scan", None, {}),
                                       ("kv/watch", None, {"n": 1, "timeout_ms": 100}),
                                       ("sql/query", "SELECT * FROM iso", {}),
                                       ("sql/exec", "DROP TABLE iso", {}),
                                       ("files/get", None, {"path": "iso.txt"}),
                                       ("files/ls", None, {}),
                                       ("files/put", "b's", {"path": "iso.txt"})):
                status, body = p.route(B, path, data, app=name, **params)
                self.assertEqual(status, 403, f"{path} of {name}: {body}")
                self.assertIn("not exported", body)
        # B's own stores are B's: same names, different stores.
        self.assertEqual(p.route(B, "kv/get", key="iso")[0], 404)
        p.ok(B, "kv/put", "b's", key="iso")
        self.assertEqual(p.ok(B, "kv/get", key="iso"), "b's")
        self.assertEqual(p.ok(A, "kv/get", key="iso"), "a's")
        self.assertEqual(p.home.run("kv", B, "get", "iso", check=True).stdout, "b's")
        self.assertEqual(p.home.run("kv", A, "get", "iso", check=True).stdout, "a's")
        self.assertEqual(p.route(B, "files/get", path="iso.txt")[0], 404)
        p.ok(B, "sql/exec", "CREATE TABLE mine(x)")
        status, body = p.route(B, "sql/query", "SELECT * FROM iso")
        self.assertEqual(status, 400, body)
        self.assertIn("no such table", body)
        self.assertEqual(p.route(A, "sql/query", "SELECT * FROM mine")[0], 400)
        self.assertEqual(p.ok(A, "files/get", path="iso.txt"), "a's file")
        # Naming yourself is the same as naming nobody; naming no app is NOT_FOUND.
        self.assertEqual(p.ok(B, "kv/get", key="iso", app=B), "b's")
        self.assertEqual(p.route(B, "kv/get", key="iso", app="no-such-app")[0], 404)


class ExportedStoreTest(unittest.TestCase):
    """A exports its kv database "main" read-only to B, and nothing else."""

    EXPORTS = '\n[[exports.stores]]\nkind = "kv"\ndb = "main"\nreaders = ["B_ID"]\n'

    @classmethod
    def setUpClass(cls):
        cls.p = ProbeHome(cls, a_exports=cls.EXPORTS)

    def test_reader_reads_but_cannot_write(self):
        p = self.p
        p.ok(A, "kv/put", "shared value", key="pub")
        for name in (A, p.a_id):
            self.assertEqual(p.ok(B, "kv/get", key="pub", app=name), "shared value")
            self.assertEqual(p.json(B, "kv/scan", app=name)["entries"], [["pub", "shared value"]])
            status, body = p.route(B, "kv/put", "b was here", key="pub", app=name)
            self.assertEqual(status, 403, body)
            self.assertIn("read-only", body)
            self.assertEqual(p.route(B, "kv/delete", "", key="pub", app=name)[0], 403)
            self.assertEqual(p.route(B, "kv/batch", "put\tnew\t1\n", app=name)[0], 403)
        self.assertEqual(p.ok(A, "kv/get", key="pub"), "shared value")
        self.assertEqual(p.home.run("kv", A, "get", "pub", check=True).stdout, "shared value")
        self.assertEqual(p.json(A, "kv/scan")["entries"], [["pub", "shared value"]])
        # Only what is exported: another kv database, sql and files stay private.
        p.ok(A, "kv/put", "private", key="k", db="other")
        self.assertEqual(p.route(B, "kv/get", key="k", db="other", app=A)[0], 403)
        self.assertEqual(p.route(B, "sql/query", "SELECT 1", app=A)[0], 403)
        self.assertEqual(p.route(B, "files/ls", app=A)[0], 403)
        # A does not read B's stores: exports go one way.
        p.ok(B, "kv/put", "b's", key="k")
        self.assertEqual(p.route(A, "kv/get", key="k", app=B)[0], 403)

    def test_reader_watches_the_exported_store(self):
        p = self.p
        url = f"{B}://kv/watch?" + query(prefix="feed/", n=2, timeout_ms=10000, ready_key="feed-ready",
                                        app=A)
        watcher = subprocess.Popen([MUMBA, "route", url], env=p.home.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: p.route(B, "kv/get", key="feed-ready")[0] == 200, 10,
                     what="the watch to be in place")
            p.ok(A, "kv/put", "first", key="feed/1")
            p.ok(A, "kv/put", "second", key="feed/2")
            out, err = watcher.communicate(timeout=20)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait(5)
        self.assertEqual(watcher.returncode, 0, err)
        changes = [(c["kind"], c["key"], c["value"]) for c in json.loads(out)["changes"]]
        self.assertEqual(changes, [("put", "feed/1", "first"), ("put", "feed/2", "second")])


class NoHostTest(unittest.TestCase):
    def test_started_by_hand_every_call_is_unavailable(self):
        if not PROBE_BUNDLE:
            raise unittest.SkipTest("MUMBA_PROBE_BUNDLE is not set (run through ctest)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MUMBA_")}
        p = subprocess.run([os.path.join(PROBE_BUNDLE, "bin", "store-probe"), "--check-no-host"],
                           env=env, capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 7)
        for line in lines:
            self.assertEqual(line, "UNAVAILABLE: storage needs the host: run this app with `mumba start`")


if __name__ == "__main__":
    unittest.main()
