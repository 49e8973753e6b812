# SPDX-License-Identifier: Apache-2.0
"""App windows: `mumba launch/windows/close/shim`, and the Automation API a daemon
uses to drive its own windows (through tests/apps/ui_probe, whose routes call the
SDK). Chromium runs headless: these machines have no display.
"""
import http.client
import http.server
import json
import os
import select
import signal
import struct
import subprocess
import tempfile
import shutil
import threading
import time
import unittest
from urllib.parse import urlencode

from harness import BIN, MUMBA, Home, alive, wait_for

UI_PROBE_BUNDLE = os.environ.get("MUMBA_UI_PROBE_BUNDLE", "")


def windows(home, app=None):
    return home.json("windows", *([app] if app else [])).get("windows", [])


def forger(where):
    """A page that tries to pass for the app: it calls the notify binding directly
    and through window.mumba, then says on the console that it did."""
    return ("<!doctype html><title>forger</title><script>"
            f"try {{ globalThis.__mumbaNotify(JSON.stringify({{forged: '{where} binding'}})); }} catch (e) {{}}"
            f"try {{ window.mumba.notify({{forged: '{where} mumba.notify'}}); }} catch (e) {{}}"
            f"console.log('forger ran in {where}');</script>")


def serve_forger(test):
    """A web server of another origin on 127.0.0.1 that serves forger("a foreign page")."""
    page = forger("a foreign page").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop():
        server.shutdown()
        server.server_close()
    test.addCleanup(stop)
    return f"http://127.0.0.1:{server.server_address[1]}/forge.html"


class WindowsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("chromium"):
            raise unittest.SkipTest("chromium is not installed (apt-get install chromium)")
        if not UI_PROBE_BUNDLE:
            raise unittest.SkipTest("MUMBA_UI_PROBE_BUNDLE is not set (run through ctest)")
        cls.home = Home(cls)
        cls.home.install_hello()
        cls.home.run("install", UI_PROBE_BUNDLE, check=True)
        cls.home.run("start", "ui-probe", check=True)

    def tearDown(self):
        self.home.run("close", "hello")
        self.home.run("close", "ui-probe")

    def probe(self, method, route, **params):
        """A route of ui-probe: (status, body)."""
        url = "ui-probe://probe/" + route + ("?" + urlencode(params) if params else "")
        p = self.home.run("route", "-i", "-X", method, url)
        head, _, body = p.stdout.partition("\n\n")
        first = head.split("\n", 1)[0].strip()
        if not first.isdigit():
            return 0, p.stderr
        return int(first), body

    def launch(self, app, *args):
        return json.loads(self.home.run("launch", app, "--headless", "--json", *args, check=True).stdout)

    def test_launch_list_and_close(self):
        first = self.launch("hello")
        self.assertTrue(first["url"].startswith("http://hello.localhost:"))
        self.assertEqual(first["title"], "hello")
        self.assertTrue(first["headless"])
        self.assertTrue(alive(first["browser_pid"]))
        second = self.launch("hello", "/index.html")
        # One Chromium (one profile) per app, holding both windows.
        self.assertEqual(second["browser_pid"], first["browser_pid"])
        listed = {w["id"]: w for w in windows(self.home, "hello")}
        self.assertEqual(set(listed), {first["id"], second["id"]})
        out = self.home.run("windows", check=True).stdout
        self.assertIn(first["id"], out)

        self.assertIn("closed 1 window", self.home.run("close", first["id"], check=True).stdout)
        self.assertEqual([w["id"] for w in windows(self.home, "hello")], [second["id"]])
        self.home.run("close", "hello", check=True)
        self.assertEqual(windows(self.home, "hello"), [])
        # The app's last window took its browser with it.
        wait_for(lambda: not alive(first["browser_pid"]), 10, what="hello's Chromium to end")
        p = self.home.run("close", "no-such-window", check=False)
        self.assertIn("no window or app", p.stderr)

    def test_a_browser_that_dies_leaves_no_windows_and_is_not_restarted(self):
        w = self.launch("hello")
        os.killpg(w["browser_pid"], signal.SIGKILL)
        wait_for(lambda: windows(self.home, "hello") == [], 10, what="the window to go")
        # A window opened after the death was handled is the only one: the host did
        # not bring the dead browser's window back on its own.
        again = self.launch("hello")
        self.assertEqual([x["id"] for x in windows(self.home, "hello")], [again["id"]])

    def test_the_daemon_drives_its_window(self):
        w = self.launch("ui-probe")
        status, body = self.probe("GET", "windows")
        self.assertEqual(status, 200, body)
        self.assertEqual([x["id"] for x in json.loads(body)], [w["id"]])

        status, body = self.probe("GET", "eval", w=w["id"], js="document.title")
        self.assertEqual((status, json.loads(body)), (200, "ui-probe"))
        status, body = self.probe("GET", "eval", w=w["id"], js="Promise.resolve(6 * 7)")
        self.assertEqual(json.loads(body), 42)
        status, body = self.probe("GET", "eval", w=w["id"], js="nope.nope")
        self.assertNotEqual(status, 200)
        self.assertIn("nope", body)

        status, body = self.probe("GET", "query", w=w["id"], sel="#heading")
        nodes = json.loads(body)
        self.assertEqual(len(nodes), 1)
        self.assertEqual(nodes[0]["text"], "Probe")
        self.assertEqual(nodes[0]["attrs"], {"id": "heading", "class": "big"})
        self.assertTrue(nodes[0]["html"].startswith("<h1"))

        # Changes are visible to the page itself.
        self.assertEqual(self.probe("POST", "set-text", w=w["id"], sel="#status", text="set natively"), (200, "1"))
        self.assertEqual(json.loads(self.probe("GET", "eval", w=w["id"],
                                               js="document.getElementById('status').textContent")[1]), "set natively")
        self.assertEqual(self.probe("POST", "set-attr", w=w["id"], sel="#heading", name="data-x", value="7"), (200, "1"))
        self.assertEqual(json.loads(self.probe("GET", "eval", w=w["id"], js="document.getElementById('heading').dataset.x")[1]), "7")
        self.assertEqual(self.probe("POST", "remove", w=w["id"], sel=".item"), (200, "2"))
        self.assertEqual(json.loads(self.probe("GET", "eval", w=w["id"], js="document.querySelectorAll('.item').length")[1]), 0)
        self.assertEqual(self.probe("POST", "set-html", w=w["id"], sel="h1", html="<h2 id='new'>New</h2>"), (200, "1"))
        self.assertEqual(json.loads(self.probe("GET", "query", w=w["id"], sel="#new")[1])[0]["text"], "New")

        # Input as a user gives it: the button's onclick runs and notifies the daemon.
        self.assertEqual(self.probe("POST", "click", w=w["id"], sel="#button"), (200, "ok"))
        self.assertEqual(json.loads(self.probe("GET", "eval", w=w["id"],
                                               js="document.getElementById('status').textContent")[1]), "clicked")
        self.probe("GET", "eval", w=w["id"], js="document.getElementById('field').focus()")
        self.assertEqual(self.probe("POST", "type", w=w["id"], text="abc"), (200, "ok"))
        self.assertIn("abc", json.loads(self.probe("GET", "eval", w=w["id"],
                                                   js="document.getElementById('field').value")[1]))
        # Keys pressed one by one reach the page's key handlers.
        for key in ["x", "Backspace", "Enter"]:
            self.assertEqual(self.probe("POST", "press", w=w["id"], key=key), (200, "ok"))
        self.assertEqual(json.loads(self.probe("GET", "eval", w=w["id"],
                                               js="document.getElementById('keys').textContent")[1]),
                         "x,Backspace,Enter,")
        self.assertEqual(self.probe("POST", "press", w=w["id"], key="NoSuchKey")[0], 400)

        # A screenshot is a real PNG of the page's size.
        p = subprocess.run([os.path.join(BIN, "mumba"), "route", f"ui-probe://probe/screenshot?w={w['id']}"],
                           env=self.home.env, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        png = p.stdout
        self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"), png[:16])
        width, height = struct.unpack(">II", png[16:24])
        self.assertGreater(width, 100)
        self.assertGreater(height, 100)

        # Navigation stays on the app's origin.
        self.assertEqual(self.probe("POST", "navigate", w=w["id"], path="/second.html"), (200, "ok"))
        self.assertEqual(json.loads(self.probe("GET", "eval", w=w["id"], js="document.getElementById('where').textContent")[1]),
                         "second page")
        status, body = self.probe("POST", "navigate", w=w["id"], path="http://hello.localhost:1/")
        self.assertEqual(status, 400, body)

        # The events the daemon saw: console output, the page's notify, navigation.
        def events():
            return [json.loads(l) for l in self.probe("GET", "events")[1].splitlines() if l.strip()]
        wait_for(lambda: any(e["kind"] == "notify" and json.loads(e["json"]) == {"clicked": True} for e in events()),
                 10, what="the notify event")
        seen = events()
        self.assertTrue(any(e["kind"] == "console" and e["text"] == "probe page 42" for e in seen), seen)
        self.assertTrue(any(e["kind"] == "navigated" and e["url"].endswith("/second.html") for e in seen), seen)

        self.assertEqual(self.probe("POST", "close", w=w["id"]), (200, "ok"))
        self.assertEqual(windows(self.home, "ui-probe"), [])
        wait_for(lambda: any(e["kind"] == "closed" and e["window"] == w["id"] for e in events()), 10,
                 what="the closed event")

    def test_a_window_the_host_opens_holds_its_apps_secret(self):
        """The host puts the app's cookie in its window's profile before the first
        page: the page's calls and routes pass the gateway, and no script sees it."""
        w = self.launch("ui-probe")
        route = "import('/_mumba/mumba.js').then(m => m.route('ui-probe://probe/windows')).then(r => r.status)"
        status, body = self.probe("GET", "eval", w=w["id"], js=route)
        self.assertEqual((status, json.loads(body)), (200, 200))
        status, body = self.probe("GET", "eval", w=w["id"], js="document.cookie")
        self.assertEqual((status, json.loads(body)), (200, ""))
        # The same request without the cookie, from a process that is not the window.
        origin, _ = self.home.gateway_session("ui-probe")
        port = int(origin.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("GET", "/probe/windows", headers={"Host": f"ui-probe.localhost:{port}"})
        self.assertEqual(conn.getresponse().status, 403)
        conn.close()

    def test_a_daemon_reaches_only_its_own_windows(self):
        hello = self.launch("hello")
        mine = self.launch("ui-probe")
        status, body = self.probe("GET", "raw-eval", w=hello["id"], js="document.title")
        self.assertEqual(status, 404, body)
        status, body = self.probe("GET", "raw-eval", w=mine["id"], js="document.title")
        self.assertEqual((status, json.loads(body)), (200, "ui-probe"))
        # Its own list holds only its own windows.
        self.assertEqual([x["id"] for x in json.loads(self.probe("GET", "windows")[1])], [mine["id"]])

    def test_only_the_apps_own_origin_may_notify_or_be_evaluated(self):
        """A window navigated to another origin, or a frame of another origin in the
        app's page, has the notify binding (DevTools puts it in every document) but
        cannot forge the app's notify events, and the daemon's Evaluate is refused
        there: the host goes by the origin DevTools reports for each context."""
        foreign = serve_forger(self)
        w = self.launch("ui-probe")

        def events():
            return [json.loads(l) for l in self.probe("GET", "events")[1].splitlines() if l.strip()]

        def console_says(text):
            return lambda: any(e["kind"] == "console" and e["text"] == text for e in events())

        # A data: frame (an opaque origin) inside the app's own page.
        frame = ("const f = document.createElement('iframe'); f.src = 'data:text/html,' + "
                 f"encodeURIComponent({json.dumps(forger('a data frame'))}); document.body.append(f); true")
        self.assertEqual(self.probe("GET", "eval", w=w["id"], js=frame), (200, "true"))
        wait_for(console_says("forger ran in a data frame"), 15, what="the data: frame's script")

        # The whole window, navigated by the page itself to another origin.
        status, body = self.probe("GET", "eval", w=w["id"], js=f"location.href = {json.dumps(foreign)}")
        self.assertEqual(status, 200, body)
        wait_for(console_says("forger ran in a foreign page"), 15, what="the foreign page's script")
        status, body = self.probe("GET", "eval", w=w["id"], js="document.title")
        self.assertEqual(status, 409, body)
        self.assertIn("origin", body)
        # Nor read, changed, typed into or photographed there: the window is not a
        # way for the app to reach what it was not given.
        for method, action, params in [("GET", "query", {"sel": "body"}), ("GET", "screenshot", {}),
                                       ("POST", "set-text", {"sel": "body", "text": "x"}),
                                       ("POST", "click", {"sel": "body"}), ("POST", "type", {"text": "x"})]:
            status, body = self.probe(method, action, w=w["id"], **params)
            self.assertEqual(status, 409, f"{action}: {body}")

        # Back on its own origin, the app's page notifies and is evaluated again.
        self.assertEqual(self.probe("POST", "navigate", w=w["id"], path="/"), (200, "ok"))
        self.assertEqual(self.probe("GET", "eval", w=w["id"], js="document.title"), (200, '"ui-probe"'))
        self.assertEqual(self.probe("POST", "click", w=w["id"], sel="#button"), (200, "ok"))
        wait_for(lambda: any(e["kind"] == "notify" and e["window"] == w["id"] and
                             json.loads(e["json"]) == {"clicked": True} for e in events()),
                 15, what="the app's own notify")
        # Events arrive in order: a forged one would be in by now.
        forged = [e for e in events() if e["kind"] == "notify" and "forged" in e["json"]]
        self.assertEqual(forged, [])

    def test_the_daemon_opens_a_window(self):
        status, body = self.probe("POST", "open", path="/second.html")
        self.assertEqual(status, 200, body)
        listed = windows(self.home, "ui-probe")
        self.assertEqual([w["id"] for w in listed], [body.strip()])
        self.assertTrue(listed[0]["url"].endswith("/second.html"))

    def test_the_shim_launches_and_closes_a_window(self):
        fake_home = tempfile.mkdtemp(prefix="mhome-", dir="/tmp")
        self.addCleanup(shutil.rmtree, fake_home, True)
        env = dict(self.home.env, HOME=fake_home)
        env.pop("XDG_DATA_HOME", None)
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        p = subprocess.run([os.path.join(BIN, "mumba"), "shim", "hello"], env=env, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        shim = os.path.join(fake_home, ".local/bin/hello")
        desktop = os.path.join(fake_home, ".local/share/applications/mumba-hello.desktop")
        self.assertTrue(os.access(shim, os.X_OK))
        with open(desktop) as f:
            entry = f.read()
        self.assertIn(f"Exec={shim}", entry)
        self.assertIn("Name=hello", entry)

        # The shim alone (no MUMBA_HOME in its environment) opens the window and stays.
        env_shim = {k: v for k, v in env.items() if k != "MUMBA_HOME"}
        proc = subprocess.Popen([shim], env=env_shim, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # It says so once the window has opened, and stays.
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            self.assertTrue(ready, "the shim said nothing within 30 s")
            self.assertIn("opened http://hello.localhost:", proc.stdout.readline())
            self.assertEqual(len(windows(self.home, "hello")), 1)
            time.sleep(0.5)
            self.assertIsNone(proc.poll())
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(15), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)
        wait_for(lambda: windows(self.home, "hello") == [], 10, what="Ctrl-C to close the window")

        # A file that is not a shim is left alone.
        p = subprocess.run([os.path.join(BIN, "mumba"), "shim", "--remove", "hello"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(shim) or os.path.exists(desktop))
        os.makedirs(os.path.dirname(shim), exist_ok=True)
        with open(shim, "w") as f:
            f.write("#!/bin/sh\necho mine\n")
        p = subprocess.run([os.path.join(BIN, "mumba"), "shim", "hello"], env=env, capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not a Mumba shim", p.stderr)


class DisplayTest(unittest.TestCase):
    """With a display (Xvfb here), windows are real app windows (--app: no URL bar)."""

    def home_on_a_display(self, offset):
        """A host whose windows go to an Xvfb display of this test's own."""
        if not shutil.which("Xvfb") or not shutil.which("chromium"):
            raise unittest.SkipTest("needs Xvfb and chromium")
        display = f":{100 + (os.getpid() + offset) % 400}"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def stop_xvfb():
            xvfb.terminate()
            xvfb.wait(10)
        self.addCleanup(stop_xvfb)
        wait_for(lambda: os.path.exists(f"/tmp/.X11-unix/X{display[1:]}"), 10, what="Xvfb")
        home = Home(self)
        home.env["DISPLAY"] = display
        return home

    def test_windows_open_on_a_display(self):
        home = self.home_on_a_display(0)
        home.install_hello()
        first = json.loads(home.run("launch", "hello", "--json", check=True).stdout)
        self.assertFalse(first["headless"])
        self.assertEqual(first["title"], "hello")
        second = json.loads(home.run("launch", "hello", "/index.html", "--json", check=True).stdout)
        self.assertEqual(second["browser_pid"], first["browser_pid"])
        # Only the app's windows: the browser's start window was closed.
        self.assertEqual({w["id"] for w in windows(home, "hello")}, {first["id"], second["id"]})
        home.run("close", "hello", check=True)
        wait_for(lambda: not alive(first["browser_pid"]), 10, what="the browser to end")


    def test_launching_on_a_display_leaves_no_secret_in_any_process(self):
        """Home's secret and an app's reach their windows as cookies set through
        DevTools: no command line or environment of any process on the machine
        holds them."""
        home = self.home_on_a_display(7)
        home.run("host", "start", check=True)
        home.install_hello()
        with open(os.path.join(home.path, "home.token")) as f:
            secret = f.read().strip().encode()
        self.assertEqual(len(secret), 64)
        hello_secret = home.gateway_session("hello")[1].split("=", 1)[1].encode()
        self.assertEqual(len(hello_secret), 64)

        def holders():
            found = []
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                for part in ("cmdline", "environ"):
                    try:
                        with open(f"/proc/{pid}/{part}", "rb") as f:
                            text = f.read()
                        if secret in text or hello_secret in text:
                            found.append((pid, part))
                    except OSError:
                        pass  # Gone, or a kernel thread.
            return found

        # Processes live only moments during a launch (Chromium's hand-off to the
        # running browser): look again and again until the launch is done.
        launch = subprocess.Popen([MUMBA, "launch", "home", "--json"], env=home.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        while launch.poll() is None:
            seen += holders()
        out, err = launch.communicate(timeout=60)
        seen += holders()
        self.assertEqual(launch.returncode, 0, err)
        w = json.loads(out)
        self.assertFalse(w["headless"])
        self.assertEqual(w["title"], "Mumba home")  # In: the cookie was there before the page.
        # An app's window gets its secret the same way.
        launch = subprocess.Popen([MUMBA, "launch", "hello", "--json"], env=home.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while launch.poll() is None:
            seen += holders()
        out, err = launch.communicate(timeout=60)
        seen += holders()
        self.assertEqual(launch.returncode, 0, err)
        self.assertEqual(seen, [], "processes holding a gateway secret")
        home.run("close", "home", check=True)
        home.run("close", "hello", check=True)


class MissingChromiumTest(unittest.TestCase):
    def test_a_missing_chromium_names_the_package(self):
        home = Home(self)
        home.env["MUMBA_CHROMIUM"] = "/nonexistent/chromium"
        home.install_hello()
        p = home.run("launch", "hello", check=False)
        self.assertIn("apt-get install chromium", p.stderr)
        self.assertEqual(windows(home), [])


if __name__ == "__main__":
    unittest.main()
