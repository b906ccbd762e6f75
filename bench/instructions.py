#!/usr/bin/env python3
"""User-space instructions per request of a static route, with metrics off and on (valgrind callgrind).

Instruction counts do not drift with the load of a shared machine, unlike req/s: this is the stable
measure of what counting costs (bench/run.py --scenario metrics gives the wall-clock view). Each side
runs `workgate serve --threads 1 --no-supervise` under callgrind twice, for FEW and MANY keep-alive
requests (pipelined 16 at a time); (Ir(MANY) - Ir(FEW)) / (MANY - FEW) cancels start-up and shutdown.
Kernel time (most of a request's CPU on loopback, see PERFORMANCE-NOTES) is not counted.

    python3 bench/instructions.py [--gateway build/release/workgate] [--few 2000] [--many 22000]
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GATEWAY = os.path.join(os.path.dirname(HERE), "build", "release", "workgate")
REQUEST = b"GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drive(port, count, batch=16, timeout=600):
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    buf, done = b"", 0
    with sock:
        while done < count:
            k = min(batch, count - done)
            sock.sendall(REQUEST * k)
            got = 0
            while got < k:
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("the gateway closed the connection")
                buf += data
                while True:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    length = int(re.search(rb"(?i)content-length: (\d+)", buf[:end]).group(1))
                    if len(buf) < end + 4 + length:
                        break
                    buf = buf[end + 4 + length:]
                    got += 1
            done += k


def instructions(gateway, metrics, count, workdir):
    config = {"paths": [{"method": "GET", "path": "/bench", "response": {"status": "ok"}}]}
    if metrics:
        config["gateway"] = {"admin": {"listen": f"127.0.0.1:{free_port()}"}}
    path = os.path.join(workdir, f"config-{metrics}-{count}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    out = os.path.join(workdir, f"callgrind-{metrics}-{count}.out")
    port = free_port()
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", gateway, "serve",
                             "--config", path, "--listen", f"127.0.0.1:{port}", "--threads", "1", "--no-supervise",
                             "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        drive(port, count)
    finally:
        proc.terminate()
        proc.wait(60)
    with open(out) as f:
        text = f.read()
    return int((re.search(r"^summary: (\d+)", text, re.M) or re.search(r"^totals: (\d+)", text, re.M)).group(1))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gateway", default=DEFAULT_GATEWAY)
    p.add_argument("--few", type=int, default=2000)
    p.add_argument("--many", type=int, default=22000)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="workgate-instructions-") as workdir:
        per_request = {}
        for metrics in (False, True):
            few = instructions(a.gateway, metrics, a.few, workdir)
            many = instructions(a.gateway, metrics, a.many, workdir)
            per_request[metrics] = (many - few) / (a.many - a.few)
            print(f"metrics {'on ' if metrics else 'off'}: {per_request[metrics]:.0f} instructions per request", flush=True)
    off, on = per_request[False], per_request[True]
    print(f"metrics on / off: {on / off:.4f} ({on - off:+.0f} instructions per request)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
