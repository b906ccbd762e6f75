"""http_proxy: request and response bodies stream through the gateway (proved by ordering: the upstream
sees the first bytes before the client has sent the last ones, and the other way round), and large
transfers keep the gateway's memory flat (VmHWM from /proc/PID/status)."""

import hashlib
import json
import os
import socket
import time
import unittest

from harness import build_request
from proxy_support import ProxyTestCase, proxy_config, proxy_route, read_lenient, server
from upstreams import pattern_bytes, pattern_sha256

MIB = 1024 * 1024
BIG = int(os.environ.get("WG_E2E_BIG_MIB", "200")) * MIB  # volume of the memory tests
RSS_SLACK_KIB = 40 * 1024  # allowed growth of the gateway's peak RSS over its idle RSS
TRANSFER_TIMEOUT = 25.0


class ProxyStreamingTest(ProxyTestCase):
    def setUp(self):
        self.up = self.upstream()
        # The memory tests stream more than the default max_body_bytes (10 MiB).
        self.start(proxy_config([server("echo", self.up.url)], [proxy_route("/s/{.+}", "echo")],
                                gateway={"max_body_bytes": 64 * 1024 * MIB}))

    def send_chunk(self, conn, data):
        conn.send(b"%x\r\n" % len(data) + data + b"\r\n")

    def test_chunked_upload_reaches_the_upstream_before_the_client_finishes(self):
        with self.gw.connect(timeout=10) as conn:
            conn.send(build_request("POST", "/s/up", headers=[
                ("Transfer-Encoding", "chunked"), ("X-Echo-Tag", "chunked-up"), ("Connection", "close")]))
            first = b"".join(pattern_bytes(256 * 1024))
            self.send_chunk(conn, first)
            seen = self.up.wait_for(lambda u: u._progress.get("chunked-up", 0) >= 128 * 1024, timeout=5)
            self.assertTrue(seen, f"the upstream got {self.up.progress('chunked-up')} body bytes while the client "
                                  f"held the rest of a chunked upload: the body is not streamed{self.context()}")
            rest = b"x" * 1000
            self.send_chunk(conn, rest)
            conn.send(b"0\r\n\r\n")
            rec = self.echo(conn.read_response())
        self.assertEqual(rec["body_length"], len(first) + len(rest))
        self.assertEqual(rec["body_sha256"], hashlib.sha256(first + rest).hexdigest())

    def test_content_length_upload_reaches_the_upstream_before_the_client_finishes(self):
        total = 4 * MIB
        with self.gw.connect(timeout=10) as conn:
            conn.send(build_request("PUT", "/s/up", headers=[
                ("Content-Length", str(total)), ("X-Echo-Tag", "cl-up"), ("Connection", "close")]))
            first = b"a" * MIB
            conn.send(first)
            seen = self.up.wait_for(lambda u: u._progress.get("cl-up", 0) >= 512 * 1024, timeout=5)
            self.assertTrue(seen, f"the upstream got {self.up.progress('cl-up')} body bytes while the client held "
                                  f"the rest of a Content-Length upload: the body is not streamed{self.context()}")
            conn.send(b"b" * (total - MIB))
            rec = self.echo(conn.read_response())
        self.assertEqual(rec["body_length"], total)
        self.assertEqual(rec["body_sha256"], hashlib.sha256(first + b"b" * (total - MIB)).hexdigest())

    def test_download_reaches_the_client_before_the_upstream_finishes(self):
        size = 4 * MIB
        with self.gw.connect(timeout=10) as conn:
            conn.send(build_request("GET", "/s/down", headers=[("X-Echo-Mode", f"download={size},gate=dl")],
                                    close=True))
            head = conn.read_head()
            self.assertEqual(head[1], 200, head[4])
            deadline = time.monotonic() + 5
            while len(conn.buf) < 128 * 1024 and time.monotonic() < deadline:
                conn._fill()
            got_early = len(conn.buf)
            self.up.release("dl")
            self.assertGreaterEqual(got_early, 128 * 1024,
                                    "the client got no body bytes while the upstream held the rest of the "
                                    f"response: the response is not streamed{self.context()}")
            resp = read_lenient(conn, timeout=15, head=head)
        self.assertTrue(resp.complete, repr(resp))
        self.assertEqual(len(resp.body), size)
        self.assertEqual(hashlib.sha256(resp.body).hexdigest(), pattern_sha256(size))

    def test_client_abort_mid_download_releases_the_upstream_connection(self):
        with self.gw.connect(timeout=10) as conn:
            conn.send(build_request("GET", "/s/abort", headers=[("X-Echo-Mode", f"download={64 * MIB}")]))
            conn.read_head()
            while len(conn.buf) < MIB:
                conn._fill()
        released = self.up.wait_for(lambda u: u.active == 0, timeout=5)
        self.assertTrue(released, "the upstream connection of an aborted download is still open" + self.context())
        self.assertEqual(self.echo(self.gw.request("GET", "/s/after"))["path"], "/after")

    def test_client_abort_mid_upload_never_completes_the_request_upstream(self):
        with self.gw.connect(timeout=10) as conn:
            conn.send(build_request("POST", "/s/abort-up", headers=[
                ("Transfer-Encoding", "chunked"), ("X-Echo-Tag", "abort-up")]))
            self.send_chunk(conn, b"q" * (256 * 1024))
            self.up.wait_for(lambda u: u._progress.get("abort-up", 0) >= 128 * 1024, timeout=5)
        closed = self.up.wait_for(lambda u: u.active == 0, timeout=5)
        self.assertTrue(closed, "the upstream connection of an aborted upload is still open" + self.context())
        rec = [r for r in self.up.requests if r["path"] == "/abort-up"]
        self.assertEqual(len(rec), 1)
        self.assertFalse(rec[0]["body_complete"], "an aborted upload reached the upstream as a complete request")
        self.assertEqual(self.echo(self.gw.request("GET", "/s/after"))["path"], "/after")

    def test_streamed_bodies_are_bound_by_max_body_bytes(self):
        # gateway.max_body_bytes bounds every request body: a proxied body that streams (over 64 KiB or
        # chunked, no pre_process hook) is never held whole, but it is refused (declared length) or cut
        # (chunked framing) past the limit; at the limit it streams through.
        up = self.upstream()
        gw = self.start(proxy_config([server("echo", up.url)], [proxy_route("/l/{.+}", "echo")],
                                     gateway={"max_body_bytes": 2 * MIB}))
        body = b"".join(pattern_bytes(2 * MIB))
        rec = self.echo(gw.request("POST", "/l/declared", headers=[("Content-Length", str(len(body)))], body=body),
                        gw=gw)
        self.assertEqual(rec["body_length"], 2 * MIB)
        framed = b"".join(b"%x\r\n" % len(body[i:i + 65536]) + body[i:i + 65536] + b"\r\n"
                          for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
        rec = self.echo(gw.request("POST", "/l/chunked", headers=[("Transfer-Encoding", "chunked")], body=framed),
                        gw=gw)
        self.assertEqual(rec["body_length"], 2 * MIB)
        with gw.connect() as conn:
            conn.send(build_request("POST", "/l/over", headers=[("Content-Length", str(2 * MIB + 1))]))
            resp = conn.read_response()
        self.assertEqual(resp.status, 413, repr(resp))
        self.assertEqual([r["path"] for r in up.requests], ["/declared", "/chunked"])

    def test_buffered_route_declared_length_over_max_body_bytes_is_413(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("echo", up.url)], [proxy_route("/l/{.+}", "echo")],
                                     gateway={"max_body_bytes": 1024}))
        with gw.connect() as conn:
            conn.send(build_request("POST", "/l/small", headers=[("Content-Length", "4096")]))
            resp = conn.read_response()
        self.assertEqual(resp.status, 413, repr(resp))
        self.assertEqual(resp.json(), {"error": "Payload too large", "code": "PAYLOAD_TOO_LARGE"})
        self.assertEqual(up.requests, [])

    # ------------------------------------------------------------------------------ memory

    def idle_rss(self):
        # one small proxied request first, so that the pools and buffers exist
        self.echo(self.gw.request("GET", "/s/warm"))
        time.sleep(0.2)
        return self.gw.vm_kib("VmRSS")

    def assert_memory(self, idle, what):
        peak = self.gw.vm_kib("VmHWM")
        self.assertLess(peak - idle, RSS_SLACK_KIB,
                        f"{what}: gateway peak RSS {peak} KiB vs idle {idle} KiB (+{(peak - idle) // 1024} MiB)")

    def test_large_chunked_upload_keeps_memory_flat(self):
        idle = self.idle_rss()
        start = time.monotonic()
        sock = socket.create_connection((self.gw.host, self.gw.port), timeout=TRANSFER_TIMEOUT)
        try:
            sock.sendall(build_request("POST", "/s/bulk", headers=[
                ("Transfer-Encoding", "chunked"), ("X-Echo-Mode", "pause=0.5"), ("Connection", "close")]))
            h = hashlib.sha256()
            for piece in pattern_bytes(BIG, MIB):
                h.update(piece)
                sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()
        elapsed = time.monotonic() - start
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), data[:300])
        rec = json.loads(body)
        self.assertEqual(rec["body_length"], BIG)
        self.assertEqual(rec["body_sha256"], h.hexdigest())
        self.assert_memory(idle, f"{BIG // MIB} MiB chunked upload in {elapsed:.1f}s")

    def test_large_download_keeps_memory_flat(self):
        idle = self.idle_rss()
        start = time.monotonic()
        with self.gw.connect(timeout=TRANSFER_TIMEOUT) as conn:
            conn.send(build_request("GET", "/s/bulk", headers=[("X-Echo-Mode", f"download={BIG}")], close=True))
            _, status, _, headers, raw = conn.read_head()
            self.assertEqual(status, 200, raw)
            time.sleep(0.5)  # a slow reader for a moment: the gateway must not buffer what the upstream sends
            h = hashlib.sha256()
            h.update(conn.buf)
            total = len(conn.buf)
            conn.buf = b""
            lower = {k.lower(): v for k, v in headers}
            self.assertEqual(lower.get("content-length"), str(BIG), raw)
            while total < BIG:
                chunk = conn.sock.recv(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                total += len(chunk)
        elapsed = time.monotonic() - start
        self.assertEqual(total, BIG)
        self.assertEqual(h.hexdigest(), pattern_sha256(BIG))
        self.assert_memory(idle, f"{BIG // MIB} MiB download in {elapsed:.1f}s")


if __name__ == "__main__":
    unittest.main()
