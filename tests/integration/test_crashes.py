# SPDX-License-Identifier: Apache-2.0
"""kill -9 of daemons and of the host, crash loops, daemons that cannot run."""
import json
import os
import signal
import time
import unittest

from harness import Home, alive, copy_bundle, edit_manifest, wait_for

HELLO_METHOD = "hello.v1.Greeter/SayHello"


def pids_running(*argv):
    """The pids whose command line is exactly argv."""
    want = "\0".join(argv) + "\0"
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline") as f:
                if name.isdigit() and f.read() == want:
                    found.append(int(name))
        except OSError:
            continue
    return found


def greet(home, name="Ann"):
    p = home.run("call", "hello", HELLO_METHOD, json.dumps({"name": name}))
    return p.returncode == 0 and json.loads(p.stdout)["message"] == f"Hello, {name}!"


class CrashTest(unittest.TestCase):
    def test_killed_daemon_serves_again(self):
        home = Home(self)
        home.install_hello()
        home.run("start", "hello", check=True)
        old = home.status("hello")["pid"]
        os.kill(old, signal.SIGKILL)
        s = wait_for(lambda: (s := home.status("hello"))["state"] == "running"
                     and s["pid"] != old and s, 10, what="hello to come back")
        self.assertGreaterEqual(s["restarts"], 1)
        self.assertIn("9", s["last_exit"])
        wait_for(lambda: greet(home), 5, what="hello to answer again")

    def test_killed_host_comes_back_with_its_apps(self):
        home = Home(self)
        home.install_hello()
        home.run("start", "hello", check=True)
        before = home.json("list")["apps"]
        host, daemon = home.host_pid(), home.status("hello")["pid"]
        os.kill(host, signal.SIGKILL)
        wait_for(lambda: not alive(host), 5, what="host to die")
        # The daemon does not outlive its host.
        wait_for(lambda: not alive(daemon), 10, what="daemon to follow its host")
        home.run("host", "start", check=True)
        wait_for(lambda: greet(home), 15, what="hello to run again")
        after = home.json("list")["apps"]
        self.assertEqual([(a["id"], a["version"], a["install_dir"]) for a in before],
                         [(a["id"], a["version"], a["install_dir"]) for a in after])
        self.assertEqual(after[0]["state"], "running")

    def test_crash_loop_ends_in_failed(self):
        home = Home(self)
        home.install_hello()
        home.run("start", "hello", check=True)
        seen = set()
        # Kill every incarnation until the supervisor gives up (bounded: 10 rounds).
        for _ in range(10):
            s = home.status("hello")
            if s["state"] == "failed":
                break
            if s["state"] == "running" and s["pid"] not in seen:
                seen.add(s["pid"])
                os.kill(s["pid"], signal.SIGKILL)
            wait_for(lambda: (t := home.status("hello"))["state"] == "failed"
                     or (t["state"] == "running" and t["pid"] not in seen), 15,
                     what="next incarnation or failed")
        s = home.status("hello")
        self.assertEqual(s["state"], "failed")
        self.assertTrue(s["error"])
        # A failed app gets an explicit start, which works again.
        home.run("start", "hello", check=True)
        self.assertTrue(greet(home))

    def test_daemon_that_exits_at_once(self):
        home = Home(self)
        bundle = copy_bundle(self)
        script = os.path.join(bundle, "bin", "quit")
        with open(script, "w") as f:
            f.write("#!/bin/sh\necho 'cannot open the frobnicator' >&2\nexit 7\n")
        os.chmod(script, 0o755)
        edit_manifest(bundle, 'command = "bin/hello"', 'command = "bin/quit"')
        home.run("install", bundle, check=True)
        p = home.run("start", "hello", check=False)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("exit", p.stderr)
        self.assertIn("frobnicator", p.stderr)
        s = home.status("hello")
        self.assertEqual(s["state"], "failed")
        self.assertIn("frobnicator", s["error"])

    def test_daemon_command_that_does_not_exist(self):
        home = Home(self)
        bundle = copy_bundle(self)
        edit_manifest(bundle, 'command = "bin/hello"', 'command = "bin/nothing"')
        p = home.run("install", bundle, check=False)
        self.assertIn("bin/nothing", p.stderr)
        self.assertEqual(home.json("list")["apps"], [])

    def test_daemon_that_never_serves_is_stopped(self):
        home = Home(self)
        bundle = copy_bundle(self)
        script = os.path.join(bundle, "bin", "mute")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexec sleep 600\n")
        os.chmod(script, 0o755)
        edit_manifest(bundle, 'command = "bin/hello"', 'command = "bin/mute"')
        home.run("install", bundle, check=True)
        # The host waits up to 15 s for the health service to say SERVING.
        p = home.run("start", "hello", check=False, timeout=90)
        self.assertIn("SERVING", p.stderr)
        s = home.status("hello")
        self.assertEqual(s["state"], "failed")
        self.assertFalse(alive(s["pid"]))

    def wrapped_hello(self, home, script_body, run='exec "$(dirname "$0")/hello" "$@"'):
        """Installs hello behind a shell wrapper that runs `script_body`, then `run`."""
        bundle = copy_bundle(self)
        script = os.path.join(bundle, "bin", "wrapper")
        with open(script, "w") as f:
            f.write("#!/bin/sh\n" + script_body + "\n" + run + "\n")
        os.chmod(script, 0o755)
        edit_manifest(bundle, 'command = "bin/hello"', 'command = "bin/wrapper"')
        home.run("install", bundle, check=True)
        home.run("start", "hello", check=True)
        return home.status("hello")["pid"]

    def test_stop_kills_a_daemon_that_ignores_sigterm(self):
        home = Home(self)
        # The wrapper ignores SIGTERM and outlives hello, so only SIGKILL ends it.
        pid = self.wrapped_hello(home, "trap '' TERM",
                                 run='"$(dirname "$0")/hello" "$@"\nsleep 600')
        started = time.monotonic()
        home.run("stop", "hello", check=True)
        took = time.monotonic() - started
        self.assertFalse(alive(pid))
        self.assertGreaterEqual(took, 4.0)  # The 5 s grace period was given...
        self.assertLess(took, 15.0)         # ...and then SIGKILL.
        self.assertEqual(home.status("hello")["state"], "stopped")

    def test_stop_ends_the_whole_process_group(self):
        home = Home(self)
        # A pid written inside the sandbox is of its own PID namespace: the child is
        # found by a command line no other process has.
        marker = f"600.{os.getpid()}{int(time.time() * 1000) % 100000}"
        pid = self.wrapped_hello(home, f"sleep {marker} &")
        child = wait_for(lambda: pids_running("sleep", marker), 5, what="the daemon's child")[0]
        home.pids.add(child)
        home.run("stop", "hello", check=True)
        wait_for(lambda: not alive(child), 5, what="the daemon's child to be ended")
        self.assertFalse(alive(pid))


if __name__ == "__main__":
    unittest.main()
