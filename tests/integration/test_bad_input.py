# SPDX-License-Identifier: Apache-2.0
"""Bad input gets a one-line error, a non-zero exit, and changes nothing."""
import json
import os
import unittest

import subprocess

from harness import HOST, Home, copy_bundle, edit_manifest, tree

HELLO_METHOD = "hello.v1.Greeter/SayHello"


class BadBundleTest(unittest.TestCase):
    """Each bad bundle is refused while a good hello is installed and running."""

    def setUp(self):
        self.home = Home(self)
        self.home.install_hello()
        self.home.run("start", "hello", check=True)
        self.before = tree(self.home.path)
        self.apps_before = self.home.json("list")["apps"]

    def refuse(self, bundle, *needles):
        p = self.home.run("install", bundle, check=False)
        err = p.stderr.strip()
        self.assertEqual(len(err.splitlines()), 1, err)
        for n in needles:
            self.assertIn(n, err)
        # Nothing installed before changed, and nothing was left behind.
        self.assertEqual(tree(self.home.path), self.before)
        self.assertEqual(os.listdir(os.path.join(self.home.path, "apps", ".staging")), [])
        apps = self.home.json("list")["apps"]
        self.assertEqual([(a["id"], a["version"], a["state"]) for a in apps],
                         [(a["id"], a["version"], a["state"]) for a in self.apps_before])
        out = self.home.run("call", "hello", HELLO_METHOD, '{"name":"A"}', check=True).stdout
        self.assertEqual(json.loads(out)["message"], "Hello, A!")
        return err

    def test_missing_field(self):
        b = copy_bundle(self)
        edit_manifest(b, 'version = "0.1.0"\n', "")
        self.refuse(b, "mumba.toml", "version")

    def test_bad_name(self):
        b = copy_bundle(self)
        edit_manifest(b, 'name = "hello"', 'name = "Hello_World"')
        self.refuse(b, "mumba.toml:", "name")

    def test_bad_version(self):
        b = copy_bundle(self)
        edit_manifest(b, 'version = "0.1.0"', 'version = "one"')
        self.refuse(b, "mumba.toml:", "version")

    def test_unknown_key(self):
        b = copy_bundle(self)
        edit_manifest(b, 'version = "0.1.0"', 'version = "0.1.0"\ncolour = "blue"')
        self.refuse(b, "mumba.toml:", "colour")

    def test_bad_id(self):
        b = copy_bundle(self)
        edit_manifest(b, 'id = "mumba://', 'id = "mumba://zz')
        self.refuse(b, "mumba.toml:", "id")

    def test_daemon_path_escapes(self):
        b = copy_bundle(self)
        edit_manifest(b, 'command = "bin/hello"', 'command = "../../../bin/sh"')
        self.refuse(b, "daemon.command")

    def test_absolute_daemon_path(self):
        b = copy_bundle(self)
        edit_manifest(b, 'command = "bin/hello"', 'command = "/bin/sh"')
        self.refuse(b, "daemon.command")

    def test_symlink_out_of_bundle(self):
        b = copy_bundle(self)
        os.symlink("/etc/passwd", os.path.join(b, "ui", "passwd"))
        self.refuse(b, "ui/passwd")

    def test_symlinked_daemon(self):
        b = copy_bundle(self)
        os.remove(os.path.join(b, "bin", "hello"))
        os.symlink("/bin/sh", os.path.join(b, "bin", "hello"))
        self.refuse(b, "bin/hello")

    def test_unexported_service_missing_from_descriptors(self):
        b = copy_bundle(self)
        edit_manifest(b, 'services = ["hello.v1.Greeter"]', 'services = ["hello.v1.Nope"]')
        self.refuse(b, "hello.v1.Nope")

    def test_not_a_folder(self):
        self.refuse(os.path.join(self.home.path, "nowhere"), "nowhere")

    def test_garbage_toml(self):
        b = copy_bundle(self)
        with open(os.path.join(b, "mumba.toml"), "a") as f:
            f.write("\n[[[\n")
        self.refuse(b, "mumba.toml:")


class BadCallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        cls.home.install_hello()
        cls.home.run("start", "hello", check=True)

    def fails(self, *args, needles=()):
        p = self.home.run(*args, check=False)
        err = p.stderr.strip()
        self.assertEqual(len(err.splitlines()), 1, err)
        for n in needles:
            self.assertIn(n, err)
        return p

    def test_unknown_app(self):
        self.fails("call", "nope", HELLO_METHOD, "{}", needles=["nope", "not installed"])
        self.fails("route", "nope://x", needles=["nope"])
        self.fails("start", "nope", needles=["nope"])
        self.fails("status", "nope", needles=["nope"])

    def test_unknown_method(self):
        self.fails("call", "hello", "hello.v1.Greeter/Nope", "{}", needles=["Nope"])
        self.fails("call", "hello", "hello.v1.Other/SayHello", "{}", needles=["hello.v1.Other"])
        self.fails("call", "hello", "grpc.health.v1.Health/Check", "{}",
                   needles=["grpc.health.v1.Health"])
        self.fails("call", "hello", "nonsense", "{}", needles=["nonsense"])

    def test_bad_json(self):
        self.fails("call", "hello", HELLO_METHOD, "{not json", needles=["HelloRequest"])
        self.fails("call", "hello", HELLO_METHOD, '{"name": 5}', needles=["name"])
        self.fails("call", "hello", HELLO_METHOD, '{"age": 5}', needles=["age"])

    def test_unknown_route(self):
        p = self.fails("route", "hello://nothing", needles=["/nothing"])
        self.assertNotEqual(p.returncode, 0)

    def test_bad_url(self):
        self.fails("route", "not a url", needles=["not a url"])

    def test_app_still_fine_after_bad_calls(self):
        out = self.home.run("call", "hello", HELLO_METHOD, '{"name":"Z"}', check=True).stdout
        self.assertEqual(json.loads(out)["message"], "Hello, Z!")


class NoHostTest(unittest.TestCase):
    def test_host_cannot_start(self):
        home = Home(self)
        # A home that is a file cannot hold a host.
        os.rmdir(home.path)
        with open(home.path, "w") as f:
            f.write("x")
        p = home.run("list", check=False)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn(home.path, p.stderr)
        os.remove(home.path)
        os.makedirs(home.path)

    def test_stop_without_host(self):
        home = Home(self)
        p = home.run("host", "stop")
        self.assertIn("no host is running", p.stdout + p.stderr)


class BundleRuntimeTest(unittest.TestCase):
    """A built bundle carries a stripped daemon and the runtime it was built for; a
    host with another runtime refuses it at install instead of starting a daemon
    that cannot load."""

    def test_a_built_bundle_is_small_and_says_its_runtime(self):
        bundle = copy_bundle(self)
        daemon = os.path.join(bundle, "bin", "hello")
        sections = subprocess.run(["readelf", "-S", "-W", daemon], capture_output=True, text=True,
                                  check=True).stdout
        self.assertNotIn(".symtab", sections, "hello's daemon is not stripped")
        self.assertNotIn(".debug_info", sections, "hello's daemon carries its debug information")
        # A sanitizer build's daemon is stripped too, but its instrumentation alone
        # makes it some 30 MB: the size only means something for a plain build.
        with open(daemon, "rb") as f:
            instrumented = any(lib in f.read() for lib in (b"libasan.so", b"libtsan.so"))
        if not instrumented:
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(bundle) for f in files)
            self.assertLessEqual(size, 2 << 20, "hello's bundle is over 2 MB")
        with open(os.path.join(bundle, "mumba.toml")) as f:
            manifest = f.read()
        self.assertIn("[runtime]", manifest)
        self.assertRegex(manifest, r'grpc = "\d+\.\d+"')

    def test_a_bundle_for_another_runtime_is_refused(self):
        home = Home(self)
        home.run("host", "start", check=True)
        bundle = copy_bundle(self)
        with open(os.path.join(bundle, "mumba.toml")) as f:
            text = f.read()
        edit_manifest(bundle, text[text.index("grpc = "):].splitlines()[0], 'grpc = "0.9"')
        p = home.run("install", bundle, check=False)
        self.assertIn("was built for gRPC 0.9", p.stderr)
        self.assertIn("this host runs gRPC", p.stderr)
        self.assertEqual(home.json("list").get("apps", []), [])


class ShimEscapeTest(unittest.TestCase):
    """What a publisher wrote in its manifest goes into the owner's .desktop file only
    as the value it is: a newline in the description cannot add an Exec line."""

    def test_a_description_cannot_add_keys_to_the_desktop_entry(self):
        home = Home(self)
        home.run("host", "start", check=True)
        bundle = copy_bundle(self)
        edit_manifest(bundle, 'description = "hello, a Mumba app"',
                      'description = """hello\nExec=/bin/sh -c evil\nX-Evil=1"""')
        home.run("install", bundle, check=True)
        fake_home = os.path.join(home.path, "owner")
        os.makedirs(fake_home)
        env = dict(home.env, HOME=fake_home)
        env.pop("XDG_DATA_HOME", None)
        p = subprocess.run([os.path.join(os.path.dirname(HOST), "mumba"), "shim", "hello"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(fake_home, ".local/share/applications/mumba-hello.desktop")) as f:
            lines = f.read().splitlines()
        execs = [line for line in lines if line.startswith("Exec=")]
        self.assertEqual(execs, ["Exec=" + os.path.join(fake_home, ".local/bin/hello")])
        self.assertFalse([line for line in lines if line.startswith("X-Evil")])
        self.assertIn("Comment=hello\\nExec=/bin/sh -c evil\\nX-Evil=1", lines)


class ForeignHomeTest(unittest.TestCase):
    """A host keeps its keys, stores and the owner's socket only in a folder that is
    the owner's alone: one another user made first (as under /tmp) is refused."""

    @unittest.skipUnless(os.geteuid() == 0, "giving a folder away needs root")
    def test_a_home_made_by_another_user_is_refused(self):
        home = Home(self)
        os.chown(home.path, 65534, 65534)
        p = subprocess.run([HOST, "--home", home.path], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not to you", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(home.path, "host.sock")))


if __name__ == "__main__":
    unittest.main()
