"""End-to-end tests of request bodies streamed to JavaScript workers (docs/workers.md, "Request bodies"):
a large or chunked body of a JavaScript service_binding/service route without hooks goes to workerd as it
arrives, the worker reads it as its Request's body stream; limits, framing errors, stalls and a client
that leaves are answered as for any other body; waiting for the client is not the worker's time."""

import hashlib
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import GatewayTestCase, chunked_body
from test_workers_js import require_workerd, write_script

SCRIPT = r"""
import { WorkerEntrypoint } from "cloudflare:workers";

async function digest(stream) {
  // Reads the body stream piece by piece: the size, the pieces and the SHA-256 of what arrived.
  const parts = [];
  let size = 0;
  let pieces = 0;
  const reader = stream ? stream.getReader() : null;
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.length;
    pieces++;
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return { size, pieces, sha256: [...hash].map((b) => b.toString(16).padStart(2, "0")).join("") };
}

export class Up extends WorkerEntrypoint {
  async sum(request, envJson, ctxJson) {
    const d = await digest(request.body);
    return { ...d, method: request.method, id: JSON.parse(ctxJson).matchedPath.matchResult.params.id ?? null,
             type: request.headers.get("content-type") };
  }
  async first(request) {
    // Answers after the first piece, without waiting for the rest of the body.
    const reader = request.body.getReader();
    const { value } = await reader.read();
    return { first: value.length };
  }
  async ignore() {
    return { ignored: true };
  }
  async spinAfterFirst(request) {
    const reader = request.body.getReader();
    await reader.read();
    for (;;) {}
  }
  async text(request) {
    return { text: await request.text() };
  }
  async hold(request) {
    // Keeps workerd's one thread busy for a moment, reading no socket: the gateway's writes fill the
    // Unix socket and complete in parts, later.
    let x = 0;
    for (let i = 0; i < 3e7; i++) x = (x + i) | 0;
    const d = await digest(request.body);
    return { ...d, spun: x !== 1 };
  }
}

export default class {
  async fetch(request) {
    const d = await digest(request.body);
    return new Response(JSON.stringify(d), { status: 201, headers: { "content-type": "application/json" } });
  }
}
"""


def config(script, timeout_ms=3000, **gateway):
    def route(method, path, function):
        return {"method": method, "path": path,
                "integration": {"type": "service_binding", "binding": "up", "function": function}}

    g = {"js_workers": {"health_timeout_ms": 2000}}
    g.update(gateway)
    return {
        "workers": [{"binding": "UP", "script": script, "entrypoint": "Up", "timeout_ms": timeout_ms}],
        "serviceBindings": [{"alias": "up", "binding": "UP"}],
        "services": [{"alias": "svc", "entrypoint": script}],
        "gateway": g,
        "paths": [
            route("POST", "/sum", "sum"),
            route("PUT", "/sum/{id}", "sum"),
            route("POST", "/first", "first"),
            route("POST", "/ignore", "ignore"),
            route("POST", "/spin", "spinAfterFirst"),
            route("POST", "/text", "text"),
            route("POST", "/hold", "hold"),
            {"method": "POST", "path": "/svc", "integration": {"type": "service", "binding": "svc"}},
            {"method": "GET", "path": "/static", "response": {"ok": True}},
        ],
    }


def body_of(size, seed=7):
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB of varied bytes
    return (block * (size // len(block) + 1))[:size]


def chunked(data, piece=50000):
    return chunked_body(data, piece)


class JsStreamedBodyTest(GatewayTestCase):
    def setUp(self):
        super().setUp()
        require_workerd()
        self.dir = tempfile.TemporaryDirectory(prefix="wg-js-stream-")
        self.addCleanup(self.dir.cleanup)
        self.script = write_script(self.dir.name, SCRIPT)

    def post(self, gw, path, head_fields, body, method="POST"):
        with gw.connect(timeout=20) as conn:
            head = f"{method} {path} HTTP/1.1\r\nHost: t\r\n{head_fields}Connection: close\r\n\r\n"
            conn.send(head.encode() + body)
            return conn.read_response()

    def check_digest(self, resp, data, status=200):
        self.assertEqual(resp.status, status, resp.body[:300])
        body = json.loads(resp.body)
        got = body.get("data", body)
        self.assertEqual(got["size"], len(data))
        self.assertEqual(got["sha256"], hashlib.sha256(data).hexdigest())
        return got

    def test_large_body_with_content_length_arrives_whole_and_in_pieces(self):
        gw = self.start(config(self.script), threads=1)
        data = body_of(3 * 1024 * 1024 + 17)
        resp = self.post(gw, "/sum/42", f"Content-Length: {len(data)}\r\nContent-Type: application/x-test\r\n",
                         data, method="PUT")
        got = self.check_digest(resp, data)
        self.assertGreater(got["pieces"], 1)  # a stream, not one buffer
        self.assertEqual(got["method"], "PUT")
        self.assertEqual(got["id"], "42")
        self.assertEqual(got["type"], "application/x-test")

    def test_chunked_body_is_streamed(self):
        gw = self.start(config(self.script), threads=1)
        data = body_of(700 * 1024 + 3, seed=3)
        resp = self.post(gw, "/sum", "Transfer-Encoding: chunked\r\n", chunked(data))
        self.check_digest(resp, data)

    def test_streamed_call_after_the_pooled_connections_idled_past_workerds_keep_alive(self):
        # workerd closes a keep-alive connection idle for ~15 s. A streamed call on such a pooled connection
        # cannot be retried once its body is pulled, so the gateway does not reuse connections idle for
        # more than 5 s (and retries one whose head could not be written). Before: 502 WORKER_UNAVAILABLE
        # ("Broken pipe") for each pooled connection in turn.
        gw = self.start(config(self.script), threads=1)
        data = body_of(300 * 1024, seed=5)
        head = f"Content-Length: {len(data)}\r\n"
        results = []

        def call():
            results.append(self.post(gw, "/sum", head, data))

        threads = [threading.Thread(target=call) for _ in range(4)]  # several pooled connections
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for resp in results:
            self.check_digest(resp, data)
        time.sleep(17)
        for _ in range(4):
            self.check_digest(self.post(gw, "/sum", head, data), data)

    def test_small_bodies_still_work(self):
        gw = self.start(config(self.script), threads=1)
        for data in (b"", b"x", body_of(1000), body_of(64 * 1024)):
            resp = self.post(gw, "/sum", f"Content-Length: {len(data)}\r\n", data)
            self.check_digest(resp, data)
        resp = self.post(gw, "/text", "Transfer-Encoding: chunked\r\n", chunked(b"hello, chunks", piece=5))
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(json.loads(resp.body)["data"]["text"], "hello, chunks")

    def test_service_fetch_gets_the_stream(self):
        gw = self.start(config(self.script), threads=1)
        data = body_of(1024 * 1024, seed=9)
        resp = self.post(gw, "/svc", "Transfer-Encoding: chunked\r\n", chunked(data, piece=100000))
        self.check_digest(resp, data, status=201)

    def test_worker_answers_before_the_body_is_complete(self):
        # Only a streamed body lets the worker answer while the client is still sending.
        gw = self.start(config(self.script), threads=1)
        total = 4 * 1024 * 1024
        with gw.connect(timeout=10) as conn:
            conn.send(f"POST /first HTTP/1.1\r\nHost: t\r\nContent-Length: {total}\r\n\r\n".encode())
            conn.send(body_of(256 * 1024))
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp.body)
            self.assertGreater(json.loads(resp.body)["data"]["first"], 0)
            self.assertIn("close", (resp.header("connection") or "").lower())  # the rest stays unread
        # The process serves the next calls.
        data = body_of(300 * 1024)
        self.check_digest(self.post(gw, "/sum", f"Content-Length: {len(data)}\r\n", data), data)

    def test_worker_that_ignores_the_body(self):
        gw = self.start(config(self.script), threads=1)
        data = body_of(2 * 1024 * 1024)
        resp = self.post(gw, "/ignore", f"Content-Length: {len(data)}\r\n", data)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(json.loads(resp.body)["data"], {"ignored": True})
        for _ in range(3):
            small = body_of(100 * 1024)
            self.check_digest(self.post(gw, "/sum", f"Content-Length: {len(small)}\r\n", small), small)

    def test_body_over_max_body_bytes_is_413(self):
        gw = self.start(config(self.script, max_body_bytes=300 * 1024), threads=1)
        data = body_of(600 * 1024)
        resp = self.post(gw, "/sum", "Transfer-Encoding: chunked\r\n", chunked(data))
        self.assertEqual(resp.status, 413, resp.body)
        self.assertEqual(json.loads(resp.body)["code"], "PAYLOAD_TOO_LARGE")
        # A declared length over the limit is refused before the worker is called.
        resp = self.post(gw, "/sum", f"Content-Length: {len(data)}\r\n", data)
        self.assertEqual(resp.status, 413, resp.body)
        self.assertEqual(gw.get("/static").status, 200)

    def test_malformed_chunked_framing_is_400(self):
        gw = self.start(config(self.script), threads=1)
        bad = chunked(body_of(100 * 1024))[:-7] + b"zz\r\nxx\r\n0\r\n\r\n"
        resp = self.post(gw, "/sum", "Transfer-Encoding: chunked\r\n", bad)
        self.assertEqual(resp.status, 400, resp.body)
        self.assertEqual(gw.get("/static").status, 200)

    def test_stalled_body_is_408(self):
        gw = self.start(config(self.script, body_timeout_ms=400, min_body_rate_bytes=0), threads=1)
        with gw.connect(timeout=10) as conn:
            conn.send(b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" + body_of(100 * 1024))
            resp = conn.read_response()
            self.assertEqual(resp.status, 408, resp.body)

    def test_waiting_for_the_client_is_not_the_workers_time(self):
        # timeout_ms 700; the body takes ~1.6 s to arrive, each piece well within body_timeout.
        gw = self.start(config(self.script, timeout_ms=700, min_body_rate_bytes=0), threads=1)
        data = body_of(8 * 80 * 1024)
        with gw.connect(timeout=10) as conn:
            conn.send(f"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: {len(data)}\r\n\r\n".encode())
            for i in range(8):
                conn.send(data[i * 80 * 1024:(i + 1) * 80 * 1024])
                time.sleep(0.2)
            resp = conn.read_response()
        self.check_digest(resp, data)

    def test_worker_that_loops_while_the_body_streams_is_504(self):
        gw = self.start(config(self.script, timeout_ms=600), threads=1)
        data = body_of(2 * 1024 * 1024)
        started = time.monotonic()
        resp = self.post(gw, "/spin", f"Content-Length: {len(data)}\r\n", data)
        self.assertEqual(resp.status, 504, resp.body)
        self.assertLess(time.monotonic() - started, 8)
        # The process is recycled and serves again.
        deadline = time.monotonic() + 15
        small = body_of(100 * 1024)
        while True:
            resp = self.post(gw, "/sum", f"Content-Length: {len(small)}\r\n", small)
            if resp.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.check_digest(resp, small)

    def test_client_that_leaves_mid_body(self):
        gw = self.start(config(self.script), threads=1)
        for _ in range(5):
            s = socket.create_connection((gw.host, gw.port), timeout=5)
            s.sendall(b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n" + body_of(300 * 1024))
            s.close()
        time.sleep(0.3)
        data = body_of(500 * 1024)
        self.check_digest(self.post(gw, "/sum", f"Content-Length: {len(data)}\r\n", data), data)
        self.assertEqual(gw.get("/static").status, 200)

    def test_many_concurrent_streamed_calls(self):
        import concurrent.futures
        gw = self.start(config(self.script), threads=2)
        bodies = [body_of(150 * 1024 + i * 4099, seed=i) for i in range(16)]

        def one(data):
            return self.post(gw, "/sum", "Transfer-Encoding: chunked\r\n", chunked(data, piece=30000)), data

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for resp, data in pool.map(one, bodies):
                self.check_digest(resp, data)

    def test_busy_worker_gets_every_byte(self):
        # workerd is kept busy by each call in turn: the gateway's 64 KiB pieces fill the Unix socket and its
        # writes complete in parts, later; every byte must arrive in order (with a length and chunked).
        import concurrent.futures
        # (workerd's thread is busy on purpose: the health probe gets time enough not to call it hung.)
        gw = self.start(config(self.script, max_body_bytes=8 << 20, js_workers={"health_timeout_ms": 10000}),
                        threads=2)
        bodies = [body_of(3 * 1024 * 1024 + i * 7919, seed=20 + i) for i in range(6)]

        def one(i):
            data = bodies[i]
            if i % 2:
                return self.post(gw, "/hold", "Transfer-Encoding: chunked\r\n", chunked(data, piece=200000)), data
            return self.post(gw, "/hold", f"Content-Length: {len(data)}\r\n", data), data

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            for resp, data in pool.map(one, range(len(bodies))):
                got = self.check_digest(resp, data)
                self.assertGreater(got["pieces"], 1)

    def test_http2_request_body_is_streamed(self):
        gw = self.start(config(self.script, listeners=[{"address": "127.0.0.1:0", "http2": True}]), threads=1)
        port = gw.listener_port(1)
        data = body_of(1536 * 1024, seed=11)
        path = os.path.join(self.dir.name, "upload.bin")
        with open(path, "wb") as f:
            f.write(data)
        for extra in ([], ["-H", "Content-Length:"]):  # with and without a declared length
            r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-X", "POST", "--data-binary", f"@{path}",
                                *extra, "-w", "\n%{http_code} %{http_version}", f"http://127.0.0.1:{port}/sum"],
                               capture_output=True, timeout=30)
            body, _, tail = r.stdout.rpartition(b"\n")
            self.assertEqual(tail, b"200 2", r.stderr)
            got = json.loads(body)["data"]
            self.assertEqual(got["size"], len(data))
            self.assertEqual(got["sha256"], hashlib.sha256(data).hexdigest())
            self.assertGreater(got["pieces"], 1)  # arrived as it was sent, not whole

    def test_http2_stream_reset_mid_body_cancels_the_call(self):
        # A client that resets its stream halfway through a streamed upload: the call is cancelled (workerd
        # never sees the body as complete), and the connection and the worker go on serving.
        from test_http2 import H2Client
        gw = self.start(config(self.script, listeners=[{"address": "127.0.0.1:0", "http2": True}]), threads=1)
        client = H2Client(gw.listener_port(1))
        self.addCleanup(client.close)
        sid = client.request("POST", "/sum", [("content-length", str(1 << 20))], end_stream=False)
        part = body_of(200 * 1024, seed=3)[:client.conn.local_flow_control_window(sid)]
        for at in range(0, len(part), 16384):
            client.conn.send_data(sid, part[at:at + 16384])
        client.flush()
        time.sleep(0.2)  # the call has started and taken what arrived
        client.conn.reset_stream(sid)
        client.flush()
        data = body_of(300 * 1024, seed=4)
        sid2 = client.request("POST", "/sum", [("content-length", str(len(data)))], body=data)
        status, _, body, reset = client.response(sid2)
        self.assertEqual((status, reset), (200, None), body[:200])
        self.assertEqual(json.loads(body)["data"]["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(gw.get("/static").status, 200)
        self.assertNotIn("unavailable", gw.stderr() + gw.stdout())  # workerd was not disturbed

    def test_head_too_large_for_workerd_is_431(self):
        gw = self.start(config(self.script, max_header_bytes=1 << 20), threads=1)
        for size, status in ((100 * 1024, 200), (600 * 1024, 431)):
            resp = self.post(gw, "/text", f"X-Big: {'a' * size}\r\nContent-Length: 2\r\n", b"ok")
            self.assertEqual(resp.status, status, resp.body[:200])
        self.assertEqual(gw.get("/static").status, 200)


if __name__ == "__main__":
    unittest.main()
