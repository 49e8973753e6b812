# SPDX-License-Identifier: Apache-2.0
"""A malicious installed app cannot leave its sandbox.

tests/apps/escape_probe is a hostile app: each of its routes tries one way out and
answers {"attempt", "ok", "errno", "detail"}. These tests give it the host's paths
and pids (another app's store and sockets, the owner's keys, token and ~/.ssh, the
host's pid, the gateway's port) and check that every attempt is refused, that a
child which called setsid dies with the app, and that what an app may do (its own
store, its data folder, its own sockets, the network when granted) still works.

Ways out that still work are kept as expected failures, each saying what it is, so
that closing one shows as an unexpected success (which fails the run until its
decorator goes): a symlink in the app's own run folder that the host follows
(HijackTest), the host's abstract unix sockets and the gateway without secrets for
an app granted the network (NetworkGrantedTest).
"""
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from urllib.parse import quote

from harness import SOURCE_DIR, Home, alive, copy_bundle, wait_for

PROBE_BUNDLE = os.environ.get("MUMBA_ESCAPE_PROBE_BUNDLE", "")
PROBE = "escape-probe"
FAKE_SSH_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key, a test's bait\n"
                "-----END OPENSSH PRIVATE KEY-----\n")


def comm_pids(comm):
    """Every live process on the machine whose comm is `comm`."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().strip() == comm and alive(int(name)):
                    pids.append(int(name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


def session_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[3])


def sockets_of(home, app_id):
    """Every socket file of the app in the host's run folder, whatever its layout
    (run/<id16>.sock and .host.sock, or run/<id16>/app.sock and host.sock)."""
    stem = app_id[len("mumba://"):][:16]
    run = os.path.join(home.path, "run")
    found = []
    for root, _, files in os.walk(run):
        for name in files:
            path = os.path.join(root, name)
            if os.path.relpath(path, run).startswith(stem):
                found.append(path)
    return sorted(found)


class abstract_listener:
    """An abstract unix socket of the test's own, listening while in the with block."""

    def __enter__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        name = "mumba-sandbox-test-" + secrets.token_hex(4)
        self.sock.bind("\0" + name)
        self.sock.listen(4)
        # The test's premise: the socket is reachable from outside a sandbox.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect("\0" + name)
        return "@" + name

    def __exit__(self, *exc):
        self.sock.close()


class ProbeHost:
    """A host whose owner's HOME holds an ssh key, with hello and the probe running."""

    def __init__(self, test, bundle=None):
        """`test` is a test class (from setUpClass) or a test (from setUp)."""
        if not PROBE_BUNDLE:
            raise unittest.SkipTest("MUMBA_ESCAPE_PROBE_BUNDLE is not set (run through ctest)")
        self.owner_home = tempfile.mkdtemp(prefix="oh-", dir="/tmp")
        cleanup = test.addClassCleanup if isinstance(test, type) else test.addCleanup
        cleanup(shutil.rmtree, self.owner_home, True)
        os.makedirs(os.path.join(self.owner_home, ".ssh"), mode=0o700)
        self.ssh_key = os.path.join(self.owner_home, ".ssh", "id_ed25519")
        with open(os.open(self.ssh_key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(FAKE_SSH_KEY)
        self.home = Home(test)
        self.home.env["HOME"] = self.owner_home
        key = self.home.run("keys", "new", check=True).stdout.strip()
        self.key_file = os.path.join(self.home.path, "keys", key[len("mumba://"):] + ".key")
        self.home.run("host", "start", check=True)
        self.home.install_hello()
        self.home.run("start", "hello", check=True)
        # A store file of hello's to steal.
        self.home.run("kv", "hello", "put", "secret", "hello's secret", check=True)
        self.install = self.home.run("install", "--yes", bundle or PROBE_BUNDLE, check=True)
        self.home.run("start", PROBE, check=True)
        self.home.wait_state(PROBE, "running")
        self.home.wait_state("hello", "running")
        self.hello = self.home.status("hello")
        self.gateway_port = self.home.json("host", "status")["gateway_port"]

    def attempt(self, route, **params):
        """The probe's answer to probe/<route>?params, as a dict."""
        url = f"{PROBE}://probe/{route}"
        if params:
            url += "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        p = self.home.run("route", url, check=True)
        return json.loads(p.stdout)

    def sleeper(self, test):
        """A process of the owner's outside every sandbox, ended after the test."""
        p = subprocess.Popen(["sleep", "120"])
        test.addCleanup(p.wait, 5)
        test.addCleanup(p.kill)
        return p.pid


class SandboxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = ProbeHost(cls)
        cls.env = cls.p.attempt("env")
        cls.hello = cls.p.hello

    def assertRefused(self, answer, errnos=None):
        self.assertFalse(answer["ok"], f"escaped: {answer}")
        if errnos:
            self.assertIn(answer["errno"], errnos, answer)

    def test_files_of_the_host_cannot_be_read(self):
        p = self.p
        stolen = {
            "another app's store": os.path.join(self.hello["stores_dir"], "kv", "main", "data.mdb"),
            "a publishing key": p.key_file,
            "the home secret": os.path.join(p.home.path, "home.token"),
            "the registry": os.path.join(p.home.path, "registry.db"),
            "the host's log": os.path.join(p.home.path, "logs", "host.log"),
            "the owner's ssh key": p.ssh_key,
        }
        for what, path in stolen.items():
            with self.subTest(what):
                self.assertTrue(os.path.isfile(path), f"the test's premise: {path} exists")
                self.assertRefused(p.attempt("read", path=path))

    def test_folders_of_the_host_cannot_be_listed(self):
        p = self.p
        inside = [os.path.join(p.home.path, d) for d in ("keys", "run", "stores", "apps", "logs")]
        for path in (p.home.path, *inside, self.hello["data_dir"], p.owner_home):
            with self.subTest(path):
                self.assertTrue(os.path.isdir(path), f"the test's premise: {path} exists")
                self.assertRefused(p.attempt("list", path=path))

    def test_nothing_outside_its_data_folder_can_be_written(self):
        p = self.p
        for path in (os.path.join(self.hello["data_dir"], "planted"), os.path.join(p.home.path, "planted"),
                     os.path.join(p.owner_home, "planted")):
            with self.subTest(path):
                self.assertRefused(p.attempt("write", path=path, text="x"))
        # Its own bundle is read-only.
        bundle = self.env["env"]["MUMBA_APP_DIR"]
        self.assertRefused(p.attempt("write", path=os.path.join(bundle, "planted"), text="x"),
                           {"EROFS", "EACCES", "EPERM"})
        self.assertFalse(os.path.exists(os.path.join(self.hello["data_dir"], "planted")))

    def test_another_apps_and_the_owners_sockets_cannot_be_reached(self):
        p = self.p
        targets = [os.path.join(p.home.path, "host.sock")] + sockets_of(p.home, self.hello["id"])
        self.assertGreaterEqual(len(targets), 3, f"the test's premise: hello's two sockets exist: {targets}")
        for path in targets:
            with self.subTest(path):
                self.assertRefused(p.attempt("connect", path=path))

    def test_abstract_sockets_of_the_host_are_out_of_reach(self):
        with abstract_listener() as name:
            self.assertRefused(self.p.attempt("connect", path=name))

    def test_no_descriptor_leads_outside(self):
        fds = self.p.attempt("fds")
        self.assertTrue(fds["ok"], fds)
        self.assertEqual([f for f in fds["fds"] if f["dir"]], [], "a folder descriptor reaches past the mounts")
        # Its log is the only file of the home it holds open.
        home = self.p.home.path + "/"
        logs = os.path.join(home, "logs") + "/"
        leaks = [f for f in fds["fds"] if f["target"].startswith(home) and not f["target"].startswith(logs)]
        self.assertEqual(leaks, [], fds)

    def test_another_apps_sockets_cannot_be_replaced(self):
        p = self.p
        targets = sockets_of(p.home, self.hello["id"])
        self.assertGreaterEqual(len(targets), 2, targets)
        for path in targets:
            with self.subTest(path):
                self.assertRefused(p.attempt("replace", path=path))
        # Hello is untouched: it still answers on its socket, and its daemon can
        # still reach its host socket.
        reply = p.home.run("call", "hello", "hello.v1.Greeter/SayHello", '{"name":"Ann"}', check=True)
        self.assertIn("Hello, Ann!", reply.stdout)
        self.assertEqual(sockets_of(p.home, self.hello["id"]), targets)

    def test_other_processes_cannot_be_seen(self):
        p = self.p
        procs = p.attempt("procs")
        self.assertTrue(procs["ok"], procs)
        comms = {x["comm"] for x in procs["procs"]}
        pids = {x["pid"] for x in procs["procs"]}
        self.assertIn(self.env["pid"], pids, "the probe sees itself")
        for other in ("mumba-host", "hello", "sleep", "python3"):
            self.assertNotIn(other, comms, procs)
        self.assertLessEqual(len(pids), 5, procs)
        host = p.home.host_pid()
        self.assertTrue(os.path.isdir(f"/proc/{host}"))
        self.assertRefused(p.attempt("read", path=f"/proc/{host}/environ"))

    def test_other_processes_cannot_be_signalled(self):
        p = self.p
        victim = p.sleeper(self)
        host = p.home.host_pid()
        self.assertRefused(p.attempt("kill", pid=host, sig=0))
        self.assertRefused(p.attempt("kill", pid=victim, sig=0))
        self.assertRefused(p.attempt("kill", pid=victim, sig=int(signal.SIGTERM)))
        self.assertTrue(alive(victim), "the probe killed a process outside its sandbox")
        self.assertTrue(alive(host))

    def test_ptrace_is_refused(self):
        p = self.p
        victim = p.sleeper(self)
        self.assertRefused(p.attempt("ptrace", pid=victim), {"EPERM"})
        self.assertRefused(p.attempt("ptrace", pid=p.home.host_pid()), {"EPERM"})
        self.assertRefused(p.attempt("traceme"), {"EPERM"})

    def test_mount_namespaces_and_keyrings_are_refused(self):
        p = self.p
        self.assertRefused(p.attempt("mount"), {"EPERM"})
        self.assertRefused(p.attempt("unshare"), {"EPERM"})
        self.assertRefused(p.attempt("keyctl"), {"EPERM"})

    def test_no_network_when_not_granted(self):
        p = self.p
        with socket.create_connection(("127.0.0.1", p.gateway_port), timeout=5):
            pass  # The test's premise: the gateway listens.
        self.assertRefused(p.attempt("tcp", host="127.0.0.1", port=p.gateway_port))
        self.assertIn("no network", p.install.stdout + p.install.stderr)

    def test_its_own_store_and_data_folder_work(self):
        p = self.p
        kv = p.attempt("kv", key="mine", value="kept")
        self.assertTrue(kv["ok"], kv)
        self.assertEqual(p.home.run("kv", PROBE, "get", "mine", check=True).stdout, "kept")
        data = self.env["env"]["MUMBA_APP_DATA"]
        written = p.attempt("write", path=os.path.join(data, "note.txt"), text="hello from inside")
        self.assertTrue(written["ok"], written)
        read = p.attempt("read", path=os.path.join(data, "note.txt"))
        self.assertTrue(read["ok"], read)
        self.assertEqual(read["bytes"], len("hello from inside"))
        # The same folder, seen from the host: the app's data folder.
        with open(os.path.join(p.home.status(PROBE)["data_dir"], "note.txt")) as f:
            self.assertEqual(f.read(), "hello from inside")
        listed = p.attempt("list", path=data)
        self.assertTrue(listed["ok"], listed)
        self.assertIn("note.txt", listed["entries"])

    def test_its_own_sockets_work(self):
        p = self.p
        answer = p.attempt("connect", path=self.env["env"]["MUMBA_HOST_SOCKET"])
        self.assertTrue(answer["ok"], answer)
        self.assertGreater(answer["answered"], 0, answer)
        # The socket it serves on was moved by the host out of its reach, and the
        # host reaches it there (this very request came through it).
        self.assertEqual(p.home.status(PROBE)["state"], "running")

    def test_the_sandbox_is_laid_out_as_documented(self):
        env, cwd = self.env["env"], self.env["cwd"]
        self.assertEqual(cwd, "/app")
        self.assertEqual(env["MUMBA_APP_DATA"], "/data")
        self.assertEqual(env["HOME"], "/data")
        self.assertEqual(env["MUMBA_APP_SOCKET"], "/run/mumba/app.sock")
        self.assertEqual(env["MUMBA_HOST_SOCKET"], "/run/mumba/host.sock")
        run = self.p.attempt("list", path="/run/mumba")
        self.assertTrue(run["ok"], run)
        # app.sock was made here and then moved by the host where the app cannot reach it.
        self.assertEqual(run["entries"], ["broker.sock", "host.sock"])
        tmp = self.p.attempt("list", path="/tmp")
        self.assertTrue(tmp["ok"], tmp)
        self.assertFalse([e for e in tmp["entries"] if e.startswith(("mh-", "oh-", "mb-"))], tmp)


class EscapeeTest(unittest.TestCase):
    """A child that called setsid and ignores SIGTERM still dies when the app stops."""

    @classmethod
    def setUpClass(cls):
        cls.p = ProbeHost(cls)

    def test_a_detached_child_dies_with_the_app(self):
        p = self.p
        marker = "mbesc" + secrets.token_hex(4)
        self.addCleanup(lambda: [os.kill(pid, signal.SIGKILL) for pid in comm_pids(marker)])
        answer = p.attempt("escapee", name=marker)
        self.assertTrue(answer["ok"], answer)
        pids = wait_for(lambda: comm_pids(marker), 10, what=f"a process named {marker}")
        self.assertEqual(len(pids), 1, pids)
        daemon = p.home.status(PROBE)["pid"]
        self.assertNotEqual(session_of(pids[0]), session_of(daemon), "the escapee left the daemon's session")
        p.home.run("stop", PROBE, check=True)
        p.home.wait_state(PROBE, "stopped")
        wait_for(lambda: not comm_pids(marker), 10, what=f"{marker} to die with the app")


class HostCrashTest(unittest.TestCase):
    """A host that dies takes every sandbox down with it, detached children too."""

    @classmethod
    def setUpClass(cls):
        cls.p = ProbeHost(cls)

    def test_a_detached_child_dies_with_the_host(self):
        p = self.p
        marker = "mbesc" + secrets.token_hex(4)
        self.addCleanup(lambda: [os.kill(pid, signal.SIGKILL) for pid in comm_pids(marker)])
        answer = p.attempt("escapee", name=marker)
        self.assertTrue(answer["ok"], answer)
        wait_for(lambda: comm_pids(marker), 10, what=f"a process named {marker}")
        host = p.home.host_pid()
        os.kill(host, signal.SIGKILL)
        wait_for(lambda: not alive(host), 10, what="the host to die")
        wait_for(lambda: not comm_pids(marker), 10, what=f"{marker} to die with the host")


def deputy_copy(test):
    """A copy of the probe bundle that exports mumba.storage.v1.Kv and
    mumba.host.v1.Control: the host's own services, under the probe's name, as any
    app may declare."""
    protoc = shutil.which("protoc")
    if not protoc or not PROBE_BUNDLE:
        raise unittest.SkipTest("needs protoc and MUMBA_ESCAPE_PROBE_BUNDLE (run through ctest)")
    bundle = copy_bundle(test, PROBE_BUNDLE)
    os.makedirs(os.path.join(bundle, "proto"), exist_ok=True)
    subprocess.run([protoc, "-I", os.path.join(SOURCE_DIR, "proto"), "--include_imports",
                    "--descriptor_set_out=" + os.path.join(bundle, "proto", "api.binpb"),
                    "mumba/storage/v1/storage.proto", "mumba/host/v1/control.proto"], check=True, timeout=60)
    with open(os.path.join(bundle, "mumba.toml"), "a") as f:
        f.write('\n[exports]\nservices = ["mumba.storage.v1.Kv", "mumba.host.v1.Control"]\n')
    return bundle


def landlock_scope_available():
    """Whether the kernel scopes abstract sockets and signals (Landlock ABI 6)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(444, None, 0, 1) >= 6


def first_within(predicate, seconds, interval=0.3):
    """The first truthy value of predicate() within `seconds`, or None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


class HijackTest(unittest.TestCase):
    """The app's run folder is its own to write, so it can put a symlink where its
    socket was. The host must not follow it: that would make the host a deputy
    that carries the app's callers (its pages, `mumba call`) to another app's daemon,
    into another app's host socket, where the host counts as itself, or into the
    owner's host.sock. The supervisor moves the socket out of the app's reach as soon
    as it appears, so the link is left where nobody looks."""

    def setUp(self):
        self.p = ProbeHost(self, deputy_copy(self))
        stem = self.p.hello["id"][len("mumba://"):][:16]
        self.hello_socket = self.p.home.status("hello")["socket"]
        self.hello_host_socket = os.path.join(self.p.home.path, "run", stem, "host.sock")

    def hijack(self, target):
        answer = self.p.attempt("hijack", target=target)
        self.assertTrue(answer["ok"], answer)

    def test_requests_for_the_app_do_not_reach_another_apps_daemon(self):
        # The probe declares /greet and never handles it; hello does.
        greet = lambda: self.p.home.run("route", f"{PROBE}://greet?name=Eve").stdout
        self.assertNotIn("Hello", greet())
        self.hijack(self.hello_socket)
        greeted = first_within(lambda: "Hello, Eve!" in greet(), 5)
        self.assertFalse(greeted, "a request for the probe reached hello's daemon")

    def test_calls_for_the_app_do_not_reach_another_apps_store(self):
        self.hijack(self.hello_host_socket)
        scan = lambda: self.p.home.run("call", PROBE, "mumba.storage.v1.Kv/Scan", '{"store":{"db":"main"}}').stdout
        key = base64.b64encode(b"secret").decode()  # hello's key, as JSON carries bytes.
        stolen = first_within(lambda: key in scan(), 5)
        self.assertFalse(stolen, "a call for the probe read hello's store")

    def test_calls_for_the_app_do_not_reach_the_owners_api(self):
        self.hijack(os.path.join(self.p.home.path, "host.sock"))
        status = lambda: self.p.home.run("call", PROBE, "mumba.host.v1.Control/HostStatus", "{}").stdout
        reached = first_within(lambda: '"home"' in status(), 5)
        self.assertFalse(reached, "a call for the probe reached the owner's Control API")


class NetworkGrantedTest(unittest.TestCase):
    """With [permissions] network = true the probe reaches 127.0.0.1, and the install
    says that the app asks for the network; the rest of the sandbox stays shut."""

    @classmethod
    def setUpClass(cls):
        if not PROBE_BUNDLE:
            raise unittest.SkipTest("MUMBA_ESCAPE_PROBE_BUNDLE is not set (run through ctest)")
        bundle = copy_bundle(cls, PROBE_BUNDLE)
        with open(os.path.join(bundle, "mumba.toml"), "a") as f:
            f.write("\n[permissions]\nnetwork = true\n")
        cls.p = ProbeHost(cls, bundle)

    def test_install_says_it_asks_for_the_network(self):
        out = self.p.install.stdout + self.p.install.stderr
        self.assertRegex(out, r"(?<!no )network")
        self.assertNotIn("no network", out)

    def test_the_gateway_can_be_reached(self):
        answer = self.p.attempt("tcp", host="127.0.0.1", port=self.p.gateway_port)
        self.assertTrue(answer["ok"], answer)

    def test_the_rest_stays_shut(self):
        p = self.p
        self.assertFalse(p.attempt("connect", path=os.path.join(p.home.path, "host.sock"))["ok"])
        self.assertFalse(p.attempt("list", path=p.home.path)["ok"])
        self.assertFalse(p.attempt("read", path=p.ssh_key)["ok"])
        self.assertFalse(p.attempt("unshare")["ok"])

    def test_another_apps_store_cannot_be_read_through_the_gateway(self):
        # The network shares 127.0.0.1 with the gateway, which serves hello's
        # storage only to a holder of hello's secret cookie.
        port = self.p.gateway_port
        answer = self.p.attempt("http", port=port, host=f"hello.localhost:{port}",
                                path="/_mumba/call/mumba.storage.v1.Kv/Scan", body='{"store":{"db":"main"}}')
        self.assertIn("status", answer, answer)
        self.assertFalse(answer["ok"], f"read hello's store: {answer}")

    @unittest.skipUnless(landlock_scope_available(), "this kernel has no Landlock scoping (Linux 6.12+)")
    def test_abstract_sockets_of_the_host_stay_out_of_reach(self):
        # Sharing the host's network namespace shares its abstract unix sockets (an
        # X server's @/tmp/.X11-unix/X0, a session bus), which no app was given:
        # Landlock's scope keeps them out of reach.
        with abstract_listener() as name:
            answer = self.p.attempt("connect", path=name)
            self.assertFalse(answer["ok"], f"escaped: {answer}")


if __name__ == "__main__":
    unittest.main()
