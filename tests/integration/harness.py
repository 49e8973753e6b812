# SPDX-License-Identifier: Apache-2.0
"""Real hosts in temporary homes for the integration tests.

Every process a test starts is recorded and ended by PID when the test ends, pass or
fail. Every wait is bounded. Nothing here talks to anything but unix sockets.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("MUMBA_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/bin"))
MUMBA = os.path.join(BIN, "mumba")
HOST = os.path.join(BIN, "mumba-host")
HELLO_BUNDLE = os.environ.get("MUMBA_HELLO_BUNDLE", "")
SOURCE_DIR = os.environ.get("MUMBA_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
COMMAND_TIMEOUT = 60


def free_ports(n):
    """n ports free on 127.0.0.1 for both TCP and UDP (BitTorrent and the DHT)."""
    ports = set()
    while len(ports) < n:
        port = random.randint(20000, 45000)
        try:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        ports.add(port)
    return sorted(ports)


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def alive(pid):
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class Home:
    """One MUMBA_HOME and the host that runs on it."""

    def __init__(self, test):
        # Short paths: unix socket paths are limited to 108 bytes.
        self.path = tempfile.mkdtemp(prefix="mh-", dir="/tmp")
        self.env = dict(os.environ, MUMBA_HOME=self.path)
        self.pids = set()  # Host and daemon pids seen; killed at cleanup if still alive.
        if isinstance(test, type):  # From setUpClass.
            test.addClassCleanup(self.cleanup)
        else:
            test.addCleanup(self.cleanup)

    def run(self, *args, check=None, timeout=COMMAND_TIMEOUT, input=None):
        """Runs `mumba ARGS` against this home. check=True/False asserts the exit code."""
        p = subprocess.run([MUMBA, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check is True and p.returncode != 0:
            raise AssertionError(f"mumba {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        if check is False and p.returncode == 0:
            raise AssertionError(f"mumba {' '.join(args)} should have failed: {p.stdout}")
        self._note_pids()
        return p

    def json(self, *args):
        return json.loads(self.run(*args, "--json", check=True).stdout)

    def gateway_session(self, app):
        """What app's window holds, to talk to the gateway as that window does: the
        origin and the Cookie header value with the app's secret. Asked of the host
        as its owner (`mumba gateway-session`, over host.sock); the secret comes back
        on a pipe and is never put in a command line."""
        s = self.json("gateway-session", app)
        return s["origin"], f"{s['cookie_name']}={s['secret']}"

    def window_cookie(self, app):
        """app's secret cookie as cdp.Browser.set_cookie takes it, so a test's
        browser holds it the way the host puts it in an app window's profile."""
        s = self.json("gateway-session", app)
        return {"url": s["origin"] + "/", "name": s["cookie_name"], "value": s["secret"]}

    def host_pid(self):
        try:
            with open(os.path.join(self.path, "host.lock")) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0
        return pid if alive(pid) else 0

    def status(self, app):
        return self.json("status", app)

    def install_hello(self):
        if not HELLO_BUNDLE:
            raise unittest.SkipTest("MUMBA_HELLO_BUNDLE is not set (run through ctest)")
        self.run("install", HELLO_BUNDLE, check=True)

    def wait_state(self, app, state, timeout=15):
        return wait_for(lambda: (s := self.status(app))["state"] == state and s, timeout,
                        what=f"{app} to be {state}")

    def _note_pids(self):
        pid = self.host_pid()
        if pid:
            self.pids.add(pid)
        # Daemons run in their own process groups; remember them too.
        run_dir = os.path.join(self.path, "run")
        if pid and os.path.isdir(run_dir):
            for child in _children(pid):
                self.pids.add(child)

    def cleanup(self):
        self._note_pids()
        if self.host_pid():
            try:
                subprocess.run([MUMBA, "host", "stop"], env=self.env, capture_output=True,
                               timeout=20)
            except subprocess.TimeoutExpired:
                pass
        for pid in self.pids:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pid in self.pids:
            try:
                wait_for(lambda: not alive(pid), 5, what=f"pid {pid} to exit")
            except AssertionError:
                pass
        shutil.rmtree(self.path, ignore_errors=True)


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def copy_bundle(test, src=None):
    """A writable copy of the hello bundle in a temp folder, removed after the test."""
    if not (src or HELLO_BUNDLE):
        raise unittest.SkipTest("MUMBA_HELLO_BUNDLE is not set (run through ctest)")
    root = tempfile.mkdtemp(prefix="mb-", dir="/tmp")
    (test.addClassCleanup if isinstance(test, type) else test.addCleanup)(shutil.rmtree, root, True)
    dst = os.path.join(root, "bundle")
    shutil.copytree(src or HELLO_BUNDLE, dst, symlinks=True)
    return dst


def edit_manifest(bundle, old, new):
    path = os.path.join(bundle, "mumba.toml")
    with open(path) as f:
        text = f.read()
    if old not in text:
        raise AssertionError(f"{old!r} not in manifest")
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def tree(path):
    """Every file under path with its size, to prove that nothing changed."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path)
            if rel.startswith("registry.db") or rel.startswith("logs"):
                continue
            out[rel] = os.lstat(full).st_size
    return out
