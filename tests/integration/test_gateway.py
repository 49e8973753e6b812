# SPDX-License-Identifier: Apache-2.0
"""The gateway over real HTTP: every app at its own origin on 127.0.0.1.

A browser is not needed for what is checked here (headers a browser sends are
sent by hand); tests/browser drives real Chromium against the same gateway.
"""
import base64
import http.client
import json
import os
import shutil
import socket
import struct
import time
import unittest

from harness import HOST, Home, copy_bundle, edit_manifest, wait_for

HELLO_METHOD = "hello.v1.Greeter/SayHello"


class Gateway:
    """HTTP requests to one host's gateway, as if for http://<app>.localhost:<port>/.

    Requests carry the app's secret cookie, as its window's do, unless made with
    secret=False (a local process that does not hold it)."""

    def __init__(self, home):
        self.home = home
        self.port = home.json("host", "status")["gateway_port"]
        self._cookies = {}

    def cookie(self, app):
        """The app's window's Cookie header; None for an app the host does not know."""
        if app not in self._cookies:
            p = self.home.run("gateway-session", app, "--json")
            self._cookies[app] = None
            if p.returncode == 0:
                s = json.loads(p.stdout)
                self._cookies[app] = f"{s['cookie_name']}={s['secret']}"
        return self._cookies[app]

    def _headers(self, app, headers, secret):
        h = {}
        if secret and self.cookie(app):
            h["Cookie"] = self.cookie(app)
        h.update(headers or {})
        return h

    def request(self, app, method, path, body=None, headers=None, host=None, secret=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            h = {"Host": host or f"{app}.localhost:{self.port}"}
            h.update(self._headers(app, headers, secret))
            conn.request(method, path, body=body, headers=h)
            res = conn.getresponse()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
        finally:
            conn.close()

    def get(self, app, path, **kw):
        return self.request(app, "GET", path, **kw)

    def call(self, app, method, payload, **kw):
        return self.request(app, "POST", "/_mumba/call/" + method, body=json.dumps(payload), **kw)

    def events(self, app, headers=None, secret=True):
        """Opens /_mumba/events as a WebSocket; returns a reader of text frames."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET /_mumba/events HTTP/1.1", f"Host: {app}.localhost:{self.port}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"] + [f"{k}: {v}" for k, v in self._headers(app, headers, secret).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                break
            head += chunk
        return EventsSocket(s, head.decode(errors="replace"))


class EventsSocket:
    def __init__(self, sock, head):
        self.sock = sock
        self.status = int(head.split(" ", 2)[1]) if head else 0

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("the gateway closed the socket")
            out += chunk
        return out

    def next(self):
        """The next text frame, parsed as JSON (a server's frames are not masked)."""
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8))[0]
        data = self._read(n)
        if b0 & 0x0F != 1:
            raise AssertionError(f"not a text frame: opcode {b0 & 0x0F}")
        return json.loads(data)

    def close(self):
        self.sock.close()


class GatewayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        cls.home.install_hello()
        cls.gw = Gateway(cls.home)
        cls.hello_id = cls.home.status("hello")["id"][len("mumba://"):]
        # A second app: hello's bundle under another name and id.
        other = cls.home.run("keys", "new", check=True).stdout.strip()
        bundle = copy_bundle(cls)
        with open(os.path.join(bundle, "mumba.toml")) as f:
            old_id = f.read().split('id = "', 1)[1].split('"', 1)[0]
        edit_manifest(bundle, old_id, other)
        edit_manifest(bundle, 'name = "hello"', 'name = "other"')
        cls.home.run("install", bundle, check=True)

    def test_status_shows_the_gateway_and_it_keeps_its_port(self):
        self.assertGreater(self.gw.port, 0)
        out = self.home.run("host", "status", check=True).stdout
        self.assertIn(f"http://<app>.localhost:{self.gw.port}/", out)
        # Another home, stopped and started again, comes back on the same port.
        other = Home(self)
        other.run("host", "start", check=True)
        first = other.json("host", "status")["gateway_port"]
        self.assertNotEqual(first, self.gw.port)
        other.run("host", "stop", check=True)
        other.run("host", "start", check=True)
        self.assertEqual(other.json("host", "status")["gateway_port"], first)

    def test_static_files_with_types_and_etags(self):
        status, headers, body = self.gw.get("hello", "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b"<title>hello</title>", body)
        etag = headers["etag"]
        status, headers, body = self.gw.get("hello", "/", headers={"If-None-Match": etag})
        self.assertEqual((status, body), (304, b""))
        self.assertEqual(headers["etag"], etag)
        status, headers, _ = self.gw.get("hello", "/index.html")
        self.assertEqual((status, headers["etag"]), (200, etag))
        # The id names the same app at its own origin.
        status, _, body = self.gw.get(self.hello_id, "/")
        self.assertEqual(status, 200)
        self.assertIn(b"<title>hello</title>", body)
        status, headers, body = self.gw.get("hello", "/_mumba/mumba.js")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/javascript; charset=utf-8")
        self.assertIn(b"export async function call", body)
        status, _, _ = self.gw.request("hello", "HEAD", "/")
        self.assertEqual(status, 200)

    def test_missing_and_escaping_paths_are_404(self):
        for path in ["/nope.html", "/../mumba.toml", "/%2e%2e/mumba.toml", "/..%2fmumba.toml", "/_mumba/nope"]:
            status, headers, body = self.gw.get("hello", path)
            self.assertEqual(status, 404, path)
            self.assertEqual(json.loads(body)["code"], "NOT_FOUND")

    def test_routes_and_calls_reach_the_daemon(self):
        self.home.run("stop", "hello", check=True)
        # A route starts a stopped daemon, as `mumba route` does.
        status, headers, body = self.gw.get("hello", "/greet?name=Ann")
        self.assertEqual((status, body), (200, b"Hello, Ann!"))
        status, headers, body = self.gw.call("hello", HELLO_METHOD, {"name": "Bo"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(json.loads(body), {"message": "Hello, Bo!"})
        status, _, body = self.gw.request("hello", "POST", "/_mumba/call/" + HELLO_METHOD, body="{not json")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["code"], "INVALID_ARGUMENT")
        status, _, body = self.gw.call("hello", "hello.v1.Greeter/Nope", {})
        self.assertEqual(status, 404, body)
        status, _, _ = self.gw.request("hello", "GET", "/_mumba/call/" + HELLO_METHOD)
        self.assertEqual(status, 400)
        # A method the manifest does not declare for a route is not the route.
        status, _, _ = self.gw.request("hello", "POST", "/greet")
        self.assertEqual(status, 404)

    def test_foreign_hosts_are_refused(self):
        for host in [f"evil.example:{self.gw.port}", f"127.0.0.1:{self.gw.port}", f"localhost:{self.gw.port}",
                     f"hello.localhost:{self.gw.port + 1}", "hello.localhost", f"hello.evil.localhost:{self.gw.port}"]:
            status, _, body = self.gw.get("hello", "/greet?name=X", host=host)
            self.assertEqual(status, 403, host)
            self.assertIn("unknown host", json.loads(body)["error"])
        status, _, body = self.gw.get("nosuchapp", "/")
        self.assertEqual(status, 404)

    def test_another_apps_page_cannot_use_routes_calls_or_events(self):
        # Another app's page: its Origin, and a browser's Sec-Fetch-Site.
        foreign = {"Origin": f"http://other.localhost:{self.gw.port}", "Sec-Fetch-Site": "same-site"}
        own = {"Origin": f"http://hello.localhost:{self.gw.port}", "Sec-Fetch-Site": "same-origin"}
        status, _, body = self.gw.get("hello", "/greet?name=X", headers=foreign)
        self.assertEqual(status, 403)
        self.assertEqual(json.loads(body)["code"], "PERMISSION_DENIED")
        self.assertEqual(self.gw.call("hello", HELLO_METHOD, {}, headers=foreign)[0], 403)
        self.assertEqual(self.gw.get("hello", "/greet", headers={"Sec-Fetch-Site": "cross-site"})[0], 403)
        ws = self.gw.events("hello", headers=foreign)
        self.assertEqual(ws.status, 403)
        ws.close()
        # The app's own page may.
        self.assertEqual(self.gw.get("hello", "/greet?name=X", headers=own)[:3:2], (200, b"Hello, X!"))
        self.assertEqual(self.gw.call("hello", HELLO_METHOD, {"name": "Y"}, headers=own)[0], 200)

    def test_a_process_without_the_secret_is_refused_every_kind_of_request(self):
        """127.0.0.1 is open to every local process and user: without the app's
        secret cookie, calls, storage, routes, events and writes are refused,
        whatever Origin says."""
        self.home.run("start", "hello", check=True)
        own = {"Origin": f"http://hello.localhost:{self.gw.port}", "Sec-Fetch-Site": "same-origin"}
        store = json.dumps({"store": {"db": "main"}})
        requests = [("POST", "/_mumba/call/" + HELLO_METHOD, json.dumps({"name": "Mallory"})),
                    ("POST", "/_mumba/call/mumba.storage.v1.Kv/Scan", store),
                    ("POST", "/_mumba/call/mumba.storage.v1.Kv/Write", json.dumps(
                        {"store": {"db": "main"}, "ops": [{"kind": "PUT", "key": "eA==", "value": "eA=="}]})),
                    ("GET", "/greet?name=Mallory", None),
                    ("POST", "/index.html", "x"),
                    ("PUT", "/", "x"),
                    ("DELETE", "/index.html", None),
                    ("GET", "/_mumba/nope", None)]
        for headers in [None, own]:
            for method, path, body in requests:
                status, _, reply = self.gw.request("hello", method, path, body=body, headers=headers, secret=False)
                self.assertEqual(status, 403, (method, path, headers))
                error = json.loads(reply)
                self.assertEqual(error["code"], "PERMISSION_DENIED")
                self.assertIn("Mumba window", error["error"])
            ws = self.gw.events("hello", headers=headers, secret=False)
            self.assertEqual(ws.status, 403)
            ws.close()
        # With the cookie the same requests go through.
        status, _, reply = self.gw.call("hello", "mumba.storage.v1.Kv/Write",
                                        {"store": {"db": "main"}, "ops": [{"kind": "PUT", "key": "eA==", "value": "eQ=="}]})
        self.assertEqual(status, 200, reply)
        status, _, reply = self.gw.call("hello", "mumba.storage.v1.Kv/Scan", {"store": {"db": "main"}})
        self.assertEqual(status, 200, reply)
        self.assertIn("eQ==", reply.decode())
        self.assertEqual(self.gw.call("hello", HELLO_METHOD, {"name": "Own"})[0], 200)
        self.assertEqual(self.gw.get("hello", "/greet?name=Own")[:3:2], (200, b"Hello, Own!"))
        ws = self.gw.events("hello")
        self.assertEqual(ws.status, 101)
        ws.close()

    def test_another_apps_secret_opens_nothing(self):
        hello, other = self.gw.cookie("hello"), self.gw.cookie("other")
        self.assertNotEqual(hello.split("=", 1)[1], other.split("=", 1)[1])
        for method, path, body in [("POST", "/_mumba/call/" + HELLO_METHOD, "{}"), ("GET", "/greet?name=X", None),
                                   ("POST", "/_mumba/call/mumba.storage.v1.Kv/Scan", '{"store":{"db":"main"}}')]:
            status, _, _ = self.gw.request("hello", method, path, body=body, headers={"Cookie": other},
                                           secret=False)
            self.assertEqual(status, 403, path)
        ws = self.gw.events("hello", headers={"Cookie": other}, secret=False)
        self.assertEqual(ws.status, 403)
        ws.close()
        # Each cookie opens its own app.
        self.assertEqual(self.gw.get("other", "/greet?name=O")[:3:2], (200, b"Hello, O!"))
        self.assertEqual(self.gw.get("other", "/greet?name=O", headers={"Cookie": hello}, secret=False)[0], 403)

    def test_static_files_stay_public(self):
        for path in ["/", "/index.html", "/_mumba/mumba.js"]:
            self.assertEqual(self.gw.get("hello", path, secret=False)[0], 200, path)
            self.assertEqual(self.gw.request("hello", "HEAD", path, secret=False)[0], 200, path)

    def test_gateway_session_is_the_owners_alone(self):
        p = self.home.run("gateway-session", "--help", check=True)
        self.assertIn("secret", p.stdout)
        origin, cookie = self.home.gateway_session("hello")
        self.assertEqual(origin, f"http://hello.localhost:{self.gw.port}")
        name, secret = cookie.split("=", 1)
        self.assertEqual(name, f"mumba_secret_{self.gw.port}")
        self.assertRegex(secret, "^[0-9a-f]{64}$")
        p = self.home.run("gateway-session", "nosuchapp", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "")
        # host.sock is the owner's alone (0600 in a 0700 home).
        self.assertEqual(os.stat(os.path.join(self.home.path, "host.sock")).st_mode & 0o077, 0)

    def test_events_reach_the_apps_pages(self):
        self.home.run("start", "hello", check=True)
        ws = self.gw.events("hello")
        self.assertEqual(ws.status, 101)
        try:
            # hello's daemon emits "greeted" for each SayHello.
            wait_for(lambda: self.home.run("call", "hello", HELLO_METHOD, '{"name":"Eve"}').returncode == 0,
                     10, what="a call")
            frame = ws.next()
            self.assertEqual(frame, {"event": "greeted", "data": {"message": "Hello, Eve!"}})
        finally:
            ws.close()


def fnv1a64(chunks):
    h = 1469598103934665603
    n = 0
    for chunk in chunks:
        n += len(chunk)
        for c in chunk:
            h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return n, h


def host_under_asan():
    """Whether mumba-host is built with AddressSanitizer (scripts/sanitize.sh), whose
    quarantine keeps up to 256 MiB of freed memory resident."""
    with open(HOST, "rb") as f:
        return b"libasan.so" in f.read()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


class StreamedRoutesTest(unittest.TestCase):
    """Route bodies stream through the gateway: big uploads and downloads are never
    held whole by the host (its memory stays flat) and arrive intact."""

    @classmethod
    def setUpClass(cls):
        bundle = os.environ.get("MUMBA_UI_PROBE_BUNDLE", "")
        if not bundle:
            raise unittest.SkipTest("MUMBA_UI_PROBE_BUNDLE is not set (run through ctest)")
        cls.home = Home(cls)
        cls.home.run("install", bundle, check=True)
        cls.home.run("start", "ui-probe", check=True)
        cls.gw = Gateway(cls.home)
        cls.host_pid = cls.home.json("host", "status")["pid"]

    def headers(self):
        """ui-probe's Host, and the secret cookie its window holds."""
        return {"Host": f"ui-probe.localhost:{self.gw.port}", "Cookie": self.gw.cookie("ui-probe")}

    def connect(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=60)
        self.addCleanup(conn.close)
        return conn

    def test_a_large_download_streams(self):
        # The host never holds the body: its memory grows by far less than the body.
        # Under ASan, freed buffers stay resident in its 256 MiB quarantine, so the
        # body is larger and the bound leaves room for the quarantine.
        mib, bound_mib = (1024, 512) if host_under_asan() else (256, 64)
        conn = self.connect()
        conn.request("GET", f"/probe/bytes?mb={mib}", headers=self.headers())
        res = conn.getresponse()
        self.assertEqual(res.status, 200)
        self.assertEqual(res.getheader("Transfer-Encoding"), "chunked")
        before = rss_kb(self.host_pid)
        got, peak, expected = 0, before, bytes(i % 251 for i in range(251)) * 4
        while True:
            chunk = res.read(1 << 20)
            if not chunk:
                break
            # Spot-check the pattern where a chunk starts.
            start = got % 251
            self.assertEqual(chunk[:16], expected[start:start + 16])
            got += len(chunk)
            peak = max(peak, rss_kb(self.host_pid))
        self.assertEqual(got, mib << 20)
        self.assertLess(peak - before, bound_mib << 10, f"host RSS grew {peak - before} kB")
        # The connection serves the next request.
        conn.request("GET", "/probe/bytes?mb=1", headers=self.headers())
        self.assertEqual(len(conn.getresponse().read()), 1 << 20)

    def test_a_large_upload_streams(self):
        host = self.headers()
        size = 200 << 20
        block = b"\x5a" * (1 << 20)
        conn = self.connect()
        before = rss_kb(self.host_pid)
        conn.request("POST", "/probe/sink", body=iter([block] * (size >> 20)),
                     headers={**host, "Content-Length": str(size)})
        res = conn.getresponse()
        reply = res.read().decode()
        self.assertEqual(res.status, 200, reply)
        self.assertEqual(int(reply.split()[0]), size)
        # The host never held the body.
        self.assertLess(rss_kb(self.host_pid) - before, 64 * 1024)
        # The bytes arrive intact, in order.
        data = os.urandom(2 << 20)
        conn.request("POST", "/probe/sink", body=data, headers=host)
        self.assertEqual(conn.getresponse().read().decode(), "%d %016x" % fnv1a64([data]))
        # A chunked upload (no Content-Length) streams too.
        conn.request("POST", "/probe/sink", body=iter([b"abc", b"defg"]), encode_chunked=True, headers=host)
        self.assertEqual(conn.getresponse().read().decode(), "7 %016x" % fnv1a64([b"abcdefg"])[1])

    def test_a_body_too_large_for_a_call_is_refused(self):
        # Refused from its header alone, before any of the body is sent.
        conn = self.connect()
        conn.putrequest("POST", "/_mumba/call/x.Y/Z", skip_host=True)
        conn.putheader("Host", f"ui-probe.localhost:{self.gw.port}")
        conn.putheader("Cookie", self.gw.cookie("ui-probe"))
        conn.putheader("Content-Length", str((64 << 20) + 1))
        conn.endheaders()
        self.assertEqual(conn.getresponse().status, 413)


class SecretLifetimeTest(unittest.TestCase):
    def test_secrets_change_at_every_host_start_and_never_reach_a_log(self):
        home = Home(self)
        home.install_hello()
        gw = Gateway(home)
        old = gw.cookie("hello")
        self.assertEqual(gw.get("hello", "/greet?name=A")[0], 200)
        self.assertEqual(gw.get("hello", "/greet?name=A", secret=False)[0], 403)
        if shutil.which("chromium"):
            home.run("launch", "hello", "--headless", check=True)
            home.run("close", "hello", check=True)
        home.run("host", "stop", check=True)
        home.run("host", "start", check=True)
        gw = Gateway(home)
        new = gw.cookie("hello")
        self.assertNotEqual(new, old)
        self.assertEqual(gw.get("hello", "/greet?name=B", headers={"Cookie": old}, secret=False)[0], 403)
        self.assertEqual(gw.get("hello", "/greet?name=B")[0], 200)
        home_secret = gw.cookie("home").split("=", 1)[1]
        # No log (the host's, the daemons', the browsers') holds any of them.
        secrets = [old.split("=", 1)[1].encode(), new.split("=", 1)[1].encode(), home_secret.encode()]
        logs = os.path.join(home.path, "logs")
        read = 0
        for root, _, files in os.walk(logs):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    text = f.read()
                read += len(text)
                for secret in secrets:
                    self.assertNotIn(secret, text, name)
        self.assertGreater(read, 0)


class GatewayConfigTest(unittest.TestCase):
    def test_a_configured_port_is_used_and_a_bad_one_refused(self):
        home = Home(self)
        with open(os.path.join(home.path, "config.toml"), "w") as f:
            f.write("[gateway]\nport = 70000\n")
        p = home.run("host", "start", check=False)
        self.assertIn("gateway.port", p.stderr)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with open(os.path.join(home.path, "config.toml"), "w") as f:
            f.write(f"[gateway]\nport = {port}\n")
        home.run("host", "start", check=True)
        self.assertEqual(home.json("host", "status")["gateway_port"], port)

    def test_configured_limits_hold(self):
        home = Home(self)
        with open(os.path.join(home.path, "config.toml"), "w") as f:
            f.write("[gateway]\nmax_connections = 0\n")
        p = home.run("host", "start", check=False)
        self.assertIn("gateway.max_connections", p.stderr)
        with open(os.path.join(home.path, "config.toml"), "w") as f:
            f.write("[gateway]\nmax_connections = 2\nheader_timeout_ms = 300\n")
        home.run("host", "start", check=True)
        port = home.json("host", "status")["gateway_port"]
        request = f"GET /_mumba/mumba.js HTTP/1.1\r\nHost: hello.localhost:{port}\r\n\r\n".encode()

        def connect():
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            self.addCleanup(s.close)
            return s

        first, second = connect(), connect()
        first.sendall(request)
        self.assertTrue(first.recv(4096).startswith(b"HTTP/1.1 404"))  # Served: no app hello here.
        third = connect()
        third.sendall(request)
        self.assertTrue(third.recv(4096).startswith(b"HTTP/1.1 503"))
        # The second, which sends its header too slowly, is cut off at 300 ms.
        second.sendall(request[:20])
        start = time.monotonic()
        self.assertEqual(second.recv(4096), b"")
        self.assertLess(time.monotonic() - start, 5)


if __name__ == "__main__":
    unittest.main()
