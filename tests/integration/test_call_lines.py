# SPDX-License-Identifier: Apache-2.0
"""`mumba call --lines`: many JSON calls from one process, straight to the daemon."""
import json
import os
import signal
import subprocess
import unittest

from harness import MUMBA, Home, wait_for

HELLO_METHOD = "hello.v1.Greeter/SayHello"


def request(name):
    return json.dumps({"name": name})


class CallLinesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        cls.home.install_hello()
        cls.home.run("start", "hello", check=True)

    def lines(self, text, *args, check=None):
        return self.home.run("call", "hello", HELLO_METHOD, "--lines", *args, input=text, check=check)

    def test_replies_one_line_each_in_order(self):
        names = [f"n{i}" for i in range(300)]
        text = "\n\n".join(request(n) for n in names) + "\n   \n"  # Blank lines are skipped.
        p = self.lines(text, check=True)
        replies = [json.loads(line)["message"] for line in p.stdout.splitlines()]
        self.assertEqual(replies, [f"Hello, {n}!" for n in names])
        self.assertEqual(p.stderr, "")

    def test_last_line_without_newline_is_called(self):
        p = self.lines(request("a") + "\n" + request("b"), check=True)
        self.assertEqual(len(p.stdout.splitlines()), 2)

    def test_stops_at_the_first_bad_line_and_names_it(self):
        text = "\n".join([request("a"), "", request("b"), '{"name": 5}', request("c")]) + "\n"
        p = self.lines(text, check=False)
        self.assertEqual([json.loads(line)["message"] for line in p.stdout.splitlines()],
                         ["Hello, a!", "Hello, b!"])
        err = p.stderr.strip()
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("line 4", err)
        self.assertIn("name", err)

    def test_refused_before_any_line_is_read(self):
        for args, needle in [
            (["call", "nope", HELLO_METHOD, "--lines"], "not installed"),
            (["call", "hello", "hello.v1.Greeter/Nope", "--lines"], "Nope"),
            # The daemon serves health, but hello does not export it: refused as
            # the host's relay refuses it, before anything reaches the daemon.
            (["call", "hello", "grpc.health.v1.Health/Check", "--lines"], "grpc.health.v1.Health"),
            (["call", "hello", "nonsense", "--lines"], "nonsense"),
        ]:
            p = self.home.run(*args, input=request("x") + "\n", check=False)
            self.assertEqual(p.stdout, "", args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn(needle, p.stderr)

    def test_json_argument_and_lines_do_not_mix(self):
        p = self.home.run("call", "hello", HELLO_METHOD, request("a"), "--lines", check=False)
        self.assertIn("--lines", p.stderr)
        self.assertEqual(p.stdout, "")


class CallLinesRestartTest(unittest.TestCase):
    """One `mumba call --lines` outlives its daemon: killed, or stopped by the owner."""

    def setUp(self):
        self.home = Home(self)
        self.home.install_hello()
        self.proc = subprocess.Popen([MUMBA, "call", "hello", HELLO_METHOD, "--lines"], env=self.home.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.addCleanup(self.end)

    def end(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()

    def ask(self, name):
        self.proc.stdin.write(request(name) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()  # Bounded: the CLI gives each call 60 s.
        self.assertTrue(line, f"no reply to {name}: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")
        return json.loads(line)["message"]

    def test_starts_the_app_and_follows_it_through_a_kill_and_a_stop(self):
        # hello was installed, not started: the first call starts it.
        self.assertEqual(self.ask("one"), "Hello, one!")
        self.assertEqual(self.home.status("hello")["state"], "running")

        old = self.home.status("hello")["pid"]
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: (s := self.home.status("hello"))["state"] == "running" and s["pid"] != old, 10,
                 what="hello to come back")
        self.assertEqual(self.ask("two"), "Hello, two!")

        # Stopped by the owner: the next call asks the host again, which starts it.
        self.home.run("stop", "hello", check=True)
        self.assertEqual(self.ask("three"), "Hello, three!")
        self.assertEqual(self.home.status("hello")["state"], "running")

        self.proc.stdin.close()
        self.assertEqual(self.proc.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main()
