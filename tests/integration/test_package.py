# SPDX-License-Identifier: Apache-2.0
"""The Debian package (CPack, what scripts/package.sh builds): its name, its control
fields, its files, and a copy unpacked into a throwaway folder that runs.

The package is never installed on this machine's root: `dpkg -x` unpacks it into a
temporary folder, and the programs run from there.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, MUMBA, Home

BUILD_DIR = os.path.dirname(os.path.abspath(BIN))

# What the binaries link, as Debian 12 names the packages; dpkg-shlibdeps finds them.
RUNTIME_DEPENDS = [r"libgrpc\+\+1\.\d+", r"libprotobuf\d+", r"libtorrent-rasterbar2\.0", r"libsqlite3-0",
                   r"liblmdb0", r"libsodium23", r"libseccomp2", r"bubblewrap"]


@unittest.skipUnless(shutil.which("cpack") and shutil.which("dpkg-deb"), "needs cpack and dpkg-deb")
class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="mp-", dir="/tmp")
        cls.addClassCleanup(shutil.rmtree, cls.out, True)
        p = subprocess.run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"),
                            "-B", cls.out], capture_output=True, text=True, timeout=600, cwd=cls.out)
        if p.returncode != 0:
            raise AssertionError(f"cpack failed: {p.stdout}{p.stderr}")
        cls.version = subprocess.run([MUMBA, "--version"], capture_output=True, text=True,
                                     timeout=30).stdout.strip()
        cls.deb = os.path.join(cls.out, f"mumba_{cls.version}_amd64.deb")

    def field(self, name):
        p = subprocess.run(["dpkg-deb", "-f", self.deb, name], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def test_control_fields(self):
        self.assertTrue(os.path.isfile(self.deb), os.listdir(self.out))
        info = subprocess.run(["dpkg-deb", "-I", self.deb], capture_output=True, text=True, timeout=60)
        self.assertEqual(info.returncode, 0, info.stderr)
        self.assertEqual(self.field("Package"), "mumba")
        self.assertEqual(self.field("Version"), self.version)
        self.assertEqual(self.field("Architecture"), "amd64")
        depends = [d.strip().split(" ")[0] for d in self.field("Depends").split(",")]
        for pattern in RUNTIME_DEPENDS:
            self.assertTrue([d for d in depends if re.fullmatch(pattern, d)], f"{pattern} not in {depends}")
        recommends = [r.strip() for r in self.field("Recommends").split(",")]
        for r in ["chromium", "cmake", "ninja-build", "g++", "protobuf-compiler-grpc", "libgrpc++-dev"]:
            self.assertIn(r, recommends)
        self.assertNotIn("chromium", depends, "Chromium is recommended, not required")

    def test_files_are_under_usr_and_do_not_point_at_the_build(self):
        listing = subprocess.run(["dpkg-deb", "-c", self.deb], capture_output=True, text=True, timeout=60)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        paths = [line.split()[-1] for line in listing.stdout.splitlines()]
        for want in ["./usr/bin/mumba", "./usr/bin/mumba-host", "./usr/lib/cmake/Mumba/MumbaConfig.cmake",
                     "./usr/lib/libmumba.a", "./usr/include/mumba/app.h", "./usr/share/mumba/home/index.html"]:
            self.assertIn(want, paths)
        self.assertFalse([p for p in paths if not p.startswith("./usr/")], "files outside /usr")
        root = tempfile.mkdtemp(prefix="mr-", dir="/tmp")
        self.addCleanup(shutil.rmtree, root, True)
        subprocess.run(["dpkg-deb", "-x", self.deb, root], check=True, timeout=120)
        cmake_dir = os.path.join(root, "usr/lib/cmake/Mumba")
        for name in os.listdir(cmake_dir):
            with open(os.path.join(cmake_dir, name)) as f:
                text = f.read()
            self.assertNotIn(BUILD_DIR, text, name)
            self.assertNotIn("/usr/local", text, name)

    def test_an_unpacked_copy_runs(self):
        root = tempfile.mkdtemp(prefix="mr-", dir="/tmp")
        self.addCleanup(shutil.rmtree, root, True)
        subprocess.run(["dpkg", "-x", self.deb, root], check=True, timeout=120)
        mumba = os.path.join(root, "usr/bin/mumba")
        p = subprocess.run([mumba, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("doctor", p.stdout)
        home = Home(self)
        p = subprocess.run([mumba, "host", "start"], env=home.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.readlink(f"/proc/{home.host_pid()}/exe"), os.path.join(root, "usr/bin/mumba-host"))
        home.run("host", "status", check=True)  # Notes the host's pid for the cleanup.
        p = subprocess.run([mumba, "doctor", "--json"], env=home.env, capture_output=True, text=True, timeout=120)
        self.assertIn('"name":"build-tools","status":"ok"', p.stdout, "the unpacked SDK is found beside mumba")
        self.assertIn('"name":"runtime","status":"ok"', p.stdout)


if __name__ == "__main__":
    unittest.main()
