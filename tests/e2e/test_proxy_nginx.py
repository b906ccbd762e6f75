"""http_proxy in front of a real nginx (/usr/sbin/nginx, skipped when missing): static files, HEAD,
conditional and range requests, forwarded headers as nginx sees them, keep-alive reuse, uploads
through nginx's WebDAV PUT (Content-Length and chunked)."""

import hashlib
import os
import re
import unittest

from harness import build_request
from proxy_support import ORIGIN, ProxyTestCase, proxy_config, proxy_route, server
from upstreams import Nginx, pattern_bytes

BLOB = os.urandom(1024 * 1024 + 7)

LOCATIONS = r"""
    location = /whoami {
      default_type text/plain;
      return 200 "host=$http_host|xff=$http_x_forwarded_for|proto=$http_x_forwarded_proto|xfh=$http_x_forwarded_host|uri=$request_uri|conn=$connection|reqs=$connection_requests|cookie=$http_cookie|auth=$http_authorization|te=$http_te|pauth=$http_proxy_authorization|hop=$http_x_hop\n";
    }
    location /static/ {
      etag on;
    }
    location /dav/ {
      dav_methods PUT DELETE;
      create_full_put_path on;
      client_max_body_size 64m;
    }
    location = /nothing {
      return 204;
    }
"""


class ProxyNginxTest(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.nginx = Nginx(LOCATIONS)
        cls.addClassCleanup(cls.nginx.cleanup)
        os.makedirs(os.path.join(cls.nginx.root, "static"))
        with open(os.path.join(cls.nginx.root, "static", "blob.bin"), "wb") as f:
            f.write(BLOB)
        cls.start_shared(proxy_config([server("nginx", cls.nginx.url)], [proxy_route("/ng/{.+}", "nginx")]))

    def context(self, gw=None):
        return super().context(gw) + "\n--- nginx error.log ---\n" + self.nginx.error_log()

    def whoami(self, resp):
        self.assertEqual(resp.status, 200, f"{resp!r}{self.context()}")
        return dict(item.split("=", 1) for item in resp.text.strip().split("|"))

    def test_static_file_passes_with_nginx_headers(self):
        resp = self.send("GET", "/ng/static/blob.bin", headers=[("Origin", ORIGIN)])
        self.assertEqual(resp.status, 200, f"{resp!r}{self.context()}")
        self.assertEqual(hashlib.sha256(resp.body).hexdigest(), hashlib.sha256(BLOB).hexdigest())
        self.assertRegex(resp.header("Server") or "", r"^nginx", repr(resp))
        self.assertIsNotNone(resp.header("ETag"), repr(resp))
        self.assertIsNotNone(resp.header("Last-Modified"), repr(resp))
        self.assertCors(resp)

    def test_head_passes_content_length_without_body(self):
        with self.gw.connect() as conn:
            conn.send(build_request("HEAD", "/ng/static/blob.bin"))
            resp = conn.read_response(head=True)
            self.assertEqual(resp.status, 200, repr(resp))
            self.assertEqual(resp.header("Content-Length"), str(len(BLOB)), repr(resp))
            conn.send(build_request("GET", "/ng/whoami", close=True))
            self.whoami(conn.read_response())

    def test_conditional_and_range_requests(self):
        etag = self.send("GET", "/ng/static/blob.bin").header("ETag")
        resp = self.send("GET", "/ng/static/blob.bin", headers=[("If-None-Match", etag)])
        self.assertEqual((resp.status, resp.body), (304, b""), repr(resp))
        self.assertEqual(resp.header("ETag"), etag, repr(resp))
        resp = self.send("GET", "/ng/static/blob.bin", headers=[("Range", "bytes=0-9")])
        self.assertEqual(resp.status, 206, repr(resp))
        self.assertEqual(resp.body, BLOB[:10])
        self.assertEqual(resp.header("Content-Range"), f"bytes 0-9/{len(BLOB)}", repr(resp))

    def test_forwarded_headers_as_nginx_sees_them(self):
        seen = self.whoami(self.send("GET", "/ng/whoami?x=%2F&y=a+b", headers=[
            ("Host", "front.example:8080"), ("Cookie", "c=1"), ("Authorization", "Bearer t"), ("TE", "trailers"),
            ("Proxy-Authorization", "Basic eA=="), ("Connection", "X-Hop"), ("X-Hop", "1")]))
        self.assertEqual(seen, {
            "host": f"127.0.0.1:{self.nginx.port}", "xff": "127.0.0.1", "proto": "http", "xfh": "front.example:8080",
            "uri": "/whoami?x=%2F&y=a+b", "conn": seen["conn"], "reqs": seen["reqs"], "cookie": "c=1",
            "auth": "Bearer t", "te": "", "pauth": "", "hop": ""})

    def test_keep_alive_connections_are_reused(self):
        seen = [self.whoami(self.send("GET", "/ng/whoami")) for _ in range(12)]
        conns = {s["conn"] for s in seen}
        self.assertLessEqual(len(conns), 2, f"nginx saw connections {sorted(conns)} for 12 sequential requests")
        self.assertGreater(max(int(s["reqs"]) for s in seen), 1)

    def put_and_check(self, name, body, headers, payload):
        resp = self.send("PUT", f"/ng/dav/{name}", headers=headers, body=payload)
        self.assertIn(resp.status, (201, 204), f"{resp!r}{self.context()}")
        with open(os.path.join(self.nginx.root, "dav", name), "rb") as f:
            stored = f.read()
        self.assertEqual(len(stored), len(body))
        self.assertEqual(hashlib.sha256(stored).hexdigest(), hashlib.sha256(body).hexdigest())
        return resp

    def test_upload_with_content_length(self):
        body = b"".join(pattern_bytes(3 * 1024 * 1024 + 1))
        self.put_and_check("cl.bin", body, [], body)

    def test_chunked_upload(self):
        body = b"".join(pattern_bytes(300 * 1024 + 5))
        framed = b"".join(b"%x\r\n" % len(body[i:i + 10000]) + body[i:i + 10000] + b"\r\n"
                          for i in range(0, len(body), 10000)) + b"0\r\n\r\n"
        self.put_and_check("chunked.bin", body, [("Transfer-Encoding", "chunked")], framed)

    def test_204_and_404_from_nginx_pass(self):
        resp = self.send("GET", "/ng/nothing")
        self.assertEqual((resp.status, resp.body), (204, b""), repr(resp))
        resp = self.send("GET", "/ng/static/missing.txt")
        self.assertEqual(resp.status, 404, repr(resp))
        self.assertRegex(resp.text, re.compile("nginx", re.I), repr(resp))


if __name__ == "__main__":
    unittest.main()
