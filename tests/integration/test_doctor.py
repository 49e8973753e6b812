# SPDX-License-Identifier: Apache-2.0
"""`mumba doctor` finds each thing a working platform misses and says what to do.

Every miss is made for real in a temporary home: Chromium gone from PATH, bwrap
hidden in a mount namespace, a port held by this test, a MUMBA_HOME on a 1 MiB tmpfs,
a host whose program was replaced, an app near its quota. Hosts listen and bootstrap
only on 127.0.0.1, and doctor itself sends nothing anywhere.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import MUMBA, HOST, Home, free_ports, wait_for


def doctor(home, env=None, wrap=(), mumba=MUMBA):
    """Runs `mumba doctor --json` (inside `wrap`, e.g. unshare) and returns
    (exit code, {check name: check}, whole output)."""
    p = subprocess.run([*wrap, mumba, "doctor", "--json"], env=env or home.env, capture_output=True,
                       text=True, timeout=120)
    out = json.loads(p.stdout)
    checks = {c["name"]: c for c in out["checks"]}
    if p.returncode == 0:
        assert out["ok"], p.stdout
    return p.returncode, checks, out


def write_config(home, text):
    with open(os.path.join(home.path, "config.toml"), "w") as f:
        f.write(text)


class DoctorTest(unittest.TestCase):
    def assertCheck(self, checks, name, status, *phrases):
        c = checks[name]
        self.assertEqual(c["status"], status, c)
        for phrase in phrases:
            self.assertIn(phrase, c["message"] + " -> " + c["fix"], c)
        if status != "ok":
            self.assertTrue(c["fix"], f"{name}: a miss says what to do")
        return c

    def test_a_healthy_machine_passes_and_doctor_starts_no_host(self):
        home = Home(self)
        write_config(home, f"[p2p]\nlisten = \"127.0.0.1:{free_ports(1)[0]}\"\nbootstrap = []\n")
        rc, checks, out = doctor(home)
        self.assertEqual(rc, 0, out)
        self.assertEqual(set(checks), {"host", "config", "runtime", "app-runtimes", "sandbox", "chromium",
                                       "gateway-port", "p2p-port", "disk", "quotas", "build-tools", "autostart"})
        self.assertCheck(checks, "chromium", "ok", "Chromium")
        self.assertCheck(checks, "sandbox", "ok", "bubblewrap works")
        self.assertCheck(checks, "runtime", "ok", "gRPC 1.", "mumba-host starts")
        self.assertCheck(checks, "host", "ok", "no host runs")
        self.assertEqual(home.host_pid(), 0, "doctor started a host")
        text = home.run("doctor", check=True).stdout
        self.assertIn("ok    chromium", text)

    def test_chromium_missing_or_broken(self):
        home = Home(self)
        rc, checks, _ = doctor(home, env=dict(home.env, PATH="/nonexistent"))
        self.assertEqual(rc, 1)
        self.assertCheck(checks, "chromium", "fail", "Chromium is not installed", "apt-get install chromium")
        # Without PATH nothing builds apps either; that is a warning, not a failure.
        self.assertCheck(checks, "build-tools", "warn", "cmake", "apt-get install")
        broken = os.path.join(home.path, "chromium")
        with open(broken, "w") as f:
            f.write("#!/bin/sh\necho 'cannot open display' >&2\nexit 1\n")
        os.chmod(broken, 0o755)
        rc, checks, _ = doctor(home, env=dict(home.env, MUMBA_CHROMIUM=broken))
        self.assertEqual(rc, 1)
        self.assertCheck(checks, "chromium", "fail", "does not run", "cannot open display")

    @unittest.skipUnless(os.geteuid() == 0, "hiding bwrap needs a mount namespace (root)")
    def test_bubblewrap_missing(self):
        home = Home(self)
        hide = ["unshare", "-m", "sh", "-c", 'mount --bind /dev/null /usr/bin/bwrap && exec "$@"', "sh"]
        rc, checks, _ = doctor(home, wrap=hide)
        self.assertEqual(rc, 1)
        self.assertCheck(checks, "sandbox", "fail", "bwrap is not installed", "apt-get install bubblewrap")

    @unittest.skipUnless(subprocess.run(["unshare", "--user", "--map-root-user", "true"],
                                        capture_output=True).returncode == 0, "needs unshare --user")
    def test_user_namespaces_off(self):
        home = Home(self)
        # In a user namespace of the test's own that may hold no more of them, as on a
        # machine where they are off: bwrap is there but cannot make its jail.
        off = ["unshare", "--user", "--map-root-user", "sh", "-c",
               'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh"]
        rc, checks, _ = doctor(home, wrap=off)
        self.assertEqual(rc, 1)
        c = self.assertCheck(checks, "sandbox", "fail", "user namespaces", "user.max_user_namespaces")
        self.assertNotIn("apt-get install bubblewrap", c["fix"], "bwrap is installed: the namespaces are the fix")

    def test_sandbox_turned_off_is_a_warning(self):
        home = Home(self)
        write_config(home, "[security]\nsandbox = false\n")
        rc, checks, _ = doctor(home)
        self.assertCheck(checks, "sandbox", "warn", "apps run unconfined", "remove that line")

    def test_config_that_does_not_parse(self):
        home = Home(self)
        write_config(home, "[gateway\nport = 1\n")
        rc, checks, _ = doctor(home)
        self.assertEqual(rc, 1)
        self.assertCheck(checks, "config", "fail", "config.toml:1", "the host will not start")

    def test_gateway_port_taken(self):
        home = Home(self)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            write_config(home, f"[gateway]\nport = {port}\n")
            rc, checks, _ = doctor(home)
            self.assertEqual(rc, 1)
            self.assertCheck(checks, "gateway-port", "fail", f"127.0.0.1:{port}", f"(pid {os.getpid()})",
                             "the host will not start", "[gateway] port")
            # The port the host picked once and kept: it will pick another.
            write_config(home, "")
            with open(os.path.join(home.path, "gateway.port"), "w") as f:
                f.write(f"{port}\n")
            rc, checks, _ = doctor(home)
            self.assertEqual(rc, 0)
            self.assertCheck(checks, "gateway-port", "warn", "the host will pick another")
        rc, checks, _ = doctor(home)
        self.assertCheck(checks, "gateway-port", "ok", f"127.0.0.1:{port}")

    def test_p2p_port_taken_over_tcp_and_over_udp(self):
        home = Home(self)
        port = free_ports(1)[0]
        write_config(home, f"[p2p]\nlisten = \"127.0.0.1:{port}\"\nbootstrap = []\n")
        for kind, what in [(socket.SOCK_STREAM, "TCP, BitTorrent"), (socket.SOCK_DGRAM, "UDP, the DHT")]:
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))
                if kind == socket.SOCK_STREAM:
                    s.listen()
                rc, checks, _ = doctor(home)
                self.assertEqual(rc, 1)
                self.assertCheck(checks, "p2p-port", "fail", f"127.0.0.1:{port} ({what})",
                                 f"(pid {os.getpid()})", "[p2p] listen")
        rc, checks, _ = doctor(home)
        self.assertCheck(checks, "p2p-port", "ok", "is free")

    def test_dht_answers_in_a_private_swarm_and_not_without_bootstrap(self):
        ports = free_ports(3)
        homes = []
        for i in range(2):
            home = Home(self)
            home.run("host", "start", "--listen", f"127.0.0.1:{ports[i]}", "--bootstrap",
                     f"127.0.0.1:{ports[1 - i]}", check=True)
            homes.append(home)
        wait_for(lambda: homes[0].json("host", "status")["dht_nodes"] > 0, 30, what="a DHT node")
        rc, checks, out = doctor(homes[0])
        self.assertEqual(rc, 0, out)
        self.assertCheck(checks, "dht", "ok", "the DHT answers")
        self.assertCheck(checks, "p2p-port", "ok", f"listen on 127.0.0.1:{ports[0]}")
        # A host whose only bootstrap node is a port where nobody listens.
        lonely = Home(self)
        dead = free_ports(1)[0]
        lonely.run("host", "start", "--listen", f"127.0.0.1:{ports[2]}", "--bootstrap", f"127.0.0.1:{dead}",
                   check=True)
        rc, checks, _ = doctor(lonely)
        self.assertCheck(checks, "dht", "warn", "no bootstrap node answered", f"127.0.0.1:{dead}",
                         "--bootstrap")

    @unittest.skipUnless(os.geteuid() == 0, "a tmpfs needs a mount namespace (root)")
    def test_home_on_a_tiny_disk(self):
        home = Home(self)
        tiny = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o size=1m,mode=0700 tmpfs {home.path} && exec "$@"',
                "sh"]
        rc, checks, _ = doctor(home, wrap=tiny)
        self.assertEqual(rc, 1)
        self.assertCheck(checks, "disk", "fail", "only 1.0 MiB free", home.path, "move MUMBA_HOME")

    def test_app_near_its_quota(self):
        home = Home(self)
        write_config(home, "[apps.hello]\nquota_bytes = 102400\n")
        home.install_hello()
        home.run("kv", "hello", "put", "big", "x" * 30000, check=True)
        rc, checks, _ = doctor(home)
        self.assertEqual(rc, 0)
        self.assertCheck(checks, "quotas", "warn", "hello uses", "[apps.NAME]")

    def test_installed_app_built_for_another_runtime(self):
        home = Home(self)
        home.install_hello()
        manifest = os.path.join(home.status("hello")["install_dir"], "mumba.toml")
        os.chmod(manifest, 0o644)
        with open(manifest) as f:
            text = f.read()
        with open(manifest, "w") as f:
            f.write(text.replace('grpc = "1.', 'grpc = "0.'))
        rc, checks, _ = doctor(home)
        self.assertCheck(checks, "app-runtimes", "warn", "hello 0.1.0 (built for gRPC 0.", "mumba install DIR")

    def test_host_program_that_does_not_start_and_one_replaced_under_a_running_host(self):
        home = Home(self)
        bindir = tempfile.mkdtemp(prefix="mb-", dir="/tmp")
        self.addCleanup(shutil.rmtree, bindir, True)
        mumba = os.path.join(bindir, "mumba")
        shutil.copy2(MUMBA, mumba)
        with open(os.path.join(bindir, "mumba-host"), "w") as f:
            f.write("#!/bin/sh\necho 'mumba-host: error while loading shared libraries: libtorrent-rasterbar.so.2.0: "
                    "cannot open shared object file' >&2\nexit 127\n")
        os.chmod(os.path.join(bindir, "mumba-host"), 0o755)
        rc, checks, _ = doctor(home, mumba=mumba)
        self.assertEqual(rc, 1)
        self.assertCheck(checks, "runtime", "fail", "does not start", "libtorrent-rasterbar.so.2.0",
                         "install the missing libraries")
        # An upgrade replaces the program of a running host.
        shutil.copy2(HOST, os.path.join(bindir, "mumba-host"))
        subprocess.run([mumba, "host", "start"], env=home.env, check=True, capture_output=True, timeout=60)
        home.run("host", "status", check=True)  # Notes the host's pid for the cleanup.
        os.unlink(os.path.join(bindir, "mumba-host"))
        shutil.copy2(HOST, os.path.join(bindir, "mumba-host"))
        rc, checks, _ = doctor(home, mumba=mumba)
        self.assertCheck(checks, "host", "warn", "its program was replaced", "mumba host stop && mumba host start")

    def test_autostart_unit_whose_program_is_gone(self):
        home = Home(self)
        owner = os.path.join(home.path, "owner")
        units = os.path.join(owner, ".config/systemd/user")
        os.makedirs(units)
        env = dict(home.env, HOME=owner)
        env.pop("XDG_CONFIG_HOME", None)
        rc, checks, _ = doctor(home, env=env)
        self.assertCheck(checks, "autostart", "ok", "does not start at login")
        # As `mumba host enable` wrote it, for a program in a folder since deleted.
        gone = os.path.join(home.path, "old build", "bin", "mumba-host")
        with open(os.path.join(units, "mumba-host.service"), "w") as f:
            f.write(f'# mumba host unit: written by `mumba host enable`\n[Service]\n'
                    f'ExecStart="{gone}" --home {home.path}\n')
        rc, checks, _ = doctor(home, env=env)
        self.assertEqual(rc, 0)
        self.assertCheck(checks, "autostart", "warn", f"starts {gone}, which is not there any more",
                         "mumba host enable")
        os.makedirs(os.path.dirname(gone))
        shutil.copy2(HOST, gone)
        rc, checks, _ = doctor(home, env=env)
        self.assertCheck(checks, "autostart", "ok", f"systemd starts {gone} at login")


if __name__ == "__main__":
    unittest.main()
