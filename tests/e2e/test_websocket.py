"""WebSocket (HTTP/1.1 Upgrade) through http_proxy: a real client and server (python3-websockets, Debian) for
echo of text and binary frames, a 10 MiB message, close from each side, a refused upgrade (401), the same
over a TLS listener (wss); and raw sockets for the hostile cases: a 101 without Upgrade or to a request
that did not ask, bytes sent before the 101, an upstream that never answers, the idle timeout closing
both sides, a request pipelined after an Upgrade request, Upgrade on a non-proxy route, half-close."""

import asyncio
import json
import os
import socket
import ssl
import sys
import threading
import time
import unittest

from harness import GatewayTestCase, mint_jwt
from proxy_support import BAD_RESPONSE, TIMED_OUT, proxy_route, server

try:
    import websockets
except ImportError:  # Debian's python3-websockets, when the tests run under another python3
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websockets
    except ImportError:
        websockets = None

HEALTH = {"method": "GET", "path": "/health", "response": {"status": "ok"}}
SECRET = "e2e-ws-secret-0123456789abcdef"
ISSUER = "https://issuer.test/"
AUDIENCE = "workgate-e2e"
UPGRADE_HEAD = ("GET {path} HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n")


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class WsUpstream:
    """A websockets server on its own event loop thread. Paths (as the upstream sees them: the /ws/{.+}
    route forwards the tail): /headers sends the upgrade request's headers (JSON) first, then echoes;
    /server-close echoes one message then closes with 4000 "bye"; any other path echoes every message.
    Records each connection's close code as the server saw it."""

    def __init__(self, ssl_context=None):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.close_codes = []
        self.server = asyncio.run_coroutine_threadsafe(self._serve(ssl_context), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, ssl_context):
        return await websockets.serve(self._handler, "127.0.0.1", 0, max_size=None, compression=None,
                                      ssl=ssl_context)

    async def _handler(self, ws, path=None):
        path = ws.path
        try:
            if path.endswith("/headers"):
                await ws.send(json.dumps({k.lower(): v for k, v in ws.request_headers.raw_items()}))
            if path.endswith("/server-close"):
                await ws.send(await ws.recv())
                await ws.close(code=4000, reason="bye")
                return
            async for message in ws:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_codes.append(ws.close_code)

    def stop(self):
        async def shutdown():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class RawUpstream:
    """A TCP server running `script(conn)` on a thread per connection (raw bytes, for the hostile cases)."""

    def __init__(self, script):
        self.script = script
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = []  # per connection: everything read by the script (via read_head/recv_all helpers)
        self.errors = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.script(conn, self)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))
        finally:
            conn.close()

    def stop(self):
        self.sock.close()


def read_head(sock, buf=b""):
    """Reads up to the end of an HTTP head; returns (head, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the end of the head: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def recv_until_eof(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk


def recv_exact(sock, n, buf=b""):
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def switching(extra_lines=""):
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" + extra_lines + "\r\n").encode()


def status_of(head):
    return int(head.split("\r\n", 1)[0].split(" ")[1])


def header_of(head, name):
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


@unittest.skipIf(websockets is None, "python3-websockets is needed (scripts/install-deps.sh)")
class WebSocketTestBase(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.upstreams = []

    def tearDown(self):
        for up in self.upstreams:
            up.stop()
        super().tearDown()

    def ws_upstream(self, **kwargs):
        up = WsUpstream(**kwargs)
        self.upstreams.append(up)
        return up

    def raw_upstream(self, script):
        up = RawUpstream(script)
        self.upstreams.append(up)
        return up

    def config(self, url, gateway=None, routes=None, **server_extra):
        cfg = {
            "servers": [server("up", url, **server_extra)],
            "authorizer": {"type": "jwt", "secret": SECRET, "algorithm": "HS256", "issuer": ISSUER,
                           "audience": AUDIENCE},
            "paths": [HEALTH,
                      proxy_route("/ws/{.+}", "up", method="GET"),
                      proxy_route("/private/{.+}", "up", method="GET", auth=True)] + (routes or []),
        }
        if gateway:
            cfg["gateway"] = gateway
        return cfg

    def raw_connect(self, gw):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        self.addCleanup(s.close)
        return s


class WebSocketEchoTest(WebSocketTestBase):
    def test_text_and_binary_frames_and_forwarded_headers(self):
        up = self.ws_upstream()
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))

        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{gw.port}/ws/headers", compression=None,
                                          extra_headers={"X-Client": "c1"}) as ws:
                seen = json.loads(await ws.recv())
                response_headers = dict(ws.response_headers.raw_items())
                await ws.send("hello, tunnel")
                text = await ws.recv()
                await ws.send(bytes(range(256)) * 4)
                binary = await ws.recv()
                await ws.send("")
                empty = await ws.recv()
                return seen, response_headers, text, binary, empty

        seen, response_headers, text, binary, empty = run(scenario())
        self.assertEqual(text, "hello, tunnel")
        self.assertEqual(binary, bytes(range(256)) * 4)
        self.assertIsInstance(binary, bytes)
        self.assertEqual(empty, "")
        # The upgrade request as the upstream saw it: the upgrade fields forwarded, the proxy's own added.
        self.assertEqual(seen.get("upgrade", "").lower(), "websocket", seen)
        self.assertEqual(seen.get("connection", "").lower(), "upgrade", seen)
        self.assertIn("sec-websocket-key", seen)
        self.assertEqual(seen.get("x-client"), "c1")
        self.assertEqual(seen.get("x-forwarded-for"), "127.0.0.1")
        self.assertEqual(seen.get("x-forwarded-proto"), "http")
        self.assertEqual(seen.get("host"), f"127.0.0.1:{up.port}")
        # The 101 as the client saw it: the gateway's fields on it too.
        lower = {k.lower(): v for k, v in response_headers.items()}
        self.assertIn("sec-websocket-accept", lower)
        self.assertIn("x-request-id", lower)
        self.assertEqual(lower.get("x-request-id"), seen.get("x-request-id"))

    def test_ten_mib_message_each_way(self):
        up = self.ws_upstream()
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))
        payload = os.urandom(10 * 1024 * 1024)

        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{gw.port}/ws/echo", max_size=None,
                                          compression=None) as ws:
                await ws.send(payload)
                return await ws.recv()

        started = time.monotonic()
        self.assertTrue(run(scenario()) == payload, "the 10 MiB message came back altered")
        self.assertLess(time.monotonic() - started, 30)

    def test_close_from_the_client(self):
        up = self.ws_upstream()
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))

        async def scenario():
            ws = await websockets.connect(f"ws://127.0.0.1:{gw.port}/ws/echo", compression=None, close_timeout=5)
            await ws.send("x")
            await ws.recv()
            started = time.monotonic()
            await ws.close(code=4001, reason="client done")
            return ws.close_code, time.monotonic() - started

        code, elapsed = run(scenario())
        self.assertEqual(code, 4001)
        self.assertLess(elapsed, 3, "the close handshake (and the TCP close after it) took too long")
        deadline = time.monotonic() + 5
        while not up.close_codes and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(up.close_codes, [4001])
        self.wait_connections_closed(gw)

    def test_close_from_the_server(self):
        up = self.ws_upstream()
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))

        async def scenario():
            ws = await websockets.connect(f"ws://127.0.0.1:{gw.port}/ws/server-close", compression=None,
                                          close_timeout=5)
            await ws.send("last")
            echoed = await ws.recv()
            started = time.monotonic()
            try:
                await ws.recv()
                closed = None
            except websockets.ConnectionClosed as e:  # 4000 is not a "normal" code: ConnectionClosedError
                closed = (e.rcvd.code, e.rcvd.reason)
            await ws.wait_closed()
            return echoed, closed, time.monotonic() - started

        echoed, closed, elapsed = run(scenario())
        self.assertEqual(echoed, "last")
        self.assertEqual(closed, (4000, "bye"))
        self.assertLess(elapsed, 3, "the server's close did not reach the client promptly")
        self.wait_connections_closed(gw)

    def test_refused_upgrade_is_an_ordinary_401(self):
        up = self.ws_upstream()
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))

        async def refused():
            try:
                async with websockets.connect(f"ws://127.0.0.1:{gw.port}/private/echo", compression=None):
                    return None
            except websockets.InvalidStatusCode as e:
                return e.status_code

        self.assertEqual(run(refused()), 401)

        async def accepted():
            now = int(time.time())
            token = mint_jwt({"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "iat": now, "exp": now + 600}, SECRET)
            async with websockets.connect(f"ws://127.0.0.1:{gw.port}/private/echo", compression=None,
                                          extra_headers={"Authorization": f"Bearer {token}"}) as ws:
                await ws.send("authorized")
                return await ws.recv()

        self.assertEqual(run(accepted()), "authorized")
        # Raw: the 401 leaves the connection speaking HTTP (the next request on it is answered).
        s = self.raw_connect(gw)
        s.sendall(UPGRADE_HEAD.format(path="/private/echo", extra="").encode())
        head, rest = read_head(s)
        self.assertEqual(status_of(head), 401, head)
        self.assertIsNone(header_of(head, "Upgrade"))
        n = int(header_of(head, "Content-Length"))
        rest = recv_exact(s, n, rest)[n:]
        s.sendall(b"GET /health HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        head, _ = read_head(s, rest)
        self.assertEqual(status_of(head), 200, head)

    def wait_connections_closed(self, gw):
        """The gateway's side of the tunnel is gone too: a fresh request is still served (the shard is fine)."""
        resp = gw.get("/health")
        self.assertEqual(resp.status, 200)


class WebSocketTlsTest(WebSocketTestBase):
    """wss: the client side over a TLS listener (certificates made here), the upstream plain."""

    @classmethod
    def setUpClass(cls):
        from test_tls import Pki
        try:
            cls.pki = Pki()
        except unittest.SkipTest:
            raise
        cls.cert = cls.pki.leaf("gw", "localhost", "DNS:localhost,IP:127.0.0.1")

    @classmethod
    def tearDownClass(cls):
        cls.pki.cleanup()

    def test_wss_echo_large_message_and_close_from_each_side(self):
        up = self.ws_upstream()
        tls = {"certificates": [{"cert_file": self.cert[0], "key_file": self.cert[1]}]}
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}",
                                    gateway={"listeners": [{"address": "127.0.0.1:0", "tls": tls}]}))
        port = gw.listener_port(1)
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        payload = os.urandom(10 * 1024 * 1024)

        async def scenario():
            async with websockets.connect(f"wss://localhost:{port}/ws/headers", ssl=ctx, max_size=None,
                                          compression=None) as ws:
                seen = json.loads(await ws.recv())
                await ws.send("over tls")
                text = await ws.recv()
                await ws.send(payload)
                big = await ws.recv()
            client_close = ws.close_code
            ws = await websockets.connect(f"wss://localhost:{port}/ws/server-close", ssl=ctx, compression=None,
                                          close_timeout=5)
            await ws.send("bye?")
            await ws.recv()
            started = time.monotonic()
            await ws.wait_closed()
            return seen, text, big, client_close, ws.close_code, time.monotonic() - started

        seen, text, big, client_close, server_close, elapsed = run(scenario())
        self.assertEqual(seen.get("x-forwarded-proto"), "https")
        self.assertEqual(text, "over tls")
        self.assertTrue(big == payload, "the 10 MiB message came back altered over wss")
        self.assertEqual(client_close, 1000)
        self.assertEqual(server_close, 4000)
        self.assertLess(elapsed, 3, "the server's close did not reach the wss client promptly")

    def test_https_upstream(self):
        """The upstream side over TLS too (an https server entry with the test CA)."""
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(*self.cert)
        up = self.ws_upstream(ssl_context=server_ctx)
        gw = self.start(self.config(f"https://localhost:{up.port}", ca_file=self.pki.ca))

        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{gw.port}/ws/echo", max_size=None,
                                          compression=None) as ws:
                await ws.send("to a wss upstream")
                text = await ws.recv()
                await ws.send(b"\x00" * (1 << 20))
                binary = await ws.recv()
            return text, len(binary), ws.close_code

        self.assertEqual(run(scenario()), ("to a wss upstream", 1 << 20, 1000))


class UpgradeHostileTest(WebSocketTestBase):
    def test_101_without_upgrade_field_is_a_bad_response(self):
        def script(conn, up):
            read_head(conn)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\nraw bytes")
            recv_until_eof(conn, 5)

        up = self.raw_upstream(script)
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))
        s = self.raw_connect(gw)
        s.sendall(UPGRADE_HEAD.format(path="/ws/x", extra="").encode())
        head, rest = read_head(s)
        self.assertEqual(status_of(head), 502, head)
        body = recv_exact(s, int(header_of(head, "Content-Length")), rest)
        self.assertEqual(json.loads(body), BAD_RESPONSE)
        self.assertNotIn(b"raw bytes", body)

    def test_101_to_a_request_that_did_not_ask_is_a_bad_response(self):
        def script(conn, up):
            head, _ = read_head(conn)
            up.received.append(head)
            conn.sendall(switching() + b"raw bytes")
            recv_until_eof(conn, 5)

        up = self.raw_upstream(script)
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))
        resp = gw.get("/ws/plain")
        self.assertEqual(resp.status, 502)
        self.assertEqual(resp.json(), BAD_RESPONSE)
        # The request that did not ask carried no upgrade fields.
        self.assertIsNone(header_of(up.received[0], "Upgrade"), up.received[0])
        # A client that asks for an upgrade on a connection without "Connection: upgrade" did not ask either.
        s = self.raw_connect(gw)
        s.sendall(b"GET /ws/x HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\n\r\n")
        head, _ = read_head(s)
        self.assertEqual(status_of(head), 502, head)
        self.assertIsNone(header_of(up.received[1], "Upgrade"), up.received[1])

    def test_bytes_sent_before_the_101_reach_the_upstream_first(self):
        def script(conn, up):
            head, rest = read_head(conn)
            time.sleep(0.3)  # the client's early bytes are at the gateway before the 101 leaves
            conn.sendall(switching() + b"FROM-UPSTREAM-EARLY")
            data = recv_exact(conn, len(b"EARLY-CLIENT-BYTES|later"), rest)
            up.received.append(data)
            conn.sendall(b"|ack")

        up = self.raw_upstream(script)
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))
        s = self.raw_connect(gw)
        s.sendall(UPGRADE_HEAD.format(path="/ws/x", extra="").encode() + b"EARLY-CLIENT-BYTES")
        head, rest = read_head(s)
        self.assertEqual(status_of(head), 101, head)
        self.assertEqual(header_of(head, "Upgrade"), "websocket")
        self.assertEqual(header_of(head, "Connection").lower(), "upgrade")
        self.assertIsNone(header_of(head, "Content-Length"))
        self.assertIsNone(header_of(head, "Transfer-Encoding"))
        s.sendall(b"|later")
        got = recv_exact(s, len(b"FROM-UPSTREAM-EARLY|ack"), rest)
        self.assertEqual(got, b"FROM-UPSTREAM-EARLY|ack")
        self.assertEqual(up.received, [b"EARLY-CLIENT-BYTES|later"], up.errors)

    def test_request_pipelined_after_an_upgrade_belongs_to_the_new_protocol(self):
        def script(conn, up):
            head, rest = read_head(conn)
            conn.sendall(switching())
            data, how = recv_until_eof(conn, 5)
            up.received.append(rest + data)
            conn.sendall(b"upstream saw it")

        up = self.raw_upstream(script)
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))
        s = self.raw_connect(gw)
        pipelined = b"GET /health HTTP/1.1\r\nHost: gw.test\r\n\r\n"
        s.sendall(UPGRADE_HEAD.format(path="/ws/x", extra="").encode() + pipelined)
        head, rest = read_head(s)
        self.assertEqual(status_of(head), 101, head)
        s.shutdown(socket.SHUT_WR)  # half-close: the upstream sees the end, then answers
        data, how = recv_until_eof(s, 5)
        self.assertEqual(rest + data, b"upstream saw it")
        self.assertEqual(how, "eof")
        self.assertEqual(up.received, [pipelined], up.errors)

    def test_request_pipelined_after_a_refused_upgrade_is_answered(self):
        up = self.ws_upstream()
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))
        s = self.raw_connect(gw)
        s.sendall(UPGRADE_HEAD.format(path="/private/x", extra="").encode() +
                  b"GET /health HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        head, rest = read_head(s)
        self.assertEqual(status_of(head), 401, head)
        n = int(header_of(head, "Content-Length"))
        rest = recv_exact(s, n, rest)[n:]
        head, _ = read_head(s, rest)
        self.assertEqual(status_of(head), 200, head)

    def test_upgrade_with_connection_close_is_not_an_upgrade(self):
        def script(conn, up):
            head, _ = read_head(conn)
            up.received.append(head)
            if header_of(head, "Upgrade"):
                conn.sendall(switching())
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")

        up = self.raw_upstream(script)
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))
        s = self.raw_connect(gw)
        s.sendall(UPGRADE_HEAD.replace("Connection: Upgrade", "Connection: close, Upgrade")
                  .format(path="/ws/x", extra="").encode())
        data, how = recv_until_eof(s, 5)
        head, body = data.split(b"\r\n\r\n", 1)
        self.assertEqual(status_of(head.decode()), 200, data)
        self.assertEqual(body, b"plain")
        self.assertIsNone(header_of(up.received[0], "Upgrade"), up.received[0])

    def test_upgrade_on_a_non_proxy_route_is_an_ordinary_request(self):
        gw = self.start(self.config("http://127.0.0.1:9"))
        s = self.raw_connect(gw)
        s.sendall(UPGRADE_HEAD.format(path="/health", extra="").encode())
        head, rest = read_head(s)
        self.assertEqual(status_of(head), 200, head)
        self.assertIsNone(header_of(head, "Upgrade"))
        n = int(header_of(head, "Content-Length"))
        body = recv_exact(s, n, rest)
        self.assertEqual(json.loads(body[:n]), {"status": "ok"})
        # Still HTTP: a second request on the connection.
        s.sendall(b"GET /health HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        head, _ = read_head(s, body[n:])
        self.assertEqual(status_of(head), 200, head)

    def test_upstream_that_never_answers_times_out(self):
        def script(conn, up):
            read_head(conn)
            recv_until_eof(conn, 10)

        up = self.raw_upstream(script)
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}", timeout_ms=400))
        s = self.raw_connect(gw)
        started = time.monotonic()
        s.sendall(UPGRADE_HEAD.format(path="/ws/x", extra="").encode())
        head, rest = read_head(s)
        self.assertEqual(status_of(head), 504, head)
        self.assertEqual(json.loads(recv_exact(s, int(header_of(head, "Content-Length")), rest)), TIMED_OUT)
        self.assertLess(time.monotonic() - started, 3)

    def test_idle_tunnel_is_closed_on_both_sides(self):
        upstream_end = []

        def script(conn, up):
            read_head(conn)
            conn.sendall(switching())
            conn.settimeout(10)
            while True:  # echo until the end
                try:
                    data = conn.recv(65536)
                except ConnectionResetError:
                    upstream_end.append("reset")
                    return
                if not data:
                    upstream_end.append("eof")
                    return
                conn.sendall(data)

        up = self.raw_upstream(script)
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}", gateway={"websocket_idle_timeout_ms": 600}))
        s = self.raw_connect(gw)
        s.sendall(UPGRADE_HEAD.format(path="/ws/x", extra="").encode())
        head, rest = read_head(s)
        self.assertEqual(status_of(head), 101, head)
        # Activity keeps it open past the timeout...
        for _ in range(4):
            time.sleep(0.3)
            s.sendall(b"ping")
            rest = recv_exact(s, 4, rest)
            self.assertEqual(rest, b"ping")
            rest = b""
            if upstream_end:
                break
        self.assertEqual(upstream_end, [], "closed while bytes were moving")
        # ... the last exchange happened; nothing moves now: both sides are closed.
        started = time.monotonic()
        data, how = recv_until_eof(s, 5)
        elapsed = time.monotonic() - started
        self.assertEqual(data, b"")
        self.assertLess(elapsed, 2.5, f"the idle tunnel was closed after {elapsed:.2f} s")
        deadline = time.monotonic() + 3
        while not upstream_end and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(upstream_end, ["eof"], up.errors)

    def test_half_close_from_the_upstream(self):
        def script(conn, up):
            read_head(conn)
            conn.sendall(switching() + b"goodbye")
            conn.shutdown(socket.SHUT_WR)
            data, how = recv_until_eof(conn, 5)
            up.received.append(data)

        up = self.raw_upstream(script)
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))
        s = self.raw_connect(gw)
        s.sendall(UPGRADE_HEAD.format(path="/ws/x", extra="").encode())
        head, rest = read_head(s)
        self.assertEqual(status_of(head), 101, head)
        data, how = recv_until_eof(s, 5)  # the upstream's end is passed on ...
        self.assertEqual((rest + data, how), (b"goodbye", "eof"))
        s.sendall(b"still sending")  # ... while this direction goes on
        s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 5
        while not up.received and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(up.received, [b"still sending"], up.errors)

    def test_drain_closes_open_tunnels(self):
        def script(conn, up):
            read_head(conn)
            conn.sendall(switching())
            recv_until_eof(conn, 20)

        up = self.raw_upstream(script)
        gw = self.start(self.config(f"http://127.0.0.1:{up.port}"))
        s = self.raw_connect(gw)
        s.sendall(UPGRADE_HEAD.format(path="/ws/x", extra="").encode())
        head, _ = read_head(s)
        self.assertEqual(status_of(head), 101, head)
        started = time.monotonic()
        gw.stop()
        self.assertLess(time.monotonic() - started, 5, "an open tunnel held up the shutdown")
        data, how = recv_until_eof(s, 5)
        self.assertIn(how, ("eof", "reset"))


if __name__ == "__main__":
    unittest.main()
