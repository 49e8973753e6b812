# SPDX-License-Identifier: Apache-2.0
"""Apps over BitTorrent between hosts on this machine, in a private loopback DHT.

Every host listens on 127.0.0.1 and bootstraps only from the others; run through
netns.sh, the whole module lives in a network namespace that holds nothing but
loopback.
"""
import json
import os
import unittest

from harness import free_ports, Home, copy_bundle, edit_manifest, wait_for

HELLO_METHOD = "hello.v1.Greeter/SayHello"


class Swarm:
    """Hosts that know each other's DHT addresses and nobody else's."""

    def __init__(self, test, n):
        self.ports = free_ports(n + 1)  # One spare for a host that joins later.
        self.homes = [self.start(test, i) for i in range(n)]

    def start(self, test, i):
        home = Home(test)
        others = ",".join(f"127.0.0.1:{p}" for j, p in enumerate(self.ports) if j != i)
        home.run("host", "start", "--listen", f"127.0.0.1:{self.ports[i]}", "--bootstrap", others,
                 check=True)
        return home


def app_bundle(test, home, version="0.1.0", address=None):
    """A copy of hello under `address`, or a new id whose key goes into `home`."""
    address = address or home.run("keys", "new", check=True).stdout.strip()
    bundle = copy_bundle(test)
    with open(os.path.join(bundle, "mumba.toml")) as f:
        text = f.read()
    old_id = text.split('id = "', 1)[1].split('"', 1)[0]
    edit_manifest(bundle, old_id, address)
    if version != "0.1.0":
        edit_manifest(bundle, 'version = "0.1.0"', f'version = "{version}"')
    return address, bundle


def greet(home, name="Ann"):
    p = home.run("call", "hello", HELLO_METHOD, json.dumps({"name": name}))
    return p.returncode == 0 and json.loads(p.stdout)["message"] == f"Hello, {name}!"


def publish(home, target):
    return json.loads(home.run("publish", target, "--json", check=True).stdout)


class P2pTest(unittest.TestCase):
    def test_publish_install_update_rollback_and_availability(self):
        swarm = Swarm(self, 3)
        a, b, c = swarm.homes
        address, bundle = app_bundle(self, a)

        item = publish(a, bundle)
        self.assertEqual(item["address"], address)
        self.assertEqual(item["seq"], 1)
        self.assertTrue(item["stored_in_dht"])
        self.assertTrue(item["magnet"].startswith("magnet:?xt=urn:btih:" + item["info_hash"]))

        info = json.loads(c.run("info", address, "--json", check=True).stdout)
        self.assertEqual((info["name"], info["version"], info["seq"]), ("hello", "0.1.0", "1"))
        # A, the publisher, seeds; its announce may reach the DHT a moment after the item.
        wait_for(lambda: json.loads(c.run("info", address, "--json").stdout or "{}").get("seeders") == 1,
                 20, what="C to count A as a seeder")
        self.assertEqual(c.json("list")["apps"], [])  # info installs nothing

        # C installs by the address alone, starts it and calls it.
        out = c.run("install", address, "--yes", check=True)
        self.assertIn("installed hello 0.1.0", out.stdout)
        c.run("start", "hello", check=True)
        self.assertTrue(greet(c))
        b.run("install", address, "--yes", check=True)
        # Every host that installed it seeds it.
        wait_for(lambda: json.loads(a.run("info", address, "--json").stdout or "{}").get("seeders") == 3,
                 20, what="A, B and C to seed it")

        # With the publisher gone, a host that joins later gets it from B and C.
        a.run("host", "stop", check=True)
        d = swarm.start(self, 3)
        events = [json.loads(l) for l in d.run("install", address, "--yes", "--json",
                                               check=True).stdout.splitlines()]
        self.assertEqual(events[-1]["phase"], "done")
        self.assertIn("downloading", [e["phase"] for e in events])
        d.run("start", "hello", check=True)
        self.assertTrue(greet(d, "Dee"))

        # Version 2 reaches C through update; rollback returns to version 1.
        a.run("host", "start", "--listen", f"127.0.0.1:{swarm.ports[0]}", "--bootstrap",
              ",".join(f"127.0.0.1:{p}" for p in swarm.ports[1:]), check=True)
        _, v2 = app_bundle(self, a, "0.2.0", address)
        item2 = publish(a, v2)
        self.assertEqual((item2["version"], item2["seq"]), ("0.2.0", 2))
        wait_for(lambda: json.loads(c.run("info", address, "--json").stdout or "{}").get("seq") == "2",
                 30, what="C to see seq 2")
        out = c.run("update", "hello", check=True)
        self.assertIn("updated hello to 0.2.0", out.stdout)
        self.assertEqual(c.status("hello")["version"], "0.2.0")
        self.assertEqual(c.run("update", "hello", check=True).stdout.strip(), "hello 0.2.0 is up to date")
        out = c.run("rollback", "hello", check=True)
        self.assertIn("back from 0.2.0 to 0.1.0", out.stdout)
        self.assertEqual(c.status("hello")["version"], "0.1.0")
        # The item did not go back: updating again does not reinstall an older seq...
        self.assertIn("up to date", c.run("update", "hello", check=True).stdout)
        # ...and the app still works.
        wait_for(lambda: greet(c, "Cy"), 15, what="hello to answer after rollback")

        # Version 3 asks for the network: an update waits for the owner's yes.
        _, v3 = app_bundle(self, a, "0.3.0", address)
        with open(os.path.join(v3, "mumba.toml"), "a") as f:
            f.write("\n[permissions]\nnetwork = true\n")
        self.assertEqual(publish(a, v3)["seq"], 3)
        wait_for(lambda: json.loads(c.run("info", address, "--json").stdout or "{}").get("seq") == "3",
                 30, what="C to see seq 3")
        refused = c.run("update", "hello")  # No terminal to ask on: no.
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("hello 0.3.0 asks for more than 0.1.0: the network", refused.stderr)
        self.assertEqual(c.status("hello")["version"], "0.1.0")
        out = c.run("update", "hello", "--yes", check=True)
        self.assertIn("updated hello to 0.3.0", out.stdout)
        self.assertEqual(c.status("hello")["version"], "0.3.0")

    def test_refusals(self):
        swarm = Swarm(self, 2)
        a, b = swarm.homes
        # An address no one serves: a clear message, nothing installed.
        nobody = a.run("keys", "new", check=True).stdout.strip()
        p = b.run("install", nobody, "--yes", "--timeout", "3", check=False)
        self.assertIn("no one serves", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 2, p.stderr)  # "resolving ..." + error
        self.assertEqual(b.json("list")["apps"], [])
        self.assertEqual(os.listdir(os.path.join(b.path, "apps", ".staging")), [])

        # Publishing needs the key.
        address, bundle = app_bundle(self, a)
        os.remove(os.path.join(a.path, "keys", address[len("mumba://"):] + ".key"))
        p = a.run("publish", bundle, check=False)
        self.assertIn("secret key", p.stderr)
        self.assertIn("mumba keys import", p.stderr)

        # A bad address is refused before any network work.
        p = b.run("install", "mumba://not-an-address", "--yes", check=False)
        self.assertIn("address", p.stderr)

        # A bundle from the network that does not say its runtime is refused.
        address, bundle = app_bundle(self, a)
        with open(os.path.join(bundle, "mumba.toml")) as f:
            text = f.read()
        with open(os.path.join(bundle, "mumba.toml"), "w") as f:
            f.write(text[:text.index("[runtime]")])
        a.run("publish", bundle, check=True)
        p = b.run("install", address, "--yes", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("does not say which runtime", p.stderr)
        self.assertEqual(b.json("list")["apps"], [])


if __name__ == "__main__":
    unittest.main()
