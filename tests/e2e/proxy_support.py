"""Shared pieces of the http_proxy end-to-end tests: configs, a test base with loopback upstreams,
a lenient response reader for truncated bodies."""

import json
import socket
import time

from harness import GatewayTestCase
from upstreams import EchoUpstream

ORIGIN = "https://app.example.com"

CORS = {
    "allow_origins": [ORIGIN],
    "allow_methods": ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"],
    "allow_headers": ["Content-Type", "Authorization"],
    "expose_headers": ["X-Upstream"],
    "allow_credentials": False,
    "max_age": 60,
}

CORS_HEADERS = {
    "Access-Control-Allow-Origin": ORIGIN,
    "Access-Control-Allow-Methods": "GET,POST,PUT,DELETE,OPTIONS,PATCH",
    "Access-Control-Allow-Headers": "Content-Type,Authorization",
    "Access-Control-Expose-Headers": "X-Upstream",
    "Access-Control-Allow-Credentials": "false",
    "Access-Control-Max-Age": "60",
    "X-Powered-By": "workgate",
}

UNAVAILABLE = {"error": "Upstream unavailable", "code": "UPSTREAM_UNAVAILABLE"}
TIMED_OUT = {"error": "Upstream timed out", "code": "UPSTREAM_TIMEOUT"}
BAD_RESPONSE = {"error": "Invalid response from upstream", "code": "UPSTREAM_BAD_RESPONSE"}


def server(alias, url, **extra):
    entry = {"alias": alias, "url": url}
    entry.update(extra)
    return entry


def proxy_route(path, alias, method="ANY", **extra):
    route = {"method": method, "path": path, "integration": {"type": "http_proxy", "server": alias}}
    route.update(extra)
    return route


def proxy_config(servers, paths, **extra):
    cfg = {"servers": servers, "cors": CORS, "paths": paths}
    cfg.update(extra)
    return cfg


def refused_port():
    """A loopback port nothing listens on (bound then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lenient:
    """A response read without trusting the framing: complete tells whether the body was whole."""

    def __init__(self, status, headers, body, complete, closed, raw_head):
        self.status = status
        self.headers = headers
        self.body = body
        self.complete = complete
        self.closed = closed
        self.raw_head = raw_head

    def header(self, name):
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None

    def __repr__(self):
        return (f"<Lenient {self.status} complete={self.complete} closed={self.closed} body={len(self.body)}B\n"
                f"{self.raw_head.decode('latin-1')}{self.body[:200]!r}>")


def read_lenient(conn, timeout=5.0, head_request=False, head=None):
    """Reads one response from a harness RawConnection until its framing is satisfied or the server
    closes; never raises on a truncated body. head: a head already read with conn.read_head()."""
    conn.sock.settimeout(timeout)
    version, status, reason, headers, raw = head or conn.read_head()
    while 100 <= status < 200:
        version, status, reason, headers, raw = conn.read_head()
    lower = {k.lower(): v for k, v in headers}
    deadline = time.monotonic() + timeout

    def fill():
        if time.monotonic() > deadline:
            raise TimeoutError("response body not finished in time")
        conn._fill()

    body = b""
    complete = False
    closed = False
    try:
        if head_request or status in (204, 304):
            complete = True
        elif "chunked" in lower.get("transfer-encoding", "").lower():
            while True:
                while b"\r\n" not in conn.buf:
                    fill()
                line, conn.buf = conn.buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while b"\r\n" not in conn.buf:
                        fill()
                    conn.buf = conn.buf.split(b"\r\n", 1)[1]
                    complete = True
                    break
                while len(conn.buf) < size + 2:
                    fill()
                body += conn.buf[:size]
                conn.buf = conn.buf[size + 2:]
        elif "content-length" in lower:
            n = int(lower["content-length"])
            while len(conn.buf) < n:
                fill()
            body, conn.buf = conn.buf[:n], conn.buf[n:]
            complete = True
        else:
            while True:
                fill()
    except ConnectionError:
        closed = True
        if "content-length" not in lower and "chunked" not in lower.get("transfer-encoding", "").lower() \
                and not head_request:
            complete = True  # close-delimited: the close is the end
        body, conn.buf = body + conn.buf, b""
    return Lenient(status, headers, body, complete, closed, raw)


class ProxyTestCase(GatewayTestCase):
    """GatewayTestCase with loopback upstreams stopped when the test ends."""

    def upstream(self, **kwargs):
        up = EchoUpstream(**kwargs)
        self.addCleanup(up.stop)
        return up

    @classmethod
    def shared_upstream(cls, **kwargs):
        up = EchoUpstream(**kwargs)
        cls.addClassCleanup(up.stop)
        return up

    def send(self, method, path, headers=None, body=None, gw=None):
        gw = gw or self.gw
        return gw.request(method, path, headers=headers, body=body)

    def echo(self, resp, status=200, gw=None):
        """The upstream's JSON description from an echo response (asserting the status)."""
        self.assertEqual(resp.status, status, f"status\nresponse: {resp!r}{self.context(gw)}")
        try:
            return resp.json()
        except ValueError:
            self.fail(f"not an echo JSON body: {resp!r}{self.context(gw)}")

    def assertCors(self, resp, gw=None):
        for name, value in CORS_HEADERS.items():
            self.assertEqual(resp.header_all(name) if hasattr(resp, "header_all") else [resp.header(name)],
                             [value], f"header {name}\nresponse: {resp!r}{self.context(gw)}")

    def assertGatewayError(self, resp, status, body, gw=None):
        """A gateway error: exact status and JSON, JSON content type, CORS + identity headers."""
        self.assertResponse(resp, status, json_body=body, gw=gw)
        self.assertIn("application/json", resp.header("Content-Type") or "", repr(resp))
        self.assertCors(resp, gw=gw)


def hdr(record, name):
    """The values of a header as the upstream saw it (a list; [] when absent)."""
    return record["headers"].get(name.lower(), [])


def dumps(obj):
    return json.dumps(obj, indent=1, sort_keys=True)
