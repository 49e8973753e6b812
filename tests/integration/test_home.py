# SPDX-License-Identifier: Apache-2.0
"""The host's home app at http://home.localhost:<port>/, in real headless Chromium:
it lists apps, starts and launches them, shows logs, installs by address with
progress, and opens only with the host's secret."""
import http.client
import json
import os
import shutil
import unittest

from cdp import Browser
from harness import Home, copy_bundle, edit_manifest, free_ports, wait_for


def row_state(page, app):
    return page.eval(f"document.querySelector('tr[data-app=\"{app}\"] td.state')?.textContent ?? null")


class HomeAppTest(unittest.TestCase):
    def setUp(self):
        if not shutil.which("chromium"):
            raise unittest.SkipTest("chromium is not installed (apt-get install chromium)")
        self.home = Home(self)
        self.home.install_hello()
        self.port = self.home.json("host", "status")["gateway_port"]
        with open(os.path.join(self.home.path, "home.token")) as f:
            self.token = f.read().strip()
        self.assertEqual(os.stat(os.path.join(self.home.path, "home.token")).st_mode & 0o777, 0o600)

    def get(self, path, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request("GET", path, headers={"Host": f"home.localhost:{self.port}", **(headers or {})})
            res = conn.getresponse()
            return res.status, dict(res.getheaders()), res.read()
        finally:
            conn.close()

    def open_home(self, browser):
        # The secret of the host running now: it changes at every host start.
        with open(os.path.join(self.home.path, "home.token")) as f:
            token = f.read().strip()
        page = browser.new_page(f"http://home.localhost:{self.port}/_mumba/login?token={token}&next=/")
        page.wait_for("document.body.dataset.ready === 'true'", what="home to list the apps")
        return page

    def test_home_opens_only_with_the_secret(self):
        status, _, body = self.get("/")
        self.assertEqual(status, 401)
        self.assertIn("mumba launch home", json.loads(body)["error"])
        self.assertEqual(self.get("/_mumba/login?token=wrong&next=/")[0], 403)
        status, headers, _ = self.get(f"/_mumba/login?token={self.token}&next=//evil.example/")
        self.assertEqual(status, 303)
        self.assertEqual(headers["Location"], "/")  # Never a redirect elsewhere.
        cookie = headers["Set-Cookie"].split(";")[0]
        self.assertIn("HttpOnly", headers["Set-Cookie"])
        self.assertIn("SameSite=Strict", headers["Set-Cookie"])
        status, _, body = self.get("/", {"Cookie": cookie})
        self.assertEqual(status, 200)
        self.assertIn(b"Mumba home", body)
        # The owner's tools get the same secret over host.sock.
        origin, owner_cookie = self.home.gateway_session("home")
        self.assertEqual((origin, owner_cookie), (f"http://home.localhost:{self.port}", cookie))
        # Home's page cannot read other apps' secrets through the Control API.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        conn.request("POST", "/_mumba/call/mumba.host.v1.Control/GatewaySession", body='{"app":"hello"}',
                     headers={"Host": f"home.localhost:{self.port}", "Cookie": cookie,
                              "Origin": f"http://home.localhost:{self.port}", "Sec-Fetch-Site": "same-origin"})
        res = conn.getresponse()
        self.assertEqual(res.status, 403)
        self.assertNotIn(self.home.gateway_session("hello")[1].split("=", 1)[1].encode(), res.read())
        conn.close()
        # Another app's page cannot drive the host through home, even with the cookie.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        conn.request("POST", "/_mumba/call/mumba.host.v1.Control/List", body="{}",
                     headers={"Host": f"home.localhost:{self.port}", "Cookie": cookie,
                              "Origin": f"http://hello.localhost:{self.port}", "Sec-Fetch-Site": "same-site"})
        self.assertEqual(conn.getresponse().status, 403)
        conn.close()

    def test_home_lists_starts_launches_and_shows_logs(self):
        browser = Browser(self)
        page = self.open_home(browser)
        self.assertEqual(page.eval("document.title"), "Mumba home")
        self.assertEqual(row_state(page, "hello"), "stopped")
        page.eval("document.querySelector('tr[data-app=\"hello\"] button[data-action=\"start\"]').click()")
        page.wait_for("document.querySelector('tr[data-app=\"hello\"] td.state')?.textContent === 'running'",
                      what="hello to run")
        self.assertEqual(self.home.status("hello")["state"], "running")

        page.eval("document.querySelector('tr[data-app=\"hello\"] button[data-action=\"launch\"]').click()")
        wait_for(lambda: len(self.home.json("windows", "hello").get("windows", [])) == 1, 30,
                 what="home to launch hello's window")

        self.home.run("call", "hello", "hello.v1.Greeter/SayHello", '{"name":"Log"}', check=True)
        page.eval("document.querySelector('tr[data-app=\"hello\"] button[data-action=\"logs\"]').click()")
        page.wait_for("!document.getElementById('logs-section').hidden", what="the logs")

        page.eval("document.querySelector('tr[data-app=\"hello\"] button[data-action=\"stop\"]').click()")
        page.wait_for("document.querySelector('tr[data-app=\"hello\"] td.state')?.textContent === 'stopped'",
                      what="hello to stop")
        self.home.run("close", "hello", check=True)

    def test_the_secret_changes_at_every_host_start(self):
        old = self.token
        self.home.run("host", "stop", check=True)
        self.home.run("host", "start", check=True)
        port = self.home.json("host", "status")["gateway_port"]
        with open(os.path.join(self.home.path, "home.token")) as f:
            new = f.read().strip()
        self.assertNotEqual(new, old)
        self.assertEqual(os.stat(os.path.join(self.home.path, "home.token")).st_mode & 0o777, 0o600)
        self.port = port
        self.assertEqual(self.get(f"/_mumba/login?token={old}&next=/")[0], 403)
        self.assertEqual(self.get(f"/_mumba/login?token={new}&next=/")[0], 303)

    def test_mumba_launch_home_opens_it(self):
        w = json.loads(self.home.run("launch", "home", "--headless", "--json", check=True).stdout)
        self.assertEqual(w["title"], "Mumba home")
        self.assertEqual(w["url"], f"http://home.localhost:{self.port}/")
        self.assertNotIn(self.token, json.dumps(self.home.json("windows")))
        self.assertIn("closed 1 window", self.home.run("close", "home", check=True).stdout)

    def test_home_installs_by_address_with_progress(self):
        # A second host publishes a copy of hello; this host's home installs it.
        ports = free_ports(2)
        publisher = Home(self)
        publisher.run("host", "start", "--listen", f"127.0.0.1:{ports[0]}", "--bootstrap",
                      f"127.0.0.1:{ports[1]}", check=True)
        self.home.run("host", "stop", check=True)
        self.home.run("host", "start", "--listen", f"127.0.0.1:{ports[1]}", "--bootstrap",
                      f"127.0.0.1:{ports[0]}", check=True)
        self.port = self.home.json("host", "status")["gateway_port"]
        address = publisher.run("keys", "new", check=True).stdout.strip()
        bundle = copy_bundle(self)
        with open(os.path.join(bundle, "mumba.toml")) as f:
            old_id = f.read().split('id = "', 1)[1].split('"', 1)[0]
        edit_manifest(bundle, old_id, address)
        edit_manifest(bundle, 'name = "hello"', 'name = "greeter"')
        publisher.run("publish", bundle, check=True)

        browser = Browser(self)
        page = self.open_home(browser)
        page.eval(f"document.getElementById('address').value = '{address}';"
                  "document.querySelector('#lookup button').click()")
        page.wait_for("!document.getElementById('found').hidden", 30, what="the lookup")
        self.assertIn("greeter 0.1.0", page.eval("document.getElementById('found-text').textContent"))
        page.eval("document.getElementById('install').click()")
        page.wait_for("document.getElementById('install-status').textContent.startsWith('installed greeter')", 60,
                      what="the install to finish")
        page.wait_for("document.querySelector('tr[data-app=\"greeter\"]') !== null", what="greeter in the list")
        self.assertEqual(self.home.status("greeter")["id"], address)


if __name__ == "__main__":
    unittest.main()
