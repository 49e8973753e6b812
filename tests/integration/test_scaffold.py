# SPDX-License-Identifier: Apache-2.0
"""`mumba new` scaffolds an app that builds, installs and answers unchanged."""
import json
import os
import shutil
import stat
import tempfile
import unittest

from cdp import Browser
from harness import Home


class ScaffoldTest(unittest.TestCase):
    def test_new_app_builds_installs_and_answers(self):
        home = Home(self)
        work = tempfile.mkdtemp(prefix="mw-", dir="/tmp")
        self.addCleanup(shutil.rmtree, work, True)
        app_dir = os.path.join(work, "notes")
        out = home.run("new", "notes", "--dir", app_dir, check=True).stdout
        self.assertIn("mumba://", out)
        for f in ["mumba.toml", "CMakeLists.txt", "ui/index.html", "src/main.cc",
                  "proto/notes/v1/notes.proto"]:
            self.assertTrue(os.path.isfile(os.path.join(app_dir, f)), f)
        # The secret key stays in the home, readable only by its owner.
        keys = os.listdir(os.path.join(home.path, "keys"))
        self.assertEqual(len(keys), 1)
        mode = os.stat(os.path.join(home.path, "keys", keys[0])).st_mode
        self.assertEqual(stat.S_IMODE(mode), 0o600)
        with open(os.path.join(app_dir, "mumba.toml")) as f:
            manifest = f.read()
        # The key file is named after the address the manifest declares.
        self.assertIn(keys[0].split(".")[0], manifest)

        home.run("install", app_dir, check=True, timeout=300)
        home.run("start", "notes", check=True)
        reply = home.run("call", "notes", "notes.v1.Greeter/SayHello", '{"name":"Ann"}',
                         check=True)
        self.assertEqual(json.loads(reply.stdout), {"message": "Hello, Ann!", "count": "1"})
        # The count is kept in the app's storage, across a restart.
        home.run("restart", "notes", check=True)
        reply = home.run("call", "notes", "notes.v1.Greeter/SayHello", '{"name":"Ann"}', check=True)
        self.assertEqual(json.loads(reply.stdout)["count"], "2")
        self.assertEqual(home.run("kv", "notes", "get", "greeted/Ann", check=True).stdout.strip(), "2")

        # Its page calls the daemon and shows the event the daemon sends.
        browser = Browser(self)
        browser.set_cookie(**home.window_cookie("notes"))
        port = home.json("host", "status")["gateway_port"]
        page = browser.new_page(f"http://notes.localhost:{port}/")
        page.wait_for("document.body.dataset.ready === 'true'", what="the page to connect its events")
        page.eval("document.getElementById('name').value = 'Bo'; document.querySelector('#greet button').click()")
        page.wait_for("document.getElementById('reply').textContent === 'Hello, Bo! Greeted 1 time(s).'",
                      what="the reply")
        page.wait_for("[...document.querySelectorAll('#events li')].some(li => li.textContent === 'Hello, Bo! (1x)')",
                      what="the greeted event")
        self.assertEqual(home.run("route", "notes://greet?name=Ann", check=True).stdout,
                         "Hello, Ann!")

    def test_new_refuses_bad_names_and_existing_folders(self):
        home = Home(self)
        work = tempfile.mkdtemp(prefix="mw-", dir="/tmp")
        self.addCleanup(shutil.rmtree, work, True)
        for bad in ["Notes", "no_tes", "x-", "mumba", "a" * 64]:
            p = home.run("new", bad, "--dir", os.path.join(work, "x"), check=False)
            self.assertIn("name", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(work, "x")))
        os.makedirs(os.path.join(work, "taken"))
        with open(os.path.join(work, "taken", "keep"), "w") as f:
            f.write("mine")
        home.run("new", "taken", "--dir", os.path.join(work, "taken"), check=False)
        self.assertEqual(os.listdir(os.path.join(work, "taken")), ["keep"])


if __name__ == "__main__":
    unittest.main()
