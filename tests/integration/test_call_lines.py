# SPDX-License-Identifier: Apache-2.0
"""`mumba call --lines`: many JSON calls from one process, straight to the daemon."""
import json
import os
import select
import signal
import subprocess
import tempfile
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
        self.proc, self.err = self.lines(HELLO_METHOD)

    def lines(self, method):
        """A `mumba call --lines` of `method`. Its stderr goes to a file, which can
        be read once the process has ended without anyone draining a pipe meanwhile."""
        err = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen([MUMBA, "call", "hello", method, "--lines"], env=self.home.env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
        self.addCleanup(self.end, proc, err)
        return proc, err

    @staticmethod
    def end(proc, err):
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdin.close()
        proc.stdout.close()
        err.close()

    @staticmethod
    def reply(proc, err, line, timeout=30):
        """Writes `line` and reads the reply line, waiting at most `timeout` s."""
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        # A reply is one line, flushed whole: once any of it can be read, all of it can.
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"no reply to {line} within {timeout} s")
        got = proc.stdout.readline()
        if not got:
            err.seek(0)
            raise AssertionError(f"mumba call --lines ended: {err.read()}")
        return json.loads(got)

    def ask(self, name):
        return self.reply(self.proc, self.err, request(name))["message"]

    def test_calls_go_straight_to_the_daemon(self):
        self.assertEqual(self.ask("before"), "Hello, before!")
        # hello's SayHello sends the host an event, which a stopped host never
        # answers: use Ping, which does nothing else, on a second process.
        ping, err = self.lines("hello.v1.Greeter/Ping")
        self.assertEqual(self.reply(ping, err, "{}"), {"ok": True})
        host = self.home.host_pid()
        self.assertTrue(host)
        os.kill(host, signal.SIGSTOP)
        try:
            # Through the host's relay this would wait for the host: it answers at once.
            self.assertEqual(self.reply(ping, err, "{}", timeout=10), {"ok": True})
        finally:
            os.kill(host, signal.SIGCONT)

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
