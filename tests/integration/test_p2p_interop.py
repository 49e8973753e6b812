# SPDX-License-Identifier: Apache-2.0
"""A bundle Mumba publishes is a plain BitTorrent torrent: WebTorrent, an independent
implementation (JavaScript, npm), downloads it byte for byte from the magnet alone.

Two hosts form a private DHT on 127.0.0.1; host A publishes. WebTorrent knows only
host B's DHT address, and the magnet names neither trackers nor peers, so the seeder's
address can reach it only through the DHT. Run through netns.sh, the module lives in
a network namespace that holds nothing but loopback.

WebTorrent is installed by tests/interop/install.sh (npm ci from the committed lock
file); this test never touches the network to install anything.
"""
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import free_ports, SOURCE_DIR, Home, alive, copy_bundle, edit_manifest

INTEROP_DIR = os.path.abspath(os.path.join(SOURCE_DIR, "tests", "interop"))
FETCH = os.path.join(INTEROP_DIR, "fetch.mjs")
FETCH_TIMEOUT = 60  # Seconds fetch.mjs gives WebTorrent; it measured ~3.5 s here.
INSTALL_HINT = "run tests/interop/install.sh (it installs Node.js if needed and WebTorrent with npm ci)"


def install_digest():
    """What install.sh writes to node_modules/.mumba-install-stamp after npm ci."""
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json", ".npmrc"):
        with open(os.path.join(INTEROP_DIR, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def node_or_fail(test):
    """The node binary, or a test failure that says how to install what is missing."""
    node = shutil.which("node")
    if not node:
        test.fail(f"node is not on PATH: {INSTALL_HINT}")
    stamp = os.path.join(INTEROP_DIR, "node_modules", ".mumba-install-stamp")
    if not os.path.exists(stamp):
        test.fail(f"{os.path.dirname(stamp)} is missing: {INSTALL_HINT}")
    with open(stamp) as f:
        current = f.read().strip() == install_digest()
    if not current:
        test.fail(f"{os.path.dirname(stamp)} does not match package-lock.json: {INSTALL_HINT}")
    return node


def files_under(root, skip=()):
    """Relative path -> absolute path of every regular file under root."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = full
    return out


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class WebTorrentInteropTest(unittest.TestCase):
    def run_fetch(self, node, magnet, out_dir, bootstrap_port):
        """Runs fetch.mjs to completion (bounded), ending it by PID whatever happens."""
        p = subprocess.Popen([node, FETCH, magnet, out_dir, str(bootstrap_port), str(FETCH_TIMEOUT)],
                             cwd=INTEROP_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)

        def kill():
            if p.poll() is None and alive(p.pid):
                os.killpg(p.pid, signal.SIGKILL)  # Its own session: only what it started.
            p.wait(timeout=10)
        self.addCleanup(kill)
        try:
            out, err = p.communicate(timeout=FETCH_TIMEOUT + 30)
        except subprocess.TimeoutExpired:
            kill()
            out, err = p.communicate()
            self.fail(f"fetch.mjs outlived its own {FETCH_TIMEOUT} s timeout\n{err}")
        return p.returncode, out, err

    def test_webtorrent_downloads_a_published_bundle_from_the_magnet_alone(self):
        node = node_or_fail(self)
        pa, pb = free_ports(2)
        a, b = Home(self), Home(self)
        a.run("host", "start", "--listen", f"127.0.0.1:{pa}", "--bootstrap", f"127.0.0.1:{pb}", check=True)
        b.run("host", "start", "--listen", f"127.0.0.1:{pb}", "--bootstrap", f"127.0.0.1:{pa}", check=True)

        # hello under a fresh address, plus a file of random bytes whose size is no
        # multiple of anything, so piece and pad boundaries fall mid-file.
        address = a.run("keys", "new", check=True).stdout.strip()
        bundle = copy_bundle(self)
        with open(os.path.join(bundle, "mumba.toml")) as f:
            old_id = f.read().split('id = "', 1)[1].split('"', 1)[0]
        edit_manifest(bundle, old_id, address)
        os.makedirs(os.path.join(bundle, "data"), exist_ok=True)
        with open(os.path.join(bundle, "data", "random.bin"), "wb") as f:
            f.write(random.randbytes(3 * 1024 * 1024 + 12345))

        started = time.monotonic()
        item = json.loads(a.run("publish", bundle, "--json", check=True).stdout)
        publish_s = time.monotonic() - started
        magnet = item["magnet"]
        self.assertTrue(magnet.startswith("magnet:?xt=urn:btih:" + item["info_hash"]), magnet)
        for hint in ("tr=", "x.pe=", "ws=", "as="):  # fetch.mjs refuses these too.
            self.assertNotIn("&" + hint, magnet)

        out_dir = tempfile.mkdtemp(prefix="wt-", dir="/tmp")
        self.addCleanup(shutil.rmtree, out_dir, True)
        started = time.monotonic()
        # WebTorrent bootstraps from B, which does not seed: A's address can only come
        # from B's answer to get_peers.
        rc, out, err = self.run_fetch(node, magnet, out_dir, pb)
        fetch_s = time.monotonic() - started
        self.assertEqual(rc, 0, f"fetch.mjs failed ({rc}):\n{err}{out}")
        summary = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(summary["info_hash"], item["info_hash"])

        # Every file of the bundle, and nothing else but BEP 47 pad files, byte for byte.
        self.assertEqual(os.listdir(out_dir), [summary["name"]])
        root = os.path.join(out_dir, summary["name"])
        got = files_under(root, skip={".pad"})
        want = files_under(bundle)
        self.assertEqual(sorted(got), sorted(want))
        for rel, path in want.items():
            self.assertEqual(os.path.getsize(got[rel]), os.path.getsize(path), rel)
            self.assertEqual(sha256_of(got[rel]), sha256_of(path), rel)
        self.assertEqual(sum(os.path.getsize(p) for p in want.values()), item["size"])
        for rel, path in files_under(os.path.join(root, ".pad")).items():
            with open(path, "rb") as f:
                self.assertFalse(f.read().strip(b"\0"), f".pad/{rel} is not all zeros")

        print(f"\n  publish {publish_s:.2f} s; WebTorrent {fetch_s:.2f} s for {item['size']} bytes "
              f"in {len(want)} files: {json.dumps(summary)}", flush=True)


if __name__ == "__main__":
    unittest.main()
