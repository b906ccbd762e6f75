#!/usr/bin/env python3
"""User-space instructions per request of a static route, with metrics off and on (valgrind callgrind).
With --tracing: of the unsampled tracing path instead (tracing off, sample_ratio 0, each with and without a
client traceparent), the part of tracing that every request pays whatever the ratio. With --workers: of a
service_binding route to the sidecar test worker (its small fixed object, `?mode=record`, and its 13-member
echo of the request), beside a static route: the gateway's and the worker SDK's cost of a native call.

Instruction counts do not drift with the load of a shared machine, unlike req/s: this is the stable
measure of what counting costs (bench/run.py --scenario metrics gives the wall-clock view). Each side
runs `workgate serve --threads 1 --no-supervise` under callgrind twice, for FEW and MANY keep-alive
requests (pipelined 16 at a time); (Ir(MANY) - Ir(FEW)) / (MANY - FEW) cancels start-up and shutdown.
Kernel time (most of a request's CPU on loopback, see PERFORMANCE-NOTES) is not counted.

    python3 bench/instructions.py [--gateway build/release/workgate] [--few 2000] [--many 22000]
                                  [--tracing | --workers [--sidecar PATH]]
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
TRACEPARENT_REQUEST = (b"GET /bench HTTP/1.1\r\nHost: bench\r\n"
                       b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drive(port, count, batch=16, timeout=600, request=REQUEST):
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
            sock.sendall(request * k)
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


def instructions(gateway, gateway_section, count, workdir, tag, request=REQUEST, config=None):
    if config is None:
        config = {"paths": [{"method": "GET", "path": "/bench", "response": {"status": "ok"}}]}
    if gateway_section:
        config["gateway"] = gateway_section
    path = os.path.join(workdir, f"config-{tag}-{count}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    out = os.path.join(workdir, f"callgrind-{tag}-{count}.out")
    port = free_port()
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", gateway, "serve",
                             "--config", path, "--listen", f"127.0.0.1:{port}", "--threads", "1", "--no-supervise",
                             "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        drive(port, count, request=request)
    finally:
        proc.terminate()
        proc.wait(60)
    with open(out) as f:
        text = f.read()
    return int((re.search(r"^summary: (\d+)", text, re.M) or re.search(r"^totals: (\d+)", text, re.M)).group(1))


def per_request(a, workdir, tag, gateway_section, request=REQUEST, config=None):
    few = instructions(a.gateway, gateway_section, a.few, workdir, tag, request, config)
    many = instructions(a.gateway, gateway_section, a.many, workdir, tag, request, config)
    return (many - few) / (a.many - a.few)


def workers_config(sidecar):
    return {"workers": [{"binding": "TARGET", "module": os.path.abspath(sidecar)}],
            "serviceBindings": [{"alias": "target", "binding": "TARGET"}],
            "paths": [{"method": "GET", "path": "/bench", "response": {"status": "ok"}},
                      {"method": "GET", "path": "/svc",
                       "integration": {"type": "service_binding", "binding": "target", "function": "run"}}]}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gateway", default=DEFAULT_GATEWAY)
    p.add_argument("--few", type=int, default=2000)
    p.add_argument("--many", type=int, default=22000)
    p.add_argument("--tracing", action="store_true",
                   help="the unsampled tracing path: off / sample_ratio 0, with and without a client traceparent")
    p.add_argument("--workers", action="store_true",
                   help="service_binding routes to the sidecar test worker beside a static route")
    p.add_argument("--sidecar", help="the sidecar test worker (default: workers/libworkgate-sidecar.so next to "
                                     "the gateway binary)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="workgate-instructions-") as workdir:
        if a.workers:
            sidecar = a.sidecar or os.path.join(os.path.dirname(os.path.abspath(a.gateway)), "workers",
                                                "libworkgate-sidecar.so")
            if not os.path.exists(sidecar):
                print(f"no sidecar test worker at {sidecar}; pass --sidecar PATH", file=sys.stderr)
                return 2
            got = {}
            for label, tag, target in (("static", "static", "/bench"),
                                       ("service_binding ?mode=record", "record", "/svc?mode=record"),
                                       ("service_binding (echo)", "echo", "/svc")):
                request = f"GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
                got[label] = per_request(a, workdir, tag, None, request, workers_config(sidecar))
                print(f"{label:<36} {got[label]:.0f} instructions per request", flush=True)
            return 0
        if a.tracing:
            # sample_ratio 0 samples nothing: no span is built or exported (the endpoint is never called).
            ratio0 = {"tracing": {"otlp_endpoint": f"http://127.0.0.1:{free_port()}/v1/traces", "sample_ratio": 0}}
            sides = [("tracing off", "off", None, REQUEST),
                     ("tracing off, client traceparent", "off-tp", None, TRACEPARENT_REQUEST),
                     ("sample_ratio 0", "r0", ratio0, REQUEST),
                     ("sample_ratio 0, client traceparent", "r0-tp", ratio0, TRACEPARENT_REQUEST)]
            got = {}
            for label, tag, section, request in sides:
                got[label] = per_request(a, workdir, tag, section, request)
                print(f"{label:<36} {got[label]:.0f} instructions per request", flush=True)
            base = got["tracing off"]
            for label in list(got)[1:]:
                print(f"{label + ' / tracing off:':<50} {got[label] / base:.4f} ({got[label] - base:+.0f} "
                      f"instructions per request)")
            return 0
        results = {}
        for metrics in (False, True):
            section = {"admin": {"listen": f"127.0.0.1:{free_port()}"}} if metrics else None
            results[metrics] = per_request(a, workdir, "on" if metrics else "off", section)
            print(f"metrics {'on ' if metrics else 'off'}: {results[metrics]:.0f} instructions per request", flush=True)
    off, on = results[False], results[True]
    print(f"metrics on / off: {on / off:.4f} ({on - off:+.0f} instructions per request)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
