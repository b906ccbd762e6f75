"""http_proxy: the pooled upstream client (keep-alive, max_connections, idle timeout, stale connections),
HTTPS upstreams with a CA made for the test, and the failure answers."""

import concurrent.futures
import json
import socket
import tempfile
import time
import unittest

from harness import build_request
from harness import run_cli
from proxy_support import (BAD_RESPONSE, ORIGIN, TIMED_OUT, UNAVAILABLE, ProxyTestCase, hdr, proxy_config, proxy_route,
                           read_lenient, refused_port, server)
from upstreams import make_tls_files, server_tls_context


class KeepAliveTest(ProxyTestCase):
    def test_sequential_requests_reuse_upstream_connections(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("echo", up.url)], [proxy_route("/k/{.+}", "echo")]), threads=2)
        for i in range(30):  # each on a fresh client connection
            self.assertEqual(self.echo(gw.request("GET", f"/k/{i}"))["path"], f"/{i}")
        with gw.connect() as conn:  # and on one kept-alive client connection
            for i in range(20):
                conn.send(build_request("GET", f"/k/ka{i}"))
                self.assertEqual(self.echo(conn.read_response())["path"], f"/ka{i}")
        self.assertLessEqual(up.connections, 2, f"{up.connections} upstream connections for 50 sequential requests "
                                                f"(2 gateway threads){self.context()}")

    def test_upstream_connection_announced_as_closing_is_not_reused(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("echo", up.url)], [proxy_route("/k/{.+}", "echo")]), threads=1)
        with gw.connect() as conn:
            for i in range(4):
                conn.send(build_request("GET", f"/k/{i}", headers=[("X-Echo-Respond-Header", "Connection: close")]))
                self.assertEqual(self.echo(conn.read_response())["path"], f"/{i}")
        self.assertEqual(up.connections, 4, "a connection the upstream announced as closing was reused")

    def test_concurrent_requests_all_succeed(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("echo", up.url)], [proxy_route("/c/{.+}", "echo")]), threads=2)

        def call(i):
            try:
                return gw.request("POST", f"/c/{i}", headers=[("X-Echo-Mode", "delay=0.1")], body=f"b{i}")
            except (ConnectionError, OSError) as e:
                return e

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(call, range(20), timeout=20))
        outcomes = [r.status if hasattr(r, "status") else f"no response: {r}" for r in responses]
        self.assertEqual(outcomes, [200] * 20, self.context())
        self.assertEqual([self.echo(r)["body"] for r in responses], [f"b{i}" for i in range(20)])

    def test_max_connections_1_queues_concurrent_requests(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("one", up.url, max_connections=1)], [proxy_route("/q/{.+}", "one")]),
                        threads=1)

        def call(i):
            try:
                return gw.request("GET", f"/q/{i}", headers=[("X-Echo-Mode", "delay=0.2")])
            except (ConnectionError, OSError) as e:
                return e

        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(call, range(6), timeout=20))
        elapsed = time.monotonic() - start
        outcomes = [r.status if hasattr(r, "status") else f"no response: {r}" for r in responses]
        self.assertEqual(outcomes, [200] * 6, f"6 concurrent requests through max_connections=1{self.context()}")
        for i, resp in enumerate(responses):
            self.assertEqual(self.echo(resp)["path"], f"/{i}")
        self.assertEqual(up.max_inflight, 1, f"the upstream saw {up.max_inflight} concurrent requests")
        self.assertEqual(up.max_active, 1, f"the upstream saw {up.max_active} concurrent connections")
        self.assertGreaterEqual(elapsed, 6 * 0.2 - 0.05)

    def test_waiting_for_a_connection_is_bounded_by_timeout_ms(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("one", up.url, max_connections=1, timeout_ms=500)],
                                     [proxy_route("/q/{.+}", "one")]), threads=1)
        holder = concurrent.futures.ThreadPoolExecutor(1)
        self.addCleanup(holder.shutdown)
        held = holder.submit(gw.request, "GET", "/q/held", headers=[("X-Echo-Mode", "delay=0.45")])
        self.assertTrue(up.wait_for(lambda u: u.inflight == 1, timeout=3))
        start = time.monotonic()
        try:
            resp = gw.request("GET", "/q/queued", headers=[("Origin", ORIGIN), ("X-Echo-Mode", "delay=1")])
        except ConnectionError as e:
            self.fail(f"a request queued behind max_connections=1 got no response: {e}{self.context()}")
        elapsed = time.monotonic() - start
        # queued 0.45 s, then the upstream takes 1 s more: over timeout_ms=500 however it is counted
        self.assertGatewayError(resp, 504, TIMED_OUT)
        self.assertLess(elapsed, 2.5)
        self.assertEqual(held.result(timeout=5).status, 200)

    def test_idle_pooled_connection_is_closed_after_idle_timeout(self):
        up = self.upstream()
        gw = self.start(proxy_config([server("echo", up.url, idle_timeout_ms=200)], [proxy_route("/i/{.+}", "echo")]))
        self.echo(gw.request("GET", "/i/x"))
        self.assertEqual(up.active, 1, "the upstream connection should be kept for reuse")
        closed = up.wait_for(lambda u: u.active == 0, timeout=3)
        self.assertTrue(closed, "the idle upstream connection was not closed after idle_timeout_ms=200")
        self.echo(gw.request("GET", "/i/y"))
        self.assertEqual(up.connections, 2)


class StaleConnectionTest(ProxyTestCase):
    def test_get_after_upstream_closed_the_idle_connection_succeeds(self):
        # the upstream answers keep-alive style (no Connection: close) and closes right after
        up = self.upstream(default_mode="drop")
        gw = self.start(proxy_config([server("echo", up.url)], [proxy_route("/st/{.+}", "echo")]), threads=1)
        with gw.connect() as conn:
            for i in range(25):
                conn.send(build_request("GET", f"/st/{i}"))
                resp = conn.read_response()
                self.assertEqual(resp.status, 200, f"request {i}: {resp!r}{self.context()}")
                self.assertEqual(resp.json()["path"], f"/{i}")
        for i in range(10):  # and with a short pause, the close surely arrived before the next request
            time.sleep(0.05)
            self.assertEqual(self.echo(gw.request("GET", f"/st/p{i}"))["path"], f"/p{i}")

    def test_idempotent_put_after_upstream_closed_the_idle_connection_succeeds(self):
        up = self.upstream(default_mode="drop")
        gw = self.start(proxy_config([server("echo", up.url)], [proxy_route("/st/{.+}", "echo")]), threads=1)
        with gw.connect() as conn:
            for i in range(15):
                conn.send(build_request("PUT", f"/st/{i}", body=f"put {i}"))
                resp = conn.read_response()
                self.assertEqual(resp.status, 200, f"request {i}: {resp!r}{self.context()}")
                self.assertEqual(resp.json()["body"], f"put {i}")

    def post_reset(self, warm, body):
        up = self.upstream()
        gw = self.start(proxy_config([server("echo", up.url)], [proxy_route("/pr/{.+}", "echo")]), threads=1)
        with gw.connect() as conn:
            if warm:  # a pooled keep-alive connection exists
                conn.send(build_request("GET", "/pr/warm"))
                self.echo(conn.read_response())
            conn.send(build_request("POST", "/pr/once", headers=[("X-Echo-Mode", "reset"), ("Origin", ORIGIN)],
                                    body=body, close=True))
            resp = conn.read_response()
        self.assertGatewayError(resp, 502, UNAVAILABLE)
        time.sleep(0.5)  # a replay would arrive by now
        posts = [r for r in up.requests if r["method"] == "POST"]
        self.assertEqual(len(posts), 1, f"the POST reached the upstream {len(posts)} times{self.context()}")

    def test_post_reset_without_answer_is_502_and_not_replayed(self):
        self.post_reset(warm=False, body=b"payload")

    def test_post_reset_on_a_reused_connection_is_502_and_not_replayed(self):
        self.post_reset(warm=True, body=b"payload")

    def test_streamed_post_reset_is_502_and_not_replayed(self):
        self.post_reset(warm=True, body=b"z" * (256 * 1024))


class TlsTest(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="wg-e2e-tls-")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.files = make_tls_files(cls.tmp.name)

    def tls_upstream(self, name):
        return self.upstream(ssl_context=server_tls_context(self.files[f"{name}.pem"], self.files[f"{name}.key"]))

    def config(self, entries):
        return proxy_config([server(alias, url, **extra) for alias, url, extra in entries],
                            [proxy_route(f"/{alias}/{{.+}}", alias) for alias, _, _ in entries])

    def test_https_upstream_trusted_via_ca_file_flag(self):
        up = self.tls_upstream("server")
        gw = self.start(self.config([("ip", f"https://127.0.0.1:{up.port}", {}),
                                     ("name", f"https://localhost:{up.port}", {})]),
                        args=["--ca-file", self.files["ca.pem"]])
        rec = self.echo(gw.request("GET", "/ip/x?y=1"))
        self.assertEqual((rec["target"], hdr(rec, "host")), ("/x?y=1", [f"127.0.0.1:{up.port}"]))
        rec = self.echo(gw.request("POST", "/name/z", body="secret body"))
        self.assertEqual((rec["path"], rec["body"], hdr(rec, "host")), ("/z", "secret body", [f"localhost:{up.port}"]))

    def test_https_upstream_trusted_via_server_ca_file(self):
        up = self.tls_upstream("server")
        gw = self.start(self.config([("ip", f"https://127.0.0.1:{up.port}", {"ca_file": self.files["ca.pem"]}),
                                     ("noca", f"https://127.0.0.1:{up.port}", {})]))
        self.assertEqual(self.echo(gw.request("GET", "/ip/x"))["path"], "/x")
        # the CA of one server entry is not trusted for another one
        self.assertGatewayError(gw.request("GET", "/noca/x", headers=[("Origin", ORIGIN)]), 502, UNAVAILABLE)

    def test_untrusted_self_signed_upstream_is_502(self):
        up = self.tls_upstream("selfsigned")
        gw = self.start(self.config([("ip", f"https://127.0.0.1:{up.port}", {}),
                                     ("name", f"https://localhost:{up.port}", {})]),
                        args=["--ca-file", self.files["ca.pem"]])
        for path in ("/ip/x", "/name/x"):
            self.assertGatewayError(gw.request("GET", path, headers=[("Origin", ORIGIN)]), 502, UNAVAILABLE)
        self.assertEqual(up.requests, [], "a request reached an unverified upstream")

    def test_certificate_for_another_name_is_502(self):
        up = self.tls_upstream("wrongname")
        gw = self.start(self.config([("ip", f"https://127.0.0.1:{up.port}", {}),
                                     ("name", f"https://localhost:{up.port}", {})]),
                        args=["--ca-file", self.files["ca.pem"]])
        for path in ("/ip/x", "/name/x"):
            self.assertGatewayError(gw.request("GET", path, headers=[("Origin", ORIGIN)]), 502, UNAVAILABLE)
        self.assertEqual(up.requests, [], "a request reached an upstream with a certificate for another name")


class CaFileStartupTest(unittest.TestCase):
    def serve_fails(self, cfg, args):
        d = tempfile.TemporaryDirectory(prefix="wg-e2e-ca-")
        self.addCleanup(d.cleanup)
        path = f"{d.name}/config.json"
        with open(path, "w") as f:
            json.dump(cfg, f)
        r = run_cli(["serve", "--config", path, "--listen", f"127.0.0.1:{refused_port()}", *args], timeout=10)
        self.assertNotEqual(r.returncode, 0, r)
        return r

    def test_unloadable_server_ca_file_is_a_startup_error(self):
        cfg = proxy_config([server("s", "https://127.0.0.1:9", ca_file="/nonexistent/wg-e2e-ca.pem")],
                           [proxy_route("/s/{.+}", "s")])
        r = self.serve_fails(cfg, [])
        self.assertIn("/servers/0", r.output, r)

    def test_unloadable_ca_file_flag_is_a_startup_error(self):
        cfg = proxy_config([server("s", "https://127.0.0.1:9")], [proxy_route("/s/{.+}", "s")])
        r = self.serve_fails(cfg, ["--ca-file", "/nonexistent/wg-e2e-ca.pem"])
        self.assertIn("/nonexistent/wg-e2e-ca.pem", r.output, r)


class FailureTest(ProxyTestCase):
    def gateway_for(self, url, threads=2, **server_extra):
        return self.start(proxy_config([server("up", url, **server_extra)], [proxy_route("/f/{.+}", "up")]),
                          threads=threads)

    def test_connection_refused_is_502_unavailable(self):
        gw = self.gateway_for(f"http://127.0.0.1:{refused_port()}")
        self.assertGatewayError(gw.request("GET", "/f/x", headers=[("Origin", ORIGIN)]), 502, UNAVAILABLE)
        self.assertGatewayError(gw.request("POST", "/f/x", headers=[("Origin", ORIGIN)], body="b"), 502, UNAVAILABLE)

    def test_dns_failure_is_502_unavailable(self):
        gw = self.gateway_for("http://nonexistent.invalid", timeout_ms=5000, connect_timeout_ms=5000)
        self.assertGatewayError(gw.request("GET", "/f/x", headers=[("Origin", ORIGIN)]), 502, UNAVAILABLE)

    def test_upstream_that_never_answers_is_504_after_timeout_ms(self):
        up = self.upstream(default_mode="hang")
        gw = self.gateway_for(up.url, timeout_ms=300)
        start = time.monotonic()
        resp = gw.request("GET", "/f/x", headers=[("Origin", ORIGIN)])
        elapsed = time.monotonic() - start
        self.assertGatewayError(resp, 504, TIMED_OUT)
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 3.0)

    def test_connect_timeout_is_504(self):
        # a listening socket whose accept queue is full: SYNs are dropped, connect() hangs
        ls = socket.socket()
        self.addCleanup(ls.close)
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        port = ls.getsockname()[1]
        fillers = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(s)
            self.addCleanup(s.close)
        probe = socket.socket()
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", port))
            probe.close()
            self.skipTest("could not make a loopback listener whose connect() hangs")
        except (socket.timeout, TimeoutError):
            probe.close()
        gw = self.gateway_for(f"http://127.0.0.1:{port}", connect_timeout_ms=300, timeout_ms=10000)
        start = time.monotonic()
        resp = gw.request("GET", "/f/x", headers=[("Origin", ORIGIN)])
        elapsed = time.monotonic() - start
        self.assertGatewayError(resp, 504, TIMED_OUT)
        self.assertLess(elapsed, 3.0, "connect_timeout_ms=300 was not applied")

    def mid_body(self, mode):
        up = self.upstream()
        gw = self.gateway_for(up.url)
        with gw.connect() as conn:
            conn.send(build_request("GET", "/f/body", headers=[("X-Echo-Mode", mode)]))
            resp = read_lenient(conn, timeout=5)
            closed = resp.closed or conn.closed_by_server(timeout=3)
        self.assertFalse(resp.status == 200 and resp.complete,
                         f"a body cut by the upstream looks complete to the client: {resp!r}{self.context()}")
        if resp.status == 200:
            self.assertTrue(closed, f"the client connection was not closed after a truncated body: {resp!r}")
        # the gateway keeps serving
        self.assertEqual(self.echo(gw.request("GET", "/f/after"))["path"], "/after")

    def test_upstream_dying_mid_content_length_body_closes_the_client_connection(self):
        self.mid_body("truncate=10")

    def test_upstream_dying_mid_chunked_body_closes_the_client_connection(self):
        self.mid_body("chunked-truncate")

    def test_upstream_stalling_mid_body_closes_the_client_connection_after_timeout_ms(self):
        up = self.upstream()
        gw = self.gateway_for(up.url, timeout_ms=500)
        start = time.monotonic()
        with gw.connect(timeout=8) as conn:
            conn.send(build_request("GET", "/f/stall", headers=[("X-Echo-Mode", "download=4000000,gate=never")]))
            try:
                resp = read_lenient(conn, timeout=8)
            except TimeoutError:
                self.fail("the client connection stayed open 8 s after the upstream stalled mid-body "
                          f"(timeout_ms=500){self.context()}")
        elapsed = time.monotonic() - start
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertFalse(resp.complete, repr(resp))
        self.assertTrue(resp.closed, repr(resp))
        self.assertLess(elapsed, 4.0)
        up.release("never")

    def test_expect_100_continue_is_not_sent_when_the_upstream_is_unreachable(self):
        gw = self.gateway_for(f"http://127.0.0.1:{refused_port()}")
        with gw.connect() as conn:
            conn.send(build_request("POST", "/f/x", headers=[
                ("Expect", "100-continue"), ("Content-Length", str(1024 * 1024)), ("Origin", ORIGIN)]))
            resp = conn.read_response(skip_interim=False)
        self.assertGatewayError(resp, 502, UNAVAILABLE)

    def test_garbage_response_is_502(self):
        up = self.upstream(default_mode="garbage")
        gw = self.gateway_for(up.url)
        self.assertGatewayError(gw.request("GET", "/f/x", headers=[("Origin", ORIGIN)]), 502, BAD_RESPONSE)

    def test_upstream_closing_without_answer_is_502(self):
        up = self.upstream(default_mode="close")
        gw = self.gateway_for(up.url)
        self.assertGatewayError(gw.request("POST", "/f/x", headers=[("Origin", ORIGIN)], body="b"), 502, UNAVAILABLE)


if __name__ == "__main__":
    unittest.main()
