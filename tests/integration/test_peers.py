# SPDX-License-Identifier: Apache-2.0
"""Nodes calling nodes: three hosts on this machine run tests/apps/peer_probe, find
each other in a private loopback DHT, prove who they are over TLS links bound to
their node keys, and call each other's peer service. The receiving host refuses a
service not listed under [[exports.peers]], cuts off a node that floods, shrugs off
garbage on its link port, and a host that stops leaves the others' peer lists.

Run through netns.sh: the module lives in a network namespace that holds nothing
but loopback.
"""
import json
import os
import socket
import ssl
import unittest
import urllib.parse

from harness import Home, free_ports, wait_for

PROBE = os.environ.get("MUMBA_PEER_PROBE_BUNDLE", "")
ECHO = "/probe.v1.Echo/Say"
SECRET = "/probe.v1.Private/Secret"
OK, NOT_FOUND, PERMISSION_DENIED, RESOURCE_EXHAUSTED, UNAVAILABLE = 0, 5, 7, 8, 14
CONFIG = """[p2p]
peer_refresh_ms = 300
peer_expiry_ms = 2000
"""


def probe(home, route, **params):
    """GET peer-probe://ROUTE?PARAMS through `mumba route`, as JSON."""
    url = f"peer-probe://{route}?" + urllib.parse.urlencode(params)
    p = home.run("route", url, check=True)
    return json.loads(p.stdout)


class PeersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not PROBE:
            raise unittest.SkipTest("MUMBA_PEER_PROBE_BUNDLE is not set (run through ctest)")
        ports = free_ports(3)
        cls.homes = []
        for i in range(3):
            home = Home(cls)
            with open(os.path.join(home.path, "config.toml"), "w") as f:
                f.write(CONFIG)
            others = ",".join(f"127.0.0.1:{p}" for j, p in enumerate(ports) if j != i)
            home.run("host", "start", "--listen", f"127.0.0.1:{ports[i]}", "--bootstrap", others, check=True)
            home.run("install", "--yes", PROBE, check=True)
            home.run("start", "peer-probe", check=True)
            cls.homes.append(home)
        cls.nodes = [h.json("node")["node"] for h in cls.homes]

    def peers_of(self, home):
        return sorted(p["node"] for p in home.json("peers", "peer-probe").get("peers", []))

    def wait_all_found(self):
        for i, home in enumerate(self.homes):
            others = sorted(n for j, n in enumerate(self.nodes) if j != i)
            wait_for(lambda: self.peers_of(home) == others, 30, interval=0.2, what=f"host {i} to find the others")

    def test_1_three_hosts_find_each_other_and_the_callee_sees_the_calling_node(self):
        self.assertEqual(len(set(self.nodes)), 3)
        for n in self.nodes:
            self.assertRegex(n, r"^[a-z2-7]{52}$")
        self.wait_all_found()
        # The daemon sees the same list through the SDK, and its watch saw arrivals.
        listed = sorted(p["node"] for p in probe(self.homes[0], "node"))
        self.assertEqual(listed, sorted(self.nodes[1:]))
        wait_for(lambda: {w["node"] for w in probe(self.homes[0], "watch") if w["arrived"]} >= set(self.nodes[1:]),
                 10, what="the watch to see both arrivals")
        for i, j in ((0, 1), (1, 2), (2, 0)):
            r = probe(self.homes[i], "call", node=self.nodes[j], method=ECHO, text="hi")
            self.assertEqual(r["codes"], {str(OK): 1}, r)
            # Host j's daemon saw host i's node, as i's link proved it.
            self.assertEqual(r["reply"], f"node={self.nodes[i]} text=hi")
        # A calling daemon cannot name another node for itself: the receiving host
        # drops what it sends as mumba-peer-node and sets the one the link proved.
        r = probe(self.homes[0], "call", node=self.nodes[1], method=ECHO, text="x", forge=self.nodes[2], n=3)
        self.assertEqual(r["codes"], {str(OK): 3}, r)
        self.assertEqual(r["reply"], f"node={self.nodes[0]} text=x")

    def test_2_a_service_not_exported_to_peers_is_refused_before_the_daemon(self):
        self.wait_all_found()
        r = probe(self.homes[0], "call", node=self.nodes[1], method=SECRET)
        self.assertEqual(r["codes"], {str(PERMISSION_DENIED): 1}, r)
        self.assertIn("not callable from other nodes", r["message"])
        self.assertEqual(probe(self.homes[1], "secrets"), 0)
        # On its own node the service works (it is exported to apps there): it was
        # the receiving host that refused it to another node.
        self.homes[1].run("call", "peer-probe", "probe.v1.Private/Secret", "{}", check=True)
        self.assertEqual(probe(self.homes[1], "secrets"), 1)
        # A node that is no peer of the app is refused by the calling host.
        r = probe(self.homes[0], "call", node="a" * 52, method=ECHO)
        self.assertEqual(r["codes"], {str(NOT_FOUND): 1}, r)

    def test_3_garbage_and_a_flood_cut_off_one_node_while_others_work(self):
        self.wait_all_found()
        target = self.homes[2].json("node")["peer_listen"]
        host, port = target.rsplit(":", 1)
        # Garbage on the link port: plain bytes, then a TLS client without a certificate.
        for payload in (b"\x00" * 64 + b"GET / HTTP/1.1\r\n\r\n", os.urandom(4096)):
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.sendall(payload)
                s.settimeout(5)
                try:
                    s.recv(1024)
                except OSError:
                    pass
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            try:
                with ctx.wrap_socket(raw) as tls:
                    tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(256))
                    tls.recv(1024)
            except (ssl.SSLError, OSError):
                pass  # Refused in the handshake: what should happen.
        # Host 0 floods host 2 far over the rate (20/s): most calls are refused, and
        # host 0 ends up cut off.
        r = probe(self.homes[0], "call", node=self.nodes[2], method=ECHO, n=400, clients=4)
        self.assertGreater(r["codes"].get(str(RESOURCE_EXHAUSTED), 0) + r["codes"].get(str(UNAVAILABLE), 0), 300, r)
        r = probe(self.homes[0], "call", node=self.nodes[2], method=ECHO)
        self.assertEqual(r["codes"], {str(UNAVAILABLE): 1}, r)
        self.assertIn("cut off", r["message"])
        # Host 1's calls to host 2 still work.
        r = probe(self.homes[1], "call", node=self.nodes[2], method=ECHO, text="still")
        self.assertEqual(r["codes"], {str(OK): 1}, r)
        self.assertEqual(r["reply"], f"node={self.nodes[1]} text=still")

    def test_4_a_host_that_stops_leaves_the_others_lists(self):
        self.wait_all_found()
        self.homes[1].run("host", "stop", check=True)
        for i in (0, 2):
            wait_for(lambda: self.nodes[1] not in self.peers_of(self.homes[i]), 15, interval=0.2,
                     what=f"host {i} to see host 1 go")
        wait_for(lambda: any(w["node"] == self.nodes[1] and not w["arrived"] for w in probe(self.homes[0], "watch")),
                 10, what="the watch to see host 1 leave")
        r = probe(self.homes[0], "call", node=self.nodes[1], method=ECHO)
        self.assertEqual(r["codes"], {str(NOT_FOUND): 1}, r)

    def test_5_a_revoked_peers_grant_ends_calls_both_ways_at_once(self):
        # Host 2 still has host 0 among its peers (host 0 itself is cut off by host 2
        # since test 3, so it is host 2 that calls here).
        wait_for(lambda: self.nodes[0] in self.peers_of(self.homes[2]), 30, interval=0.2,
                 what="host 2 to list host 0")
        r = probe(self.homes[2], "call", node=self.nodes[0], method=ECHO, text="before")
        self.assertEqual(r["codes"], {str(OK): 1}, r)
        # The receiving side: host 0's owner revokes; host 2's open connection is
        # refused on its next call, by host 0, before its daemon.
        self.homes[0].run("permissions", "peer-probe", "--revoke", "peers", check=True)
        try:
            r = probe(self.homes[2], "call", node=self.nodes[0], method=ECHO)
            self.assertNotIn(str(OK), r["codes"], r)
        finally:
            self.homes[0].run("permissions", "peer-probe", "--grant", "peers", check=True)
        wait_for(lambda: probe(self.homes[2], "call", node=self.nodes[0], method=ECHO)["codes"] == {str(OK): 1},
                 15, interval=0.3, what="calls to host 0 to work again")
        # The calling side: host 2's owner revokes; the connection its daemon holds
        # closes at once (were it kept, the call below would still go through).
        self.homes[2].run("permissions", "peer-probe", "--revoke", "peers", check=True)
        try:
            r = probe(self.homes[2], "call", node=self.nodes[0], method=ECHO)
            self.assertEqual(r["codes"], {str(PERMISSION_DENIED): 1}, r)
        finally:
            self.homes[2].run("permissions", "peer-probe", "--grant", "peers", check=True)


class NoPeerAppsTest(unittest.TestCase):
    def test_a_host_without_an_app_that_runs_with_peers_opens_no_link_port(self):
        if not PROBE:
            raise unittest.SkipTest("MUMBA_PEER_PROBE_BUNDLE is not set (run through ctest)")
        home = Home(self)
        home.run("host", "start", check=True)
        node = home.json("node")
        self.assertRegex(node["node"], r"^[a-z2-7]{52}$")
        self.assertEqual(node["peer_listen"], "")
        # Installed but stopped: still nothing listens.
        home.run("install", "--yes", PROBE, check=True)
        self.assertEqual(home.json("node")["peer_listen"], "")
        self.assertEqual(home.json("node")["node"], node["node"])  # The key is kept.


if __name__ == "__main__":
    unittest.main()
