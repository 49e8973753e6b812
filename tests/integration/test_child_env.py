# SPDX-License-Identifier: Apache-2.0
"""A clean start for every child: a daemon gets exactly the documented environment
and Chromium only the variables it needs, whatever the shell that started the host
held (here an ssh agent's socket and a made-up secret)."""
import json
import os
import shutil
import unittest

from harness import Home, alive

LEAKS = {"SSH_AUTH_SOCK": "/tmp/agent.sock", "MUMBA_TEST_LEAK": "secret-value"}
DAEMON_KEYS = {"MUMBA_APP_ID", "MUMBA_APP_NAME", "MUMBA_APP_VERSION", "MUMBA_APP_SOCKET",
               "MUMBA_HOST_SOCKET", "MUMBA_BROKER_SOCKET", "MUMBA_APP_DATA", "MUMBA_APP_DIR", "PATH", "LANG", "HOME"}
BROWSER_KEYS = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY",
                "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"}
SHELL_KEYS = {"PWD", "OLDPWD", "SHLVL", "_"}


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        entries = f.read().decode(errors="replace").split("\0")
    return dict(e.split("=", 1) for e in entries if "=" in e)


def process_group(pgid):
    """Every live process whose process group is pgid (Chromium's helpers too)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid:
            pids.append(int(name))
    return pids


class ChildEnvironmentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        # The CLI starts the host with its own environment: these reach the host.
        cls.home.env.update(LEAKS)
        cls.home.env["TZ"] = "Europe/Berlin"
        cls.home.env.pop("LANG", None)
        cls.home.run("host", "start", check=True)
        cls.home.install_hello()
        cls.home.run("start", "hello", check=True)

    def test_the_host_was_started_with_the_leaks(self):
        host = environ(self.home.host_pid())
        for key, value in LEAKS.items():
            self.assertEqual(host.get(key), value, "the test's premise: the host holds the secrets")

    def test_a_daemon_gets_exactly_the_documented_environment(self):
        s = self.home.status("hello")
        self.assertTrue(alive(s["pid"]))
        env = environ(s["pid"])
        self.assertEqual(set(env), DAEMON_KEYS | {"TZ"})
        # Paths as the daemon sees them in its sandbox.
        self.assertEqual(env["HOME"], env["MUMBA_APP_DATA"])
        self.assertEqual(env["MUMBA_APP_DATA"], "/data")
        self.assertEqual(env["MUMBA_APP_DIR"], "/app")
        self.assertEqual(env["MUMBA_APP_SOCKET"], "/run/mumba/app.sock")
        self.assertEqual(env["MUMBA_HOST_SOCKET"], "/run/mumba/host.sock")
        self.assertEqual(env["MUMBA_BROKER_SOCKET"], "/run/mumba/broker.sock")
        self.assertEqual(env["PATH"], "/usr/local/bin:/usr/bin:/bin")
        self.assertEqual(env["LANG"], "C.UTF-8", "C.UTF-8 when the host has no LANG")
        self.assertEqual(env["TZ"], "Europe/Berlin", "the host's TZ when it has one")
        self.assertEqual(env["MUMBA_APP_NAME"], "hello")
        self.assertEqual(env["MUMBA_APP_ID"], s["id"])
        # Keys only in the messages: a failure must not print what it was guarding.
        self.assertEqual([k for k in LEAKS if k in env], [])
        self.assertFalse(any(v in LEAKS.values() for v in env.values()), "a leaked value")

    def test_chromium_gets_only_what_it_needs(self):
        if not shutil.which("chromium"):
            self.skipTest("chromium is not installed (apt-get install chromium)")
        w = json.loads(self.home.run("launch", "hello", "--headless", "--json", check=True).stdout)
        self.addCleanup(self.home.run, "close", "hello")
        pid = w["browser_pid"]
        self.assertTrue(alive(pid))
        env = environ(pid)
        # Debian's chromium is a shell script that adds its own CHROME_* (and the
        # shell its PWD) before it execs the browser; nothing else of the host's may.
        host = environ(self.home.host_pid())
        self.assertEqual(sorted(k for k in set(host) - BROWSER_KEYS - SHELL_KEYS if k in env), [])
        self.assertEqual(env.get("TZ"), "Europe/Berlin")
        # Its helpers (zygotes, renderers) hold nothing of the shell either.
        for child in process_group(pid):
            try:
                child_env = environ(child)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            self.assertEqual([k for k in LEAKS if k in child_env], [], f"pid {child}")
            self.assertFalse(any(v in LEAKS.values() for v in child_env.values()),
                             f"a leaked value in pid {child}")


if __name__ == "__main__":
    unittest.main()
