# SPDX-License-Identifier: Apache-2.0
"""The host's home app at http://home.localhost:<port>/, in real headless Chromium:
it lists apps with their icon, storage, address, seeding and permissions, filters
them from the keyboard, starts and launches them, shows logs, revokes and grants,
installs by address after a preview and the owner's yes to what an app asks for,
updates with the same question, and opens only with the host's secret; its page
reaches only the host methods its buttons need."""
import http.client
import json
import os
import shutil
import unittest

from cdp import Browser
from harness import Home, copy_bundle, edit_manifest, free_ports, wait_for


ICON = ('<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><rect width="48" height="48" rx="10" '
        'fill="#2f5bd3"/><circle cx="24" cy="24" r="12" fill="#fff"/></svg>')


def row_state(page, app):
    return page.eval(f"document.querySelector('li[data-app=\"{app}\"] .state')?.textContent ?? null")


def click(page, app, action):
    page.eval(f"document.querySelector('li[data-app=\"{app}\"] button[data-action=\"{action}\"]').click()")


def key(page, name, code, text=None):
    """A real key press through DevTools, as a person's keyboard sends it."""
    params = {"type": "keyDown", "key": name, "code": code, "windowsVirtualKeyCode": {"Enter": 13, "Escape": 27,
                                                                                      "Tab": 9}.get(name, 0)}
    if text:
        params["text"] = text
    page.send("Input.dispatchKeyEvent", params)
    page.send("Input.dispatchKeyEvent", {**params, "type": "keyUp"})


def greeter_bundle(test, address, asks="", icon=True, version=None):
    """A copy of hello as app `greeter` at `address`, with an icon and `asks` (TOML
    lines of [permissions]) if given."""
    bundle = copy_bundle(test)
    with open(os.path.join(bundle, "mumba.toml")) as f:
        old_id = f.read().split('id = "', 1)[1].split('"', 1)[0]
    edit_manifest(bundle, old_id, address)
    edit_manifest(bundle, 'name = "hello"', 'name = "greeter"' + ('\nicon = "icon.svg"' if icon else ""))
    if version:
        edit_manifest(bundle, 'version = "0.1.0"', f'version = "{version}"')
    if icon:
        with open(os.path.join(bundle, "icon.svg"), "w") as f:
            f.write(ICON)
    if asks:
        with open(os.path.join(bundle, "mumba.toml"), "a") as f:
            f.write("\n[permissions]\n" + asks + "\n")
    return bundle


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
        click(page, "hello", "start")
        page.wait_for("document.querySelector('li[data-app=\"hello\"] .state')?.textContent === 'running'",
                      what="hello to run")
        self.assertEqual(self.home.status("hello")["state"], "running")

        click(page, "hello", "launch")
        wait_for(lambda: len(self.home.json("windows", "hello").get("windows", [])) == 1, 30,
                 what="home to launch hello's window")

        self.home.run("call", "hello", "hello.v1.Greeter/SayHello", '{"name":"Log"}', check=True)
        click(page, "hello", "logs")
        page.wait_for("!document.getElementById('logs-section').hidden", what="the logs")

        click(page, "hello", "stop")
        page.wait_for("document.querySelector('li[data-app=\"hello\"] .state')?.textContent === 'stopped'",
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

    def post_call(self, method, body="{}"):
        """Calls the host through home's gateway origin as home's page does."""
        status, headers, _ = self.get(f"/_mumba/login?token={self.token}&next=/")
        cookie = headers["Set-Cookie"].split(";")[0]
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request("POST", f"/_mumba/call/{method}", body=body,
                         headers={"Host": f"home.localhost:{self.port}", "Cookie": cookie,
                                  "Origin": f"http://home.localhost:{self.port}", "Sec-Fetch-Site": "same-origin"})
            res = conn.getresponse()
            return res.status, res.read()
        finally:
            conn.close()

    def test_home_page_reaches_only_what_its_buttons_need(self):
        self.assertEqual(self.post_call("mumba.host.v1.Control/List")[0], 200)
        bundle = copy_bundle(self)
        for method, body in [("mumba.host.v1.Control/Call",
                              '{"app":"hello","method":"hello.v1.Greeter/SayHello","json":"{}"}'),
                             ("mumba.host.v1.Control/Connect", '{"app":"hello"}'),
                             ("mumba.host.v1.Control/Install", json.dumps({"bundle_dir": bundle})),
                             ("mumba.host.v1.Distribution/Publish", '{"app":"hello"}'),
                             ("mumba.host.v1.Control/StopHost", "{}")]:
            status, body = self.post_call(method, body)
            self.assertEqual(status, 403, method)
            self.assertIn(b"may not call", body)
        self.assertTrue(self.home.host_pid())  # StopHost did nothing.
        self.assertEqual(self.home.status("hello")["state"], "stopped")

    def test_home_shows_only_small_images_from_inside_the_bundle_as_icons(self):
        status, headers, _ = self.get(f"/_mumba/login?token={self.token}&next=/")
        cookie = headers["Set-Cookie"].split(";")[0]
        site = {"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}
        for icon, content in [("ui/index.html", None), ("big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000),
                              ("out.svg", "/etc/hostname")]:
            address = self.home.run("keys", "new", check=True).stdout.strip()
            bundle = greeter_bundle(self, address, icon=False)
            edit_manifest(bundle, 'name = "greeter"', f'name = "greeter"\nicon = "{icon}"')
            if isinstance(content, bytes):
                with open(os.path.join(bundle, icon), "wb") as f:
                    f.write(content)
            elif content:
                os.symlink(content, os.path.join(bundle, icon))
            installed = self.home.run("install", bundle, "--yes")
            if installed.returncode != 0:
                self.assertIn("symlink", installed.stderr + installed.stdout)  # Refused earlier still.
                continue
            status, _, body = self.get(f"/api/icon?app={address}", site)
            self.assertEqual(status, 404, icon)
            self.assertNotIn(b"data:", body)
            self.home.run("uninstall", address, check=True)
        # A good one comes as data for an <img>, never as a page of home's origin.
        address = self.home.run("keys", "new", check=True).stdout.strip()
        self.home.run("install", greeter_bundle(self, address), "--yes", check=True)
        status, headers, body = self.get(f"/api/icon?app={address}", site)
        self.assertEqual((status, headers["Content-Type"]), (200, "application/json"))
        self.assertTrue(json.loads(body)["src"].startswith("data:image/svg+xml;base64,"))

    def install_greeter(self):
        address = self.home.run("keys", "new", check=True).stdout.strip()
        self.home.run("install", greeter_bundle(self, address, asks="network = true"), "--yes", check=True)
        return address

    def test_home_shows_each_apps_fields_and_filters_from_the_keyboard(self):
        address = self.install_greeter()
        browser = Browser(self)
        page = self.open_home(browser)
        g = "document.querySelector('li[data-app=\"greeter\"]')"
        page.wait_for(f"{g} !== null", what="greeter in the list")
        self.assertEqual(page.eval("document.getElementById('host').textContent").split(" · ")[1],
                         "0 of 2 apps running")
        self.assertEqual(page.eval(f"{g}.querySelector('.name').textContent"), "greeter")
        self.assertEqual(page.eval(f"{g}.querySelector('.version').textContent"), "0.1.0")
        self.assertEqual(row_state(page, "greeter"), "stopped")
        self.assertEqual(page.eval(f"{g}.querySelector('.address').title"), address)
        self.assertRegex(page.eval(f"{g}.querySelector('.storage').textContent"), r"^Storage\d+(\.\d)? ([KMG]i)?B")
        self.assertIn("not shared", page.eval(f"{g}.querySelector('.net').textContent"))
        perm = f"{g}.querySelector('li[data-ask=\"network\"]')"
        self.assertEqual(page.eval(f"{perm}.className"), "perm granted")
        self.assertIn("the network", page.eval(f"{perm}.textContent"))
        # Its icon comes from its bundle; hello has none and gets its initial.
        page.wait_for(f"{g}.querySelector('img.icon')?.src.startsWith('data:image/svg+xml;base64,')",
                      what="greeter's icon")
        self.assertEqual(page.eval("document.querySelector('li[data-app=\"hello\"] .icon').textContent"), "H")
        self.assertEqual(page.eval("document.querySelector('li[data-app=\"hello\"] .perms-none').textContent"),
                         "asks for nothing")
        # "Copied" shows for 1.5 s: an observer notes it, so a slow poll cannot miss it.
        page.eval("window.copiedSeen = false; new MutationObserver(() => { if ([...document.querySelectorAll("
                  "'button[data-action=\"copy\"]')].some(b => b.textContent === 'Copied')) window.copiedSeen = true; })"
                  ".observe(document.body, {subtree: true, childList: true, characterData: true})")
        page.eval(f"{g}.querySelector('button[data-action=\"copy\"]').click()")
        page.wait_for("window.copiedSeen", what="the address to be copied")

        # "/" goes to the filter, typing filters, Enter goes to the first app shown,
        # Escape clears.
        page.eval("document.activeElement.blur()")
        key(page, "/", "Slash", "/")
        self.assertEqual(page.eval("document.activeElement.id"), "filter")
        page.send("Input.insertText", {"text": "GRE"})
        self.assertTrue(page.eval("document.querySelector('li[data-app=\"hello\"]').hidden"))
        self.assertFalse(page.eval(f"{g}.hidden"))
        key(page, "Enter", "Enter", "\r")
        self.assertEqual(page.eval("[document.activeElement.closest('li.app')?.dataset.app,"
                                   " document.activeElement.dataset.action]"), ["greeter", "launch"])
        page.send("Input.insertText", {"text": ""})
        page.eval("document.getElementById('filter').focus()")
        key(page, "Escape", "Escape")
        self.assertEqual(page.eval("document.getElementById('filter').value"), "")
        self.assertFalse(page.eval("document.querySelector('li[data-app=\"hello\"]').hidden"))
        page.send("Input.insertText", {"text": "nothing-like-it"})
        self.assertFalse(page.eval("document.getElementById('no-match').hidden"))

    def test_revoke_and_grant_from_the_page(self):
        self.install_greeter()
        browser = Browser(self)
        page = self.open_home(browser)
        chip = "document.querySelector('li[data-app=\"greeter\"] li[data-ask=\"network\"]')"
        page.wait_for(f"{chip} !== null", what="greeter's permissions")
        page.eval(f"{chip}.querySelector('button[data-action=\"revoke\"]').click()")
        page.wait_for(f"{chip}?.className === 'perm revoked'", what="the revocation to show")
        perms = {p["ask"]: p["granted"] for p in self.home.json("permissions", "greeter")["permissions"]}
        self.assertEqual(perms, {"network": False})
        page.eval(f"{chip}.querySelector('button[data-action=\"grant\"]').click()")
        page.wait_for(f"{chip}?.className === 'perm granted'", what="the grant to show")
        perms = {p["ask"]: p["granted"] for p in self.home.json("permissions", "greeter")["permissions"]}
        self.assertEqual(perms, {"network": True})

    def two_hosts(self):
        """A second host on loopback that publishes; this host joins its DHT."""
        ports = free_ports(2)
        publisher = Home(self)
        publisher.run("host", "start", "--listen", f"127.0.0.1:{ports[0]}", "--bootstrap",
                      f"127.0.0.1:{ports[1]}", check=True)
        self.home.run("host", "stop", check=True)
        self.home.run("host", "start", "--listen", f"127.0.0.1:{ports[1]}", "--bootstrap",
                      f"127.0.0.1:{ports[0]}", check=True)
        self.port = self.home.json("host", "status")["gateway_port"]
        return publisher

    def test_a_screenshot_of_home_with_a_few_apps(self):
        # The README's picture: MUMBA_HOME_SCREENSHOT=docs/home.png writes it there.
        # greeter comes from another host, is seeded here and has an update out.
        publisher = self.two_hosts()
        address = publisher.run("keys", "new", check=True).stdout.strip()
        publisher.run("publish", greeter_bundle(self, address, asks="network = true"), check=True)
        self.home.run("install", address, "--yes", check=True)
        publisher.run("publish", greeter_bundle(self, address, asks="network = true", version="0.2.0"), check=True)
        notes_address = self.home.run("keys", "new", check=True).stdout.strip()
        notes = greeter_bundle(self, notes_address, icon=False, asks='peers = true\ncall = ["hello.v1.Greeter"]')
        edit_manifest(notes, 'name = "greeter"', 'name = "notes"')
        edit_manifest(notes, 'description = "hello, a Mumba app"', 'description = "Notes shared with your peers"')
        self.home.run("install", notes, "--yes", check=True)
        self.home.run("permissions", "notes", "--revoke", "peers", check=True)
        self.home.run("start", "hello", check=True)
        browser = Browser(self)
        page = self.open_home(browser)
        page.send("Emulation.setDeviceMetricsOverride", {"width": 1100, "height": 820, "deviceScaleFactor": 1,
                                                         "mobile": False})
        g = "document.querySelector('li[data-app=\"greeter\"]')"
        page.wait_for("document.querySelectorAll('li.app').length === 3 && "
                      f"{g}.querySelector('img.icon') !== null && {g}.querySelector('.update') !== null && "
                      f"{g}.querySelector('.net').dataset.peers !== '-1' && "
                      "document.querySelector('li[data-app=\"hello\"] .state').textContent === 'running'",
                      90, what="three apps, greeter seeded with its icon and an update")
        png = page.screenshot()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        out = os.environ.get("MUMBA_HOME_SCREENSHOT")
        if out:
            with open(out, "wb") as f:
                f.write(png)

    def installed(self):
        return [a["name"] for a in self.home.json("list").get("apps", [])]

    def test_home_installs_by_address_after_a_preview_and_the_owners_yes(self):
        # A second host publishes greeter, which asks for the network; this host's
        # home looks it up, shows it, and asks before it installs.
        publisher = self.two_hosts()
        address = publisher.run("keys", "new", check=True).stdout.strip()
        publisher.run("publish", greeter_bundle(self, address, asks="network = true"), check=True)

        browser = Browser(self)
        page = self.open_home(browser)

        def look_up():
            page.eval(f"document.getElementById('address').value = '{address}';"
                      "document.querySelector('#lookup button').click()")
            page.wait_for("!document.getElementById('found').hidden", 30, what="the lookup")

        look_up()
        self.assertIn("greeter 0.1.0", page.eval("document.getElementById('found-text').textContent"))
        facts = page.eval("Object.fromEntries([...document.querySelectorAll('#found-facts dt')]"
                          ".map(dt => [dt.textContent, dt.nextElementSibling.textContent]))")
        self.assertEqual((facts["Name"], facts["Version"], facts["Publisher"]), ("greeter", "0.1.0", address))
        self.assertRegex(facts["Size"], r"^[\d.]+ ([KMG]i)?B$")
        self.assertIn("Seeders", facts)
        self.assertNotIn("greeter", self.installed())  # A preview installs nothing.

        # It asks for the network: the page asks, and "Don't" installs nothing.
        page.eval("document.getElementById('install').click()")
        page.wait_for("!document.getElementById('asks').hidden", 60, what="the question about its asks")
        self.assertEqual(page.eval("[...document.querySelectorAll('#asks-list li')].map(li => li.textContent)"),
                         ["the network"])
        self.assertEqual(page.eval("document.activeElement.id"), "asks-no")
        key(page, "Escape", "Escape")
        page.wait_for("document.getElementById('install-status').textContent.startsWith('not installed')",
                      what="the refusal")
        self.assertTrue(page.eval("document.getElementById('asks').hidden"))
        self.assertNotIn("greeter", self.installed())

        look_up()
        page.eval("document.getElementById('install').click()")
        page.wait_for("!document.getElementById('asks').hidden", 60, what="the question about its asks")
        page.eval("document.getElementById('asks-yes').click()")
        page.wait_for("document.getElementById('install-status').textContent.startsWith('installed greeter')", 60,
                      what="the install to finish")
        page.wait_for("document.querySelector('li[data-app=\"greeter\"]') !== null", what="greeter in the list")
        self.assertEqual(self.home.status("greeter")["id"], address)
        perms = {p["ask"]: p["granted"] for p in self.home.json("permissions", "greeter")["permissions"]}
        self.assertEqual(perms, {"network": True})
        page.wait_for("document.querySelector('li[data-app=\"greeter\"] .net')?.dataset.seeded === 'true'", 30,
                      what="greeter to be seeded here")

        # A newer version that asks for more: home shows it, and asks before it updates.
        publisher.run("publish", greeter_bundle(self, address, asks="network = true\npeers = true",
                                                version="0.2.0"), check=True)
        update = "document.querySelector('li[data-app=\"greeter\"] button[data-action=\"update\"]')"
        page.wait_for(f"{update} !== null", 90, what="the update to show")
        self.assertIn("0.1.0 → 0.2.0", page.eval("document.querySelector('li[data-app=\"greeter\"] .update')"
                                                 ".textContent"))
        page.eval(f"{update}.click()")
        page.wait_for("!document.getElementById('asks').hidden", 60, what="the question about the update")
        self.assertEqual(page.eval("[...document.querySelectorAll('#asks-list li')].map(li => li.textContent)"),
                         ["peer calls"])
        page.eval("document.getElementById('asks-no').click()")
        page.wait_for("document.getElementById('install-status').textContent.startsWith('not updated')",
                      what="the refusal")
        self.assertEqual(self.home.status("greeter")["version"], "0.1.0")
        page.eval(f"{update}.click()")
        page.wait_for("!document.getElementById('asks').hidden", 60, what="the question about the update")
        page.eval("document.getElementById('asks-yes').click()")
        page.wait_for("document.getElementById('install-status').textContent === 'updated greeter to 0.2.0'", 60,
                      what="the update to finish")
        self.assertEqual(self.home.status("greeter")["version"], "0.2.0")
        page.wait_for(f"{update} === null", what="the update line to go")

if __name__ == "__main__":
    unittest.main()
