# SPDX-License-Identifier: Apache-2.0
"""mumba.call and mumba.route over the page's WebSocket, in real headless Chromium.

A page's calls travel over the one socket it holds to the host (/_mumba/events),
many in flight at once, with the answers HTTP would give; another app's page
cannot use it, and a page that goes over the socket's limits is refused without
harming other pages.
"""
import os
import signal
import time
import unittest

from cdp import Browser
from harness import Home, copy_bundle, edit_manifest

HELLO_METHOD = "hello.v1.Greeter/SayHello"
EVENTS = "document.querySelectorAll('#events li').length"
M = "import('/_mumba/mumba.js')"
# Requests to /_mumba/call/ and /greet this page made over HTTP (resource timings).
HTTP_CALLS = ("performance.getEntriesByType('resource')"
              ".filter(e => e.name.includes('/_mumba/call/') || e.name.includes('/greet')).length")
# A raw socket of the page to its own host, as mumba.js opens it; resolves once the
# host's first frame (its limits) is in, to those limits.
OPEN_RAW = """new Promise((resolve, reject) => {
    const ws = new WebSocket('ws://' + location.host + '/_mumba/events', 'mumba.v1');
    window.raw = ws;
    window.answers = [];
    ws.onmessage = (m) => {
      const f = JSON.parse(m.data);
      if (f.hello) resolve(f.hello); else if ('id' in f) window.answers.push(f);
    };
    ws.onclose = (e) => { window.closeCode = e.code; reject(new Error('closed ' + e.code)); };
  })"""


class PageSocketTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        cls.home.install_hello()
        cls.home.run("start", "hello", check=True)
        cls.port = cls.home.json("host", "status")["gateway_port"]
        # A second app: hello's bundle under another name and id.
        other = cls.home.run("keys", "new", check=True).stdout.strip()
        bundle = copy_bundle(cls)
        with open(os.path.join(bundle, "mumba.toml")) as f:
            old_id = f.read().split('id = "', 1)[1].split('"', 1)[0]
        edit_manifest(bundle, old_id, other)
        edit_manifest(bundle, 'name = "hello"', 'name = "other"')
        cls.home.run("install", bundle, check=True)

    def setUp(self):
        self.home.run("start", "hello", check=True)
        self.browser = Browser(self)
        for app in ("hello", "other"):
            self.browser.set_cookie(**self.home.window_cookie(app))

    def url(self, app, path="/"):
        return f"http://{app}.localhost:{self.port}{path}"

    def open(self, app="hello"):
        """The app's page with its socket open and the host's limits in."""
        page = self.browser.new_page(self.url(app))
        page.wait_for("document.body.dataset.ready === 'true'", what="the page to connect its socket")
        # The first call may go over HTTP while the host's first frame is on its way.
        page.eval(f"{M}.then(m => m.call('{HELLO_METHOD}', {{name: 'warm'}}))")
        page.eval("performance.clearResourceTimings()")
        return page

    def test_calls_and_routes_travel_over_the_socket(self):
        page = self.open()
        reply = page.eval(f"{M}.then(m => m.call('{HELLO_METHOD}', {{name: 'Ws'}}))")
        self.assertEqual(reply, {"message": "Hello, Ws!"})
        text = page.eval(f"{M}.then(m => m.route('hello://greet?name=Rt')).then(r => r.text())")
        self.assertEqual(text, "Hello, Rt!")
        status = page.eval(f"{M}.then(m => m.route('/greet?name=S')).then(r => [r.status, r.headers.get('content-type')])")
        self.assertEqual(status, [200, "text/plain; charset=utf-8"])
        self.assertEqual(page.eval(HTTP_CALLS), 0, "a call or route went over HTTP with the socket open")
        # What is no route (a file) is fetched over HTTP, as before.
        html = page.eval(f"{M}.then(m => m.route('/index.html')).then(r => r.text())")
        self.assertIn("<title>hello</title>", html)
        # A request larger than a socket frame goes over HTTP, with the same answer.
        big = page.eval(f"{M}.then(m => m.call('{HELLO_METHOD}', {{name: 'x'.repeat(100000)}})).then(r => r.message.length)")
        self.assertEqual(big, len("Hello, !") + 100000)
        self.assertEqual(page.eval(HTTP_CALLS), 1)

    def test_errors_come_back_as_over_http(self):
        page = self.open()
        for method, request in (("hello.v1.Greeter/Nope", "{}"), ("nope.v1.X/Y", "{}"),
                                (HELLO_METHOD, "{name: 5}"), ("mumba.host.v1.Control/List", "{}")):
            over_socket = page.eval(f"""{M}.then(m => m.call('{method}', {request}))
                .then(r => ['resolved', r], e => [e.name, e.message, e.code, e.status])""")
            over_http = page.eval(f"""fetch('/_mumba/call/{method}', {{method: 'POST', body: JSON.stringify({request})}})
                .then(async r => {{ const b = await r.json(); return ['MumbaError', b.error, b.code, r.status]; }})""")
            self.assertEqual(over_socket, over_http, method)
            self.assertEqual(over_socket[0], "MumbaError")
        self.assertEqual(page.eval("performance.getEntriesByType('resource').length"), 4)  # Only the fetches above.

    def test_many_calls_in_flight_all_resolve(self):
        page = self.open()
        result = page.eval(f"""{M}.then(async m => {{
            const names = Array.from({{length: 500}}, (_, i) => 'n' + i);
            const replies = await Promise.all(names.map(name => m.call('{HELLO_METHOD}', {{name}})));
            return replies.every((r, i) => r.message === 'Hello, n' + i + '!');
        }})""", timeout=60)
        self.assertTrue(result)
        self.assertEqual(page.eval(HTTP_CALLS), 0)

    def test_another_apps_page_cannot_use_this_apps_socket(self):
        hello = self.open()
        other = self.open("other")
        before = hello.eval(EVENTS)
        # other's page opens a socket on hello's origin: the host refuses the upgrade.
        refused = other.eval(f"""new Promise(resolve => {{
            const ws = new WebSocket('ws://hello.localhost:{self.port}/_mumba/events', 'mumba.v1');
            ws.onopen = () => {{
              ws.send(JSON.stringify({{id: 1, call: '{HELLO_METHOD}'}}) + '\\n{{"name":"Mallory"}}');
              resolve('opened');
            }};
            ws.onclose = () => resolve('closed');
        }})""")
        self.assertEqual(refused, "closed")
        # On its own socket, the same method is other's own: other's daemon answers it.
        reply = other.eval(f"{M}.then(m => m.call('{HELLO_METHOD}', {{name: 'Mallory'}}))")
        self.assertEqual(reply, {"message": "Hello, Mallory!"})
        self.assertEqual(other.eval(HTTP_CALLS), 0)
        # hello's own call comes after any the refused ones could have caused.
        hello.eval(f"{M}.then(m => m.call('{HELLO_METHOD}', {{name: 'Own'}}))")
        hello.wait_for("[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('Own'))",
                       what="the page's own call")
        self.assertEqual(hello.eval(EVENTS), before + 1, "hello's daemon ran a call from another app's page")

    def test_an_oversize_frame_closes_only_that_socket(self):
        page = self.open()
        limits = page.eval(OPEN_RAW)
        code = page.eval(f"""new Promise(resolve => {{
            window.raw.onclose = (e) => resolve(e.code);
            window.raw.send('{{"id":1,"call":"{HELLO_METHOD}"}}\\n' + JSON.stringify({{name: 'x'.repeat({limits['max_frame']})}}));
        }})""")
        # 1009 (too big), or 1006 when the connection's end overtakes the close frame.
        self.assertIn(code, (1009, 1006))
        # The page's own socket and other pages go on.
        self.assertEqual(page.eval(f"{M}.then(m => m.call('{HELLO_METHOD}', {{name: 'after'}}))"),
                         {"message": "Hello, after!"})
        self.assertEqual(page.eval(HTTP_CALLS), 0)

    def test_too_many_in_flight_are_refused_and_others_go_on(self):
        page = self.open()
        other = self.open("other")
        limits = page.eval(OPEN_RAW)
        # With hello stopped, every call waits while the host starts it again, and
        # with the host paused while the page sends, all the frames are in before any
        # is answered (a quick start could otherwise answer some while others still
        # come in).
        self.home.run("stop", "hello", check=True)
        n = limits["max_in_flight"] + 40
        host = self.home.host_pid()
        os.kill(host, signal.SIGSTOP)
        try:
            page.eval(f"""for (let i = 1; i <= {n}; ++i)
                            window.raw.send(JSON.stringify({{id: i, call: '{HELLO_METHOD}'}}) + '\\n{{"name":"f' + i + '"}}')""")
            page.wait_for("window.raw.bufferedAmount === 0", timeout=10, what="the page to send every frame")
            time.sleep(0.3)  # What Chromium sent reaches the host's socket.
        finally:
            os.kill(host, signal.SIGCONT)
        # Another app's page is not held up meanwhile.
        self.assertEqual(other.eval(f"{M}.then(m => m.call('{HELLO_METHOD}', {{name: 'O'}}))"), {"message": "Hello, O!"})
        page.wait_for(f"window.answers.length === {n}", timeout=30, what="every frame's answer")
        answers = page.eval("window.answers")
        refused = [a for a in answers if a.get("code") == "RESOURCE_EXHAUSTED"]
        replied = [a for a in answers if "reply" in a]
        self.assertEqual(len(refused) + len(replied), n)
        self.assertGreaterEqual(len(refused), 40)
        self.assertLessEqual(len(replied), limits["max_in_flight"])
        self.assertTrue(all(a["status"] == 413 for a in refused))
        self.assertEqual(sorted(a["id"] for a in answers), list(range(1, n + 1)))
        # Once answered, the socket takes calls again.
        again = page.eval(f"""new Promise(resolve => {{
            window.raw.onmessage = (m) => {{ const f = JSON.parse(m.data); if (f.id === 9999) resolve(f); }};
            window.raw.send(JSON.stringify({{id: 9999, call: '{HELLO_METHOD}'}}) + '\\n{{"name":"again"}}');
        }})""")
        self.assertEqual(again, {"id": 9999, "reply": {"message": "Hello, again!"}})


if __name__ == "__main__":
    unittest.main()
