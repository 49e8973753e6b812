# SPDX-License-Identifier: Apache-2.0
"""Callers of an app's host socket are known by the kernel, not by the path: a
process that is not the app's daemon (nor below it, nor the host) is refused on
run/<id16>/host.sock before gRPC sees a byte, while the daemon's own socket, which
is not guarded, answers the same bytes."""
import os
import socket
import struct
import unittest

from harness import Home

# The HTTP/2 client connection preface and an empty SETTINGS frame: enough for a
# gRPC server to answer with its own SETTINGS.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">I", 0)[1:] + bytes([4, 0]) + struct.pack(">I", 0)
SETTINGS = 4


def handshake(path, timeout=5):
    """Sends the client preface on the unix socket `path` and returns the first bytes
    the server sends back: b"" when it closes the connection instead."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        try:
            s.sendall(PREFACE)
            return s.recv(64)
        except (ConnectionResetError, BrokenPipeError):
            return b""


def sockets_of(home, app):
    """The app's daemon socket and host socket, in the host's view: the app's own run
    folder, which its sandbox calls /run/mumba."""
    st = home.status(app)
    run = os.path.dirname(st["socket"])
    return st["socket"], os.path.join(run, "host.sock")


class HostSocketTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = Home(cls)
        cls.home.run("host", "start", check=True)
        cls.home.install_hello()
        cls.home.run("start", "hello", check=True)
        cls.home.wait_state("hello", "running")
        cls.daemon_socket, cls.host_socket = sockets_of(cls.home, "hello")

    def test_a_stranger_is_refused_on_the_host_socket(self):
        self.assertTrue(os.path.exists(self.host_socket), self.host_socket)
        self.assertEqual(handshake(self.host_socket), b"",
                         "a process outside hello's tree got an answer on its host socket")
        with open(os.path.join(self.home.path, "logs", "host.log")) as f:
            self.assertIn("refused a connection to the host socket", f.read())

    def test_the_daemon_socket_answers_the_same_bytes(self):
        # The control: the same bytes get a SETTINGS frame where nothing is guarded,
        # so the refusal above is the check and not a broken handshake.
        reply = handshake(self.daemon_socket)
        self.assertGreaterEqual(len(reply), 9, reply)
        self.assertEqual(reply[3], SETTINGS, reply)

    def test_the_app_still_works_after_a_refusal(self):
        handshake(self.host_socket)
        self.assertEqual(self.home.status("hello")["state"], "running")
        reply = self.home.run("call", "hello", "hello.v1.Greeter/SayHello", '{"name":"Ann"}',
                              check=True)
        self.assertIn("Hello, Ann!", reply.stdout)


if __name__ == "__main__":
    unittest.main()
