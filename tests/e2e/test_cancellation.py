"""When a client goes away, everything its request started stops: the upstream request is aborted (its
connection closed, not reused) and a request queued for a pool connection leaves the queue."""

import socket
import time
import unittest

from proxy_support import ProxyTestCase, proxy_config, proxy_route, server


class CancellationTest(ProxyTestCase):
    def test_client_leaving_aborts_the_upstream_request(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("up", up.url, timeout_ms=20000)], [proxy_route("/up/{.+}", "up")]))
        conn = gw.connect()
        conn.send(b"GET /up/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Echo-Mode: hang\r\n\r\n")
        self.assertTrue(up.wait_for(lambda u: u.active == 1 and len(u.requests) == 1, timeout=5), "request reached")
        time.sleep(0.3)
        conn.close()
        # The upstream sees its connection closed at once, not after timeout_ms (20 s).
        self.assertTrue(up.wait_for(lambda u: u.active == 0, timeout=3),
                        f"the upstream connection must be closed when the client leaves{gw.describe()}")
        # The gateway keeps serving, on a fresh upstream connection.
        rec = self.echo(gw.get("/up/after"))
        self.assertEqual(rec["path"], "/after")

    def test_client_leaving_with_a_reset_aborts_the_upstream_request(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("up", up.url, timeout_ms=20000)], [proxy_route("/up/{.+}", "up")]))
        conn = gw.connect()
        conn.send(b"GET /up/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Echo-Mode: hang\r\n\r\n")
        self.assertTrue(up.wait_for(lambda u: u.active == 1, timeout=5))
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # RST
        self.assertTrue(up.wait_for(lambda u: u.active == 0, timeout=3), gw.describe())

    def test_queued_request_leaves_the_queue_when_its_client_leaves(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("up", up.url, max_connections=1, timeout_ms=20000)],
                                     [proxy_route("/up/{.+}", "up")]), threads=1)
        first = gw.connect(timeout=10)
        self.addCleanup(first.close)
        first.send(b"GET /up/first HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Echo-Mode: delay=1\r\n\r\n")
        self.assertTrue(up.wait_for(lambda u: len(u.requests) == 1, timeout=5))
        queued = gw.connect()
        queued.send(b"GET /up/queued HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.3)
        queued.close()
        self.assertEqual(first.read_response().status, 200)
        # The pool's one connection is free again; the queued request must not be sent on it.
        time.sleep(0.5)
        self.assertEqual([r["path"] for r in up.requests], ["/first"])
        self.assertEqual(self.echo(gw.get("/up/next"))["path"], "/next")

    def test_pipelined_request_is_not_mistaken_for_a_client_leaving(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("up", up.url)], [proxy_route("/up/{.+}", "up")]))
        with gw.connect() as conn:
            conn.send(b"GET /up/one HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Echo-Mode: delay=0.3\r\n\r\n")
            time.sleep(0.1)
            conn.send(b"GET /up/two HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first, second = conn.read_responses(2)
        self.assertEqual(self.echo(first)["path"], "/one")
        self.assertEqual(self.echo(second)["path"], "/two")

    def test_half_closed_client_is_a_client_that_left(self):
        """A client that shuts down its sending side while its request is proxied is treated as gone (as nginx
        does by default): the upstream request is aborted."""
        up = self.upstream()
        gw = self.start(proxy_config([server("up", up.url, timeout_ms=20000)], [proxy_route("/up/{.+}", "up")]))
        conn = gw.connect()
        self.addCleanup(conn.close)
        conn.send(b"GET /up/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Echo-Mode: hang\r\n\r\n")
        self.assertTrue(up.wait_for(lambda u: u.active == 1, timeout=5))
        conn.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(up.wait_for(lambda u: u.active == 0, timeout=3), gw.describe())


if __name__ == "__main__":
    unittest.main()
