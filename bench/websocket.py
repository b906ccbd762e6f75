#!/usr/bin/env python3
"""WebSocket round trips through workgate vs nginx proxying the same upstream (Python standard library).

The upstream answers the upgrade with a 101 and then echoes raw bytes (asyncio). Clients open C
connections through each proxy, upgrade, and each does sequential round trips of one small masked
WebSocket frame for S seconds: round trips per second (all connections) and the median/p99 round-trip time.
Both proxies run one worker thread and get the same upstream, client and machine; the Python client and
upstream cost the same on both sides, so the difference is the proxies' (the absolute figures are bounded
by the Python ends).

  bench/websocket.py [--workgate build/release/workgate] [--nginx /usr/sbin/nginx] [--seconds 5]
                     [--connections 1,16]
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HEAD = ("GET /ws/echo HTTP/1.1\r\nHost: bench\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode()
# A masked text frame of 64 bytes of payload (the upstream echoes the bytes as they are).
FRAME = bytes([0x81, 0x80 | 64, 1, 2, 3, 4]) + bytes((ord("x") ^ (i % 4 + 1)) for i in range(64))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def upstream_session(reader, writer):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await reader.read(4096)
        if not chunk:
            writer.close()
            return
        head += chunk
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" + head.split(b"\r\n\r\n", 1)[1])
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


def start_upstream(port):
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def main():
        server = await asyncio.start_server(upstream_session, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True).start()
    ready.wait(10)


def wait_port(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited: {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("did not start")


def client(port, seconds, rtts, start_barrier):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(HEAD)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    status = buf.split(b" ", 2)[1]
    if status != b"101":
        raise RuntimeError(f"no switch: {buf[:200]!r}")
    start_barrier.wait()
    end = time.monotonic() + seconds
    local = []
    while time.monotonic() < end:
        t0 = time.perf_counter()
        s.sendall(FRAME)
        got = 0
        while got < len(FRAME):
            got += len(s.recv(65536))
        local.append(time.perf_counter() - t0)
    rtts.extend(local)
    s.close()


def measure(port, connections, seconds):
    rtts = []
    barrier = threading.Barrier(connections)
    threads = [threading.Thread(target=client, args=(port, seconds, rtts, barrier)) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rtts.sort()
    return {"round_trips_per_s": round(len(rtts) / seconds), "p50_us": round(statistics.median(rtts) * 1e6),
            "p99_us": round(rtts[int(len(rtts) * 0.99) - 1] * 1e6)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--workgate", default=os.path.join(root, "build", "release", "workgate"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", default="1,16")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="wg-bench-ws-")
    up_port, wg_port, ngx_port = free_port(), free_port(), free_port()
    start_upstream(up_port)
    procs = []
    try:
        cfg = {"servers": [{"alias": "up", "url": f"http://127.0.0.1:{up_port}"}],
               "paths": [{"method": "ANY", "path": "/ws/{.+}",
                          "integration": {"type": "http_proxy", "server": "up"}}]}
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(cfg, f)
        wg = subprocess.Popen([args.workgate, "serve", "--config", os.path.join(tmp, "config.json"), "--listen",
                               f"127.0.0.1:{wg_port}", "--threads", "1", "--log-level", "warn"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(wg)
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(f"""daemon off; master_process off; worker_processes 1; error_log stderr error;
pid {tmp}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp};
  scgi_temp_path {tmp};
  server {{
    listen 127.0.0.1:{ngx_port};
    location / {{
      proxy_pass http://127.0.0.1:{up_port};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 60s;
    }}
  }}
}}
""")
        ngx = subprocess.Popen([args.nginx, "-p", tmp + "/", "-c", os.path.join(tmp, "nginx.conf"), "-e", "stderr"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(ngx)
        wait_port(wg_port, wg)
        wait_port(ngx_port, ngx)
        results = {}
        for c in [int(x) for x in args.connections.split(",")]:
            for name, port in (("nginx", ngx_port), ("workgate", wg_port), ("nginx", ngx_port),
                               ("workgate", wg_port)):
                r = measure(port, c, args.seconds)
                results.setdefault(f"{name} c={c}", []).append(r)
                print(f"{name:9s} connections={c:3d} {r}", flush=True)
        print(json.dumps(results, indent=1))
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
