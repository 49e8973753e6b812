# SPDX-License-Identifier: Apache-2.0
"""Apps run in their sandbox unless the owner says otherwise, and the host never runs
an app unconfined by surprise: when the machine cannot sandbox, no app starts, with a
message saying what to do; when the owner turned the sandbox off, every status says
plainly that apps run unconfined."""
import os
import subprocess
import unittest

from harness import MUMBA, Home


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(e.split("=", 1) for e in f.read().decode().split("\0") if "=" in e)


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


class SandboxOnTest(unittest.TestCase):
    def test_apps_run_in_bubblewrap_by_default(self):
        home = Home(self)
        home.run("host", "start", check=True)
        self.assertIn("sandbox  bubblewrap\n", home.run("host", "status", check=True).stdout)
        home.install_hello()
        home.run("start", "hello", check=True)
        st = home.status("hello")
        self.assertEqual(st["sandbox"], "bubblewrap, no network")
        with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
            self.assertTrue(f.read().split(b"\0")[0].endswith(b"bwrap"), "the daemon was not started by bwrap")
        self.assertEqual(environ(st["pid"])["MUMBA_APP_DATA"], "/data")


class SandboxOffTest(unittest.TestCase):
    def test_the_owner_can_turn_it_off_and_is_told_so(self):
        home = Home(self)
        with open(os.path.join(home.path, "config.toml"), "w") as f:
            f.write("[security]\nsandbox = false\n")
        home.run("host", "start", check=True)
        status = home.run("host", "status", check=True).stdout
        self.assertIn("sandbox  off: apps run unconfined", status)
        home.install_hello()
        home.run("start", "hello", check=True)
        st = home.status("hello")
        self.assertTrue(st["sandbox"].startswith("off: apps run unconfined"), st["sandbox"])
        self.assertIn("apps run unconfined", home.run("status", "hello", check=True).stdout)
        self.assertEqual(parent_of(st["pid"]), home.host_pid(), "the daemon runs without a sandbox around it")
        self.assertEqual(environ(st["pid"])["MUMBA_APP_DATA"], st["data_dir"])

    def test_a_wrong_value_is_refused_with_its_place(self):
        home = Home(self)
        with open(os.path.join(home.path, "config.toml"), "w") as f:
            f.write("[security]\nsandbox = \"no\"\n")
        p = home.run("host", "start", check=False)
        self.assertIn("security.sandbox: must be true or false", p.stderr + p.stdout)


@unittest.skipUnless(os.geteuid() == 0, "hiding bwrap needs a mount namespace (root)")
class SandboxUnavailableTest(unittest.TestCase):
    def test_no_app_starts_unconfined_by_surprise(self):
        home = Home(self)
        # The host runs in a mount namespace where bwrap is not an executable.
        hide = 'mount --bind /dev/null /usr/bin/bwrap && exec "$0" host start'
        p = subprocess.run(["unshare", "-m", "sh", "-c", hide, MUMBA], env=home.env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        home.run("status", "--help")  # Notes the host's pid for the cleanup.
        self.assertIn("apps cannot be sandboxed: bwrap is not installed",
                      home.run("host", "status", check=True).stdout)
        home.install_hello()
        p = home.run("start", "hello", check=False)
        self.assertIn("apps cannot be sandboxed", p.stderr)
        self.assertIn("sandbox = false", p.stderr, "the message says what the owner can do")
        self.assertNotEqual(home.status("hello")["state"], "running")


if __name__ == "__main__":
    unittest.main()
