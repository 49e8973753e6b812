# SPDX-License-Identifier: Apache-2.0
"""Faults: a full disk under kv, sql, file writes and installs, and kill -9 of the
host in the middle of installs and updates.

The disk-full tests put MUMBA_HOME on a small tmpfs (root only) and unmount it at
cleanup. The kill tests SIGKILL the host at a random moment of an install, 20
rounds each, and check that the app is afterwards one whole version, never a mix.
"""
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from harness import (HELLO_BUNDLE, MUMBA, Home, alive, copy_bundle, edit_manifest,
                     wait_for)

HELLO_METHOD = "hello.v1.Greeter/SayHello"
ROUNDS = 20


def digest(path):
    """Every file under path (relative name -> sha256), symlinks by their target."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path)
            if os.path.islink(full):
                out[rel] = "-> " + os.readlink(full)
            else:
                with open(full, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def value(i, size):
    """The deterministic value of the i-th write: size bytes of text."""
    seed = hashlib.sha256(str(i).encode()).hexdigest()
    return (seed * (size // len(seed) + 1))[:size]


def migrated(db):
    """Whether the notes table of the sqlite file db has its 0.2.0 column yet."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0) as c:
            return c.execute("SELECT count(*) FROM pragma_table_info('notes') WHERE name = 'at'").fetchone()[0]
    except sqlite3.Error:
        return False


def tree_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def mounted_home(test, room_mib):
    """A Home whose folder is a fresh tmpfs with `room_mib` MiB beside what an
    install of hello takes; unmounted at cleanup after the host and its daemons are
    gone. Sized from the hello bundle, which is 1.3 MB in a plain build and some
    30 MB when its daemon is built under a sanitizer."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("mounting a small tmpfs for MUMBA_HOME needs root")
    home = Home(test)
    size = (room_mib << 20) + tree_bytes(HELLO_BUNDLE)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", home.path],
                       capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        raise unittest.SkipTest(f"cannot mount a tmpfs: {p.stderr.strip()}")

    def unmount():
        home.cleanup()  # Stops the host first: a busy mount does not unmount.
        for _ in range(50):
            if subprocess.run(["umount", home.path], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", home.path], capture_output=True)
        shutil.rmtree(home.path, ignore_errors=True)

    test.addCleanup(unmount)
    return home


def says_disk_full(stderr):
    text = stderr.lower()
    return "no space left" in text or "resource_exhausted" in text or "disk is full" in text


class DiskFullTest(unittest.TestCase):
    """Writes and installs on a full MUMBA_HOME: a clear error, nothing acknowledged
    lost, every store consistent, nothing half-installed."""

    def fill_until_full(self, write, limit):
        """Calls write(i) for i = 0.. until it fails; returns (acknowledged, failure)."""
        acked = []
        for i in range(limit):
            p = write(i)
            if p.returncode != 0:
                return acked, p
            acked.append(i)
        self.fail(f"the disk never filled in {limit} writes")

    def test_writes_on_a_full_disk(self):
        home = mounted_home(self, 23)
        home.install_hello()
        home.run("sql", "hello", "main", "CREATE TABLE t (i INTEGER PRIMARY KEY, v TEXT)", check=True)

        # Files first, in 1 MiB pieces: they take most of the space.
        src = tempfile.mkdtemp(prefix="mf-src-", dir="/tmp")
        self.addCleanup(shutil.rmtree, src, True)

        def put_file(i):
            local = os.path.join(src, f"f{i}")
            with open(local, "w") as f:
                f.write(value(i, 1 << 20))
            return home.run("files", "hello", "put", local, f"fill/f{i:03d}")

        files, failed = self.fill_until_full(put_file, 40)
        self.assertTrue(says_disk_full(failed.stderr), failed.stderr)
        self.assertNotIn("INTERNAL", failed.stderr)
        # The refused file is not there, not even in part.
        listing = home.run("files", "hello", "ls", "fill", check=True).stdout
        self.assertNotIn(f"f{len(files):03d}", listing)

        # Then key-value and SQL writes, until each is refused too.
        # The key-value store's message is checked by test_kv_error_says_disk_full.
        kv, failed = self.fill_until_full(
            lambda i: home.run("kv", "hello", "put", f"k{i:04d}", "-", input=value(i, 64 << 10)), 400)
        self.assertNotIn("INTERNAL", failed.stderr)
        sql, failed = self.fill_until_full(
            lambda i: home.run("sql", "hello", "main", "INSERT INTO t VALUES (?, ?)", "-p", str(i),
                               "-p", value(i, 32 << 10)), 400)
        self.assertTrue(says_disk_full(failed.stderr), failed.stderr)

        # An update that does not fit leaves 0.1.0 as it was and nothing half-installed.
        bundle = copy_bundle(self)
        edit_manifest(bundle, 'version = "0.1.0"', 'version = "0.2.0"')
        os.makedirs(os.path.join(bundle, "data"), exist_ok=True)
        with open(os.path.join(bundle, "data", "big.bin"), "wb") as f:
            f.write(os.urandom(4 << 20))
        failed = home.run("install", bundle, check=False)
        self.assertNotEqual(failed.returncode, 0)
        self.assertTrue(says_disk_full(failed.stderr), failed.stderr)
        self.assert_only_hello_010(home)

        # A restart on the full disk, after freeing a little: every acknowledged
        # write reads back and every store passes its checks.
        home.run("files", "hello", "rm", f"fill/f{files[-1]:03d}", check=True)
        home.run("host", "stop", check=True)
        home.run("host", "start", check=True)
        self.assertEqual(os.listdir(os.path.join(home.path, "apps", ".staging")), [])
        self.assert_only_hello_010(home)
        for i in files[:-1]:
            got = home.run("files", "hello", "get", f"fill/f{i:03d}", "-", check=True).stdout
            self.assertEqual(got, value(i, 1 << 20), f"file {i}")
        scan = home.run("kv", "hello", "scan", check=True).stdout.splitlines()
        self.assertEqual(scan, [f"k{i:04d}\t{value(i, 64 << 10)}" for i in kv])
        rows = home.run("sql", "hello", "main", "SELECT i, v FROM t ORDER BY i", "--json", check=True)
        rows = json.loads(rows.stdout.splitlines()[0])["rows"]
        self.assertEqual([r[0] for r in rows], sql)
        self.assertTrue(all(r[1] == value(r[0], 32 << 10) for r in rows))
        check = home.run("sql", "hello", "main", "PRAGMA integrity_check", check=True).stdout
        self.assertEqual(check.strip().splitlines()[-1], "ok", check)
        # With space again, every store takes writes and the daemon starts.
        home.run("kv", "hello", "put", "after", "yes", check=True)
        home.run("sql", "hello", "main", "INSERT INTO t VALUES (-1, 'after')", check=True)
        home.run("start", "hello", check=True)
        p = home.run("call", "hello", HELLO_METHOD, '{"name":"Ann"}', check=True)
        self.assertIn("Hello, Ann!", p.stdout)

    # LMDB reports the short write of a full disk as EIO; the store looks at the
    # disk and says it is full.
    def test_kv_error_says_disk_full(self):
        home = mounted_home(self, 5)
        home.install_hello()
        _, failed = self.fill_until_full(
            lambda i: home.run("kv", "hello", "put", f"k{i:04d}", "-", input=value(i, 64 << 10)), 400)
        self.assertTrue(says_disk_full(failed.stderr), failed.stderr)

    def assert_only_hello_010(self, home):
        apps = home.json("list")["apps"]
        self.assertEqual([(a["name"], a["version"]) for a in apps], [("hello", "0.1.0")])
        app_dir = os.path.dirname(apps[0]["install_dir"])
        self.assertEqual(os.listdir(app_dir), ["0.1.0"])
        self.assertEqual(digest(apps[0]["install_dir"]), digest(HELLO_BUNDLE))

    def test_new_install_on_a_full_disk(self):
        home = mounted_home(self, 7)
        bundle = copy_bundle(self)
        os.makedirs(os.path.join(bundle, "data"), exist_ok=True)
        with open(os.path.join(bundle, "data", "big.bin"), "wb") as f:
            f.write(os.urandom(12 << 20))
        failed = home.run("install", bundle, check=False)
        self.assertNotEqual(failed.returncode, 0)
        self.assertTrue(says_disk_full(failed.stderr), failed.stderr)
        self.assertEqual(home.json("list")["apps"], [])
        apps_dir = os.path.join(home.path, "apps")
        self.assertEqual(os.listdir(apps_dir), [".staging"])
        self.assertEqual(os.listdir(os.path.join(apps_dir, ".staging")), [])
        # The same install fits once there is room: nothing was left in the way.
        os.remove(os.path.join(bundle, "data", "big.bin"))
        home.run("install", bundle, check=True)
        self.assertEqual(digest(home.json("list")["apps"][0]["install_dir"]), digest(bundle))


class KillDuringInstallTest(unittest.TestCase):
    """kill -9 of the host at a random moment of an install: afterwards the app is
    the old version or the new one, whole."""

    @classmethod
    def setUpClass(cls):
        if not HELLO_BUNDLE:
            raise unittest.SkipTest("MUMBA_HELLO_BUNDLE is not set (run through ctest)")
        cls.old = HELLO_BUNDLE
        cls.new = copy_bundle(cls)
        edit_manifest(cls.new, 'version = "0.1.0"', 'version = "0.2.0"')
        # Many files and some bytes, so that the copy is a long part of the install.
        data = os.path.join(cls.new, "data")
        os.makedirs(os.path.join(data, "many"), exist_ok=True)
        for i in range(300):
            with open(os.path.join(data, "many", f"{i:03d}.txt"), "w") as f:
                f.write(value(i, 4096))
        with open(os.path.join(data, "big.bin"), "wb") as f:
            f.write(os.urandom(16 << 20))
        cls.digests = {"0.1.0": digest(cls.old), "0.2.0": digest(cls.new)}

    def timed_install(self, home, bundle):
        started = time.monotonic()
        home.run("install", bundle, check=True)
        return time.monotonic() - started

    def kill_during(self, home, bundle, delay, when=None):
        """Starts `mumba install bundle`, SIGKILLs the host after `delay` seconds
        (or as soon as when() is true) and brings a host back up."""
        host = home.host_pid()
        self.assertTrue(host)
        home.pids.add(host)
        cli = subprocess.Popen([MUMBA, "install", bundle], env=home.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if when:
            wait_for(when, 20, interval=0, what="the moment to kill")
        else:
            time.sleep(delay)
        os.kill(host, signal.SIGKILL)
        wait_for(lambda: not alive(host), 5, what="the host to die")
        try:
            cli.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cli.kill()
            cli.wait()
        # The CLI may have started a host of its own when it came after the kill.
        if not home.host_pid():
            home.run("host", "start", check=True)
        home.pids.add(home.host_pid())

    def check_whole(self, home, allowed, kept):
        """The app is one of `allowed` (None = not installed), byte for byte, and its
        folder holds that version and kept[version] (the one a rollback goes back
        to), nothing else; returns its version."""
        apps = home.json("list")["apps"]
        staging = os.path.join(home.path, "apps", ".staging")
        self.assertEqual(os.listdir(staging), [], "staging is swept at start")
        if not apps:
            self.assertIn(None, allowed)
            self.assertEqual([e for e in os.listdir(os.path.join(home.path, "apps"))
                              if not e.startswith(".")], [])
            return None
        self.assertEqual(len(apps), 1)
        version = apps[0]["version"]
        self.assertIn(version, allowed)
        self.assertEqual(digest(apps[0]["install_dir"]), self.digests[version], version)
        folders = set(os.listdir(os.path.dirname(apps[0]["install_dir"])))
        self.assertEqual(folders, {version} | kept.get(version, set()), "versions kept")
        return version

    def rounds(self, home, setup, allowed, kept, start):
        rng = random.Random(os.environ.get("MUMBA_FAULT_SEED", "11"))
        setup()
        took = self.timed_install(home, self.new)
        seen = {}
        for r in range(ROUNDS):
            setup()
            # Spread the kills over the whole install, a little past its end too.
            delay = rng.uniform(0, took * 1.1)
            self.kill_during(home, self.new, delay)
            version = self.check_whole(home, allowed, kept)
            seen[version] = seen.get(version, 0) + 1
            if version and start:
                home.wait_state("hello", "running", timeout=20)
                p = home.run("call", "hello", HELLO_METHOD, '{"name":"Ann"}', check=True)
                self.assertIn("Hello, Ann!", p.stdout)
        print(f"\n{self.id()}: install takes {took:.2f}s; outcomes {seen}", flush=True)

    def test_kill_during_first_install(self):
        home = Home(self)
        home.run("host", "start", check=True)

        def setup():
            if home.json("list")["apps"]:
                home.run("uninstall", "hello", "--purge", check=True)
        self.rounds(home, setup, {None, "0.2.0"}, {}, start=False)

    def test_kill_during_update(self):
        home = Home(self)
        home.run("host", "start", check=True)

        def setup():
            # Purged and reinstalled, so that 0.1.0 is the only version kept.
            apps = home.json("list")["apps"]
            if apps and apps[0]["version"] != "0.1.0":
                home.run("uninstall", "hello", "--purge", check=True)
                apps = []
            if not apps:
                home.run("install", self.old, check=True)
            if home.status("hello")["state"] != "running":
                home.run("start", "hello", check=True)
        self.rounds(home, setup, {"0.1.0", "0.2.0"}, {"0.2.0": {"0.1.0"}}, start=True)

    def test_kill_right_after_the_move(self):
        # The narrowest window: the new version is in its folder, the registry
        # does not say so yet. Afterwards no stray 0.2.0 folder may be left, or
        # `mumba rollback` would "go back" to a version never installed.
        home = Home(self)
        home.run("install", self.old, check=True)
        app_dir = os.path.dirname(home.json("list")["apps"][0]["install_dir"])
        kept = {"0.2.0": {"0.1.0"}}
        for _ in range(5):
            # Killed as soon as the folder of 0.2.0 shows up beside 0.1.0.
            self.kill_during(home, self.new, 0, when=lambda: "0.2.0" in os.listdir(app_dir))
            version = self.check_whole(home, {"0.1.0", "0.2.0"}, kept)
            if version == "0.1.0":
                p = home.run("rollback", "hello", check=False)
                self.assertNotEqual(p.returncode, 0, "rollback to a version never installed")
            else:
                home.run("uninstall", "hello", "--purge", check=True)
                home.run("install", self.old, check=True)

    def test_kill_during_a_migrating_update(self):
        # An update whose database steps take a while: killed during or after them,
        # the app is 0.1.0 on its own schema or 0.2.0 on the new one, never 0.1.0
        # on a database it cannot use (which it could not even be reinstalled on).
        home = Home(self)
        old, new = copy_bundle(self), copy_bundle(self)
        os.makedirs(os.path.join(old, "data"), exist_ok=True)
        with open(os.path.join(old, "data", "setup.sql"), "w") as f:
            f.write("CREATE TABLE notes (body TEXT);")
        os.makedirs(os.path.join(new, "data", "migrations"), exist_ok=True)
        with open(os.path.join(new, "data", "setup.sql"), "w") as f:
            f.write("CREATE TABLE notes (body TEXT, at INTEGER);")
        with open(os.path.join(new, "data", "migrations", "2.sql"), "w") as f:
            f.write("ALTER TABLE notes ADD COLUMN at INTEGER;\n"
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)\n"
                    "INSERT INTO notes SELECT 'filler', i FROM n;")
        edit_manifest(new, 'version = "0.1.0"', 'version = "0.2.0"')
        with open(os.path.join(new, "mumba.toml"), "a") as f:
            f.write("\n[storage]\nschema_version = 2\n")
        digests = {"0.1.0": digest(old), "0.2.0": digest(new)}
        rng = random.Random(os.environ.get("MUMBA_FAULT_SEED", "11"))
        seen = {}
        for _ in range(5):
            home.run("install", old, check=True)
            home.run("sql", "hello", "main", "INSERT INTO notes (body) VALUES ('kept')", check=True)
            key = os.path.basename(os.path.dirname(home.json("list")["apps"][0]["install_dir"]))
            db = os.path.join(home.path, "stores", key, "sql", "main", "db.sqlite")
            # Killed as soon as the migration has committed, give or take a little.
            delay = rng.choice([0, 0, rng.uniform(0, 0.05)])
            self.kill_during(home, new, 0, when=lambda: migrated(db) and (time.sleep(delay) or True))
            app = home.json("list")["apps"][0]
            version = app["version"]
            seen[version] = seen.get(version, 0) + 1
            self.assertEqual(digest(app["install_dir"]), digests[version], version)
            columns = home.run("sql", "hello", "main", "SELECT name FROM pragma_table_info('notes')",
                               check=True).stdout.split()
            self.assertEqual(columns, ["name", "body"] if version == "0.1.0" else ["name", "body", "at"])
            kept = home.run("sql", "hello", "main", "SELECT count(*) FROM notes WHERE body = 'kept'",
                            check=True).stdout.split()
            self.assertEqual(kept[-1], "1")
            home.run("uninstall", "hello", "--purge", check=True)
        print(f"\n{self.id()}: outcomes {seen}", flush=True)


if __name__ == "__main__":
    unittest.main()
