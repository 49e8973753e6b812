# SPDX-License-Identifier: Apache-2.0
"""Publishing keys protected by a passphrase (`mumba keys protect`), end to end.

Two hosts form a private loopback DHT (netns.sh keeps the module off any other
network). The publisher's key is protected; publishing needs its passphrase, which
the CLI reads from --passphrase-file (there is no terminal here) and hands to the
host over the owner's socket. A wrong one publishes nothing and installs nothing,
and no passphrase ever reaches the host's log.
"""
import base64
import json
import os
import pty
import select
import signal
import stat
import termios
import time
import unittest

from harness import MUMBA, Home, copy_bundle, edit_manifest, free_ports, wait_for

PASSPHRASE = "tangerine-kettle-0417"
WRONG = "tangerine-kettle-0418"


def start_pair(test):
    """Two hosts that bootstrap only from each other."""
    ports = free_ports(2)
    homes = []
    for i, port in enumerate(ports):
        home = Home(test)
        home.run("host", "start", "--listen", f"127.0.0.1:{port}", "--bootstrap",
                 f"127.0.0.1:{ports[1 - i]}", check=True)
        homes.append(home)
    return homes


def secret_file(home, name, text):
    path = os.path.join(home.path, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


def run_on_terminal(home, args, answers, timeout=30):
    """Runs `mumba ARGS` on a new pseudo-terminal, typing one answer after each prompt
    (a line ending in ": "). Returns the exit code, everything the terminal showed
    (and a note if it echoed while a prompt was up), and whether the terminal echoes
    again at the end."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(MUMBA, [MUMBA, *args], home.env)
        finally:
            os._exit(127)
    shown = b""
    answers = list(answers)
    answered_at = 0
    echoing_at_prompt = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # The program exited and closed the terminal.
                    break
                if not data:
                    break
                shown += data
            # A prompt shown since the last answer.
            if answers and shown[answered_at:].rstrip().endswith(b":"):
                # What is typed the moment a prompt shows must not be echoed.
                if termios.tcgetattr(fd)[3] & termios.ECHO:
                    echoing_at_prompt = True
                os.write(fd, answers.pop(0).encode() + b"\n")
                answered_at = len(shown)
        echo = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
    finally:
        # A program still waiting for an answer at the deadline is ended.
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    if echoing_at_prompt:
        shown += b"\n[the terminal echoed while a prompt was shown]"
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace"), echo


def seed_of(export_line):
    """The 32 raw bytes of a `mumba keys export` line."""
    text = export_line.strip().split(":", 1)[1].upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


class KeysTest(unittest.TestCase):
    def test_a_protected_key_publishes_only_with_its_passphrase(self):
        a, b = start_pair(self)
        address = a.run("keys", "new", check=True).stdout.strip()
        bundle = copy_bundle(self)
        with open(os.path.join(bundle, "mumba.toml")) as f:
            old_id = f.read().split('id = "', 1)[1].split('"', 1)[0]
        edit_manifest(bundle, old_id, address)
        key_file = os.path.join(a.path, "keys", address[len("mumba://"):] + ".key")
        exported = a.run("keys", "export", address, check=True).stdout
        good = secret_file(a, "pass", PASSPHRASE)
        bad = secret_file(a, "wrong", WRONG)

        out = a.run("keys", "protect", address, "--passphrase-file", good, check=True)
        self.assertEqual(out.stdout.strip(), f"protected {address}")
        self.assertEqual(a.run("keys", "list", check=True).stdout.split(), [address, "protected"])
        with open(key_file, "rb") as f:
            sealed = f.read()
        self.assertEqual(len(sealed), 146)
        self.assertTrue(sealed.startswith(b"mumbakey"))
        self.assertNotIn(seed_of(exported), sealed)
        self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode), 0o600)
        self.assertEqual(os.listdir(os.path.dirname(key_file)), [os.path.basename(key_file)])

        # No terminal and no file: told how, and nothing happens.
        p = a.run("publish", bundle, check=False, input="")
        self.assertIn("--passphrase-file", p.stderr)
        # A wrong passphrase: refused before the bundle is installed or seeded.
        p = a.run("publish", bundle, "--passphrase-file", bad, check=False, input="")
        self.assertIn("wrong passphrase", p.stderr)
        self.assertEqual(a.json("list")["apps"], [])
        self.assertEqual(a.json("host", "status").get("torrents", 0), 0)
        p = b.run("info", address, "--timeout", "2", check=False)
        self.assertIn("no one serves", p.stderr)
        with open(key_file, "rb") as f:
            self.assertEqual(f.read(), sealed)

        # The right one publishes, and the item it signed verifies on the other host.
        item = json.loads(a.run("publish", bundle, "--json", "--passphrase-file", good,
                                check=True, input="").stdout)
        self.assertEqual((item["address"], item["seq"]), (address, 1))
        info = wait_for(lambda: json.loads(b.run("info", address, "--json").stdout or "{}"), 30,
                        what="B to resolve the address")
        self.assertEqual((info["name"], info["version"], info["seq"]), ("hello", "0.1.0", "1"))
        # By name too: the CLI finds the installed app's address to see the key is protected.
        item = json.loads(a.run("publish", "hello", "--json", "--passphrase-file", good,
                                check=True, input="").stdout)
        self.assertEqual(item["seq"], 2)
        with open(key_file, "rb") as f:
            self.assertEqual(f.read(), sealed)

        # Export asks too, and gives the same key as before it was protected.
        a.run("keys", "export", address, "--passphrase-file", bad, check=False, input="")
        out = a.run("keys", "export", address, "--passphrase-file", good, check=True, input="")
        self.assertEqual(out.stdout, exported)

        # Neither passphrase is in the host's log, nor anywhere in the host's command line.
        with open(os.path.join(a.path, "logs", "host.log"), errors="replace") as f:
            log = f.read()
        self.assertIn("published hello", log)
        for secret in (PASSPHRASE, WRONG):
            self.assertNotIn(secret, log)
            with open(f"/proc/{a.host_pid()}/cmdline", "rb") as f:
                self.assertNotIn(secret.encode(), f.read())

        # Unprotected again, the key is the file it was and publishes with no passphrase.
        a.run("keys", "unprotect", address, "--passphrase-file", bad, check=False)
        a.run("keys", "unprotect", address, "--passphrase-file", good, check=True)
        with open(key_file, "rb") as f:
            self.assertEqual(f.read()[:32], seed_of(exported))
        self.assertEqual(a.run("keys", "list", check=True).stdout.split(), [address])
        item = json.loads(a.run("publish", "hello", "--json", check=True, input="").stdout)
        self.assertEqual(item["seq"], 3)

    def test_the_terminal_asks_without_echo(self):
        home = Home(self)
        address = home.run("keys", "new", check=True).stdout.strip()
        key_file = os.path.join(home.path, "keys", address[len("mumba://"):] + ".key")
        with open(key_file, "rb") as f:
            raw = f.read()

        rc, shown, echo = run_on_terminal(home, ["keys", "protect", address], [PASSPHRASE, WRONG])
        self.assertEqual(rc, 1, shown)
        self.assertIn("Again:", shown)
        self.assertIn("differ", shown)
        with open(key_file, "rb") as f:
            self.assertEqual(f.read(), raw)

        rc, shown, echo = run_on_terminal(home, ["keys", "protect", address], [PASSPHRASE, PASSPHRASE])
        self.assertEqual(rc, 0, shown)
        self.assertIn(f"protected {address}", shown)
        self.assertNotIn(PASSPHRASE, shown)
        self.assertNotIn("echoed", shown)
        self.assertTrue(echo)

        rc, shown, _ = run_on_terminal(home, ["keys", "export", address], [WRONG])
        self.assertEqual(rc, 1, shown)
        self.assertIn("wrong passphrase", shown)
        self.assertNotIn(WRONG, shown)
        rc, shown, _ = run_on_terminal(home, ["keys", "unprotect", address], [PASSPHRASE])
        self.assertEqual(rc, 0, shown)
        with open(key_file, "rb") as f:
            self.assertEqual(f.read(), raw)

    def test_refusals_leave_the_key_alone(self):
        home = Home(self)
        address = home.run("keys", "new", check=True).stdout.strip()
        key_file = os.path.join(home.path, "keys", address[len("mumba://"):] + ".key")
        with open(key_file, "rb") as f:
            raw = f.read()
        empty = secret_file(home, "empty", "")
        # An empty passphrase, no terminal, a missing file, a key not here: refused.
        p = home.run("keys", "protect", address, "--passphrase-file", empty, check=False)
        self.assertIn("empty", p.stderr)
        p = home.run("keys", "protect", address, check=False, input="")
        self.assertIn("--passphrase-file", p.stderr)
        p = home.run("keys", "protect", address, "--passphrase-file", "/nonexistent", check=False)
        self.assertIn("/nonexistent", p.stderr)
        p = home.run("keys", "unprotect", address, check=False)
        self.assertIn("not protected", p.stderr)
        other = "mumba://" + "a" * 52
        p = home.run("keys", "protect", other, "--passphrase-file", empty, check=False)
        self.assertIn("mumba keys import", p.stderr)
        with open(key_file, "rb") as f:
            self.assertEqual(f.read(), raw)
        self.assertEqual(home.run("keys", "list", check=True).stdout.split(), [address])


if __name__ == "__main__":
    unittest.main()
