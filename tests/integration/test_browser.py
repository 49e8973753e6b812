# SPDX-License-Identifier: Apache-2.0
"""Apps' pages in real headless Chromium, served by the gateway.

Chromium is driven by tests/integration/cdp.py over its DevTools pipe (no port).
`*.localhost` resolves to loopback inside Chromium with no DNS, so every page
lives at its app's own origin, as it does for users.
"""
import json
import os
import unittest

from cdp import Browser
from harness import Home, copy_bundle, edit_manifest

HELLO_METHOD = "hello.v1.Greeter/SayHello"
EVENTS = "document.querySelectorAll('#events li').length"


class BrowserTest(unittest.TestCase):
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
        # The test's browser holds both apps' cookies, as each app's own window
        # profile holds its own.
        self.browser = Browser(self)
        for app in ("hello", "other"):
            self.browser.set_cookie(**self.home.window_cookie(app))

    def url(self, app, path="/"):
        return f"http://{app}.localhost:{self.port}{path}"

    def open_hello(self):
        page = self.browser.new_page(self.url("hello"))
        page.wait_for("document.body.dataset.ready === 'true'", what="hello's page to connect its events")
        return page

    def test_the_page_calls_the_daemon_and_shows_its_events(self):
        page = self.open_hello()
        self.assertEqual(page.eval("document.title"), "hello")
        self.assertEqual(page.eval("location.origin"), f"http://hello.localhost:{self.port}")
        page.eval("document.getElementById('name').value = 'Ann'; document.getElementById('greet').click()")
        page.wait_for("document.getElementById('reply').textContent === 'Hello, Ann!'", what="the reply")
        # The daemon emitted "greeted" for that call, and the page listed it.
        page.wait_for(f"{EVENTS} === 1", what="the greeted event")
        # A call from elsewhere (the CLI) is announced to the page too.
        self.home.run("call", "hello", HELLO_METHOD, '{"name":"Cli"}', check=True)
        page.wait_for("[...document.querySelectorAll('#events li')].some(li => li.textContent === 'Hello, Cli!')",
                      what="the event of the CLI's call")
        # mumba.route from the page.
        text = page.eval("import('/_mumba/mumba.js').then(m => m.route('hello://greet?name=Rt')).then(r => r.text())")
        self.assertEqual(text, "Hello, Rt!")
        png = page.screenshot()
        self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"))

    def test_another_apps_page_is_refused(self):
        hello = self.open_hello()
        other = self.browser.new_page(self.url("other"))
        self.assertEqual(other.eval("document.title"), "hello")  # Same files, its own origin.
        before = hello.eval(EVENTS)
        # other's page tries hello's call (no-cors: the browser sends it, the host must refuse).
        other.eval(f"""fetch('{self.url("hello", "/_mumba/call/" + HELLO_METHOD)}',
                         {{method: 'POST', mode: 'no-cors', body: '{{"name":"Mallory"}}'}}).catch(() => null)""")
        other.eval(f"fetch('{self.url('hello', '/greet?name=Mallory')}', {{mode: 'no-cors'}}).catch(() => null)")
        # mumba.js itself refuses another app's route.
        refused = other.eval("import('/_mumba/mumba.js').then(m => m.route('hello://greet')).then(() => 'sent', e => e.code)")
        self.assertEqual(refused, "PERMISSION_DENIED")
        # hello's own page still may. Its event comes after any the refused calls could
        # have caused (their replies are in), so once it is here, the count is complete.
        hello.eval("document.getElementById('name').value = 'Own'; document.getElementById('greet').click()")
        hello.wait_for("[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('Own'))",
                       what="the page's own call")
        self.assertEqual(hello.eval(EVENTS), before + 1, "hello's daemon ran a call from another app's page")

    def test_a_browser_without_the_apps_secret_gets_only_its_files(self):
        """A page the host did not open (a browser that holds only other's secret,
        as other's window does) loads hello's files but cannot use hello."""
        stranger = Browser(self)
        stranger.set_cookie(**self.home.window_cookie("other"))
        page = stranger.new_page(self.url("hello"))
        self.assertEqual(page.eval("document.title"), "hello")
        self.assertEqual(page.eval("document.cookie"), "")  # HttpOnly: no page reads a secret.
        m = "import('/_mumba/mumba.js')"
        refused = page.eval(f"{m}.then(m => m.call('{HELLO_METHOD}', {{name: 'X'}})).then(() => 'called', e => e.code)")
        self.assertEqual(refused, "PERMISSION_DENIED")
        refused = page.eval(f"{m}.then(m => m.kv.get('theme')).then(() => 'read', e => e.code)")
        self.assertEqual(refused, "PERMISSION_DENIED")
        status = page.eval("fetch('/greet?name=X').then(r => r.status)")
        self.assertEqual(status, 403)
        # other's own page, in that browser, may use other.
        own = stranger.new_page(self.url("other"))
        reply = own.eval(f"{m}.then(m => m.call('{HELLO_METHOD}', {{name: 'O'}}))")
        self.assertEqual(reply, {"message": "Hello, O!"})

    def test_the_page_uses_its_apps_storage(self):
        page = self.open_hello()
        m = "import('/_mumba/mumba.js')"
        self.assertIsNone(page.eval(f"{m}.then(m => m.kv.get('theme'))"))
        page.eval(f"{m}.then(m => m.kv.put('theme', 'dark ☾'))")
        self.assertEqual(page.eval(f"{m}.then(m => m.kv.get('theme'))"), "dark ☾")
        # The same store the daemon and the owner see.
        self.assertEqual(self.home.run("kv", "hello", "get", "theme", check=True).stdout.strip(), "dark ☾")
        self.home.run("kv", "hello", "put", "from-cli", "yes", check=True)
        self.assertEqual(page.eval(f"{m}.then(m => m.kv.scan('from'))"), [["from-cli", "yes"]])

        result = page.eval(f"""{m}.then(async m => {{
            await m.sql.execute('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)');
            const ins = await m.sql.execute('INSERT INTO notes (body) VALUES (?)', ['first']);
            const sel = await m.sql.execute('SELECT id, body FROM notes WHERE id = ?', [ins.lastInsertRowid]);
            return [ins.changes, sel.columns, sel.rows];
        }})""")
        self.assertEqual(result, [1, ["id", "body"], [[1, "first"]]])
        # Another app's store is out of reach unless that app exports it to this one.
        refused = page.eval(f"""{m}.then(m => m.call('mumba.storage.v1.Kv/Get', {{store: {{app: 'other', db: 'main'}}, key: btoa('x')}}))
                                .then(() => 'read', e => e.code)""")
        self.assertEqual(refused, "PERMISSION_DENIED")


if __name__ == "__main__":
    unittest.main()
