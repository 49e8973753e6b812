# SPDX-License-Identifier: Apache-2.0
"""An installed Mumba keeps working without the tree it was built from.

`cmake --install` puts Mumba into a temporary prefix, which is then moved elsewhere
(an install must not depend on where it was made). Every command after that runs in
a mount namespace where the source and build trees are empty folders, as if the
checkout had been deleted: the host starts, a `mumba new` app builds against the
installed SDK, installs and answers, the home app opens, `mumba shim` writes a shim
and a desktop entry that call the installed mumba (and the shim opens the app's
window), and `mumba host enable` writes a systemd user unit that starts the
installed host and that `systemd-analyze verify` accepts. Without a user manager
here, a stand-in `systemctl` plays one, to show that the host is then started
through systemd.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

from harness import BIN, MUMBA, SOURCE_DIR, Home, wait_for

BUILD_DIR = os.path.dirname(os.path.abspath(BIN))

# Stands in for `systemctl --user` of a running user manager: it records each call,
# and starts or stops the unit's host as systemd would.
FAKE_SYSTEMCTL = r"""#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
unit="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user/mumba-host.service"
case "$*" in
  "--user show-environment") exit 0 ;;
  "--user is-active --quiet mumba-host.service") exit 3 ;;
  "--user enable --now mumba-host.service"|"--user start mumba-host.service")
    eval "setsid $(sed -n 's/^ExecStart=//p' "$unit") >/dev/null 2>&1 &" ;;
  "--user disable --now mumba-host.service")
    home=$(sed -n 's/^Environment=MUMBA_HOME=//p' "$unit")
    "$(dirname "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")")/mumba" --home "$home" host stop >/dev/null ;;
esac
exit 0
"""


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                     "hiding the source and build trees needs a mount namespace (root)")
class InstalledTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="mi-", dir="/tmp")
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        first = os.path.join(cls.root, "first")
        p = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", first], capture_output=True, text=True,
                           timeout=300)
        if p.returncode != 0:
            raise AssertionError(f"cmake --install failed: {p.stderr}")
        # Moved away from where it was installed: nothing may point back there.
        cls.prefix = os.path.join(cls.root, "prefix")
        os.rename(first, cls.prefix)
        cls.mumba = os.path.join(cls.prefix, "bin", "mumba")

    def setUp(self):
        self.home = Home(self)
        self.owner = os.path.join(self.home.path, "owner")  # The user's HOME, for shims and units.
        os.makedirs(self.owner)
        self.env = dict(self.home.env, HOME=self.owner, PATH=f"{self.prefix}/bin:/usr/local/bin:/usr/bin:/bin")
        for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "MUMBA_BIN_DIR", "MUMBA_HELLO_BUNDLE"):
            self.env.pop(key, None)

    @staticmethod
    def hidden(*argv):
        """argv as a command that runs where the source and build trees are empty."""
        hide = "; ".join(f'if [ -d {d} ]; then mount -t tmpfs -o size=1m tmpfs {d}; fi'
                         for d in (SOURCE_DIR, BUILD_DIR))
        return ["unshare", "-m", "sh", "-c", hide + '; exec "$@"', "sh", *argv]

    def installed(self, *args, check=True, timeout=120, env=None):
        """Runs the installed `mumba ARGS` where the source and build trees are empty."""
        p = subprocess.run(self.hidden(self.mumba, *args), env=env or self.env, cwd=self.root,
                           capture_output=True, text=True, timeout=timeout)
        self.home.run("host", "status")  # Notes the host's pid for the cleanup.
        if check:
            self.assertEqual(p.returncode, 0, f"mumba {' '.join(args)}: {p.stderr}")
        return p

    def assertNoTree(self, text):
        for tree in (os.path.realpath(SOURCE_DIR), BUILD_DIR):
            self.assertNotIn(tree, text)

    def test_host_new_app_home_and_shim_without_the_source_tree(self):
        self.installed("host", "start")
        exe = os.readlink(f"/proc/{self.home.host_pid()}/exe")
        self.assertEqual(exe, os.path.join(self.prefix, "bin", "mumba-host"))

        app = os.path.join(self.root, "apps", "notes")
        self.installed("new", "notes", "--dir", app)
        # Built first by another Mumba that is still there (an older install, or the
        # build tree before installing): this one configures the folder again, against
        # its own SDK.
        other = os.path.join(self.root, "other")
        if not os.path.isdir(other):
            subprocess.run(["cp", "-al", self.prefix, other], check=True, timeout=120)
        p = subprocess.run([os.path.join(other, "bin/mumba"), "build", app], env=self.env, capture_output=True,
                           text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.installed("install", app, timeout=600)
        with open(os.path.join(app, "build", "CMakeCache.txt")) as f:
            found = [line for line in f.read().splitlines() if line.startswith("Mumba_DIR:")]
        self.assertEqual([line.split("=", 1)[1] for line in found], [f"{self.prefix}/lib/cmake/Mumba"])
        self.installed("start", "notes")
        reply = self.installed("call", "notes", "notes.v1.Greeter/SayHello", '{"name":"Ann"}').stdout
        self.assertEqual(json.loads(reply), {"message": "Hello, Ann!", "count": "1"})

        # The home app's page comes from the install too.
        self.assertTrue(os.path.isfile(os.path.join(self.prefix, "share/mumba/home/index.html")))
        window = json.loads(self.installed("launch", "home", "--headless", "--json", timeout=120).stdout)
        self.assertTrue(window["url"].startswith("http://home.localhost:"), window)
        self.installed("close", "home")

        p = self.installed("shim", "notes")
        self.assertNotIn("warning", p.stderr)
        shim = os.path.join(self.owner, ".local/bin/notes")
        with open(shim) as f:
            text = f.read()
        self.assertIn(f"exec '{self.mumba}' launch", text)
        self.assertNoTree(text)
        with open(os.path.join(self.owner, ".local/share/applications/mumba-notes.desktop")) as f:
            entry = f.read()
        self.assertIn(f"Exec={shim}\n", entry)
        self.assertNoTree(entry)
        # The shim runs the installed mumba, which finds the host and opens the app's
        # window, and lives as long as the window.
        run = subprocess.Popen(self.hidden(shim), env=self.env, cwd=self.root, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        self.addCleanup(run.stdout.close)
        self.addCleanup(lambda: run.poll() is None and run.kill())
        said = []
        reader = threading.Thread(target=lambda: said.extend(iter(run.stdout.readline, "")), daemon=True)
        reader.start()
        # Closed once open: a window closed while it still opens fails its launch.
        wait_for(lambda: any("opened http://notes.localhost:" in line for line in said) or run.poll() is not None,
                 60, what="the shim's window")
        self.assertEqual([w["app_name"] for w in self.home.json("windows").get("windows", [])], ["notes"], said)
        self.installed("close", "notes")
        self.assertEqual(run.wait(timeout=30), 0, said)

    def test_host_enable_writes_a_unit_that_systemd_accepts(self):
        p = self.installed("host", "enable")
        self.assertIn("No systemd user manager runs here", p.stdout)
        self.assertIn("mumba host start", p.stdout)
        unit = os.path.join(self.owner, ".config/systemd/user/mumba-host.service")
        with open(unit) as f:
            text = f.read()
        self.assertIn(f"ExecStart={self.prefix}/bin/mumba-host --home {self.home.path}\n", text)
        self.assertIn(f"Environment=MUMBA_HOME={self.home.path}\n", text)
        self.assertIn("Restart=on-failure\n", text)
        self.assertIn("WantedBy=default.target\n", text)
        self.assertNoTree(text)
        wants = os.path.join(self.owner, ".config/systemd/user/default.target.wants/mumba-host.service")
        self.assertEqual(os.readlink(wants), unit)
        self.verify(unit)
        p = self.installed("doctor", "--json", check=False)
        autostart = [c for c in json.loads(p.stdout)["checks"] if c["name"] == "autostart"]
        self.assertEqual(autostart[0]["message"], f"systemd starts {self.prefix}/bin/mumba-host at login")

        # A home whose path needs quoting in a unit.
        odd = os.path.join(self.home.path, "my home%1")
        self.installed("--home", odd, "host", "enable")
        with open(unit) as f:
            text = f.read()
        self.assertIn('--home "' + odd.replace("%", "%%") + '"\n', text)
        self.verify(unit)

        p = self.installed("host", "disable")
        self.assertIn("removed", p.stdout)
        self.assertFalse(os.path.exists(unit) or os.path.lexists(wants))

    def test_host_enable_with_a_user_manager_starts_the_host_under_it(self):
        fake_bin = os.path.join(self.home.path, "fakebin")
        os.makedirs(fake_bin)
        with open(os.path.join(fake_bin, "systemctl"), "w") as f:
            f.write(FAKE_SYSTEMCTL)
        os.chmod(os.path.join(fake_bin, "systemctl"), 0o755)
        log = os.path.join(self.home.path, "systemctl.log")
        env = dict(self.env, PATH=f"{fake_bin}:{self.env['PATH']}", FAKE_SYSTEMCTL_LOG=log)
        # A host started by hand is handed over to systemd.
        self.installed("host", "start")
        by_hand = self.home.host_pid()
        p = self.installed("host", "enable", env=env, timeout=120)
        self.assertIn("enabled", p.stdout)
        self.assertTrue(self.home.host_pid() and self.home.host_pid() != by_hand)
        with open(log) as f:
            calls = f.read().splitlines()
        self.assertIn("--user daemon-reload", calls)
        self.assertIn("--user enable --now mumba-host.service", calls)
        # Stopped, it is started again through systemd, which keeps supervising it.
        self.installed("host", "stop", env=env)
        self.assertEqual(self.home.host_pid(), 0)
        self.installed("host", "start", env=env)
        self.assertTrue(self.home.host_pid())
        with open(log) as f:
            self.assertIn("--user start mumba-host.service", f.read().splitlines())
        p = self.installed("host", "disable", env=env, timeout=120)
        self.assertIn("the host it ran is stopped", p.stdout)
        with open(log) as f:
            self.assertIn("--user disable --now mumba-host.service", f.read())
        self.assertEqual(self.home.host_pid(), 0)

    def test_units_and_shims_are_not_pointed_at_a_build_tree(self):
        env = dict(self.env, PATH=f"{BIN}:/usr/bin:/bin")
        p = subprocess.run([MUMBA, "host", "enable"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("runs from the build tree", p.stderr)
        self.assertIn("--build-tree", p.stderr)
        unit = os.path.join(self.owner, ".config/systemd/user/mumba-host.service")
        self.assertFalse(os.path.exists(unit))
        # A unit the user wrote is neither replaced nor removed.
        os.makedirs(os.path.dirname(unit))
        with open(unit, "w") as f:
            f.write("[Service]\nExecStart=/bin/true\n")
        for command in (["host", "enable"], ["host", "disable"]):
            p = self.installed(*command, check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("not written by mumba; left alone", p.stderr)
        with open(unit) as f:
            self.assertEqual(f.read(), "[Service]\nExecStart=/bin/true\n")
        # A shim written by the build tree's mumba says that it will break, and how to fix it.
        self.home.install_hello()
        p = subprocess.run([MUMBA, "shim", "hello"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("runs from the build tree", p.stderr)
        self.assertIn("mumba shim hello", p.stderr)

    def verify(self, unit):
        runtime = tempfile.mkdtemp(prefix="xr-", dir="/tmp")
        self.addCleanup(shutil.rmtree, runtime, True)
        p = subprocess.run(["systemd-analyze", "--user", "verify", unit], capture_output=True, text=True,
                           timeout=60, env=dict(self.env, XDG_RUNTIME_DIR=runtime))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, "", f"systemd-analyze verify has remarks on {unit}: {p.stdout + p.stderr}")


if __name__ == "__main__":
    unittest.main()
