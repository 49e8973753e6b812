# SPDX-License-Identifier: Apache-2.0
"""Storage through the host, from the owner's side: mumba kv / sql / files."""
import base64
import json
import os
import signal
import stat
import subprocess
import threading
import time
import unittest

from harness import MUMBA, Home, alive, copy_bundle, edit_manifest, wait_for


def sql_json(home, sql, *params, db="main", check=True):
    args = ["sql", "hello", db, sql, "--json"]
    for p in params:
        args += ["-p", str(p)]
    p = home.run(*args, check=check)
    return [json.loads(line) for line in p.stdout.splitlines()] if p.returncode == 0 else p


class KvTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        cls.home.install_hello()

    def test_put_get_delete_scan(self):
        h = self.home
        h.run("kv", "hello", "put", "fruit/apple", "red", check=True)
        h.run("kv", "hello", "put", "fruit/banana", "yellow", check=True)
        h.run("kv", "hello", "put", "veg/leek", "green", check=True)
        self.assertEqual(h.run("kv", "hello", "get", "fruit/apple", check=True).stdout, "red")
        scan = h.run("kv", "hello", "scan", "fruit/", check=True).stdout
        self.assertEqual(scan, "fruit/apple\tred\nfruit/banana\tyellow\n")
        self.assertEqual(h.run("kv", "hello", "scan", "-n", "1", check=True).stdout, "fruit/apple\tred\n")
        h.run("kv", "hello", "del", "fruit/apple", check=True)
        p = h.run("kv", "hello", "get", "fruit/apple", check=False)
        self.assertIn("no key 'fruit/apple'", p.stderr)
        # Values from stdin keep their bytes.
        h.run("kv", "hello", "put", "bin", "-", input="a\tb\nc", check=True)
        self.assertEqual(h.run("kv", "hello", "get", "bin", check=True).stdout, "a\tb\nc")

    def test_scan_pages_through_many_keys(self):
        h = self.home
        for i in range(30):
            h.run("kv", "hello", "--db", "paging", "put", f"k{i:03d}", str(i), check=True)
        lines = h.run("kv", "hello", "--db", "paging", "scan", check=True).stdout.splitlines()
        self.assertEqual([l.split("\t")[0] for l in lines], [f"k{i:03d}" for i in range(30)])
        self.assertIn("paging", h.run("kv", "hello", "dbs", check=True).stdout.split())

    def test_bad_input_changes_nothing(self):
        h = self.home
        h.run("kv", "hello", "put", "keep", "me", check=True)
        for args, needle in [
            (("put", "k" * 600, "v"), "key"),
            (("put", "", "v"), "key"),
            (("--db", "Bad Name", "put", "a", "b"), "database name"),
            (("--db", "nothere", "get", "a"), "nothere"),
        ]:
            p = h.run("kv", "hello", *args, check=False)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn(needle, p.stderr)
        big = "x" * (16 * 1024 * 1024 + 1)
        p = h.run("kv", "hello", "put", "big", "-", input=big, check=False)
        self.assertIn("value", p.stderr)
        h.run("kv", "hello", "get", "big", check=False)
        self.assertEqual(h.run("kv", "hello", "get", "keep", check=True).stdout, "me")
        p = h.run("kv", "nope", "get", "a", check=False)
        self.assertIn("not installed", p.stderr)


class SqlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        cls.home.install_hello()

    def test_typed_rows_and_bound_parameters(self):
        h = self.home
        sql_json(h, "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)")
        evil = "x'); DROP TABLE t;--"
        sql_json(h, "INSERT INTO t VALUES (?, ?, ?, x'00ff', NULL)", 42, 2.5, evil)
        [res] = sql_json(h, "SELECT i, r, s, b, n FROM t WHERE s = ?", evil)
        self.assertEqual(res["columns"], ["i", "r", "s", "b", "n"])
        self.assertEqual(res["rows"], [[42, 2.5, evil, {"blob": "x'00ff'"}, None]])
        text = h.run("sql", "hello", "main", "SELECT i, s FROM t", check=True).stdout
        self.assertEqual(text, f"i\ts\n42\t{evil}\n")

    def test_statements_in_one_call_are_one_transaction(self):
        h = self.home
        sql_json(h, "CREATE TABLE tx (v INTEGER UNIQUE)")
        p = h.run("sql", "hello", "main", "INSERT INTO tx VALUES (1); INSERT INTO nowhere VALUES (2)")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("nowhere", p.stderr)
        [res] = sql_json(h, "SELECT count(*) FROM tx")
        self.assertEqual(res["rows"], [[0]])

    def test_errors_are_sqlites_and_change_nothing(self):
        h = self.home
        sql_json(h, "CREATE TABLE e (v)")
        sql_json(h, "INSERT INTO e VALUES (1)")
        for args, needle in [
            (("SELEC 1",), "syntax error"),
            (("INSERT INTO e VALUES (?)",), "expects 1 parameters, got 0"),
            (("INSERT INTO e VALUES (?)", "-p", "1", "-p", "2"), "parameters"),
            (("BEGIN",), "transaction"),
        ]:
            p = h.run("sql", "hello", "main", *args, check=False)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn(needle, p.stderr)
        [res] = sql_json(h, "SELECT v FROM e")
        self.assertEqual(res["rows"], [[1]])
        [res] = sql_json(h, "PRAGMA integrity_check")
        self.assertEqual(res["rows"], [["ok"]])


class FilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        cls.home.install_hello()

    def setUp(self):
        self.tmp = os.path.join(self.home.path, "local")
        os.makedirs(self.tmp, exist_ok=True)

    def test_put_get_ls_mv_rm(self):
        h = self.home
        src = os.path.join(self.tmp, "src.bin")
        data = os.urandom(3 * 1024 * 1024 + 17)
        with open(src, "wb") as f:
            f.write(data)
        h.run("files", "hello", "put", src, "photos/a.bin", check=True)
        out = h.run("files", "hello", "ls", check=True).stdout
        self.assertIn("photos/", out)
        out = h.run("files", "hello", "ls", "photos", check=True).stdout
        self.assertIn(str(len(data)), out)
        dst = os.path.join(self.tmp, "dst.bin")
        h.run("files", "hello", "get", "photos/a.bin", dst, check=True)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        h.run("files", "hello", "mv", "photos/a.bin", "archive/b.bin", check=True)
        h.run("files", "hello", "get", "photos/a.bin", dst, check=False)
        # A failed get leaves the local file alone.
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        h.run("files", "hello", "rm", "archive/b.bin", check=True)
        self.assertNotIn("b.bin", h.run("files", "hello", "ls", "archive", check=True).stdout)

    def test_paths_cannot_escape(self):
        h = self.home
        src = os.path.join(self.tmp, "x")
        with open(src, "w") as f:
            f.write("x")
        for bad in ["../x", "/etc/passwd", "a/../../x", ".mumba-tmp/x", "a//b"]:
            p = h.run("files", "hello", "put", src, bad, check=False)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        p = h.run("files", "hello", "get", "../../registry.db", "-", check=False)
        self.assertEqual(p.stdout, "")
        self.assertFalse(os.path.exists(os.path.join(self.home.path, "x")))


class QuotaTest(unittest.TestCase):
    def test_writes_over_quota_are_refused_and_change_nothing(self):
        home = Home(self)
        with open(os.path.join(home.path, "config.toml"), "w") as f:
            f.write("[storage]\nquota_bytes = 100000000\n\n[apps.hello]\nquota_bytes = 400000\n")
        home.install_hello()
        status = home.status("hello")
        self.assertEqual(status["quota_bytes"], "400000")
        home.run("kv", "hello", "put", "a", "-", input="a" * 150_000, check=True)
        p = home.run("kv", "hello", "put", "b", "-", input="b" * 300_000, check=False)
        self.assertIn("quota", p.stderr)
        home.run("kv", "hello", "get", "b", check=False)
        self.assertEqual(len(home.run("kv", "hello", "get", "a", check=True).stdout), 150_000)

        local = os.path.join(home.path, "big")
        with open(local, "wb") as f:
            f.write(os.urandom(500_000))
        p = home.run("files", "hello", "put", local, "big", check=False)
        self.assertIn("quota", p.stderr)
        self.assertEqual(home.run("files", "hello", "ls", check=True).stdout, "")

        sql_json(home, "CREATE TABLE q (v BLOB)")
        p = home.run("sql", "hello", "main",
                     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
                     "INSERT INTO q SELECT randomblob(10000) FROM n", check=False)
        self.assertIn("quota", p.stderr)
        [res] = sql_json(home, "SELECT count(*) FROM q")
        self.assertEqual(res["rows"], [[0]])
        used = int(home.status("hello")["storage_bytes"])
        self.assertLessEqual(used, 400000)
        text = home.run("status", "hello", check=True).stdout
        self.assertIn("storage", text)


class QuotaRaceTest(unittest.TestCase):
    """Writes running at once share what is left of the quota, and entries cost room."""

    def home_with_quota(self, quota):
        home = Home(self)
        with open(os.path.join(home.path, "config.toml"), "w") as f:
            f.write(f"[apps.hello]\nquota_bytes = {quota}\n")
        home.install_hello()
        return home

    def test_parallel_uploads_never_pass_the_quota(self):
        h = self.home_with_quota(60_000_000)
        names = ("one", "two")
        for name in names:
            with open(os.path.join(h.path, name), "wb") as f:
                f.write(os.urandom(40_000_000))
        procs = [subprocess.Popen([MUMBA, "--home", h.path, "files", "hello", "put",
                                   os.path.join(h.path, name), name],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for name in names]
        results = [(p.communicate(timeout=60)[1], p.returncode) for p in procs]
        failed = [name for name, p in zip(names, procs) if p.returncode != 0]
        self.assertEqual(len(failed), 1, results)
        listed = h.run("files", "hello", "ls", check=True).stdout
        self.assertNotIn(failed[0], listed)
        self.assertLessEqual(int(h.status("hello")["storage_bytes"]), 60_000_000)

    def test_empty_files_cost_room(self):
        h = self.home_with_quota(1_000_000)
        big = os.path.join(h.path, "big")
        with open(big, "wb") as f:
            f.write(b"b" * 800_000)
        h.run("files", "hello", "put", big, "big", check=True)
        empty = os.path.join(h.path, "empty")
        open(empty, "wb").close()
        refused = None
        for i in range(100):
            p = h.run("files", "hello", "put", empty, f"e{i}")
            if p.returncode != 0:
                refused = p
                break
        self.assertIsNotNone(refused, "100 empty files fit in 200 kB")
        self.assertIn("quota", refused.stderr)
        self.assertLessEqual(int(h.status("hello")["storage_bytes"]), 1_000_000)


class LifecycleOfDataTest(unittest.TestCase):
    def test_uninstall_keeps_data_unless_purged(self):
        home = Home(self)
        home.install_hello()
        home.run("kv", "hello", "put", "k", "v", check=True)
        home.run("uninstall", "hello", check=True)
        home.install_hello()
        self.assertEqual(home.run("kv", "hello", "get", "k", check=True).stdout, "v")
        stores = home.status("hello")["stores_dir"]
        home.run("uninstall", "hello", "--purge", check=True)
        self.assertFalse(os.path.exists(stores))
        home.install_hello()
        home.run("kv", "hello", "get", "k", check=False)

    def test_setup_sql_and_migrations(self):
        home = Home(self)
        v1 = copy_bundle(self)
        os.makedirs(os.path.join(v1, "data"), exist_ok=True)
        with open(os.path.join(v1, "data", "setup.sql"), "w") as f:
            f.write("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n"
                    "INSERT INTO notes (body) VALUES ('welcome');\n")
        edit_manifest(v1, "[exports]", "[storage]\nsql = [\"main\"]\nschema_version = 1\n\n[exports]")
        home.run("install", v1, check=True)
        [res] = sql_json(home, "SELECT body FROM notes")
        self.assertEqual(res["rows"], [["welcome"]])
        sql_json(home, "INSERT INTO notes (body) VALUES ('mine')")

        # Version 2 with a broken migration: refused, nothing changes.
        v2 = copy_bundle(self, v1)
        edit_manifest(v2, 'version = "0.1.0"', 'version = "0.2.0"')
        edit_manifest(v2, "schema_version = 1", "schema_version = 2")
        os.makedirs(os.path.join(v2, "data", "migrations"))
        with open(os.path.join(v2, "data", "migrations", "2.sql"), "w") as f:
            f.write("ALTER TABLE notes ADD COLUMN tag TEXT;\nUPDATE nowhere SET x = 1;\n")
        p = home.run("install", v2, check=False)
        self.assertIn("migrations/2.sql", p.stderr)
        self.assertEqual(home.status("hello")["version"], "0.1.0")
        [res] = sql_json(home, "SELECT * FROM notes ORDER BY id")
        self.assertEqual(res["columns"], ["id", "body"])
        [res] = sql_json(home, "PRAGMA user_version")
        self.assertEqual(res["rows"], [[1]])

        with open(os.path.join(v2, "data", "migrations", "2.sql"), "w") as f:
            f.write("ALTER TABLE notes ADD COLUMN tag TEXT;\nUPDATE notes SET tag = 'old';\n")
        home.run("install", v2, check=True)
        self.assertEqual(home.status("hello")["version"], "0.2.0")
        [res] = sql_json(home, "SELECT body, tag FROM notes ORDER BY id")
        self.assertEqual(res["rows"], [["welcome", "old"], ["mine", "old"]])


class HostileSqlTest(unittest.TestCase):
    """One app's hostile SQL leaves the host, other apps and the registry unharmed."""

    RUNAWAY = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
               "SELECT count(*) FROM n")

    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        with open(os.path.join(cls.home.path, "config.toml"), "w") as f:
            f.write("[storage]\nsql_timeout_ms = 1500\n")
        cls.home.install_hello()
        # A second app: the hello bundle under another id and name.
        other = copy_bundle(cls)
        with open(os.path.join(other, "mumba.toml")) as f:
            old_id = next(l for l in f.read().splitlines() if l.startswith("id = "))
        key = base64.b32encode(os.urandom(32)).decode().rstrip("=").lower()
        edit_manifest(other, old_id, f'id = "mumba://{key}"')
        edit_manifest(other, 'name = "hello"', 'name = "other"')
        cls.home.run("install", other, check=True)
        for app in ("hello", "other"):
            cls.home.run("sql", app, "main", "CREATE TABLE IF NOT EXISTS t (v)", check=True)

    def timed(self, *args, limit):
        """Runs `mumba ARGS`, which must succeed within `limit` seconds."""
        start = time.monotonic()
        p = self.home.run(*args, check=True)
        self.assertLess(time.monotonic() - start, limit, args)
        return p

    def test_runaway_query_ends_at_its_deadline_and_others_keep_answering(self):
        h = self.home
        start = time.monotonic()
        runaway = subprocess.Popen([MUMBA, "sql", "hello", "main", self.RUNAWAY], env=h.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.3)
            self.assertIsNone(runaway.poll(), "the runaway call ended at once")
            # Another app's SQL and the registry answer meanwhile. (The same app's
            # `mumba sql` waits: it is an Execute, which needs the app's writer.)
            self.timed("sql", "other", "main", "INSERT INTO t VALUES (1)", limit=1.0)
            self.timed("sql", "other", "main", "SELECT count(*) FROM t", limit=1.0)
            self.timed("kv", "hello", "put", "k", "v", limit=1.0)
            self.timed("list", limit=1.0)
            _, err = runaway.communicate(timeout=30)
        finally:
            if runaway.poll() is None:
                runaway.kill()
                runaway.communicate()
        self.assertNotEqual(runaway.returncode, 0)
        self.assertIn("1500 ms", err)
        self.assertLess(time.monotonic() - start, 10)
        # The writer of the app is free again.
        self.timed("sql", "hello", "main", "INSERT INTO t VALUES (2)", limit=1.0)

    def test_process_wide_pragmas_are_refused_and_harm_nobody(self):
        h = self.home
        for pragma in ("PRAGMA hard_heap_limit=1000000", "PRAGMA soft_heap_limit=1000000",
                       "PRAGMA max_page_count=4294967294; INSERT INTO t VALUES (3)"):
            p = h.run("sql", "hello", "main", pragma, check=False)
            self.assertIn("is not allowed", p.stderr)
        # Before, the heap limit made every later allocation of the host fail.
        big = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) " \
              "SELECT group_concat(hex(randomblob(1000))) FROM n"
        self.timed("sql", "other", "main", big, limit=5.0)
        self.timed("sql", "hello", "main", big, limit=5.0)
        self.timed("list", limit=2.0)
        [res] = sql_json(h, "SELECT count(*) FROM t WHERE v = 3")
        self.assertEqual(res["rows"], [[0]])

    def test_huge_values_fail_with_a_clear_error(self):
        p = self.home.run("sql", "hello", "main", "SELECT length(randomblob(999999999))", check=False)
        self.assertIn("too big", p.stderr)


class CrashTest(unittest.TestCase):
    def test_acknowledged_writes_survive_kill_9_of_the_host(self):
        home = Home(self)
        home.install_hello()
        sql_json(home, "CREATE TABLE w (i INTEGER PRIMARY KEY)")
        local = os.path.join(home.path, "payload")
        with open(local, "wb") as f:
            f.write(os.urandom(200_000))
        acked = {"kv": [], "sql": [], "files": []}
        stop = threading.Event()

        def writer(kind):
            i = 0
            deadline = time.monotonic() + 20
            while not stop.is_set() and time.monotonic() < deadline:
                if kind == "kv":
                    args = ["kv", "hello", "put", f"k{i}", f"v{i}"]
                elif kind == "sql":
                    args = ["sql", "hello", "main", "INSERT INTO w VALUES (?)", "-p", str(i)]
                else:
                    args = ["files", "hello", "put", local, f"f/{i}"]
                p = subprocess.run([MUMBA, *args], env=home.env, capture_output=True, timeout=30)
                if p.returncode == 0:
                    acked[kind].append(i)
                elif not home.host_pid():
                    return
                i += 1

        threads = [threading.Thread(target=writer, args=(k,)) for k in acked]
        for t in threads:
            t.start()
        wait_for(lambda: all(len(v) >= 3 for v in acked.values()), 20, what="some writes")
        host = home.host_pid()
        os.kill(host, signal.SIGKILL)
        wait_for(lambda: not alive(host), 5, what="host to die")
        stop.set()
        for t in threads:
            t.join(timeout=40)
        # The lock file may still name the dead host; the next start takes over.
        home.run("host", "start", check=True)
        for i in acked["kv"]:
            self.assertEqual(home.run("kv", "hello", "get", f"k{i}", check=True).stdout, f"v{i}")
        [res] = sql_json(home, "SELECT i FROM w ORDER BY i")
        present = {row[0] for row in res["rows"]}
        self.assertTrue(set(acked["sql"]) <= present, (acked["sql"], present))
        listing = home.run("files", "hello", "ls", "f", check=True).stdout
        for i in acked["files"]:
            self.assertIn(f"200000  {i}\n", listing)
        [res] = sql_json(home, "PRAGMA integrity_check")
        self.assertEqual(res["rows"], [["ok"]])
        # No half-written file is visible.
        for line in listing.splitlines():
            self.assertTrue(line.split()[0] == "200000", line)


if __name__ == "__main__":
    unittest.main()
