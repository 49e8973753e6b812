# SPDX-License-Identifier: Apache-2.0
"""What a host refuses from the network, proved with real hosts and a dishonest peer.

Hosts listen on 127.0.0.1 and bootstrap only from each other; mumba-p2p-tool
(tests/tools/p2p_tool.cc) joins the same private DHT as a node of its own and plays
the attacker: forged BEP 44 items, items that point at another app's bundle, corrupt
pieces, bundles that try to leave their folder, bundles larger than their item
announced, and older items (still validly signed) served to roll an app back. Run through netns.sh, the module
lives in a network namespace that holds nothing but loopback.

A refusal is one clear line on stderr, with nothing installed (`mumba list` empty)
and nothing left in apps/.staging.
"""
import filecmp
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, Home, alive, copy_bundle, edit_manifest, free_ports, wait_for

TOOL = next((p for p in (os.path.join(BIN, "mumba-p2p-tool"), os.path.join(BIN, "tests", "mumba-p2p-tool"))
             if os.path.exists(p)), None)
BUNDLE_NAME = "mumba-hello-0.1.0"  # The torrent name hosts give hello 0.1.0.
# An install that should take a second or two gets this long before the test
# calls it stuck (bounded: a stuck host fetch would otherwise run for 30 min).
INSTALL_WALL = 20


class Swarm:
    """Hosts that know each other's DHT addresses and nobody else's.

    `configs` maps a host's index to extra config.toml text (e.g. a [p2p] rate limit).
    """

    def __init__(self, test, n, configs=None):
        self.ports = free_ports(n)
        self.homes = [self.start(test, i, (configs or {}).get(i)) for i in range(n)]

    def start(self, test, i, config=None):
        home = Home(test)
        if config:
            with open(os.path.join(home.path, "config.toml"), "w") as f:
                f.write(config)
        others = ",".join(f"127.0.0.1:{p}" for j, p in enumerate(self.ports) if j != i)
        home.run("host", "start", "--listen", f"127.0.0.1:{self.ports[i]}", "--bootstrap", others,
                 check=True)
        return home

    def bootstrap(self):
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)


class Tool:
    """mumba-p2p-tool processes joined to a swarm, each ended by PID at cleanup."""

    def __init__(self, test, swarm):
        if not TOOL:
            raise unittest.SkipTest(f"mumba-p2p-tool is not built in {BIN}")
        self.bootstrap = swarm.bootstrap()
        self.procs = []
        self.logs = tempfile.mkdtemp(prefix="mt-", dir="/tmp")
        test.addCleanup(self.cleanup)

    def start(self, *args):
        """Starts a command that runs until stopped; returns (process, its first JSON line)."""
        argv = [TOOL, "--listen", "127.0.0.1:0", "--bootstrap", self.bootstrap, "--timeout", "10", *args]
        log = open(os.path.join(self.logs, f"{len(self.procs)}.log"), "w+")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
        self.procs.append((proc, log))
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line:
            raise AssertionError(f"mumba-p2p-tool {' '.join(args)} printed nothing: {self.stop(proc)}")
        return proc, json.loads(line)

    def put(self, *args):
        """Puts an item and stays in the DHT, answering lookups with it (a node that
        left would hold every later lookup up to libtorrent's 15 s query timeout)."""
        return self.start("put", "--hold", *args)

    def said(self, proc):
        """What `proc` has said on stderr so far (it keeps running: a node that left
        would slow the swarm's lookups down)."""
        for p, log in self.procs:
            if p is proc:
                log.flush()
                with open(log.name) as f:
                    return f.read()
        return ""

    def stop(self, proc):
        """Ends `proc` (SIGTERM, then SIGKILL) and returns what it said on stderr."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for p, log in self.procs:
            if p is proc:
                log.seek(0)
                return log.read()
        return ""

    def cleanup(self):
        for proc, log in self.procs:
            self.stop(proc)
            proc.stdout.close()
            log.close()
        shutil.rmtree(self.logs, ignore_errors=True)


def new_key(test):
    """A fresh address and the path of its secret key, in a home of our own (no host)."""
    home = Home(test)
    address = home.run("keys", "new", check=True).stdout.strip()
    return address, os.path.join(home.path, "keys", address[len("mumba://"):] + ".key")


def app_bundle(test, address, version="0.1.0"):
    """A copy of the hello bundle whose id is `address`."""
    bundle = copy_bundle(test)
    with open(os.path.join(bundle, "mumba.toml")) as f:
        old_id = f.read().split('id = "', 1)[1].split('"', 1)[0]
    edit_manifest(bundle, old_id, address)
    if version != "0.1.0":
        edit_manifest(bundle, 'version = "0.1.0"', f'version = "{version}"')
    return bundle


def item_args(ref, name="hello", version="0.1.0"):
    """`put` arguments pointing at torrent `ref` (from publish or the tool's seed)."""
    return ["--ih", ref["info_hash"], "--v2", ref["info_hash_v2"], "--name", name, "--version", version,
            "--size", str(ref["size"])]


def lying_about_size(ref, size, **kw):
    """item_args for torrent `ref`, announcing `size` bytes instead of its own."""
    args = item_args(ref, **kw)
    args[args.index("--size") + 1] = str(size)
    return args


def installed_versions(home):
    return [a["version"] for a in home.json("list")["apps"]]


def staging_of(home):
    return os.listdir(os.path.join(home.path, "apps", ".staging"))


def wait_resolves(home, address, seq):
    """Waits until `home` resolves `address` to the item of sequence number `seq`
    (a node that just joined takes a moment to be asked); returns that item."""
    def resolved():
        p = home.run("info", address, "--json", "--timeout", "3")
        item = json.loads(p.stdout) if p.returncode == 0 else {}
        return str(item.get("seq")) == str(seq) and item
    return wait_for(resolved, 30, interval=0.5, what=f"{address} to resolve to seq {seq}")


def files_of(root):
    out = set()
    for d, dirs, names in os.walk(root):
        for n in names + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


class RefusalTest(unittest.TestCase):
    def assert_nothing_installed(self, home):
        self.assertEqual(home.json("list")["apps"], [])
        self.assertEqual(os.listdir(os.path.join(home.path, "apps", ".staging")), [])

    def kill_host(self, home):
        """A host stuck in a fetch does not stop (its Fetch RPC ignores cancellation):
        end it by PID so that cleanup does not wait for it."""
        pid = home.host_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not alive(pid), 10, what=f"host {pid} to die")

    def install(self, home, address, *args):
        """`mumba install ADDRESS --yes ARGS`, bounded by INSTALL_WALL seconds."""
        try:
            return home.run("install", address, "--yes", *args, timeout=INSTALL_WALL)
        except subprocess.TimeoutExpired as e:
            self.kill_host(home)
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            last = out.strip().splitlines()[-1:] or ["(no event)"]
            self.fail(f"mumba install {address} {' '.join(args)} still ran after {INSTALL_WALL} s; "
                      f"last event: {last[0]}")

    def install_refused(self, home, address, *needles, timeout=5):
        """`mumba install ADDRESS` fails with one line holding `needles`; nothing installed."""
        p = self.install(home, address, "--timeout", str(timeout))
        self.assertNotEqual(p.returncode, 0, p.stdout)
        lines = [l for l in p.stderr.strip().splitlines()
                 if not l.startswith(("resolving ", "downloaded ", "found "))]
        self.assertEqual(len(lines), 1, p.stderr)
        for needle in needles:
            self.assertIn(needle, lines[0])
        self.assert_nothing_installed(home)
        return lines[0]

    def test_forged_items_are_refused(self):
        swarm = Swarm(self, 3)
        a, _, c = swarm.homes
        tool = Tool(self, swarm)
        victim, _ = new_key(self)
        _, attacker_key = new_key(self)
        # What the forger wants installed: a real, seeded bundle that even claims the
        # victim's id, so that only the item's signature stands in the way.
        _, bundle = tool.start("seed", "--dir", app_bundle(self, victim), "--name", BUNDLE_NAME)
        forger, put = tool.put("--address", victim, "--sign-with-file", attacker_key, "--seq", "7",
                               *item_args(bundle))
        self.assertTrue(put["forged"])
        self.assertGreaterEqual(put["dht_nodes"], 2, put)
        self.assertEqual(put["stored_on"], 0, "honest DHT nodes stored an item signed with the wrong key")

        p = c.run("info", victim, "--timeout", "3", check=False)
        self.assertIn("no one serves", p.stderr)
        self.install_refused(c, victim, "no one serves " + victim, timeout=3)
        # The forger itself answered C's lookups with the item: C saw it and dropped
        # it for its signature.
        self.assertIn("answered a lookup with the planted item", tool.said(forger))

        # A forged item with a higher seq does not shadow the honest one.
        x = a.run("keys", "new", check=True).stdout.strip()
        a.run("publish", app_bundle(self, x), "--json", check=True)
        _, evil = tool.start("seed", "--dir", app_bundle(self, x, "6.6.6"), "--name", "mumba-hello-6.6.6")
        _, put = tool.put("--address", x, "--sign-with-file", attacker_key, "--seq", "99",
                          *item_args(evil, version="6.6.6"))
        self.assertEqual(put["stored_on"], 0, put)
        info = json.loads(c.run("info", x, "--json", "--timeout", "5", check=True).stdout)
        self.assertEqual((info["version"], str(info["seq"])), ("0.1.0", "1"))

    def test_item_pointing_at_another_app_is_refused(self):
        swarm = Swarm(self, 3)
        a, _, c = swarm.homes
        tool = Tool(self, swarm)
        x = a.run("keys", "new", check=True).stdout.strip()
        item = json.loads(a.run("publish", app_bundle(self, x), "--json", check=True).stdout)
        # A properly signed item under another key K that points at X's bundle.
        k, k_key = new_key(self)
        _, put = tool.put("--key-file", k_key, "--seq", "1", *item_args(item))
        self.assertFalse(put["forged"])
        self.assertGreaterEqual(put["stored_on"], 1, put)
        line = self.install_refused(c, k, "refused", f"says it is app {x}")
        self.assertIn(k, line)

    # libtorrent's smart_ban plugin (in session_params' default plugins, and added
    # again in P2pNode::Start) finds the peer that sent a bad block by IP alone
    # (torrent::find_peers(address)). Here every peer is 127.0.0.1 (as are peers
    # behind one NAT), so it bans the honest seeder with the corrupt one and the
    # download stalls at 0 peers. Hybrid torrents do not need it: v2 block hashes
    # ban the right peer. Without smart_ban this test passes; remove the skip then
    # (P2pNode::Fetch should also clear and resume a torrent_inconsistent_hashes
    # error: the corrupt peer raises it in about 1 run in 8).
    def test_corrupt_pieces_are_healed_from_an_honest_peer(self):
        # The honest publisher uploads at 4 MB/s, so C surely takes blocks from both.
        swarm = Swarm(self, 3, {0: "[p2p]\nupload_rate_limit = 4000000\n"})
        a, _, c = swarm.homes
        tool = Tool(self, swarm)
        x = a.run("keys", "new", check=True).stdout.strip()
        original = app_bundle(self, x)
        corrupt, ref = tool.start("seed-corrupt", "--dir", original, "--name", BUNDLE_NAME)
        item = json.loads(a.run("publish", original, "--json", check=True).stdout)
        # The tool serves the very torrent the host published, with bad bytes.
        self.assertEqual((ref["info_hash"], ref["info_hash_v2"]), (item["info_hash"], item["info_hash_v2"]))

        p = self.install(c, x, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout.splitlines()[-1])["phase"], "done")
        installed = os.path.join(c.path, "apps", x[len("mumba://"):], "0.1.0")
        self.assertEqual(files_of(original), files_of(installed))
        for rel in files_of(original):
            self.assertTrue(filecmp.cmp(os.path.join(original, rel), os.path.join(installed, rel),
                                        shallow=False), rel)
        said = tool.stop(corrupt)
        sent = re.search(r"sent (\d+) corrupt blocks", said)
        self.assertTrue(sent and int(sent.group(1)) > 0, f"the corrupt peer uploaded nothing: {said}")

    def test_an_install_stops_when_its_client_or_the_host_goes(self):
        # A serves at 300 kB/s: the 24 MB hello bundle would take over a minute.
        swarm = Swarm(self, 3, {0: "[p2p]\nupload_rate_limit = 300000\n"})
        a, _, c = swarm.homes
        x = a.run("keys", "new", check=True).stdout.strip()
        a.run("publish", app_bundle(self, x), check=True)

        def start_install():
            proc = subprocess.Popen([os.path.join(BIN, "mumba"), "install", x, "--yes", "--json"],
                                    env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            def end():
                if proc.poll() is None:
                    proc.kill()
                proc.communicate(timeout=10)  # Reaps it and closes its pipes.
            self.addCleanup(end)
            deadline = time.monotonic() + INSTALL_WALL
            while time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 1)
                line = proc.stdout.readline() if ready else ""
                if line and json.loads(line).get("done", 0) > 0:
                    return proc
                if proc.poll() is not None:
                    self.fail(f"install ended early: {proc.stderr.read()}")
            self.fail("no bytes arrived within the wall")

        def torrents(home):
            return home.json("host", "status").get("torrents", 0)

        # The client goes away (Ctrl-C): the host drops the download.
        proc = start_install()
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        wait_for(lambda: torrents(c) == 0, 10, what="C to drop the download")
        # The torrent leaves the session before its files and folder are deleted:
        # wait for the folder, which goes last.
        staging = os.path.join(c.path, "apps", ".staging")
        wait_for(lambda: os.listdir(staging) == [], 10, what="C to delete the cancelled download")
        self.assert_nothing_installed(c)

        # The host stops in the middle of a download: it does so promptly.
        proc = start_install()
        started = time.monotonic()
        c.run("host", "stop", check=True)
        self.assertLess(time.monotonic() - started, 8)
        self.assertNotEqual(proc.wait(10), 0)
        self.assert_nothing_installed(c)

    def test_only_corrupt_peers_fail_within_the_timeout(self):
        swarm = Swarm(self, 3)
        _, _, c = swarm.homes
        tool = Tool(self, swarm)
        k, k_key = new_key(self)
        _, ref = tool.start("seed-corrupt", "--dir", app_bundle(self, k), "--name", BUNDLE_NAME)
        tool.put("--key-file", k_key, "--seq", "1", *item_args(ref))
        self.install_refused(c, k, "fetching hello 0.1.0", timeout=5)

    def test_bundles_escaping_their_folder_are_refused(self):
        swarm = Swarm(self, 3)
        _, _, c = swarm.homes
        tool = Tool(self, swarm)
        # The daemon's command points out of the bundle.
        k, k_key = new_key(self)
        bundle = app_bundle(self, k)
        edit_manifest(bundle, 'command = "bin/hello"', 'command = "../../bin/sh"')
        _, ref = tool.start("seed", "--dir", bundle, "--name", BUNDLE_NAME)
        tool.put("--key-file", k_key, "--seq", "1", *item_args(ref))
        self.install_refused(c, k, "daemon.command", "../../bin/sh")

        # A symlink to /etc/passwd travels in the torrent (a BEP 47 symlink entry).
        k2, k2_key = new_key(self)
        bundle = app_bundle(self, k2)
        os.symlink("/etc/passwd", os.path.join(bundle, "ui", "passwd"))
        _, ref = tool.start("seed", "--symlinks", "--dir", bundle, "--name", BUNDLE_NAME)
        tool.put("--key-file", k2_key, "--seq", "1", *item_args(ref))
        p = self.install(c, k2, "--timeout", "5")
        if p.returncode != 0:
            lines = [l for l in p.stderr.strip().splitlines() if not l.startswith(("resolving ", "downloaded "))]
            self.assertEqual(len(lines), 1, p.stderr)
            self.assert_nothing_installed(c)
            return
        # libtorrent 2.0.8 rewrites a symlink that leaves the torrent (it arrives as
        # an empty file), so the host may install the bundle: then nothing in it may
        # lead out of its folder or carry what the link pointed at.
        installed = os.path.realpath(os.path.join(c.path, "apps", k2[len("mumba://"):], "0.1.0"))
        for rel in files_of(installed):
            full = os.path.join(installed, rel)
            target = os.path.realpath(full)
            self.assertTrue(target == installed or target.startswith(installed + os.sep),
                            f"{rel} leads to {target}")
        with open("/etc/passwd", "rb") as f:
            secret = f.read()
        with open(os.path.join(installed, "ui", "passwd"), "rb") as f:
            self.assertNotEqual(f.read(), secret)
        self.assertEqual(os.listdir(os.path.join(c.path, "apps", ".staging")), [])

    def test_a_bundle_larger_than_announced_is_stopped(self):
        swarm = Swarm(self, 3)
        _, _, c = swarm.homes
        tool = Tool(self, swarm)
        k, k_key = new_key(self)
        _, ref = tool.start("seed", "--dir", app_bundle(self, k), "--name", BUNDLE_NAME)
        tool.put("--key-file", k_key, "--seq", "1", *lying_about_size(ref, 1000))
        line = self.install_refused(c, k, f"holds {ref['size']} bytes", "more than the 1000 bytes announced",
                                    "stopped and deleted")
        self.assertIn("fetching hello 0.1.0", line)
        self.assertEqual(c.json("host", "status").get("torrents", 0), 0)

    def test_a_ceiling_below_the_bundle_refuses_it(self):
        swarm = Swarm(self, 3, {2: "[p2p]\nmax_bundle_bytes = 1000000\n"})
        a, _, c = swarm.homes
        x = a.run("keys", "new", check=True).stdout.strip()
        item = json.loads(a.run("publish", app_bundle(self, x), "--json", check=True).stdout)
        self.assertGreater(item["size"], 1000000)
        self.install_refused(c, x, f"announces a bundle of {item['size']} bytes", "ceiling of 1000000",
                             "max_bundle_bytes")

    def test_the_hourly_update_stops_a_bundle_larger_than_announced(self):
        swarm = Swarm(self, 3, {2: "[p2p]\nupdate_interval_s = 1\n"})
        _, _, c = swarm.homes
        tool = Tool(self, swarm)
        k, k_key = new_key(self)
        _, v1 = tool.start("seed", "--dir", app_bundle(self, k), "--name", BUNDLE_NAME)
        tool.put("--key-file", k_key, "--seq", "1", *item_args(v1))
        p = self.install(c, k)
        self.assertEqual(p.returncode, 0, p.stderr)
        # The publisher's next item lies about its bundle's size; nobody is asked.
        _, v2 = tool.start("seed", "--dir", app_bundle(self, k, "0.2.0"), "--name", "mumba-hello-0.2.0")
        tool.put("--key-file", k_key, "--seq", "2", *lying_about_size(v2, 1000, version="0.2.0"))
        log = os.path.join(c.path, "logs", "host.log")

        def refused():
            with open(log) as f:
                return "more than the 1000 bytes announced" in f.read()
        wait_for(refused, 30, interval=0.5, what="the hourly update to refuse the oversized bundle")
        self.assertEqual(installed_versions(c), ["0.1.0"])
        wait_for(lambda: staging_of(c) == [], 10, what="C to delete the refused download")

    def test_an_older_signed_item_does_not_roll_an_installed_app_back(self):
        swarm = Swarm(self, 3)
        _, _, c = swarm.homes
        tool = Tool(self, swarm)
        k, k_key = new_key(self)
        _, old = tool.start("seed", "--dir", app_bundle(self, k), "--name", BUNDLE_NAME)
        _, new = tool.start("seed", "--dir", app_bundle(self, k, "0.2.0"), "--name", "mumba-hello-0.2.0")
        # Each item lives only in the store of the tool that plants it, so that
        # once the newer one's node has gone, lookups find only the older one.
        newer, _ = tool.put("--plant-only", "--key-file", k_key, "--seq", "2", *item_args(new, version="0.2.0"))
        wait_resolves(c, k, 2)
        p = self.install(c, k)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(installed_versions(c), ["0.2.0"])
        tool.stop(newer)

        older, _ = tool.put("--plant-only", "--key-file", k_key, "--seq", "1", *item_args(old))
        self.assertEqual(wait_resolves(c, k, 1)["version"], "0.1.0")
        # Installing the address again: the older item is refused, whatever the
        # client was shown.
        p = self.install(c, k, "--timeout", "5")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("older than the seq 2 installed", p.stderr)
        self.assertEqual(installed_versions(c), ["0.2.0"])
        self.assertEqual(staging_of(c), [])
        # Updating: nothing newer, nothing changes.
        p = c.run("update", "hello")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("up to date", p.stdout)
        self.assertEqual(installed_versions(c), ["0.2.0"])
        tool.stop(older)

        # A newer item naming a lower version does not take the app down either,
        # neither by update nor by install.
        tool.put("--plant-only", "--key-file", k_key, "--seq", "3", *item_args(old))
        wait_resolves(c, k, 3)
        p = c.run("update", "hello", "--yes")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("below the hello 0.2.0 installed", p.stderr)
        p = self.install(c, k, "--timeout", "5")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("below the hello 0.2.0 installed", p.stderr)
        self.assertEqual(installed_versions(c), ["0.2.0"])
        self.assertEqual(staging_of(c), [])


if __name__ == "__main__":
    unittest.main()
