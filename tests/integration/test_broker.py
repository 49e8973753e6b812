# SPDX-License-Identifier: Apache-2.0
"""Apps calling apps: grants the owner gives at install, connections the host hands
out (SCM_RIGHTS over each daemon's broker socket), callees that know who called,
and every refusal: no grant, an unexported service, a revoked grant, a process that
is not the app it asks for, interfaces with zero, one and two providers. Real
hosts, real sandboxed daemons: hello, apps/guestbook and tests/apps/call_probe.
"""
import json
import os
import socket
import unittest
import urllib.parse

from harness import Home, copy_bundle, edit_manifest, free_ports, wait_for

GUESTBOOK = os.environ.get("MUMBA_GUESTBOOK_BUNDLE", "")
PROBE = os.environ.get("MUMBA_CALL_PROBE_BUNDLE", "")
HELLO_ID = "mumba://arjuenkjhs3sd3im55zspf2cxboadfjgb4hwpwefwvc7obep66aa"
SAY_HELLO = "/hello.v1.Greeter/SayHello"
OK, NOT_FOUND, PERMISSION_DENIED, RESOURCE_EXHAUSTED, UNIMPLEMENTED, UNAVAILABLE = 0, 5, 7, 8, 12, 14


def probe_bundle(test, call):
    """A copy of call-probe whose manifest asks to call `call` (a list)."""
    if not PROBE:
        raise unittest.SkipTest("MUMBA_CALL_PROBE_BUNDLE is not set (run through ctest)")
    bundle = copy_bundle(test, PROBE)
    with open(os.path.join(bundle, "mumba.toml"), "a") as f:
        f.write("\n[permissions]\ncall = %s\n" % json.dumps(call))
    return bundle


def probe(home, route, **params):
    """GET call-probe://ROUTE?PARAMS through `mumba route`, as JSON."""
    url = f"call-probe://{route}?" + urllib.parse.urlencode(params)
    p = home.run("route", url, check=True)
    return json.loads(p.stdout)


class BrokerTest(unittest.TestCase):
    def setUp(self):
        if not GUESTBOOK:
            raise unittest.SkipTest("MUMBA_GUESTBOOK_BUNDLE is not set (run through ctest)")
        self.home = Home(self)
        self.home.install_hello()

    def test_install_asks_for_what_the_app_wants_and_records_the_yes(self):
        refused = self.home.run("install", GUESTBOOK, check=False)  # No terminal: no.
        self.assertIn("guestbook 0.1.0 asks for:", refused.stderr)
        self.assertIn("to use any app that implements hello.v1.Greeter", refused.stderr)
        self.assertIn(f"to call app {HELLO_ID}", refused.stderr)
        self.assertNotIn("guestbook", self.home.run("list", check=True).stdout)
        self.home.run("install", "--yes", GUESTBOOK, check=True)
        perms = self.home.json("permissions", "guestbook")["permissions"]
        self.assertEqual({p["ask"]: p.get("granted", False) for p in perms},
                         {"call:hello.v1.Greeter": True, f"call:{HELLO_ID}": True})
        # An app that asks for nothing installs without a question.
        self.home.run("install", os.environ["MUMBA_HELLO_BUNDLE"], check=True)

    def test_a_granted_call_goes_through_and_the_callee_knows_the_caller(self):
        self.home.run("install", "--yes", GUESTBOOK, check=True)
        self.assertEqual(self.home.status("hello")["state"], "stopped")
        entry = json.loads(self.home.run("call", "guestbook", "guestbook.v1.Guestbook/Sign",
                                         '{"name":"Ann"}', check=True).stdout)
        self.assertEqual(entry["greeting"], "Hello, Ann!")
        self.assertEqual(entry["seen_as"], "guestbook")  # As the host vouched, not as claimed.
        # The stopped callee was started on demand.
        self.assertEqual(self.home.status("hello")["state"], "running")
        listed = json.loads(self.home.run("call", "guestbook", "guestbook.v1.Guestbook/List", "{}",
                                          check=True).stdout)
        self.assertEqual([e["name"] for e in listed["entries"]], ["Ann"])
        # A route of hello, fetched under the app grant.
        self.assertEqual(self.home.run("route", "guestbook://hello?name=Bob", check=True).stdout, "Hello, Bob!")

    def test_the_page_shows_entries_signed_before_it_loaded_with_their_time(self):
        from cdp import Browser
        self.home.run("install", "--yes", GUESTBOOK, check=True)
        self.home.run("call", "guestbook", "guestbook.v1.Guestbook/Sign", '{"name":"Ann"}', check=True)
        browser = Browser(self)
        browser.set_cookie(**self.home.window_cookie("guestbook"))
        port = self.home.json("host", "status")["gateway_port"]
        page = browser.new_page(f"http://guestbook.localhost:{port}/")
        page.wait_for("document.querySelectorAll('#entries li').length === 1", what="the entry on the page")
        # Loaded through the host (List), whose JSON names the field at_ms.
        text = page.eval("document.querySelector('#entries li .who').textContent")
        self.assertIn("Ann", text)
        self.assertNotIn("Invalid Date", text)

    def test_without_a_grant_nothing_reaches_the_callee(self):
        self.home.run("install", probe_bundle(self, []), check=True)
        for target in ("hello", HELLO_ID, "hello.v1.Greeter"):
            r = probe(self.home, "call", target=target, method=SAY_HELLO)
            self.assertEqual(r["code"], PERMISSION_DENIED, r)
            self.assertIn("no grant", r["message"])
        # Not even started: the host refused before the callee was involved.
        self.assertEqual(self.home.status("hello")["state"], "stopped")
        # A grant of another app is no grant of hello.
        other = self.home.run("keys", "new", check=True).stdout.strip()
        self.home.run("install", "--yes", probe_bundle(self, [other]), check=True)
        self.assertEqual(probe(self.home, "call", target="hello", method=SAY_HELLO)["code"], PERMISSION_DENIED)

    def test_only_granted_and_exported_services_are_served_on_a_connection(self):
        self.home.run("install", "--yes", probe_bundle(self, ["hello.v1.Greeter"]), check=True)
        ok = probe(self.home, "call", target="hello.v1.Greeter", method=SAY_HELLO, name="Ann")
        self.assertEqual(ok["code"], OK, ok)
        self.assertIn("Hello, Ann!", ok["reply"])
        self.assertIn("call-probe", ok["reply"])  # hello saw who called.
        # hello serves grpc.health.v1.Health and its routes on its own socket, but
        # exports neither: on the connection they do not exist.
        for method in ("/grpc.health.v1.Health/Check", "/mumba.app.v1.Routes/Handle"):
            r = probe(self.home, "call", target="hello.v1.Greeter", method=method)
            self.assertEqual(r["code"], UNIMPLEMENTED, (method, r))
        # An interface grant does not reach the app's routes.
        r = probe(self.home, "fetch", url="hello://greet?name=Ann")
        self.assertEqual(r["code"], PERMISSION_DENIED, r)
        # A grant of the whole app does, and hello's route sees who fetched.
        self.home.run("install", "--yes", probe_bundle(self, [HELLO_ID]), check=True)
        r = probe(self.home, "fetch", url="hello://greet?name=Ann")
        self.assertEqual((r["code"], r["status"], r["body"]), (OK, 200, "Hello, Ann!"), r)
        self.assertEqual(r["caller"], self.home.status("call-probe")["id"])

    def test_revoking_a_grant_closes_open_channels_at_once(self):
        self.home.run("install", "--yes", probe_bundle(self, ["hello.v1.Greeter"]), check=True)
        self.assertEqual(probe(self.home, "open", target="hello.v1.Greeter")["code"], OK)
        self.assertEqual(probe(self.home, "use", target="hello.v1.Greeter", method=SAY_HELLO)["code"], OK)
        out = self.home.run("permissions", "call-probe", "--revoke", "hello.v1.Greeter", check=True).stdout
        self.assertIn("revoked  call:hello.v1.Greeter", out)
        wait_for(lambda: probe(self.home, "use", target="hello.v1.Greeter", method=SAY_HELLO)["code"] == UNAVAILABLE,
                 10, what="the open channel to close")
        self.assertEqual(probe(self.home, "call", target="hello.v1.Greeter", method=SAY_HELLO)["code"],
                         PERMISSION_DENIED)
        # Granted again, it works again.
        self.home.run("permissions", "call-probe", "--grant", "hello.v1.Greeter", check=True)
        self.assertEqual(probe(self.home, "call", target="hello.v1.Greeter", method=SAY_HELLO)["code"], OK)
        # Only what the manifest asks can be granted.
        bad = self.home.run("permissions", "call-probe", "--grant", "network", check=False)
        self.assertIn("does not ask for 'network'", bad.stderr)

    def test_an_app_holds_a_bounded_number_of_connections(self):
        self.home.run("install", "--yes", probe_bundle(self, ["hello.v1.Greeter"]), check=True)
        r = probe(self.home, "hoard", target="hello.v1.Greeter", n=300)
        self.assertEqual((r["code"], r["opened"]), (RESOURCE_EXHAUSTED, 256), r)
        # Closed, they no longer count.
        self.assertEqual(probe(self.home, "hoard", target="hello.v1.Greeter", n=200)["code"], OK)

    def test_a_process_outside_an_app_cannot_ask_as_that_app(self):
        self.home.run("install", "--yes", probe_bundle(self, ["hello.v1.Greeter"]), check=True)
        self.assertEqual(probe(self.home, "call", target="hello.v1.Greeter", method=SAY_HELLO)["code"], OK)
        # The probe's broker socket, reached from this test process: the host closes it
        # before reading a byte, because this process is not of the probe's tree.
        key = self.home.status("call-probe")["id"][len("mumba://"):]
        path = os.path.join(self.home.path, "run", key[:16], "broker.sock")
        self.assertTrue(os.path.exists(path))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.addCleanup(s.close)
        s.settimeout(10)
        s.connect(path)
        inner = b"\x08\x01\x12" + bytes([len("hello.v1.Greeter")]) + b"hello.v1.Greeter"
        try:
            s.send(b"\x0a" + bytes([len(inner)]) + inner)
            reply = s.recv(65536)
        except OSError:
            reply = b""
        self.assertEqual(reply, b"")
        with open(os.path.join(self.home.path, "logs", "host.log")) as f:
            log = f.read()
        self.assertIn("refused a connection to the broker socket", log)

    def test_interfaces_with_zero_one_and_two_providers(self):
        self.home.run("uninstall", "hello", check=True)
        self.home.run("install", "--yes", probe_bundle(self, ["hello.v1.Greeter"]), check=True)
        r = probe(self.home, "call", target="hello.v1.Greeter", method=SAY_HELLO)
        self.assertEqual(r["code"], NOT_FOUND, r)
        self.assertIn("no installed app implements hello.v1.Greeter", r["message"])
        self.assertIn("no installed app implements", self.home.run("apps", "--implements", "hello.v1.Greeter",
                                                                  check=True).stdout)
        self.home.install_hello()
        self.assertEqual(probe(self.home, "call", target="hello.v1.Greeter", method=SAY_HELLO)["code"], OK)
        # A second provider under another name and address: the first by name is picked.
        howdy = copy_bundle(self)
        edit_manifest(howdy, HELLO_ID, self.home.run("keys", "new", check=True).stdout.strip())
        edit_manifest(howdy, 'name = "hello"', 'name = "howdy"')
        self.home.run("install", howdy, check=True)
        listed = self.home.json("apps", "--implements", "hello.v1.Greeter")["apps"]
        self.assertEqual(sorted(a["name"] for a in listed), ["hello", "howdy"])
        self.assertEqual(probe(self.home, "call", target="hello.v1.Greeter", method=SAY_HELLO)["code"], OK)
        log = self.home.run("logs", "call-probe", check=True).stdout
        self.assertIn("picked hello", log)
        self.assertIn("howdy", log)


class BrokerAcrossHostsTest(unittest.TestCase):
    """The guestbook installed by address on a second host asks there too, and works
    with the grant that host's owner gives."""

    def test_guestbook_by_address_on_a_second_host(self):
        if not GUESTBOOK:
            raise unittest.SkipTest("MUMBA_GUESTBOOK_BUNDLE is not set (run through ctest)")
        ports = free_ports(2)
        a, b = Home(self), Home(self)
        for home, mine, other in ((a, ports[0], ports[1]), (b, ports[1], ports[0])):
            home.run("host", "start", "--listen", f"127.0.0.1:{mine}", "--bootstrap", f"127.0.0.1:{other}",
                     check=True)
        address = a.run("keys", "new", check=True).stdout.strip()
        bundle = copy_bundle(self, GUESTBOOK)
        edit_manifest(bundle, "mumba://45oftxrw3krkwksvxmsrdbndhscepwzgyybt3xyx5yo3uwohmfeq", address)
        a.run("publish", bundle, check=True)
        b.install_hello()
        refused = b.run("install", address, check=False, timeout=120)
        self.assertIn("asks for: to use any app that implements hello.v1.Greeter", refused.stderr)
        self.assertNotIn("guestbook", b.run("list", check=True).stdout)
        b.run("install", address, "--yes", check=True, timeout=120)
        entry = json.loads(b.run("call", "guestbook", "guestbook.v1.Guestbook/Sign", '{"name":"Cy"}',
                                 check=True).stdout)
        self.assertEqual((entry["greeting"], entry["seen_as"]), ("Hello, Cy!", "guestbook"))


if __name__ == "__main__":
    unittest.main()
