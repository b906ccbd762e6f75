"""http_proxy: the target URL, request/response headers, methods, bodies and framings, with an echo
upstream of our own."""

import hashlib
import json
import os
import time
import unittest

from harness import RawConnection, build_request, chunked_body
from proxy_support import (ORIGIN, ProxyTestCase, hdr, proxy_config, proxy_route, read_lenient,
                           server)
from upstreams import pattern_bytes, pattern_sha256


class ProxyForwardingTest(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = cls.shared_upstream()
        url = cls.up.url
        cls.start_shared(proxy_config(
            [server("echo", url), server("echo-base", url + "/base/"), server("echo-nested", url + "/v2//x/")],
            [proxy_route("/api/{.+}", "echo"),
             proxy_route("/exact/path", "echo"),
             proxy_route("/users/{id}/items", "echo", method="GET"),
             proxy_route("/full/{id}/{.+}", "echo"),
             proxy_route("/b/{.+}", "echo-base"),
             proxy_route("/health-check", "echo-base", method="GET"),
             proxy_route("/n/{.+}", "echo-nested")]))

    def target_of(self, path, **kw):
        record = self.echo(self.send("GET", path, **kw))
        return record["target"]

    # ------------------------------------------------------------------------------ target URL

    def test_wildcard_route_strips_its_literal_prefix_and_keeps_the_query(self):
        self.assertEqual(self.target_of("/api/orders/1?x=1"), "/orders/1?x=1")

    def test_bare_prefix_of_a_wildcard_route_forwards_slash(self):
        self.assertEqual(self.target_of("/api"), "/")
        self.assertEqual(self.target_of("/api/"), "/")

    def test_non_wildcard_routes_forward_the_full_path(self):
        self.assertEqual(self.target_of("/exact/path?y=2"), "/exact/path?y=2")
        self.assertEqual(self.target_of("/users/7/items"), "/users/7/items")
        # a parameter before {.+}: the literal prefix never matches, the full path is forwarded
        self.assertEqual(self.target_of("/full/7/rest/x"), "/full/7/rest/x")

    def test_server_url_path_is_prepended(self):
        self.assertEqual(self.target_of("/health-check?x=1"), "/base/health-check?x=1")
        self.assertEqual(self.target_of("/b/v1/items/2?debug=true"), "/base/v1/items/2?debug=true")
        self.assertEqual(self.target_of("/b"), "/base/")

    def test_runs_of_slashes_collapse(self):
        self.assertEqual(self.target_of("/api//a///b"), "/a/b")
        self.assertEqual(self.target_of("/n/q"), "/v2/x/q")
        self.assertEqual(self.target_of("/n//q//r"), "/v2/x/q/r")

    def test_query_string_is_kept_exactly_as_sent(self):
        self.assertEqual(self.target_of("/api/q?a=%2F&b=c+d&e=%7e&f&g=&a=2"), "/q?a=%2F&b=c+d&e=%7e&f&g=&a=2")

    def test_percent_encoding_in_the_path_is_untouched(self):
        self.assertEqual(self.target_of("/api/a%2Fb/%20c"), "/a%2Fb/%20c")

    def test_empty_query_is_not_forwarded(self):
        self.assertEqual(self.target_of("/api/x?"), "/x")

    # --------------------------------------------------------------------------- request headers

    def test_hop_by_hop_request_headers_are_removed(self):
        rec = self.echo(self.send("GET", "/api/h", headers=[
            ("Connection", "keep-alive, X-Hop-A"), ("X-Hop-A", "named-by-connection"), ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"), ("Trailer", "X-Trailer"), ("Upgrade", "websocket"),
            ("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"), ("Proxy-Connection", "keep-alive"),
            ("X-End-To-End", "kept")]))
        for name in ("x-hop-a", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection"):
            self.assertEqual(hdr(rec, name), [], f"{name} reached the upstream: {rec['header_list']}")
        for value in hdr(rec, "connection"):
            self.assertNotIn("x-hop-a", value.lower(), rec["header_list"])
        self.assertEqual(hdr(rec, "x-end-to-end"), ["kept"])

    def test_fields_named_by_any_connection_line_are_removed_in_any_case(self):
        rec = self.echo(self.send("GET", "/api/h", headers=[
            ("Connection", "Keep-Alive"), ("connection", "x-hop-b , UPGRADE"), ("X-HOP-B", "1"),
            ("Connection", "X-Forwarded-For"), ("X-Forwarded-For", "203.0.113.9"), ("X-Kept", "1")]))
        self.assertEqual(hdr(rec, "x-hop-b"), [], rec["header_list"])
        # The client's X-Forwarded-For is hop-by-hop here: only the gateway's own address goes on.
        self.assertEqual(hdr(rec, "x-forwarded-for"), ["127.0.0.1"], rec["header_list"])
        self.assertEqual(hdr(rec, "upgrade"), [], rec["header_list"])
        self.assertEqual(hdr(rec, "x-kept"), ["1"])

    def test_end_to_end_request_headers_pass_including_cookies_and_authorization(self):
        rec = self.echo(self.send("GET", "/api/h", headers=[
            ("Cookie", "session=abc; theme=dark"), ("Authorization", "Bearer client-token"),
            ("X-Custom", "v 1"), ("X-Multi", "1"), ("X-Multi", "2"), ("User-Agent", "wg-e2e/1.0"),
            ("Accept", "application/json")]))
        self.assertEqual(hdr(rec, "cookie"), ["session=abc; theme=dark"])
        self.assertEqual(hdr(rec, "authorization"), ["Bearer client-token"])
        self.assertEqual(hdr(rec, "x-custom"), ["v 1"])
        self.assertEqual(hdr(rec, "x-multi"), ["1", "2"])
        self.assertEqual(hdr(rec, "user-agent"), ["wg-e2e/1.0"])
        self.assertEqual(hdr(rec, "accept"), ["application/json"])

    def test_host_is_the_upstream_authority_and_forwarded_headers_are_set(self):
        rec = self.echo(self.send("GET", "/api/h", headers=[("Host", "gw.example.test:8443")]))
        self.assertEqual(hdr(rec, "host"), [f"127.0.0.1:{self.up.port}"])
        self.assertEqual(hdr(rec, "x-forwarded-for"), ["127.0.0.1"])
        self.assertEqual(hdr(rec, "x-forwarded-proto"), ["http"])
        self.assertEqual(hdr(rec, "x-forwarded-host"), ["gw.example.test:8443"])

    def test_parked_keep_alive_connections_keep_their_client_address(self):
        # Idle through two shard sweeps, a connection parks and gives its exchange back to the shard's
        # spares; its next request takes one again, maybe another connection's: each must still carry
        # its own client address. A parks, then B; A wakes first and gets B's old exchange.
        a = RawConnection(self.gw.host, self.gw.port, source="127.0.0.2")
        b = RawConnection(self.gw.host, self.gw.port, source="127.0.0.3")
        self.addCleanup(a.close)
        self.addCleanup(b.close)

        def forwarded_for(conn):
            conn.send(b"GET /api/parked HTTP/1.1\r\nHost: gw.test\r\n\r\n")
            return hdr(json.loads(conn.read_response().body), "x-forwarded-for")

        self.assertEqual(forwarded_for(a), ["127.0.0.2"])
        time.sleep(0.35)  # A parked (idle through two sweeps of 100 ms)
        self.assertEqual(forwarded_for(b), ["127.0.0.3"])
        time.sleep(0.35)  # B parked after A
        for _ in range(2):
            self.assertEqual(forwarded_for(a), ["127.0.0.2"])
            self.assertEqual(forwarded_for(b), ["127.0.0.3"])
            time.sleep(0.35)

    def test_x_forwarded_for_is_appended_to_the_clients_list(self):
        rec = self.echo(self.send("GET", "/api/h", headers=[
            ("X-Forwarded-For", "203.0.113.9, 198.51.100.2"), ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "spoofed.example")]))
        self.assertEqual(hdr(rec, "x-forwarded-for"), ["203.0.113.9, 198.51.100.2, 127.0.0.1"])
        self.assertEqual(hdr(rec, "x-forwarded-proto"), ["http"])
        self.assertEqual(hdr(rec, "x-forwarded-host"), ["127.0.0.1"])

    def test_x_forwarded_for_sent_on_several_lines_is_kept_whole(self):
        rec = self.echo(self.send("GET", "/api/h", headers=[
            ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "198.51.100.2")]))
        self.assertEqual(", ".join(hdr(rec, "x-forwarded-for")), "203.0.113.9, 198.51.100.2, 127.0.0.1",
                         rec["header_list"])

    # -------------------------------------------------------------------------- response headers

    def test_status_headers_and_body_pass_back_without_hop_by_hop_with_cors_and_identity(self):
        resp = self.send("GET", "/api/r", headers=[("X-Echo-Mode", "status=201,resp-hop"), ("Origin", ORIGIN)])
        rec = self.echo(resp, status=201)
        self.assertEqual(rec["path"], "/r")
        self.assertEqual(resp.header_all("Set-Cookie"), ["a=1; Path=/", "b=2; Path=/"], repr(resp))
        self.assertEqual(resp.header("X-Upstream"), "yes", repr(resp))
        self.assertEqual(resp.header("Cache-Control"), "no-store", repr(resp))
        self.assertEqual(resp.header("X-Echo-Server"), "1", repr(resp))
        for name in ("X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Proxy-Connection", "Trailer"):
            self.assertEqual(resp.header_all(name), [], f"{name} passed back: {resp!r}")
        for value in resp.header_all("Connection"):
            self.assertNotIn("x-resp-hop", value.lower(), repr(resp))
        self.assertCors(resp)  # the gateway's CORS headers and exactly one X-Powered-By: workgate

    def test_proxied_response_has_cors_and_identity_headers(self):
        resp = self.send("GET", "/api/plain", headers=[("Origin", ORIGIN)])
        self.echo(resp)
        self.assertCors(resp)

    # ----------------------------------------------------------------------------------- bodies

    def test_content_length_body_is_forwarded(self):
        body = os.urandom(1000)
        rec = self.echo(self.send("POST", "/api/upload", headers=[("Content-Type", "application/octet-stream")],
                                  body=body))
        self.assertEqual(rec["method"], "POST")
        self.assertEqual(rec["body_length"], 1000)
        self.assertEqual(rec["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(hdr(rec, "content-length"), ["1000"])
        self.assertEqual(hdr(rec, "transfer-encoding"), [])
        self.assertEqual(hdr(rec, "content-type"), ["application/octet-stream"])

    def test_methods_with_bodies_pass(self):
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            with self.subTest(method=method):
                rec = self.echo(self.send(method, "/api/m", body=f"body of {method}"))
                self.assertEqual(rec["method"], method)
                self.assertEqual(rec["body"], f"body of {method}")

    def test_get_without_body_has_no_framing_headers_upstream(self):
        rec = self.echo(self.send("GET", "/api/nobody"))
        self.assertEqual(rec["body_length"], 0)
        self.assertEqual(hdr(rec, "transfer-encoding"), [])
        self.assertIn(hdr(rec, "content-length"), ([], ["0"]))

    def test_empty_post_has_content_length_0(self):
        rec = self.echo(self.send("POST", "/api/empty", body=b""))
        self.assertEqual((rec["method"], rec["body_length"]), ("POST", 0))
        self.assertEqual(hdr(rec, "content-length"), ["0"])
        self.assertEqual(hdr(rec, "transfer-encoding"), [])

    def test_small_chunked_request_body_is_reframed(self):
        body = b"hello chunked world, " * 10
        resp = self.send("POST", "/api/chunked", headers=[("Transfer-Encoding", "chunked")],
                         body=chunked_body(body, 37))
        rec = self.echo(resp)
        self.assertEqual(rec["body_length"], len(body))
        self.assertEqual(rec["body"], body.decode())
        framing = (hdr(rec, "content-length"), hdr(rec, "transfer-encoding"))
        self.assertIn(framing, (([str(len(body))], []), ([], ["chunked"])), rec["header_list"])

    def test_large_chunked_request_body_is_forwarded(self):
        body = b"".join(pattern_bytes(300 * 1024 + 17))
        resp = self.send("POST", "/api/big", headers=[("Transfer-Encoding", "chunked")], body=chunked_body(body, 8000))
        rec = self.echo(resp)
        self.assertEqual(rec["body_length"], len(body))
        self.assertEqual(rec["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertFalse(hdr(rec, "content-length") and hdr(rec, "transfer-encoding"), rec["header_list"])

    def test_large_content_length_body_is_forwarded(self):
        body = b"".join(pattern_bytes(1024 * 1024 + 3))
        rec = self.echo(self.send("PUT", "/api/big", body=body))
        self.assertEqual(rec["body_length"], len(body))
        self.assertEqual(rec["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(hdr(rec, "content-length"), [str(len(body))])

    def expect_continue(self, size):
        body = b"".join(pattern_bytes(size))
        with self.gw.connect() as conn:
            conn.send(build_request("POST", "/api/expect", headers=[
                ("Expect", "100-continue"), ("Content-Length", str(size)), ("Connection", "close")]))
            head = conn.read_head()
            self.assertEqual(head[1], 100, f"expected 100 Continue before sending the body, got {head}")
            conn.send(body)
            rec = self.echo(conn.read_response())
        self.assertEqual(rec["body_length"], size)
        self.assertEqual(rec["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_expect_100_continue_small_body(self):
        self.expect_continue(2000)

    def test_expect_100_continue_large_body(self):
        self.expect_continue(512 * 1024)

    # -------------------------------------------------------------------- response framings

    def test_head_has_no_body_and_passes_the_upstream_content_length(self):
        with self.gw.connect() as conn:
            conn.send(build_request("HEAD", "/api/file", headers=[("X-Echo-Mode", "download=123456")]))
            resp = conn.read_response(head=True)
            self.assertEqual(resp.status, 200, repr(resp))
            self.assertEqual(resp.header("Content-Length"), "123456", repr(resp))
            self.assertEqual(resp.body, b"")
            self.assertEqual(self.up.requests[-1]["method"], "HEAD")
            # nothing stray on the connection: the next response parses
            conn.send(build_request("GET", "/api/after-head", close=True))
            self.assertEqual(self.echo(conn.read_response())["path"], "/after-head")

    def test_head_on_a_chunked_upstream_response_has_no_body(self):
        with self.gw.connect() as conn:
            conn.send(build_request("HEAD", "/api/hc", headers=[("X-Echo-Mode", "chunked")]))
            resp = conn.read_response(head=True)
            self.assertEqual((resp.status, resp.body), (200, b""), repr(resp))
            conn.send(build_request("GET", "/api/after-head", close=True))
            self.assertEqual(self.echo(conn.read_response())["path"], "/after-head")

    def test_pipelined_requests_are_answered_in_order(self):
        with self.gw.connect() as conn:
            conn.send(build_request("GET", "/api/first", headers=[("X-Echo-Mode", "delay=0.3")])
                      + build_request("POST", "/api/second", body="2")
                      + build_request("GET", "/api/third", close=True))
            paths = [self.echo(conn.read_response())["path"] for _ in range(3)]
        self.assertEqual(paths, ["/first", "/second", "/third"])

    def test_head_request_on_a_get_route_is_sent_as_head(self):
        resp = self.send("HEAD", "/users/7/items")
        self.assertEqual((resp.status, resp.body), (200, b""), repr(resp))
        self.assertEqual((self.up.requests[-1]["method"], self.up.requests[-1]["path"]), ("HEAD", "/users/7/items"))

    def test_204_and_304_have_no_body_and_keep_the_connection_usable(self):
        with self.gw.connect() as conn:
            conn.send(build_request("GET", "/api/nc", headers=[("X-Echo-Mode", "status=204")]))
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (204, b""), repr(resp))
            conn.send(build_request("GET", "/api/nm", headers=[
                ("X-Echo-Mode", "status=304"), ("X-Echo-Respond-Header", 'ETag: "v1"'),
                ("If-None-Match", '"v1"')]))
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (304, b""), repr(resp))
            self.assertEqual(resp.header("ETag"), '"v1"', repr(resp))
            self.assertEqual(hdr(self.up.requests[-1], "if-none-match"), ['"v1"'])
            conn.send(build_request("GET", "/api/after", close=True))
            self.assertEqual(self.echo(conn.read_response())["path"], "/after")

    def test_chunked_upstream_response_passes(self):
        with self.gw.connect() as conn:
            conn.send(build_request("GET", "/api/c", headers=[("X-Echo-Mode", "chunked")]))
            rec = self.echo(conn.read_response())
            self.assertEqual(rec["path"], "/c")
            conn.send(build_request("GET", "/api/c2", close=True))
            self.assertEqual(self.echo(conn.read_response())["path"], "/c2")

    def test_close_delimited_upstream_response_passes_whole(self):
        with self.gw.connect() as conn:
            conn.send(build_request("GET", "/api/eof", headers=[("X-Echo-Mode", "eof")]))
            resp = read_lenient(conn)
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertTrue(resp.complete, repr(resp))
        self.assertEqual(json.loads(resp.body)["path"], "/eof")

    def test_large_close_delimited_download_passes_whole(self):
        size = 3 * 1024 * 1024 + 5
        with self.gw.connect() as conn:
            conn.send(build_request("GET", "/api/eofdl", headers=[("X-Echo-Mode", f"download={size},eof")]))
            resp = read_lenient(conn, timeout=20)
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertTrue(resp.complete, repr(resp))
        self.assertEqual(len(resp.body), size)
        self.assertEqual(hashlib.sha256(resp.body).hexdigest(), pattern_sha256(size))

    def test_chunked_download_passes_whole(self):
        size = 2 * 1024 * 1024 + 1
        with self.gw.connect() as conn:
            conn.send(build_request("GET", "/api/cdl", headers=[("X-Echo-Mode", f"download={size},chunked")],
                                    close=True))
            resp = read_lenient(conn, timeout=20)
        self.assertTrue(resp.complete and resp.status == 200, repr(resp))
        self.assertEqual(hashlib.sha256(resp.body).hexdigest(), pattern_sha256(size))

    def test_upstream_interim_100_is_not_the_final_response(self):
        with self.gw.connect() as conn:
            conn.send(build_request("GET", "/api/interim", headers=[("X-Echo-Mode", "interim")]))
            resp = conn.read_response(skip_interim=False)
            self.assertEqual(resp.status, 200, repr(resp))
            self.assertEqual(resp.json()["path"], "/interim")
            conn.send(build_request("GET", "/api/after", close=True))
            self.assertEqual(self.echo(conn.read_response())["path"], "/after")


if __name__ == "__main__":
    unittest.main()
