# SPDX-License-Identifier: Apache-2.0
"""A small DevTools-protocol client for tests: headless Chromium over --remote-debugging-pipe.

Independent of Mumba's own Chromium code (src/shell), so that tests of the gateway
and of pages do not trust what they test.
"""
import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
from queue import Empty, Queue


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _above_4(fd):
    """The same pipe end on a descriptor number of 10 or more (the old one closed)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Browser:
    """One headless Chromium with its own profile; ended by PID at close()."""

    def __init__(self, test):
        path = chromium_path()
        if not path:
            raise unittest.SkipTest("chromium is not installed (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="mc-", dir="/tmp")
        self.log = open(os.path.join(self.profile, "chromium.log"), "w")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # The child's ends go above fd 4 first: the shell below puts them at 3 and 4,
        # and an end that already was 3 or 4 would be closed by its own move.
        to_child_r, from_child_w = _above_4(to_child_r), _above_4(from_child_w)

        args = ["--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={self.profile}",
                "--remote-debugging-pipe", "about:blank"]
        if os.geteuid() == 0:
            args.insert(0, "--no-sandbox")
        # Chromium reads commands on fd 3 and writes replies on fd 4: the shell puts
        # the pipe ends there, then becomes Chromium. Bash, because dash cannot name
        # a descriptor above 9.
        move = f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-'
        self.proc = subprocess.Popen(["bash", "-c", move, path, *args], stdout=self.log, stderr=self.log,
                                     start_new_session=True, pass_fds=(to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._waiting = {}
        self.events = Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        test.addCleanup(self.close)

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_child, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        q = self._waiting.pop(msg["id"], None)
                    if q:
                        q.put(msg)
                else:
                    self.events.put(msg)
        with self._lock:
            for q in self._waiting.values():
                q.put({"error": {"message": "chromium is gone"}})
            self._waiting.clear()

    def send(self, method, params=None, session=None, timeout=20):
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            q = Queue()
            self._waiting[mid] = q
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        try:
            reply = q.get(timeout=timeout)
        except Empty:
            raise AssertionError(f"{method}: no reply within {timeout} s")
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error'].get('message')}")
        return reply["result"]

    def set_cookie(self, url, name, value):
        """Puts a cookie for url's origin in this browser's profile through DevTools,
        before any page loads, as the host does for an app's window: HttpOnly,
        SameSite=Strict, never in a command line or a URL."""
        self.send("Storage.setCookies", {"cookies": [{"name": name, "value": value, "url": url, "path": "/",
                                                      "httpOnly": True, "sameSite": "Strict"}]})

    def new_page(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        page.navigate(url)
        return page

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("Browser.close", timeout=5)
            except (AssertionError, OSError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, session, target):
        self.browser, self.session, self.target = browser, session, target
        self.send("Page.enable")
        self.send("Runtime.enable")

    def send(self, method, params=None, timeout=20):
        return self.browser.send(method, params, self.session, timeout)

    def navigate(self, url):
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", what=f"{url} to load")

    def eval(self, expression, timeout=20):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise AssertionError(f"{expression}: {d.get('exception', {}).get('description') or d.get('text')}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout=15, what=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.eval(expression):
                    return
            except AssertionError:
                pass  # The page may be navigating.
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or expression}")

    def screenshot(self):
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])
