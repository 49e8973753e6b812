# SPDX-License-Identifier: Apache-2.0
"""Tweedy, the microblog with no server (apps/tweedy, issue 14), on three hosts of
this machine in a private loopback DHT. Host 1 publishes it; hosts 2 and 3 install
it by its address. A post on node 1 reaches the timelines of the nodes that follow
its feed; with node 1 offline, node 3 following it for the first time gets its
posts from node 2's replica; node 1 comes back, posts, and the others get it live
over the peer service; the timeline page shows new posts without a reload.

The scenarios that need the host to share and follow stores (App::Share/Follow)
say so when they fail: "needs the host's shares". Run through netns.sh: the module
lives in a network namespace that holds nothing but loopback.
"""
import json
import os
import unittest

from cdp import Browser
from harness import Home, copy_bundle, edit_manifest, free_ports, wait_for

TWEEDY = os.environ.get("MUMBA_TWEEDY_BUNDLE", "")
API = "tweedy.v1.Tweedy/"
SHARING_UNAVAILABLE = "feed sharing not available"
CONFIG = """[p2p]
peer_refresh_ms = 300
peer_expiry_ms = 2000
"""


def call(home, method, request=None, check=True):
    """`mumba call tweedy tweedy.v1.Tweedy/METHOD`: the reply as JSON, or the
    failed process when check is False."""
    p = home.run("call", "tweedy", API + method, json.dumps(request or {}), check=check)
    return json.loads(p.stdout) if p.returncode == 0 else p


def counter(home, name):
    """A number of tweedy's Me (absent from the reply while 0)."""
    return int(call(home, "Me").get(name, 0))


def texts(home):
    return [p["text"] for p in call(home, "Timeline").get("posts", [])]


class TweedyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not TWEEDY:
            raise unittest.SkipTest("MUMBA_TWEEDY_BUNDLE is not set (run through ctest)")
        cls.ports = free_ports(3)
        cls.homes = []
        for i in range(3):
            home = Home(cls)
            with open(os.path.join(home.path, "config.toml"), "w") as f:
                f.write(CONFIG)
            cls.homes.append(home)
            cls.start_host(i)
        one, two, three = cls.homes
        # Host 1 publishes tweedy under a key of its own (the repository holds no
        # secret key) and runs it; the others install it by that address alone.
        cls.address = one.run("keys", "new", check=True).stdout.strip()
        bundle = copy_bundle(cls, TWEEDY)
        with open(os.path.join(bundle, "mumba.toml")) as f:
            old_id = f.read().split('id = "', 1)[1].split('"', 1)[0]
        edit_manifest(bundle, old_id, cls.address)
        one.run("publish", bundle, check=True)
        one.run("install", "--yes", bundle, check=True)
        wait_for(lambda: json.loads(two.run("info", cls.address, "--json").stdout or "{}").get("seeders", 0) >= 1,
                 30, interval=0.3, what="host 2 to find host 1 seeding tweedy")
        for home in (two, three):
            out = home.run("install", cls.address, "--yes", check=True).stdout
            assert "installed tweedy 0.1.0" in out, out
        for home in cls.homes:
            home.run("start", "tweedy", check=True)
        cls.nodes = [h.json("node")["node"] for h in cls.homes]

    @classmethod
    def start_host(cls, i):
        others = ",".join(f"127.0.0.1:{p}" for j, p in enumerate(cls.ports) if j != i)
        cls.homes[i].run("host", "start", "--listen", f"127.0.0.1:{cls.ports[i]}", "--bootstrap", others,
                         check=True)

    def wait_peers(self, live=(0, 1, 2)):
        """Until each live host's tweedy lists the other live ones as peers."""
        for i in live:
            others = sorted(self.nodes[j] for j in live if j != i)
            wait_for(lambda: sorted(p["node"] for p in self.homes[i].json("peers", "tweedy").get("peers", []))
                     == others, 30, interval=0.2, what=f"host {i + 1} to find the others")

    def feed_of(self, i):
        """Host i's feed address; fails the test, naming why, when the host does not
        share stores yet."""
        def shared_or_refused():
            me = call(self.homes[i], "Me")
            return me if me.get("feed") or me.get("feed_error") else None
        me = wait_for(shared_or_refused, 20, what=f"host {i + 1}'s feed to be shared")
        if not me.get("feed"):
            self.fail(f"needs the host's shares (App::Share/Follow, issue 14): {me.get('feed_error')}")
        return me["feed"]

    def wait_text(self, i, text, timeout=20):
        wait_for(lambda: text in texts(self.homes[i]), timeout, interval=0.2,
                 what=f"{text!r} on host {i + 1}'s timeline")

    def open_page(self, i):
        """Host i's tweedy page in headless Chromium, holding the app's cookie as its
        window does, once it has loaded its timeline."""
        home = self.homes[i]
        browser = Browser(self)
        browser.set_cookie(**home.window_cookie("tweedy"))
        port = home.json("host", "status")["gateway_port"]
        page = browser.new_page(f"http://tweedy.localhost:{port}/")
        page.wait_for("document.body.dataset.ready === 'true'", what="the page to load its timeline")
        page.eval("window.notReloaded = true")
        return page

    def page_shows(self, page, text, timeout=15):
        shown = f"[...document.querySelectorAll('#timeline li .text')].some(e => e.textContent === {json.dumps(text)})"
        page.wait_for(shown, timeout, what=f"{text!r} on the page")
        self.assertTrue(page.eval("window.notReloaded === true"), "the page reloaded")

    # ---- Without shares: install by address, peers, posting, the page ----

    def test_1_installed_by_address_the_nodes_greet_each_other_and_post(self):
        for home in self.homes[1:]:
            self.assertEqual(home.status("tweedy")["version"], "0.1.0")
        self.wait_peers()
        # Each node knows its own id from its host (App::NodeId), as the links prove it.
        for i, home in enumerate(self.homes):
            wait_for(lambda: call(home, "Me").get("node") == self.nodes[i], 15,
                     what=f"host {i + 1}'s tweedy to learn its node")
            # The daemon's own count, as its last round (under a second ago) saw it.
            wait_for(lambda: counter(home, "peers") == 2, 5, what=f"host {i + 1}'s tweedy to count 2 peers")
        post = call(self.homes[0], "Post", {"text": "alone on node 1"})
        self.assertEqual((post["id"], post["via"], post["author_node"]), ("1", "own", self.nodes[0]))
        self.assertIn("alone on node 1", texts(self.homes[0]))
        refused = call(self.homes[0], "Post", {"text": ""}, check=False)
        self.assertIn("1 to 1120 bytes", refused.stderr)
        refused = call(self.homes[0], "Follow", {"address": "https://example.invalid/feed"}, check=False)
        self.assertIn("starts with mumba://", refused.stderr)
        # Whether or not the host shares stores, the node says which.
        me = call(self.homes[0], "Me")
        self.assertTrue(me.get("feed", "").startswith("mumba://") or
                        me.get("feed_error", "").startswith(SHARING_UNAVAILABLE), me)
        if not me.get("feed"):
            refused = call(self.homes[1], "Follow", {"address": self.address}, check=False)
            self.assertIn(SHARING_UNAVAILABLE, refused.stderr)

    def test_2_the_page_shows_its_own_new_post_without_a_reload(self):
        page = self.open_page(1)
        call(self.homes[1], "Post", {"text": "typed elsewhere on node 2"})
        self.page_shows(page, "typed elsewhere on node 2")
        # And what the page itself posts.
        page.eval("document.getElementById('text').value = 'from the page'")
        page.eval("document.querySelector('#post button').click()")
        self.page_shows(page, "from the page")
        self.assertIn("from the page", texts(self.homes[1]))

    # ---- With shares (the host's side of issue 14) ----

    def test_3_a_post_on_node_1_reaches_node_2_and_node_3(self):
        self.wait_peers()
        feed = self.feed_of(0)
        refused = call(self.homes[0], "Follow", {"address": feed}, check=False)
        self.assertIn("your own feed", refused.stderr)
        for i in (1, 2):
            followed = call(self.homes[i], "Follow", {"address": feed})
            self.assertEqual(followed["address"], feed)
        call(self.homes[0], "Post", {"text": "hello followers"})
        for i in (1, 2):
            self.wait_text(i, "hello followers")
            # The replica names node 1 as the author's node: its pushes are taken.
            wait_for(lambda: [f.get("node") for f in call(self.homes[i], "Following")["follows"]] == [self.nodes[0]],
                     15, what=f"host {i + 1} to read node 1's id from the replica")
        # Node 1's posts are in order, newest first, and only once each.
        timeline = [p["text"] for p in call(self.homes[1], "Timeline")["posts"]]
        self.assertEqual([t for t in timeline if t in ("hello followers", "alone on node 1")],
                         ["hello followers", "alone on node 1"])

    def test_4_a_push_from_a_feed_not_followed_is_refused(self):
        self.wait_peers()
        self.feed_of(1)
        refused_before = counter(self.homes[2], "live_refused")
        call(self.homes[1], "Post", {"text": "node 3 does not follow me"})
        wait_for(lambda: counter(self.homes[2], "live_refused") > refused_before, 15,
                 what="host 3 to refuse node 2's push")
        self.assertNotIn("node 3 does not follow me", texts(self.homes[2]))

    def test_5_with_node_1_offline_node_3_follows_it_from_node_2s_replica(self):
        feed = self.feed_of(0)
        call(self.homes[0], "Post", {"text": "before going away"})
        # Node 2's replica holds it (read from the replica, not only pushed).
        wait_for(lambda: any(p["text"] == "before going away" and p["via"] == "replica"
                             for p in call(self.homes[1], "Timeline")["posts"]), 20,
                 what="node 2's replica to hold node 1's last post")
        call(self.homes[2], "Unfollow", {"address": feed})
        self.assertNotIn("hello followers", texts(self.homes[2]))
        self.homes[0].run("host", "stop", check=True)
        self.wait_peers(live=(1, 2))
        call(self.homes[2], "Follow", {"address": feed})
        for text in ("alone on node 1", "hello followers", "before going away"):
            self.wait_text(2, text, timeout=60)

    def test_6_node_1_comes_back_posts_and_the_others_see_it_live(self):
        self.feed_of(1)
        if not self.homes[0].host_pid():
            self.start_host(0)
            self.homes[0].run("start", "tweedy")
        self.wait_peers()
        pages = self.open_page(1)
        accepted = [counter(self.homes[i], "live_accepted") for i in (1, 2)]
        call(self.homes[0], "Post", {"text": "back again"})
        for i in (1, 2):
            self.wait_text(i, "back again", timeout=5)
        self.page_shows(pages, "back again", timeout=5)
        # It came over the peer service, not only with the next replica.
        for n, i in enumerate((1, 2)):
            wait_for(lambda: counter(self.homes[i], "live_accepted") > accepted[n], 10,
                     what=f"host {i + 1} to keep node 1's push")

    def test_7_a_push_from_another_node_than_the_feed_names_is_refused(self):
        self.feed_of(0)
        self.wait_peers()
        one, three = self.homes[0], self.homes[2]

        def bound_to(node):
            wait_for(lambda: [f.get("node") for f in call(three, "Following")["follows"]] == [node], 20,
                     what=f"host 3 to read {node} from node 1's replica")

        # Node 1's owner makes the feed name node 2 as its author's node: from the next
        # snapshot on, node 3 takes that feed's live posts from node 2 alone.
        one.run("sql", "tweedy", "posts", "UPDATE meta SET value = ? WHERE key = 'node'", "-p", self.nodes[1],
                check=True)
        one.run("share", "tweedy", "sql", "posts", check=True)
        bound_to(self.nodes[1])
        refused = counter(three, "live_refused")
        call(one, "Post", {"text": "pushed by a node the feed does not name"})
        wait_for(lambda: counter(three, "live_refused") > refused, 15, what="host 3 to refuse node 1's push")
        # The post still arrives, in the replica the feed's key signed.
        wait_for(lambda: any(p["text"] == "pushed by a node the feed does not name" and p["via"] == "replica"
                             for p in call(three, "Timeline")["posts"]), 20, what="the post in node 3's replica")
        one.run("sql", "tweedy", "posts", "UPDATE meta SET value = ? WHERE key = 'node'", "-p", self.nodes[0],
                check=True)
        one.run("share", "tweedy", "sql", "posts", check=True)
        bound_to(self.nodes[0])


if __name__ == "__main__":
    unittest.main()
