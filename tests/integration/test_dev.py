# SPDX-License-Identifier: Apache-2.0
"""`mumba dev`: an app built, installed, started and shown, then a UI edit reloads
its window, a source edit rebuilds and restarts it with its stores kept, the
daemon's output and the compiler's errors stream to the terminal, a build error
leaves the running version alone, and Ctrl-C stops it all."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import unittest

from harness import MUMBA, Home, wait_for

GREET = "notes.v1.Greeter/SayHello"


class DevTest(unittest.TestCase):
    def test_the_author_loop(self):
        home = Home(self)
        work = tempfile.mkdtemp(prefix="md-", dir="/tmp")
        self.addCleanup(shutil.rmtree, work, True)
        app = os.path.join(work, "notes")
        home.run("new", "notes", "--dir", app, check=True)

        proc = subprocess.Popen([MUMBA, "dev", app, "--headless", "--yes"], env=home.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
        reader.start()
        said = lambda text: any(text in line for line in lines)
        wait_for(lambda: said("mumba dev: watching"), 300, what="the first build and the window")
        windows = home.json("windows")["windows"]
        self.assertEqual([w["app_name"] for w in windows], ["notes"])

        def greet():
            return json.loads(home.run("call", "notes", GREET, '{"name":"Ann"}', check=True).stdout)

        self.assertEqual(greet(), {"message": "Hello, Ann!", "count": "1"})

        # A UI edit: the window shows it, without a build.
        index = os.path.join(app, "ui", "index.html")
        with open(index) as f:
            page = f.read()
        with open(index, "w") as f:
            f.write(page.replace("<title>notes</title>", "<title>edited</title>"))
        wait_for(lambda: said("ui changed: reloaded 1 window(s)"), 20, what="the reload")
        wait_for(lambda: [w["title"] for w in home.json("windows")["windows"]] == ["edited"], 10,
                 what="the window to show the edit")

        # A source edit: rebuilt, restarted on the new build, its store kept.
        main = os.path.join(app, "src", "main.cc")
        with open(main) as f:
            source = f.read()
        with open(main, "w") as f:
            f.write(source.replace('"Hello, "', '"Howdy, "').replace(
                "    reply->set_message(Greeting(request->name()));",
                "    reply->set_message(Greeting(request->name()));\n"
                '    std::fprintf(stderr, "greeted %s\\n", request->name().c_str());'))
        wait_for(lambda: said("rebuilt: reloaded"), 300, what="the rebuild")
        self.assertEqual(greet(), {"message": "Howdy, Ann!", "count": "2"})
        # What the daemon writes streams to the terminal.
        wait_for(lambda: said("[notes] greeted Ann"), 10, what="the daemon's output in the terminal")

        # A build error: said, and the running version goes on.
        with open(main, "w") as f:
            f.write(source.replace('"Hello, "', '"Hello, " +'))
        wait_for(lambda: said("fix it and save again"), 300, what="the build error")
        self.assertTrue(said("main.cc") and said("error:"), "the compiler's error streams to the terminal")
        self.assertEqual(greet()["message"], "Howdy, Ann!")

        # Ctrl-C: the app stops and its window closes.
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=60), 0)
        self.assertEqual(home.status("notes")["state"], "stopped")
        self.assertEqual(home.json("windows").get("windows", []), [])


if __name__ == "__main__":
    unittest.main()
