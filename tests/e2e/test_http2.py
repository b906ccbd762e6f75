"""HTTP/2 (RFC 9113) with real clients: curl --http2 over TLS (ALPN h2) and --http2-prior-knowledge on h2c,
h2load under load, the proxy translating streams to HTTP/1.1 (large bodies both ways, streamed), graceful
GOAWAY on drain, and hostile peers written with python3-h2/hyperframe: rapid reset, CONTINUATION flood,
oversize and HPACK-bomb header blocks, PING and SETTINGS floods, window overflow, a bad preface, a stream
id reused after it closed. A headless Chromium loads a page over HTTPS/2 and calls an API route."""

import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import sys
import threading
import time
import unittest

try:
    import h2  # noqa: F401
except ImportError:  # python3-h2 and python3-hyperframe are Debian packages: add Debian's path to another Python
    sys.path.append("/usr/lib/python3/dist-packages")
import h2.config
import h2.connection
import h2.events
import h2.settings
from hyperframe.frame import ContinuationFrame, HeadersFrame, PingFrame, SettingsFrame, WindowUpdateFrame

from harness import GatewayTestCase
from test_tls import Pki
from upstreams import EchoUpstream, pattern_bytes, pattern_sha256

HEALTH = {"method": "GET", "path": "/health", "response": {"status": "ok"}}
HELLO = {"method": "GET", "path": "/api/hello", "response": {"hello": "h2"}}
IO_TIMEOUT = 10.0


def config(upstream_url, extra_gateway=None, certificates=None):
    listeners = [{"address": "127.0.0.1:0", "http2": True}]
    if certificates:
        tls = {"certificates": [{"cert_file": c, "key_file": k} for c, k in certificates]}
        listeners.append({"address": "127.0.0.1:0", "tls": tls, "http2": True})
        listeners.append({"address": "127.0.0.1:0", "tls": tls})  # HTTP/1.1 only
    gateway = {"listeners": listeners}
    gateway.update(extra_gateway or {})
    return {
        "servers": [{"alias": "echo", "url": upstream_url}],
        "paths": [HEALTH, HELLO,
                  {"method": "ANY", "path": "/echo/{.+}", "integration": {"type": "http_proxy", "server": "echo"}},
                  {"method": "GET", "path": "/secure", "auth": True, "response": {"never": "seen"}}],
        "authorizer": {"type": "jwt", "secret": "$env.JWT_SECRET", "algorithm": "HS256", "audience": "h2-tests",
                       "issuer": "https://issuer.test/"},
        "gateway": gateway,
    }


ENV = {"JWT_SECRET": "an-http2-test-secret-of-enough-length"}


class H2Client:
    """A blocking HTTP/2 client over a plain (h2c) or TLS socket, with python3-h2."""

    def __init__(self, port, tls_ca=None, server_name="localhost", settings=None):
        sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname=server_name)
            assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
        self.sock = sock
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                               header_encoding="utf-8"))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        self.events = []
        self.closed = False
        self.goaway = None
        self.remote_settings = {}

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    def pump(self, timeout=IO_TIMEOUT):
        """Reads once; returns the new events (empty when the peer closed)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            return []
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.closed = True
            return []
        for e in events:
            if isinstance(e, h2.events.ConnectionTerminated):
                self.goaway = e
            if isinstance(e, h2.events.RemoteSettingsChanged):
                self.remote_settings.update({k: v.new_value for k, v in e.changed_settings.items()})
            if isinstance(e, h2.events.DataReceived):
                self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        self.events.extend(events)
        try:
            self.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.closed = True
        return events

    def request(self, method, path, headers=None, body=None, authority="localhost", end_stream=None):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "https"), (":authority", authority)]
        hdrs += list(headers or [])
        self.conn.send_headers(sid, hdrs, end_stream=body is None if end_stream is None else end_stream)
        self.flush()
        if body is not None:
            self.send_body(sid, body)
        return sid

    def send_body(self, sid, body):
        view = memoryview(body)
        while view:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                if not self.pump():
                    raise ConnectionError("closed while sending a body")
                continue
            piece, view = view[:window], view[window:]
            self.conn.send_data(sid, bytes(piece), end_stream=not view)
            self.flush()
        if not body:
            self.conn.end_stream(sid)
            self.flush()

    def response(self, sid, timeout=IO_TIMEOUT):
        """(status, headers dict, body bytes, reset error code or None) of stream sid."""
        deadline = time.monotonic() + timeout
        status, headers, body, reset = None, {}, bytearray(), None
        seen = 0
        while True:
            for e in self.events[seen:]:
                if getattr(e, "stream_id", None) != sid:
                    continue
                if isinstance(e, h2.events.ResponseReceived):
                    headers = dict(e.headers)
                    status = int(headers[":status"])
                elif isinstance(e, h2.events.DataReceived):
                    body += e.data
                elif isinstance(e, h2.events.StreamEnded):
                    return status, headers, bytes(body), None
                elif isinstance(e, h2.events.StreamReset):
                    reset = e.error_code
                    if status is not None:
                        return status, headers, bytes(body), reset
                    return None, headers, bytes(body), reset
            seen = len(self.events)
            if self.closed or time.monotonic() > deadline:
                return status, headers, bytes(body), reset
            self.pump(max(0.05, deadline - time.monotonic()))

    def wait_closed(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())
        return self.closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def read_until_closed(sock, timeout=IO_TIMEOUT):
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except (socket.timeout, TimeoutError):
        return data, False
    except (ConnectionResetError, ssl.SSLError):
        return data, True


def goaway_code(data):
    """The error code of the first GOAWAY frame in raw HTTP/2 bytes (after the server's SETTINGS), or None."""
    at = 0
    while at + 9 <= len(data):
        length = int.from_bytes(data[at:at + 3], "big")
        kind = data[at + 3]
        if kind == 0x7 and at + 9 + 8 <= len(data):
            return int.from_bytes(data[at + 9 + 4:at + 9 + 8], "big")
        at += 9 + length
    return None


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENHANCE_YOUR_CALM = 0xB


class Http2TestBase(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if shutil.which("curl") is None:
            raise unittest.SkipTest("curl is needed")
        cls.pki = Pki()
        cls.addClassCleanup(cls.pki.cleanup)
        cls.cert = cls.pki.leaf("h2", "localhost", "DNS:localhost,IP:127.0.0.1")
        cls.up = EchoUpstream()
        cls.addClassCleanup(cls.up.stop)

    def curl(self, url, *args):
        r = subprocess.run(["curl", "-sS", "--cacert", self.pki.ca, "-w", "\n%{http_code} %{http_version}", *args,
                            url], capture_output=True, timeout=60)
        body, _, tail = r.stdout.rpartition(b"\n")
        code, _, version = tail.decode().partition(" ")
        return r.returncode, code, version, body, r.stderr.decode()


class Http2ServingTest(Http2TestBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_shared(config(cls.up.url, certificates=[cls.cert]), env=ENV)
        cls.h2c = cls.gw.listener_port(1)
        cls.tls = cls.gw.listener_port(2)
        cls.tls_h1 = cls.gw.listener_port(3)

    def test_curl_http2_over_tls(self):
        rc, code, version, body, err = self.curl(f"https://localhost:{self.tls}/health", "--http2")
        self.assertEqual((rc, code, version), (0, "200", "2"), err + self.context())
        self.assertEqual(json.loads(body), {"status": "ok"})

    def test_http1_on_the_same_tls_listener(self):
        rc, code, version, _, err = self.curl(f"https://localhost:{self.tls}/health", "--http1.1")
        self.assertEqual((rc, code, version), (0, "200", "1.1"), err)

    def test_listener_without_http2_negotiates_http1(self):
        rc, code, version, _, err = self.curl(f"https://localhost:{self.tls_h1}/health", "--http2")
        self.assertEqual((rc, code, version), (0, "200", "1.1"), err)

    def test_h2c_prior_knowledge_and_http1_on_the_same_port(self):
        rc, code, version, body, err = self.curl(f"http://127.0.0.1:{self.h2c}/health", "--http2-prior-knowledge")
        self.assertEqual((rc, code, version), (0, "200", "2"), err + self.context())
        rc, code, version, _, err = self.curl(f"http://127.0.0.1:{self.h2c}/health", "--http1.1")
        self.assertEqual((rc, code, version), (0, "200", "1.1"), err)

    def test_many_requests_on_one_connection(self):
        urls = [f"https://localhost:{self.tls}/health"] * 20
        r = subprocess.run(["curl", "-sS", "--http2", "--cacert", self.pki.ca, "-w", "%{http_version}\n", *urls],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count(b'{"status":"ok"}'), 20)
        self.assertEqual(r.stdout.decode().count("2\n"), 20)

    def test_pipeline_errors_and_auth_are_the_same(self):
        c = H2Client(self.tls, tls_ca=self.pki.ca)
        self.addCleanup(c.close)
        status, headers, body, _ = c.response(c.request("GET", "/nowhere"))
        self.assertEqual(status, 404)
        self.assertEqual(headers.get("content-type"), "application/json")
        status, _, body, _ = c.response(c.request("GET", "/secure"))
        self.assertEqual(status, 401, body)
        status, headers, body, _ = c.response(c.request("GET", "/api/hello"))
        self.assertEqual((status, json.loads(body)), (200, {"hello": "h2"}))
        self.assertEqual(headers.get("content-length"), str(len(body)))
        for name in headers:
            self.assertEqual(name, name.lower())
            self.assertNotIn(name, ("connection", "keep-alive", "transfer-encoding"))

    def test_head_request_has_no_body(self):
        c = H2Client(self.h2c)
        self.addCleanup(c.close)
        status, headers, body, _ = c.response(c.request("HEAD", "/health"))
        self.assertEqual((status, body), (200, b""))

    def test_proxy_translates_to_http1(self):
        c = H2Client(self.tls, tls_ca=self.pki.ca)
        self.addCleanup(c.close)
        sid = c.request("GET", "/echo/a/b?q=1", headers=[("x-custom", "v"), ("cookie", "a=1"), ("cookie", "b=2")],
                        authority="localhost")
        status, headers, body, _ = c.response(sid)
        self.assertEqual(status, 200, body)
        record = json.loads(body)
        self.assertEqual(record["target"], "/a/b?q=1")
        up = record["headers"]
        self.assertEqual(up["x-custom"], ["v"])
        self.assertEqual(up["cookie"], ["a=1; b=2"])  # RFC 9113 8.2.3
        self.assertEqual(up["x-forwarded-proto"], ["https"])
        self.assertFalse(any(name.startswith(":") for name in up), up)
        self.assertEqual(len(up["host"]), 1)

    def test_large_bodies_stream_both_ways_through_the_proxy(self):
        c = H2Client(self.h2c)
        self.addCleanup(c.close)
        upload = b"".join(pattern_bytes(6 * 1024 * 1024))
        sid = c.request("POST", "/echo/up", headers=[("content-type", "application/octet-stream")], body=upload)
        status, _, body, _ = c.response(sid, timeout=60)
        self.assertEqual(status, 200, body[:300])
        record = json.loads(body)
        self.assertEqual(record["body_length"], len(upload))
        self.assertEqual(record["body_sha256"], hashlib.sha256(upload).hexdigest())
        total = 8 * 1024 * 1024
        sid = c.request("GET", "/echo/down", headers=[("x-echo-mode", f"download={total}")])
        status, headers, body, _ = c.response(sid, timeout=60)
        self.assertEqual(status, 200)
        self.assertEqual(len(body), total)
        self.assertEqual(hashlib.sha256(body).hexdigest(), pattern_sha256(total))

    def test_curl_large_download_over_tls(self):
        total = 4 * 1024 * 1024
        rc, code, version, body, err = self.curl(f"https://localhost:{self.tls}/echo/d", "--http2", "-H",
                                                 f"x-echo-mode: download={total},chunked")
        self.assertEqual((rc, code, version), (0, "200", "2"), err)
        self.assertEqual(hashlib.sha256(body).hexdigest(), pattern_sha256(total))

    def test_upload_over_the_limit_is_413(self):
        c = H2Client(self.h2c)
        self.addCleanup(c.close)
        sid = c.request("POST", "/echo/big", headers=[("content-length", str(11 * 1024 * 1024))], end_stream=False)
        status, _, body, _ = c.response(sid)
        self.assertEqual(status, 413, body)
        # the connection is still good
        status, _, _, _ = c.response(c.request("GET", "/health"))
        self.assertEqual(status, 200)

    def test_server_settings(self):
        c = H2Client(self.h2c)
        self.addCleanup(c.close)
        c.response(c.request("GET", "/health"))
        self.assertEqual(c.remote_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS), 100)
        self.assertEqual(c.remote_settings.get(h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE), 16384)

    def test_oversize_header_list_is_431(self):
        c = H2Client(self.h2c)
        self.addCleanup(c.close)
        # below the connection-ending threshold (4x the limit) but over the limit
        headers = [(f"x-big-{i}", "v" * 1000) for i in range(20)]
        c.conn.local_settings = h2.settings.Settings(client=True)  # our encoder does not care
        c.conn.max_outbound_frame_size = 16384
        status, _, body, _ = c.response(c.request("GET", "/health", headers=headers))
        self.assertEqual(status, 431, body)
        status, _, _, _ = c.response(c.request("GET", "/health"))
        self.assertEqual(status, 200)

    def test_concurrent_streams_all_answered(self):
        c = H2Client(self.h2c)
        self.addCleanup(c.close)
        sids = [c.request("GET", "/echo/x", headers=[("x-echo-mode", "delay=0.2")]) for _ in range(50)]
        for sid in sids:
            status, _, _, _ = c.response(sid)
            self.assertEqual(status, 200)


class Http2CancellationTest(Http2TestBase):
    """A client that leaves mid-request (its stream reset, or its connection gone) stops the upstream call."""

    def setUp(self):
        super().setUp()
        self.hang = EchoUpstream()
        self.addCleanup(self.hang.stop)
        self.gw = self.start(config(self.hang.url), env=ENV)

    def start_hanging_stream(self):
        c = H2Client(self.gw.listener_port(1))
        self.addCleanup(c.close)
        sid = c.request("GET", "/echo/slow", headers=[("x-echo-mode", "hang")])
        self.assertTrue(self.hang.wait_for(lambda up: up.active == 1 and len(up.requests) == 1, timeout=5),
                        self.context(self.gw))
        return c, sid

    def test_reset_stream_aborts_the_upstream_request(self):
        c, sid = self.start_hanging_stream()
        c.conn.reset_stream(sid)
        c.flush()
        self.assertTrue(self.hang.wait_for(lambda up: up.active == 0, timeout=3), self.context(self.gw))
        # The connection goes on.
        status, _, body, _ = c.response(c.request("GET", "/echo/after"))
        self.assertEqual((status, json.loads(body)["path"]), (200, "/after"))

    def test_closed_connection_aborts_the_upstream_request(self):
        c, _ = self.start_hanging_stream()
        c.close()
        self.assertTrue(self.hang.wait_for(lambda up: up.active == 0, timeout=3), self.context(self.gw))


class Unreachable:
    """An upstream whose TCP connects never complete: its listener's accept queue is full (the kernel drops
    the SYNs that follow), for as long as the object lives."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.fillers = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(s)
        time.sleep(0.2)

    def stop(self):
        for s in self.fillers + [self.listener]:
            s.close()


class Http2StreamedUploadTest(Http2TestBase):
    def test_slow_streams_do_not_hold_the_connection_window(self):
        # Five streams upload (streamed, as large proxied bodies are) to an upstream whose connects hang, as
        # fast as their windows allow: nothing of their bodies is taken. A sixth on the same connection must
        # still get its body through at once: each stream is held back by its own window, never by the
        # connection's (the five hold 5 x 256 KiB, more than the 1 MiB connection window).
        slow = Unreachable()
        self.addCleanup(slow.stop)
        cfg = config(self.up.url, extra_gateway={"max_body_bytes": 8 << 20})
        cfg["servers"].append({"alias": "slow", "url": f"http://127.0.0.1:{slow.port}", "connect_timeout_ms": 4000})
        cfg["paths"].append({"method": "POST", "path": "/slow", "integration": {"type": "http_proxy", "server": "slow"}})
        gw = self.start(cfg, env=ENV)
        client = H2Client(gw.listener_port(1))
        self.addCleanup(client.close)
        pending = {}
        for i in range(5):
            sid = client.request("POST", "/slow", [("content-length", str(3 << 20))], end_stream=False)
            pending[sid] = memoryview(b"".join(pattern_bytes(3 << 20)))

        def push(until, stop=lambda: False):
            while time.monotonic() < until and not stop():
                sent = False
                for sid, view in list(pending.items()):
                    window = min(client.conn.local_flow_control_window(sid), client.conn.max_outbound_frame_size)
                    if window > 0 and view:
                        piece, pending[sid] = view[:window], view[window:]
                        try:
                            client.conn.send_data(sid, bytes(piece), end_stream=not pending[sid])
                        except h2.exceptions.StreamClosedError:  # answered (and reset) meanwhile
                            pending[sid] = b""
                        sent = True
                    if not pending[sid]:
                        del pending[sid]
                client.flush()
                if not sent:
                    try:
                        client.pump(timeout=0.02)
                    except (socket.timeout, TimeoutError):
                        pass

        push(time.monotonic() + 1.0)  # the slow streams take what their windows let through
        self.assertEqual(len(pending), 5, "the slow uploads should all still be going")
        data = b"".join(pattern_bytes(1 << 20))
        started = time.monotonic()
        sid = client.request("POST", "/echo/up", [("content-length", str(len(data)))], end_stream=False)
        pending[sid] = memoryview(data)
        ended = lambda: any(isinstance(e, h2.events.StreamEnded) and e.stream_id == sid for e in client.events)
        push(started + 8, stop=ended)
        elapsed = time.monotonic() - started
        status, _, body, reset = client.response(sid, timeout=1)
        self.assertEqual((status, reset), (200, None), body[:200])
        echoed = json.loads(body)
        self.assertEqual((echoed["body_length"], echoed["body_sha256"]), (len(data), pattern_sha256(len(data))))
        self.assertLess(elapsed, 2.5, "the upload waited for the slow streams' window")
        for slow_sid in range(1, 10, 2):  # the others end at their connect timeout
            status, _, body, reset = client.response(slow_sid, timeout=10)
            self.assertEqual(status, 504, body[:200])


class Http2MetricsTest(Http2TestBase):
    def test_open_connections_are_counted_by_protocol(self):
        from test_admin import admin_get, admin_port, metric_value
        cfg = config(self.up.url)
        cfg["gateway"]["admin"] = {"listen": "127.0.0.1:0"}
        cfg["gateway"]["listeners"][0]["name"] = "h2c-edge"
        gw = self.start(cfg, env=ENV)
        port = admin_port(gw)
        # an HTTP/1.1 connection on the --listen listener ("public"), which does not speak h2
        plain = socket.create_connection(("127.0.0.1", gw.port))
        self.addCleanup(plain.close)
        clients = [H2Client(gw.listener_port(1)) for _ in range(3)]
        for c in clients:
            self.addCleanup(c.close)
            status, _, _, _ = c.response(c.request("GET", "/health"))
            self.assertEqual(status, 200)
        deadline = time.monotonic() + 5
        while True:
            text = admin_get(port, "/metrics").body.decode()
            h2_open = metric_value(text, "workgate_http_connections_open", {"listener": "h2c-edge", "protocol": "h2"})
            plain_open = metric_value(text, "workgate_http_connections_open",
                                      {"listener": "public", "protocol": "http/1.1"})
            if (h2_open, plain_open) == (3, 1) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(h2_open, 3, text[-2000:])
        self.assertEqual(plain_open, 1, text[-2000:])
        self.assertEqual(metric_value(text, "workgate_http_connections_open",
                                      {"listener": "h2c-edge", "protocol": "http/1.1"}), 0, text[-2000:])
        self.assertIsNone(metric_value(text, "workgate_http_connections_open", {"listener": "public", "protocol": "h2"}))
        for c in clients:
            c.close()
        deadline = time.monotonic() + 5
        while h2_open != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            text = admin_get(port, "/metrics").body.decode()
            h2_open = metric_value(text, "workgate_http_connections_open", {"listener": "h2c-edge", "protocol": "h2"})
        self.assertEqual(h2_open, 0)


class Http2HostileTest(Http2TestBase):
    """Each test gets a fresh gateway with tight budgets, so that a test's abuse does not leak into another."""

    def start_tight(self, **h2):
        limits = {"reset_burst": 50, "resets_per_second": 10, "control_frame_burst": 100,
                  "control_frames_per_second": 20, "max_continuation_frames": 8}
        limits.update(h2)
        gw = self.start(config(self.up.url, extra_gateway={"http2": limits}, certificates=[self.cert]), env=ENV)
        return gw, gw.listener_port(1)

    def assert_still_serving(self, port):
        c = H2Client(port)
        self.addCleanup(c.close)
        status, _, _, _ = c.response(c.request("GET", "/health"))
        self.assertEqual(status, 200)

    def test_rapid_reset_gets_goaway(self):
        gw, port = self.start_tight()
        c = H2Client(port)
        self.addCleanup(c.close)
        for _ in range(200):
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, [(":method", "GET"), (":path", "/echo/slow"), (":scheme", "http"),
                                      (":authority", "x"), ("x-echo-mode", "delay=1")], end_stream=True)
            c.conn.reset_stream(sid)
            try:
                c.flush()
            except (BrokenPipeError, ConnectionResetError):
                break
        c.wait_closed()
        self.assertIsNotNone(c.goaway, "no GOAWAY" + self.context(gw))
        self.assertEqual(c.goaway.error_code, ENHANCE_YOUR_CALM)
        self.assert_still_serving(port)

    def test_continuation_flood_gets_goaway(self):
        gw, port = self.start_tight()
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.addCleanup(s.close)
        enc = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        enc.initiate_connection()
        s.sendall(enc.data_to_send())
        block = enc.encoder.encode([(":method", "GET"), (":path", "/health"), (":scheme", "http"),
                                    (":authority", "x")])
        head = HeadersFrame(1)
        head.data = block
        head.flags.add("END_STREAM")  # no END_HEADERS: CONTINUATION must follow
        s.sendall(head.serialize())
        try:
            for _ in range(1000):
                frame = ContinuationFrame(1)
                frame.data = b"\x40\x01a\x01b" * 10  # literal headers, never ending
                s.sendall(frame.serialize())
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, closed = read_until_closed(s)
        self.assertTrue(closed, "connection not closed" + self.context(gw))
        # ENHANCE_YOUR_CALM from our budget, or PROTOCOL_ERROR where nghttp2 has its own limit (Debian's
        # 1.52 carries the CVE-2024-28182 fix, which counts CONTINUATION frames too)
        self.assertIn(goaway_code(data), (ENHANCE_YOUR_CALM, 0x1), data[-64:])
        self.assert_still_serving(port)

    def test_hpack_bomb_gets_goaway(self):
        gw, port = self.start_tight()
        c = H2Client(port)
        self.addCleanup(c.close)
        # one 4000-byte header indexed once, then referenced by its index: a few bytes each, 4 KB decoded
        big = "b" * 4000
        headers = [(":method", "GET"), (":path", "/health"), (":scheme", "http"), (":authority", "x")]
        headers += [("x-bomb", big)] * 60
        c.conn.send_headers(1, headers, end_stream=True)
        c.flush()
        c.wait_closed()
        self.assertIsNotNone(c.goaway, self.context(gw))
        self.assertEqual(c.goaway.error_code, ENHANCE_YOUR_CALM)
        self.assert_still_serving(port)

    def test_ping_flood_gets_goaway(self):
        gw, port = self.start_tight()
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.addCleanup(s.close)
        s.sendall(PREFACE + SettingsFrame(0).serialize())
        try:
            for i in range(2000):
                ping = PingFrame(0)
                ping.opaque_data = i.to_bytes(8, "big")
                s.sendall(ping.serialize())
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, closed = read_until_closed(s)
        self.assertTrue(closed, self.context(gw))
        self.assertEqual(goaway_code(data), ENHANCE_YOUR_CALM)

    def test_settings_flood_gets_goaway(self):
        gw, port = self.start_tight()
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.addCleanup(s.close)
        s.sendall(PREFACE)
        try:
            for _ in range(2000):
                s.sendall(SettingsFrame(0, settings={0x4: 65535}).serialize())
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, closed = read_until_closed(s)
        self.assertTrue(closed, self.context(gw))
        self.assertEqual(goaway_code(data), ENHANCE_YOUR_CALM)

    def test_window_overflow_is_a_flow_control_error(self):
        gw, port = self.start_tight()
        s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.addCleanup(s.close)
        s.sendall(PREFACE + SettingsFrame(0).serialize())
        s.sendall(WindowUpdateFrame(0, window_increment=0x7FFFFFFF).serialize())
        data, closed = read_until_closed(s)
        self.assertTrue(closed, self.context(gw))
        self.assertEqual(goaway_code(data), 0x3)  # FLOW_CONTROL_ERROR
        self.assert_still_serving(port)

    def test_bad_preface_over_tls_closes(self):
        gw, port = self.start_tight()
        tls_port = gw.listener_port(2)
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=IO_TIMEOUT),
                            server_hostname="localhost")
        self.addCleanup(s.close)
        self.assertEqual(s.selected_alpn_protocol(), "h2")
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\0" * 64)
        data, closed = read_until_closed(s)
        self.assertTrue(closed, self.context(gw))
        self.assertNotIn(b"HTTP/1.1", data)
        self.assert_still_serving(port)

    def test_stream_reused_after_close_is_a_connection_error(self):
        gw, port = self.start_tight()
        c = H2Client(port)
        self.addCleanup(c.close)
        status, _, _, _ = c.response(c.request("GET", "/health"))
        self.assertEqual(status, 200)
        # HEADERS again on stream 1, which is closed: raw, since h2 refuses to encode it
        block = c.conn.encoder.encode([(":method", "GET"), (":path", "/health"), (":scheme", "http"),
                                       (":authority", "x")])
        frame = HeadersFrame(1)
        frame.data = block
        frame.flags.add("END_HEADERS")
        frame.flags.add("END_STREAM")
        c.send_raw(frame.serialize())
        data, closed = read_until_closed(c.sock)
        self.assertTrue(closed, self.context(gw))
        self.assertIn(goaway_code(data), (0x1, 0x5))  # PROTOCOL_ERROR or STREAM_CLOSED

    def test_streams_over_the_concurrency_limit_end_the_connection(self):
        gw, port = self.start_tight(max_concurrent_streams=4)
        c = H2Client(port)
        self.addCleanup(c.close)
        c.pump()  # the server's SETTINGS (acknowledged by our next frames)
        self.assertEqual(c.remote_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS), 4)
        # h2 would hold back streams over the peer's limit: write them raw
        base = [(":method", "GET"), (":scheme", "http"), (":authority", "x"), ("x-echo-mode", "delay=0.5")]
        for i in range(6):
            c.send_raw(raw_headers(c.conn.encoder, 1 + 2 * i, base + [(":path", f"/echo/s{i}")]))
        data, closed = read_until_closed(c.sock, timeout=5)
        got = frames(data)
        # nghttp2 treats a stream over an acknowledged limit as a connection error (RFC 9113 5.1.2 allows
        # a stream error; either way the fifth stream, id 9, is never processed).
        goaways = [payload for kind, _, _, payload in got if kind == 0x7]
        resets = [(sid, int.from_bytes(p[:4], "big")) for kind, _, sid, p in got if kind == 0x3]
        if goaways:
            self.assertTrue(closed)
            self.assertLessEqual(int.from_bytes(goaways[0][:4], "big"), 7)
            self.assertEqual(int.from_bytes(goaways[0][4:8], "big"), 0x1)
        else:
            self.assertEqual(sorted(sid for sid, _ in resets), [9, 11], got)
        self.assertFalse(any(r.get("target") in ("/s4", "/s5") for r in self.up.requests))
        self.assert_still_serving(port)

    def test_idle_connection_gets_goaway(self):
        gw = self.start(config(self.up.url, extra_gateway={"idle_timeout_ms": 300}), env=ENV)
        c = H2Client(gw.listener_port(1))
        self.addCleanup(c.close)
        status, _, _, _ = c.response(c.request("GET", "/health"))
        self.assertEqual(status, 200)
        self.assertTrue(c.wait_closed(timeout=5))
        self.assertIsNotNone(c.goaway)
        self.assertEqual(c.goaway.error_code, 0)


def frames(data):
    """(type, flags, stream id, payload) of the frames in raw HTTP/2 bytes."""
    out, at = [], 0
    while at + 9 <= len(data):
        length = int.from_bytes(data[at:at + 3], "big")
        out.append((data[at + 3], data[at + 4], int.from_bytes(data[at + 5:at + 9], "big") & 0x7FFFFFFF,
                    data[at + 9:at + 9 + length]))
        at += 9 + length
    return out


def raw_headers(encoder, stream_id, headers, end_stream=True):
    frame = HeadersFrame(stream_id)
    frame.data = encoder.encode(headers)
    frame.flags.add("END_HEADERS")
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame.serialize()


class Http2DrainTest(Http2TestBase):
    def test_drain_sends_goaway_finishes_open_streams_and_refuses_new_ones(self):
        # Raw frames: python3-h2 treats a received GOAWAY as the end and refuses the frames that follow it.
        gw = self.start(config(self.up.url), env=ENV)
        s = socket.create_connection(("127.0.0.1", gw.listener_port(1)), timeout=IO_TIMEOUT)
        self.addCleanup(s.close)
        enc = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        enc.initiate_connection()
        s.sendall(enc.data_to_send())
        base = [(":method", "GET"), (":scheme", "http"), (":authority", "x")]
        s.sendall(raw_headers(enc.encoder, 1, base + [(":path", "/echo/slow"), ("x-echo-mode", "delay=1")]))
        self.assertTrue(self.up.wait_for(lambda up: up.inflight >= 1, timeout=5), self.context(gw))
        gw.signal(signal.SIGTERM)
        time.sleep(0.3)
        # A stream opened after the GOAWAY is never processed.
        s.sendall(raw_headers(enc.encoder, 3, base + [(":path", "/echo/late")]))
        data, closed = read_until_closed(s)
        self.assertTrue(closed, self.context(gw))
        got = frames(data)
        goaways = [payload for kind, _, _, payload in got if kind == 0x7]
        self.assertEqual(len(goaways), 1, got)
        self.assertEqual(int.from_bytes(goaways[0][:4], "big"), 1)  # the last stream taken
        self.assertEqual(int.from_bytes(goaways[0][4:8], "big"), 0)  # NO_ERROR
        body = b"".join(payload for kind, _, sid, payload in got if kind == 0x0 and sid == 1)
        self.assertEqual(json.loads(body)["target"], "/slow")
        self.assertTrue(any(kind == 0x0 and sid == 1 and flags & 0x1 for kind, flags, sid, _ in got), got)
        self.assertFalse(any(sid == 3 for _, _, sid, _ in got), got)
        self.assertEqual(gw.wait_exit(), 0)
        self.assertFalse(any(r.get("target") == "/late" for r in self.up.requests), self.up.requests)


class H2LoadTest(Http2TestBase):
    def h2load(self, url, *args):
        if shutil.which("h2load") is None:
            self.skipTest("h2load (nghttp2-client) not installed")
        r = subprocess.run(["h2load", *args, url], capture_output=True, text=True, timeout=180)
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        return [int(x) for x in m.groups()], r.stdout

    def test_h2load_over_tls_and_h2c(self):
        gw = self.start(config(self.up.url, certificates=[self.cert]), env=ENV)
        (total, _, done, ok, failed, errored), out = self.h2load(
            f"https://127.0.0.1:{gw.listener_port(2)}/health", "-n", "20000", "-c", "10", "-m", "10")
        self.assertEqual((done, ok, failed, errored), (20000, 20000, 0, 0), out)
        self.assertIn("h2", out)
        (total, _, done, ok, failed, errored), out = self.h2load(
            f"http://127.0.0.1:{gw.listener_port(1)}/health", "-n", "20000", "-c", "10", "-m", "10")
        self.assertEqual((done, ok, failed, errored), (20000, 20000, 0, 0), out)
        (total, _, done, ok, failed, errored), out = self.h2load(
            f"http://127.0.0.1:{gw.listener_port(1)}/echo/load", "-n", "3000", "-c", "4", "-m", "10")
        self.assertEqual((done, ok, failed, errored), (3000, 3000, 0, 0), out)


PAGE = b"""<!doctype html><html><head><title>h2 page</title></head><body><div id="out">pending</div>
<script>
fetch('/api/hello').then(r => r.json()).then(j => {
  const nav = performance.getEntriesByType('navigation')[0];
  document.getElementById('out').textContent = 'hello=' + j.hello + ' protocol=' + nav.nextHopProtocol;
}).catch(e => { document.getElementById('out').textContent = 'error ' + e; });
</script></body></html>"""


class PageUpstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


class BrowserTest(Http2TestBase):
    def test_chromium_loads_a_page_over_https_h2_and_calls_the_api(self):
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is None:
            self.skipTest("chromium not installed")
        page_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PageUpstream)
        threading.Thread(target=page_server.serve_forever, daemon=True).start()
        self.addCleanup(page_server.shutdown)
        cfg = config(self.up.url, certificates=[self.cert])
        cfg["servers"].append({"alias": "pages", "url": f"http://127.0.0.1:{page_server.server_address[1]}"})
        cfg["paths"].append({"method": "GET", "path": "/page",
                             "integration": {"type": "http_proxy", "server": "pages"}})
        gw = self.start(cfg, env=ENV)
        port = gw.listener_port(2)
        profile = tempfile.TemporaryDirectory(prefix="wg-chromium-")
        self.addCleanup(profile.cleanup)
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        # The test CA is not in Chromium's store: its SPKI hash is pinned as trusted for this run.
        spki = subprocess.run(
            f"openssl x509 -in {self.cert[0]} -pubkey -noout | openssl pkey -pubin -outform der | "
            "openssl dgst -sha256 -binary | base64", shell=True, capture_output=True, text=True).stdout.strip()
        argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-proxy-server", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile.name}",
                f"--ignore-certificate-errors-spki-list={spki}", "--virtual-time-budget=5000", "--dump-dom",
                f"https://localhost:{port}/page"]
        result = subprocess.run(argv, capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        dom = result.stdout.decode("utf-8", "replace")
        self.assertIn("hello=h2 protocol=h2", dom, result.stderr.decode()[-2000:] + self.context(gw))


if __name__ == "__main__":
    unittest.main()
