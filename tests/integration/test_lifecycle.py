# SPDX-License-Identifier: Apache-2.0
"""The user's path: host up, install hello, start, call, route, stop, uninstall."""
import json
import os
import stat
import subprocess
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import HOST, Home, alive, wait_for

HELLO_METHOD = "hello.v1.Greeter/SayHello"


class LifecycleTest(unittest.TestCase):
    def test_install_start_call_route_stop_uninstall(self):
        home = Home(self)
        out = home.run("host", "start", check=True)
        self.assertIn("started", out.stdout + out.stderr)
        st = home.json("host", "status")
        self.assertTrue(st["running"])
        self.assertTrue(alive(st["pid"]))

        home.install_hello()
        apps = home.json("list")["apps"]
        self.assertEqual([a["name"] for a in apps], ["hello"])
        self.assertEqual(apps[0]["state"], "stopped")
        self.assertTrue(apps[0]["id"].startswith("mumba://"))

        home.run("start", "hello", check=True)
        s = home.status("hello")
        self.assertEqual(s["state"], "running")
        self.assertTrue(alive(s["pid"]))
        # The daemon runs in its own process group.
        self.assertEqual(os.getpgid(s["pid"]), s["pid"])

        reply = home.run("call", "hello", HELLO_METHOD, '{"name":"Ann"}', check=True)
        self.assertEqual(json.loads(reply.stdout), {"message": "Hello, Ann!"})
        # The id works wherever the name does.
        reply = home.run("call", s["id"], HELLO_METHOD, '{"name":"Bo"}', check=True)
        self.assertEqual(json.loads(reply.stdout), {"message": "Hello, Bo!"})

        self.assertEqual(home.run("route", "hello://greet?name=Ann", check=True).stdout,
                         "Hello, Ann!")
        self.assertEqual(home.run("route", "hello://greet?name=J%C3%BCrgen", check=True).stdout,
                         "Hello, J\u00fcrgen!")
        unambiguous = s["id"] + "/greet?name=Ann"
        self.assertEqual(home.run("route", unambiguous, check=True).stdout, "Hello, Ann!")
        head = home.run("route", "-i", "hello://greet?name=Ann", check=True).stdout
        self.assertTrue(head.startswith("200"), head)

        logs = home.run("logs", "hello", check=True).stdout
        self.assertIn("started hello", logs)

        pid = s["pid"]
        home.run("stop", "hello", check=True)
        self.assertEqual(home.status("hello")["state"], "stopped")
        wait_for(lambda: not alive(pid), 5, what="daemon to exit")

        home.run("uninstall", "hello", check=True)
        self.assertEqual(home.json("list")["apps"], [])
        home.run("status", "hello", check=False)

        home.run("host", "stop", check=True)
        self.assertFalse(os.path.exists(os.path.join(home.path, "host.sock")))
        self.assertEqual(home.run("host", "status").returncode, 3)

    def test_any_command_starts_the_host(self):
        home = Home(self)
        self.assertEqual(home.run("host", "status").returncode, 3)
        home.run("list", check=True)
        self.assertTrue(home.host_pid())

    def test_socket_is_private(self):
        home = Home(self)
        home.run("host", "start", check=True)
        mode = os.stat(os.path.join(home.path, "host.sock")).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o600)

    def test_second_host_on_same_home_is_refused(self):
        home = Home(self)
        home.run("host", "start", check=True)
        pid = home.host_pid()
        p = subprocess.run([HOST, "--home", home.path], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("already running", p.stderr)
        self.assertIn(str(pid), p.stderr)
        # The first host is untouched.
        self.assertTrue(home.json("host", "status")["running"])
        self.assertEqual(home.host_pid(), pid)

    def test_two_homes_side_by_side(self):
        a, b = Home(self), Home(self)
        a.install_hello()
        b.install_hello()
        a.run("start", "hello", check=True)
        self.assertEqual(b.status("hello")["state"], "stopped")
        b.run("start", "hello", check=True)
        self.assertNotEqual(a.host_pid(), b.host_pid())
        self.assertNotEqual(a.status("hello")["pid"], b.status("hello")["pid"])
        a.run("host", "stop", check=True)
        out = b.run("call", "hello", HELLO_METHOD, '{"name":"B"}', check=True).stdout
        self.assertEqual(json.loads(out)["message"], "Hello, B!")

    def test_fifty_concurrent_calls(self):
        home = Home(self)
        home.install_hello()
        home.run("start", "hello", check=True)

        def call(i):
            return home.run("call", "hello", HELLO_METHOD, json.dumps({"name": f"n{i}"}))

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(call, range(50)))
        for i, p in enumerate(results):
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout), {"message": f"Hello, n{i}!"})

    def test_stopped_app_stays_stopped_across_host_restart(self):
        home = Home(self)
        home.install_hello()
        home.run("start", "hello", check=True)
        home.run("stop", "hello", check=True)
        home.run("host", "stop", check=True)
        home.run("host", "start", check=True)
        self.assertEqual(home.status("hello")["state"], "stopped")

    def test_restart_gives_a_new_process(self):
        home = Home(self)
        home.install_hello()
        home.run("start", "hello", check=True)
        pid = home.status("hello")["pid"]
        home.run("restart", "hello", check=True)
        s = home.status("hello")
        self.assertEqual(s["state"], "running")
        self.assertNotEqual(s["pid"], pid)
        self.assertFalse(alive(pid))


if __name__ == "__main__":
    unittest.main()
