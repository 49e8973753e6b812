# SPDX-License-Identifier: Apache-2.0
"""The gateway over real HTTP: every app at its own origin on 127.0.0.1.

A browser is not needed for what is checked here (headers a browser sends are
sent by hand); tests/browser drives real Chromium against the same gateway.
"""
import base64
import http.client
import json
import os
import socket
import struct
import unittest

from harness import Home, copy_bundle, edit_manifest, wait_for

HELLO_METHOD = "hello.v1.Greeter/SayHello"


class Gateway:
    """HTTP requests to one host's gateway, as if for http://<app>.localhost:<port>/."""

    def __init__(self, home):
        self.port = home.json("host", "status")["gateway_port"]

    def request(self, app, method, path, body=None, headers=None, host=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            h = {"Host": host or f"{app}.localhost:{self.port}"}
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            res = conn.getresponse()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
        finally:
            conn.close()

    def get(self, app, path, **kw):
        return self.request(app, "GET", path, **kw)

    def call(self, app, method, payload, **kw):
        return self.request(app, "POST", "/_mumba/call/" + method, body=json.dumps(payload), **kw)

    def events(self, app, headers=None):
        """Opens /_mumba/events as a WebSocket; returns a reader of text frames."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET /_mumba/events HTTP/1.1", f"Host: {app}.localhost:{self.port}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
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

    def connect(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=60)
        self.addCleanup(conn.close)
        return conn

    def test_a_large_download_streams(self):
        mib = 256
        conn = self.connect()
        conn.request("GET", f"/probe/bytes?mb={mib}", headers={"Host": f"ui-probe.localhost:{self.gw.port}"})
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
        # The host never held the body: its memory grew by far less than 256 MiB.
        self.assertLess(peak - before, 64 * 1024, f"host RSS grew {peak - before} kB")
        # The connection serves the next request.
        conn.request("GET", "/probe/bytes?mb=1", headers={"Host": f"ui-probe.localhost:{self.gw.port}"})
        self.assertEqual(len(conn.getresponse().read()), 1 << 20)

    def test_a_large_upload_streams(self):
        host = {"Host": f"ui-probe.localhost:{self.gw.port}"}
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
        conn.putheader("Content-Length", str((64 << 20) + 1))
        conn.endheaders()
        self.assertEqual(conn.getresponse().status, 413)


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


if __name__ == "__main__":
    unittest.main()
