#!/usr/bin/env python3
"""workgate vs nginx benchmark runner (Python 3 standard library only).

Starts workgate and nginx on free loopback ports (servers pinned to one core, wrk to another),
alternates runs A B A B ..., takes medians and prints ratios. See bench/README.md.

Scenarios:
  static   workgate static route vs nginx `return 200` (target: workgate >= 0.8x nginx)
  proxy    workgate http_proxy vs nginx proxy_pass to the same nginx upstream; plus large POST bodies
  auth     workgate only: RS256-protected route (auth0 authorizer, inline JWKS) vs the same route unprotected
  workers  workgate only: service_binding route (sidecar worker `run`) vs a static route
  ratelimit workgate only: a static route with a rate-limit policy that admits everything vs the same route
           without; `local` (target >= 0.95x) and `redis` (target >= 0.6x; a redis-server on the client CPU,
           Redis commands per request from INFO commandstats)
  metrics  static route: nginx, workgate without the admin listener (metrics off), workgate with it (metrics
           on, /metrics scraped every second during the runs), alternated in one run (target: on/off >= 0.97)
  tracing  http_proxy with gateway.tracing off, off with a client traceparent, and sample_ratio 0, 0.01, 0.1
           and 1 (--tracing-ratios; sampled: two spans per request exported to an OTLP sink that discards
           them, an nginx on the client CPU), all with metrics on, vs nginx
  targets  http_proxy to two upstream targets (round robin) vs one target, vs nginx with the same two
  tls      HTTPS (TLS listener, same ECDSA P-256 certificate for both): keep-alive static route vs nginx
           `ssl` (target: >= 1.0x); new TLS connections per second, one request each, full handshakes
           (wrk, Connection: close) and resumed ones (openssl s_time -reuse / -new), vs nginx
"""

import argparse
import base64
import ctypes
import hashlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_GATEWAY = os.path.join(REPO, "build", "release", "workgate")
SCENARIOS = ["static", "proxy", "auth", "workers", "ratelimit", "metrics", "tls", "http2", "targets", "workers-js"]
SCENARIOS.append("peers")  # nginx + haproxy + workgate side by side (bench/README.md)
SCENARIOS.append("tracing")  # http_proxy with gateway.tracing off vs sample ratios 0..1 (a discarding sink)
STATIC_BODY = '{"status":"ok"}'
UPSTREAM_BODY = '{"status":"ok","from":"upstream"}'
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Skip(Exception):
    """The scenario cannot run (config refused, feature missing): reported in one line, the run goes on."""


def log(msg=""):
    print(msg, flush=True)


def one_line(text, limit=200):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    # Prefer the first line that names an error.
    for l in lines:
        if "error" in l.lower():
            return l[:limit]
    return (lines[-1] if lines else "(no output)")[:limit]


# ------------------------------------------------------------------------------------------ processes

_libc = None


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when this runner dies, even by SIGKILL."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env():
    env = dict(os.environ)
    env.pop("SAG_API_CONFIG_JSON", None)  # never let an inline config override the bench config
    return env


class Server:
    def __init__(self, name, argv, workdir, port):
        self.name = name
        self.port = port
        self.workdir = workdir
        self.log_path = os.path.join(workdir, f"{name}.stderr")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=workdir, env=child_env(), preexec_fn=_die_with_parent)
        self.pid = self.proc.pid  # taskset execs the server: same pid

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
        self._log.close()


class Context:
    """Owns the temp dir and every server; cleanup() stops them all (called from `finally`)."""

    def __init__(self, args):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="workgate-bench-")
        self.servers = []

    def pin(self, cpu):
        if self.args.no_pin or not shutil.which("taskset"):
            return []
        return ["taskset", "-c", str(cpu)]

    def subdir(self, name):
        path = tempfile.mkdtemp(prefix=name + "-", dir=self.root)
        return path

    def stop(self, server):
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def cleanup(self):
        for s in reversed(self.servers):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log(f"warning: stopping {s.name}: {e}")
        self.servers.clear()
        if self.args.keep_temp:
            log(f"temp files kept in {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    # ---------------------------------------------------------------------------------------- nginx

    def start_nginx(self, name, http_body, worker_connections=8192, cpu=None):
        """http_body: text inside `http { }` after the common settings; '@PORT@' is this server's port.
        `cpu`: the taskset CPU list (default: the servers' CPU)."""
        d = self.subdir(name)
        port = free_port()
        for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(d, t), exist_ok=True)
        conf = f"""daemon off;
master_process off;
worker_processes 1;
error_log stderr warn;
pid {d}/nginx.pid;
worker_rlimit_nofile 65536;
events {{
    worker_connections {worker_connections};
}}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 0;
{http_body.replace('@PORT@', str(port))}
}}
"""
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        argv = self.pin(self.args.server_cpu if cpu is None else cpu) + [self.args.nginx, "-p", d + "/", "-c", path,
                                                                          "-e", "stderr"]
        server = Server(name, argv, d, port)
        self.servers.append(server)
        if not server.wait_ready():
            out = server.output()
            self.stop(server)
            raise RuntimeError(f"nginx ({name}) did not start: {one_line(out)}")
        return server

    # ------------------------------------------------------------------------------------- workgate

    def start_workgate(self, name, config):
        d = self.subdir(name)
        port = free_port()
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        argv = self.pin(self.args.server_cpu) + [
            self.args.gateway, "serve", "--config", path, "--listen", f"127.0.0.1:{port}",
            "--threads", str(self.args.threads), "--log-level", "warn", "--drain-timeout-ms", "1000",
            # One process, so that the CPU and memory read from /proc/PID are the serving process's own
            # (nginx runs with master_process off for the same reason).
            "--no-supervise"]
        server = Server(name, argv, d, port)
        self.servers.append(server)
        if not server.wait_ready():
            alive = server.alive()
            out = server.output()
            self.stop(server)
            if alive:
                raise Skip(f"workgate did not accept connections within {START_TIMEOUT:.0f}s: {one_line(out)}")
            raise Skip(f"workgate refused the config (exit {server.proc.returncode}): {one_line(out)}")
        return server


# ------------------------------------------------------------------------------------------- HTTP check

def http_check(port, method, path, headers=None, body=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data.decode("utf-8", "replace")
    finally:
        conn.close()


def expect_ok(side, port, method, path, headers=None, body=None, want_body=None, gateway=True):
    """One request before measuring: a workgate side that does not answer 2xx skips the scenario."""
    try:
        status, text = http_check(port, method, path, headers, body)
    except (OSError, http.client.HTTPException) as e:
        status, text = None, f"{type(e).__name__}: {e}"
    ok = status is not None and 200 <= status < 300 and (want_body is None or text == want_body)
    if not ok:
        msg = f"{side}: {method} {path} answered {status} {text[:160]!r}"
        if want_body is not None and status is not None and 200 <= status < 300:
            msg += f" (expected body {want_body!r})"
        if gateway:
            raise Skip(msg)
        raise RuntimeError(msg)


# ------------------------------------------------------------------------------------------------ wrk

_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_UNITS_B = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def parse_wrk(text):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),\s+([\d.]+)(B|KB|MB|GB|TB) read", text)
    if m:
        r["requests"] = int(m.group(1))
        r["elapsed_s"] = float(m.group(2)) * _UNITS_US[m.group(3)] / 1e6
        r["bytes_read"] = float(m.group(4)) * _UNITS_B[m.group(5)]
    pct = {}
    for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M):
        pct[m.group(1)] = float(m.group(2)) * _UNITS_US[m.group(3)]
    r["p50_us"] = pct.get("50")
    r["p99_us"] = pct.get("99")
    m = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)", text, re.M)
    if m:
        r["lat_avg_us"] = float(m.group(1)) * _UNITS_US[m.group(2)]
        r["lat_max_us"] = float(m.group(5)) * _UNITS_US[m.group(6)]
    errors = {}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        for k, v in zip(("connect", "read", "write", "timeout"), m.groups()):
            if int(v):
                errors[k] = int(v)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m and int(m.group(1)):
        errors["non_2xx_3xx"] = int(m.group(1))
    r["errors"] = errors
    return r


def proc_cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def proc_status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Sampler(threading.Thread):
    """Samples VmRSS of the measured server while wrk runs."""

    def __init__(self, pid, interval=0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss_kib = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            v = proc_status_kib(self.pid, "VmRSS")
            if v is not None:
                self.peak_rss_kib = max(self.peak_rss_kib, v)
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()


def write_lua(ctx, name, text):
    path = os.path.join(ctx.root, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def wrk_argv(ctx, side, conns, seconds):
    a = ctx.args
    argv = ctx.pin(a.client_cpu) + [a.wrk, "-t1", f"-c{conns}", f"-d{seconds}s", "--latency",
                                     "--timeout", f"{a.wrk_timeout}s"]
    for h in side.get("headers", []):
        argv += ["-H", h]
    if side.get("script"):
        argv += ["-s", side["script"]]
    argv.append(side.get("url") or f"http://127.0.0.1:{side['server'].port}{side['path']}")
    return argv


def run_wrk(ctx, side, conns, seconds, measure):
    argv = wrk_argv(ctx, side, conns, seconds)
    watched = [s for s in side.get("watch", [side["server"]])]
    cpu0 = {s.name: proc_cpu_ticks(s.pid) for s in watched}
    sampler = Sampler(side["server"].pid) if measure else None
    if sampler:
        sampler.start()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=seconds + 30, preexec_fn=_die_with_parent)
        out, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = f"wrk timed out after {seconds + 30}s\n{e.stdout or ''}", -1
    finally:
        if sampler:
            sampler.stop()
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not measure:
        return None
    r = parse_wrk(out)
    r["command"] = " ".join(argv)
    if rc != 0:
        r["errors"]["wrk_exit"] = rc
    if not r.get("rps") or r.get("p99_us") is None:
        r["errors"]["unparsed_output"] = 1
    dead = [s.name for s in watched if not s.alive()]
    if dead:
        r["errors"]["server_died"] = ",".join(dead)
    r["valid"] = not r["errors"]
    elapsed = r.get("elapsed_s") or seconds
    reqs = r.get("requests") or 0
    cpu = {}
    for s in watched:
        c1 = proc_cpu_ticks(s.pid)
        if cpu0[s.name] is not None and c1 is not None:
            secs = (c1 - cpu0[s.name]) / CLK_TCK
            cpu[s.name] = {"cpu_pct": 100.0 * secs / elapsed,
                           "cpu_us_per_req": (1e6 * secs / reqs) if reqs else None}
    r["server_cpu"] = cpu
    main = cpu.get(side["server"].name, {})
    r["cpu_pct"] = main.get("cpu_pct")
    r["cpu_us_per_req"] = main.get("cpu_us_per_req")
    client = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    r["client_cpu_pct"] = 100.0 * client / wall if wall > 0 else None
    r["peak_rss_mib"] = sampler.peak_rss_kib / 1024.0 if sampler.peak_rss_kib else None
    hwm = proc_status_kib(side["server"].pid, "VmHWM")
    r["vmhwm_mib"] = hwm / 1024.0 if hwm else None
    if reqs and r.get("bytes_read"):
        r["bytes_per_response"] = r["bytes_read"] / reqs
    if side.get("body_bytes") and r.get("rps"):
        r["upload_mb_s"] = r["rps"] * side["body_bytes"] / 1e6
    if r.get("rps") and r.get("bytes_read") and elapsed:
        r["download_mb_s"] = r["bytes_read"] / elapsed / 1e6
    if not r["valid"]:
        r["output_tail"] = "\n".join(out.splitlines()[-12:])
    return r


# ---------------------------------------------------------------------------------------- measuring

def fmt_rps(v):
    return "-" if v is None else f"{v:,.0f}"


def fmt_us(v):
    if v is None:
        return "-"
    return f"{v:.0f}us" if v < 1000 else (f"{v / 1000:.2f}ms" if v < 1e6 else f"{v / 1e6:.2f}s")


def fmt_x(v):
    return "-" if v is None else f"{v:.2f}x"


def fmt_f(v, spec=".1f", suffix=""):
    return "-" if v is None else f"{v:{spec}}{suffix}"


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get("valid") and r.get(key) is not None]
    return statistics.median(vals) if vals else None


MEDIAN_KEYS = ["rps", "p50_us", "p99_us", "lat_max_us", "cpu_pct", "cpu_us_per_req", "client_cpu_pct",
               "bytes_per_response", "upload_mb_s", "download_mb_s"]


def measure_case(ctx, case):
    """case: {label, conns, sides: [base, test]}; runs base, test alternately; ratio = test/base."""
    a = ctx.args
    sides = case["sides"]
    runs = {s["name"]: [] for s in sides}
    for rnd in range(1, a.rounds + 1):
        for side in sides:
            if a.warmup > 0:
                run_wrk(ctx, side, case["conns"], a.warmup, measure=False)
            r = run_wrk(ctx, side, case["conns"], a.duration, measure=True)
            r["round"] = rnd
            runs[side["name"]].append(r)
            flag = "" if r["valid"] else f"  INVALID {r['errors']}"
            extra = ""
            if r.get("upload_mb_s") is not None:
                extra += f"  {r['upload_mb_s']:.0f} MB/s up"
            if r.get("peak_rss_mib") is not None and case.get("show_rss"):
                extra += f"  rss {r['peak_rss_mib']:.1f} MiB"
            log(f"  [{rnd}/{a.rounds}] {case['label']:<14} {side['name']:<22} {fmt_rps(r.get('rps')):>9} req/s"
                f"  p99 {fmt_us(r.get('p99_us')):>8}  cpu {fmt_f(r.get('cpu_us_per_req'), '.2f', 'us/req')}"
                f" ({fmt_f(r.get('cpu_pct'), '.0f', '%')})  wrk {fmt_f(r.get('client_cpu_pct'), '.0f', '%')}"
                f"{extra}{flag}")
            if not r["valid"]:
                log("      " + r.get("output_tail", "").replace("\n", "\n      "))
            if "server_died" in r["errors"]:
                raise RuntimeError(f"{r['errors']['server_died']} died during the run")
    result = {"label": case["label"], "conns": case["conns"], "ratio_name": case["ratio_name"], "sides": {}}
    for side in sides:
        rs = runs[side["name"]]
        med = {k: median_of(rs, k) for k in MEDIAN_KEYS}
        med["peak_rss_mib"] = max((r["peak_rss_mib"] for r in rs if r.get("peak_rss_mib")), default=None)
        med["vmhwm_mib"] = max((r["vmhwm_mib"] for r in rs if r.get("vmhwm_mib")), default=None)
        result["sides"][side["name"]] = {"role": side["role"], "median": med, "runs": rs,
                                         "valid_runs": sum(1 for r in rs if r["valid"]),
                                         "invalid_runs": sum(1 for r in rs if not r["valid"])}
    base, test = (result["sides"][s["name"]]["median"] for s in (sides[0], sides[-1]))

    def ratio(k, t=test, b=base):
        return t[k] / b[k] if t.get(k) and b.get(k) else None

    result["ratio"] = {"rps": ratio("rps"), "p99": ratio("p99_us"), "cpu_us_per_req": ratio("cpu_us_per_req")}
    # With more than two sides: further ratios between named sides, e.g. ("metrics on", "metrics off").
    result["extra_ratios"] = {}
    for test_name, base_name in case.get("extra_ratios", []):
        t, b = result["sides"][test_name]["median"], result["sides"][base_name]["median"]
        result["extra_ratios"][f"{test_name} / {base_name}"] = {
            "rps": ratio("rps", t, b), "p99": ratio("p99_us", t, b), "cpu_us_per_req": ratio("cpu_us_per_req", t, b)}
    result["valid"] = all(v["invalid_runs"] == 0 for v in result["sides"].values())
    if case.get("target") is not None and result["ratio"]["rps"] is not None:
        result["target"] = case["target"]
        result["meets_target"] = result["ratio"]["rps"] >= case["target"]
    return result


def print_table(scenario, results, show_rss=False, show_mb=False):
    log("")
    log(f"== {scenario} (medians of valid runs; ratio = {results[0]['ratio_name']})")
    hdr = f"{'case':<14} {'side':<28} {'req/s':>10} {'p99':>9} {'cpu/req':>10} {'srv cpu':>8} {'wrk cpu':>8}"
    if show_mb:
        hdr += f" {'MB/s up':>8}"
    if show_rss:
        hdr += f" {'peak RSS':>10} {'VmHWM':>10}"
    log(hdr)
    for res in results:
        for name, s in res["sides"].items():
            m = s["median"]
            line = (f"{res['label']:<14} {name:<28} {fmt_rps(m['rps']):>10} {fmt_us(m['p99_us']):>9} "
                    f"{fmt_f(m['cpu_us_per_req'], '.2f', 'us'):>10} {fmt_f(m['cpu_pct'], '.0f', '%'):>8} "
                    f"{fmt_f(m['client_cpu_pct'], '.0f', '%'):>8}")
            if show_mb:
                line += f" {fmt_f(m.get('upload_mb_s'), '.0f'):>8}"
            if show_rss:
                line += f" {fmt_f(m.get('peak_rss_mib'), '.1f', ' MiB'):>10} {fmt_f(m.get('vmhwm_mib'), '.1f', ' MiB'):>10}"
            if s["invalid_runs"]:
                line += f"  ({s['invalid_runs']} INVALID run(s))"
            log(line)
        r = res["ratio"]
        verdict = ""
        if "meets_target" in res:
            verdict = f"   target >= {res['target']:.2f}x: {'MET' if res['meets_target'] else 'NOT MET'}"
        if not res["valid"]:
            verdict += "   [runs with errors: see above]"
        starved = [n for n, s in res["sides"].items()
                   if s["median"]["cpu_pct"] is not None and s["median"]["cpu_pct"] < 80]
        if starved:
            verdict += f"   [note: {', '.join(starved)} used <80% of a core: busy machine or client-bound]"
        log(f"{res['label']:<14} {'ratio ' + res['ratio_name']:<28} {fmt_x(r['rps']):>10} {fmt_x(r['p99']):>9} "
            f"{fmt_x(r['cpu_us_per_req']):>10}{verdict}")


# ---------------------------------------------------------------------------------------- scenarios

def nginx_upstream_block():
    """The upstream of the proxy cases: every path answers UPSTREAM_BODY."""
    return f"""    server {{
        listen 127.0.0.1:@PORT@ reuseport backlog=4096;
        server_name _;
        location / {{
            default_type application/json;
            return 200 '{UPSTREAM_BODY}';
        }}
    }}"""


def nginx_static_block():
    return f"""    server {{
        listen 127.0.0.1:@PORT@ reuseport backlog=4096;
        server_name _;
        location = /bench {{
            default_type application/json;
            return 200 '{STATIC_BODY}';
        }}
    }}"""


def scenario_static(ctx, conns_list):
    wg = ctx.start_workgate("workgate-static", {
        "title": "bench static",
        "paths": [{"method": "GET", "path": "/bench", "response": {"status": "ok"}}]})
    expect_ok("workgate", wg.port, "GET", "/bench", want_body=STATIC_BODY)
    ng = ctx.start_nginx("nginx-static", nginx_static_block())
    expect_ok("nginx", ng.port, "GET", "/bench", want_body=STATIC_BODY, gateway=False)
    sides = [{"name": "nginx", "role": "base", "server": ng, "path": "/bench"},
             {"name": "workgate", "role": "test", "server": wg, "path": "/bench"}]
    results = [measure_case(ctx, {"label": f"c{c}", "conns": c, "sides": sides, "ratio_name": "workgate/nginx",
                                  "target": 0.8}) for c in conns_list]
    print_table("static", results)
    return results


def nginx_proxy_front(upstream_ports, extra=""):
    """nginx as a reverse proxy on @PORT@ to HTTP/1.1 keep-alive upstreams (one port or a list; the front of
    the proxy and targets cases)."""
    ports = upstream_ports if isinstance(upstream_ports, (list, tuple)) else [upstream_ports]
    servers = "\n".join(f"        server 127.0.0.1:{port};" for port in ports)
    return f"""    upstream up {{
{servers}
        keepalive 1024;
    }}
    server {{
        listen 127.0.0.1:@PORT@ reuseport backlog=4096;
        server_name _;
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            {extra}
        }}
    }}"""


def scenario_proxy(ctx, conns_list):
    a = ctx.args
    up = ctx.start_nginx("nginx-upstream", f"""    server {{
        listen 127.0.0.1:@PORT@ reuseport backlog=4096;
        server_name _;
        location / {{
            default_type application/json;
            return 200 '{UPSTREAM_BODY}';
        }}
        # Large bodies: read the whole body before answering (a mirror subrequest with the body does
        # that), so no proxy sees an early response and upstream connections stay reusable.
        location = /upload {{
            client_body_buffer_size {a.body_size + 65536};
            mirror /_drain;
            mirror_request_body on;
            try_files /__no_such_file__ @ok;
        }}
        location = /_drain {{
            internal;
            return 204;
        }}
        location @ok {{
            default_type application/json;
            return 200 '{UPSTREAM_BODY}';
        }}
    }}""")
    body = b"x" * a.body_size
    post_h = {"Content-Type": "application/octet-stream"}
    expect_ok("upstream", up.port, "GET", "/bench", want_body=UPSTREAM_BODY, gateway=False)
    expect_ok("upstream", up.port, "POST", "/upload", post_h, body, want_body=UPSTREAM_BODY, gateway=False)
    buffering = {"on": "proxy_request_buffering on;",
                 "memory": f"proxy_request_buffering on;\n            client_body_buffer_size {a.body_size + 65536};",
                 "off": "proxy_request_buffering off;"}[a.nginx_request_buffering]
    ng = ctx.start_nginx("nginx-front", nginx_proxy_front(up.port, buffering))
    expect_ok("nginx front", ng.port, "GET", "/bench", want_body=UPSTREAM_BODY, gateway=False)
    expect_ok("nginx front", ng.port, "POST", "/upload", post_h, body, want_body=UPSTREAM_BODY, gateway=False)
    wg = ctx.start_workgate("workgate-proxy", {
        "title": "bench proxy",
        "servers": [{"alias": "up", "url": f"http://127.0.0.1:{up.port}"}],
        "gateway": {"max_body_bytes": max(16 * 1024 * 1024, 2 * a.body_size)},
        "paths": [{"method": "ANY", "path": "/bench", "integration": {"type": "http_proxy", "server": "up"}},
                  {"method": "ANY", "path": "/upload", "integration": {"type": "http_proxy", "server": "up"}}]})
    expect_ok("workgate", wg.port, "GET", "/bench", want_body=UPSTREAM_BODY)
    expect_ok("workgate", wg.port, "POST", "/upload", post_h, body, want_body=UPSTREAM_BODY)
    watch_wg, watch_ng = [wg, up], [ng, up]
    sides = [{"name": "nginx", "role": "base", "server": ng, "path": "/bench", "watch": watch_ng},
             {"name": "workgate", "role": "test", "server": wg, "path": "/bench", "watch": watch_wg}]
    results = [measure_case(ctx, {"label": f"c{c}", "conns": c, "sides": sides, "ratio_name": "workgate/nginx",
                                  "show_rss": True}) for c in conns_list]
    lua = write_lua(ctx, "post-body.lua", f"""wrk.method = "POST"
wrk.body = string.rep("x", {a.body_size})
wrk.headers["Content-Type"] = "application/octet-stream"
""")
    big = [dict(s, script=lua, body_bytes=a.body_size, path="/upload") for s in sides]
    label = f"post{a.body_size // 1024}K-c{a.large_connections}"
    results.append(measure_case(ctx, {"label": label, "conns": a.large_connections, "sides": big,
                                      "ratio_name": "workgate/nginx", "show_rss": True}))
    print_table("proxy", results, show_rss=True, show_mb=True)
    upstream_cpu = {}
    for res in results:
        for name, s in res["sides"].items():
            vals = [r["server_cpu"].get(up.name, {}).get("cpu_us_per_req") for r in s["runs"] if r["valid"]]
            vals = [v for v in vals if v is not None]
            upstream_cpu[f"{res['label']}/{name}"] = statistics.median(vals) if vals else None
    log("upstream nginx cpu/req (same core, included in neither column): " +
        ", ".join(f"{k} {fmt_f(v, '.2f', 'us')}" for k, v in upstream_cpu.items()))
    return results


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class RsaKey:
    """An RSA key made by `openssl genpkey`; its numbers parsed from `openssl rsa -text` for fast signing."""

    FIELDS = ["modulus", "publicExponent", "privateExponent", "prime1", "prime2", "exponent1", "exponent2",
              "coefficient"]

    def __init__(self, directory):
        self.pem = os.path.join(directory, "jwt-rs256.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", self.pem], check=True, capture_output=True)
        text = subprocess.run(["openssl", "rsa", "-in", self.pem, "-noout", "-text"], check=True,
                              capture_output=True, text=True).stdout
        nums, cur = {}, None
        for line in text.splitlines():
            m = re.match(r"^(\w+):\s*(.*)$", line)
            if m and m.group(1) in self.FIELDS:
                cur = m.group(1)
                rest = m.group(2).strip()
                if cur == "publicExponent":
                    nums[cur] = int(rest.split()[0])
                    cur = None
                else:
                    nums[cur] = ""
            elif cur and re.match(r"^\s+[0-9a-f:]+$", line):
                nums[cur] += line.strip().replace(":", "")
            else:
                cur = None
        for k in self.FIELDS:
            if k != "publicExponent":
                nums[k] = int(nums[k], 16)
        self.n, self.e = nums["modulus"], nums["publicExponent"]
        self.p, self.q = nums["prime1"], nums["prime2"]
        self.dp, self.dq, self.qinv = nums["exponent1"], nums["exponent2"], nums["coefficient"]
        self.k = (self.n.bit_length() + 7) // 8

    def jwk(self, kid):
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64u(int_bytes(self.n)),
                "e": b64u(int_bytes(self.e))}

    def sign_openssl(self, data, directory):
        path = os.path.join(directory, "signing-input")
        with open(path, "wb") as f:
            f.write(data)
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.pem, path], check=True,
                              capture_output=True).stdout

    def sign_python(self, data):
        """RSASSA-PKCS1-v1_5 with SHA-256 (deterministic: checked against openssl's signature)."""
        digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(data).digest()
        em = b"\x00\x01" + b"\xff" * (self.k - len(digest_info) - 3) + b"\x00" + digest_info
        m = int.from_bytes(em, "big")
        m1, m2 = pow(m, self.dp, self.p), pow(m, self.dq, self.q)
        s = m2 + (self.qinv * (m1 - m2) % self.p) * self.q
        return s.to_bytes(self.k, "big")


def mint_rs256_tokens(ctx, count, domain, kid):
    d = ctx.subdir("jwt")
    key = RsaKey(d)
    header = b64u(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}, separators=(",", ":")).encode())
    now = int(time.time())
    tokens = []
    for i in range(count):
        claims = {"iss": f"https://{domain}/", "sub": f"bench-user-{i}", "iat": now - 10, "exp": now + 6 * 3600}
        signing_input = (header + "." + b64u(json.dumps(claims, separators=(",", ":")).encode())).encode()
        if i == 0:
            sig = key.sign_openssl(signing_input, d)
            if key.sign_python(signing_input) != sig and count > 1:
                raise RuntimeError("python RS256 signer disagrees with openssl dgst; cannot mint extra tokens")
        else:
            sig = key.sign_python(signing_input)
        tokens.append(signing_input.decode() + "." + b64u(sig))
    return key, tokens


def scenario_auth(ctx, conns_list):
    a = ctx.args
    domain, kid = "bench.workgate.test", "bench-rs256"
    t0 = time.monotonic()
    key, tokens = mint_rs256_tokens(ctx, a.auth_tokens, domain, kid)
    log(f"  minted {len(tokens)} RS256 token(s) in {time.monotonic() - t0:.1f}s")
    jwks = json.dumps({"keys": [key.jwk(kid)]}, separators=(",", ":"))
    wg = ctx.start_workgate("workgate-auth", {
        "title": "bench auth",
        "authorizer": {"type": "auth0", "domain": domain, "client_id": "bench", "client_secret": "bench-secret",
                       "redirect_uri": f"https://{domain}/callback", "scope": "openid", "jwks": jwks},
        "paths": [{"method": "GET", "path": "/open", "response": {"status": "ok"}},
                  {"method": "GET", "path": "/private", "auth": True, "response": {"status": "ok"}}]})
    auth_h = {"Authorization": f"Bearer {tokens[0]}"}
    expect_ok("workgate", wg.port, "GET", "/open", auth_h, want_body=STATIC_BODY)
    expect_ok("workgate", wg.port, "GET", "/private", auth_h, want_body=STATIC_BODY)
    status, text = http_check(wg.port, "GET", "/private")
    if status != 401:
        raise Skip(f"GET /private without a token answered {status} {text[:100]!r}, expected 401")
    if len(tokens) == 1:
        common = {"headers": [f"Authorization: Bearer {tokens[0]}"]}
        label = "1token"
    else:
        # Rotate tokens on both sides so both pay the same per-request Lua cost and request size.
        tok_path = os.path.join(ctx.root, "tokens.txt")
        with open(tok_path, "w") as f:
            f.write("\n".join(tokens) + "\n")
        lua = write_lua(ctx, "rotate-tokens.lua", f"""local tokens = {{}}
for line in io.lines("{tok_path}") do tokens[#tokens + 1] = "Bearer " .. line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format(nil, nil, {{["Authorization"] = tokens[i]}})
end
""")
        common = {"script": lua}
        label = f"{len(tokens)}tokens"
    sides = [dict(common, name="unprotected", role="base", server=wg, path="/open"),
             dict(common, name="rs256-protected", role="test", server=wg, path="/private")]
    results = [measure_case(ctx, {"label": f"c{c}-{label}", "conns": c, "sides": sides,
                                  "ratio_name": "protected/unprotected"}) for c in conns_list]
    print_table("auth", results)
    return results


def find_sidecar(ctx):
    """--sidecar, else the build's sidecar test worker module (<build>/workers/libworkgate-sidecar.so)."""
    if ctx.args.sidecar:
        return ctx.args.sidecar
    root = os.path.dirname(os.path.abspath(ctx.args.gateway))
    preferred = os.path.join(root, "workers", "libworkgate-sidecar.so")
    if os.path.isfile(preferred):
        return preferred
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath[len(root):].count(os.sep) >= 3:
            dirnames[:] = []
        dirnames[:] = [d for d in dirnames if d != "CMakeFiles"]
        for f in sorted(filenames):
            if "sidecar" in f and (f.endswith(".so") or os.access(os.path.join(dirpath, f), os.X_OK)):
                return os.path.join(dirpath, f)
    return None


WORKER_RECORD_BODY = ('{"status":"success","message":"Operation completed successfully.",'
                      '"data":{"id":42,"name":"workgate","active":true,"tags":["a","b"]}}')


def scenario_workers(ctx, conns_list):
    sidecar = find_sidecar(ctx)
    if not sidecar:
        raise Skip("no sidecar test worker (workers/libworkgate-sidecar.so) next to the gateway binary; "
                   "pass --sidecar PATH")
    wg = ctx.start_workgate("workgate-workers", {
        "title": "bench workers",
        "workers": [{"binding": "TARGET", "module": os.path.abspath(sidecar)}],
        "serviceBindings": [{"alias": "target", "binding": "TARGET"}],
        "paths": [{"method": "GET", "path": "/static", "response": {"status": "ok"}},
                  {"method": "GET", "path": "/svc", "integration": {"type": "service_binding", "binding": "target",
                                                                    "function": "run"}}]})
    expect_ok("workgate", wg.port, "GET", "/static", want_body=STATIC_BODY)
    expect_ok("workgate", wg.port, "GET", "/svc")
    expect_ok("workgate", wg.port, "GET", "/svc?mode=record", want_body=WORKER_RECORD_BODY)
    # /svc: the sidecar's default function, which echoes the request, context and env as a JSON object of
    # 13 members (the worker's own work is a third of the route's CPU); /svc?mode=record: a small fixed
    # object, so what is measured is the gateway's cost of a service binding and its JSON envelope.
    sides = [{"name": "static", "role": "base", "server": wg, "path": "/static"},
             {"name": "service_binding_record", "role": "test", "server": wg, "path": "/svc?mode=record"},
             {"name": "service_binding", "role": "test", "server": wg, "path": "/svc"}]
    results = [measure_case(ctx, {"label": f"c{c}", "conns": c, "sides": sides,
                                  "ratio_name": "service_binding/static",
                                  "extra_ratios": [("service_binding_record", "static")]}) for c in conns_list]
    print_table("workers", results)
    for res in results:
        for name, r in res["extra_ratios"].items():
            log(f"{res['label']:<14} {'ratio ' + name:<28} {fmt_x(r['rps']):>10} {fmt_x(r['p99']):>9} "
                f"{fmt_x(r['cpu_us_per_req']):>10}")
    return results


JS_BODY = '{"raw":"string from TARGET.run"}'
WORKERD = os.path.join(REPO, "third_party", "npm", "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd")
SIDECAR_JS = os.path.join(REPO, "workers", "sidecar", "sidecar.js")


def scenario_workers_js(ctx, conns_list):
    """A JavaScript service_binding route (sidecar.js on workerd, 1 shard, 1 workerd process) vs the native
    sidecar's route vs a static route, and vs a bare workerd whose worker answers the same JSON directly
    (the ceiling for JavaScript on this machine). Ratio: JS route / bare workerd (target >= 0.5)."""
    workerd = os.environ.get("WORKGATE_WORKERD") or WORKERD
    if not os.access(workerd, os.X_OK):
        raise Skip(f"workerd not installed at {workerd} (scripts/install-deps.sh)")
    sidecar = find_sidecar(ctx)
    if not sidecar:
        raise Skip("no native sidecar test worker next to the gateway binary; pass --sidecar PATH")
    d = ctx.subdir("workerd-bare")
    port = free_port()
    with open(os.path.join(d, "bare.js"), "w") as f:
        # GET: the JSON answer of the sidecar's string mode, after the work sidecar.js's run does before it
        # answers (its URL and `mode` query parameter), so that both sides run the same JavaScript; /min
        # answers without it (the figure before 2026-12-03). POST: reads the body, answers its size (as the
        # gateway's /js-body route below does).
        f.write("export default { async fetch(req) { if (req.method === 'POST') { "
                "const n = (await req.arrayBuffer()).byteLength; return new Response(JSON.stringify({ size: n }), "
                "{ headers: { 'content-type': 'application/json' } }); } "
                "if (!req.url.endsWith('/min')) { const mode = new URL(req.url).searchParams.get('mode') ?? 'object'; "
                "if (mode !== 'string') return new Response('mode', { status: 400 }); } "
                "return new Response(%s, { headers: { 'content-type': 'application/json' } }); } };\n"
                % json.dumps(JS_BODY))
    with open(os.path.join(d, "body.js"), "w") as f:
        f.write('import { WorkerEntrypoint } from "cloudflare:workers";\n'
                "export class Body extends WorkerEntrypoint { async size(request) { "
                "return { size: (await request.arrayBuffer()).byteLength }; } }\n")
    with open(os.path.join(d, "bare.capnp"), "w") as f:
        f.write('using Workerd = import "/workerd/workerd.capnp";\n'
                'const config :Workerd.Config = (services = [(name = "main", worker = (modules = [(name = "bare.js", '
                'esModule = embed "bare.js")], compatibilityDate = "2025-09-01"))], sockets = [(name = "http", '
                f'address = "127.0.0.1:{port}", http = (), service = "main")]);\n')
    bare = Server("workerd-bare", ctx.pin(ctx.args.server_cpu) + [workerd, "serve", os.path.join(d, "bare.capnp")],
                  d, port)
    ctx.servers.append(bare)
    if not bare.wait_ready():
        raise Skip(f"bare workerd did not start: {one_line(bare.output())}")
    expect_ok("workerd", port, "GET", "/?mode=string", want_body=JS_BODY, gateway=False)
    expect_ok("workerd", port, "GET", "/min", want_body=JS_BODY, gateway=False)
    wg = ctx.start_workgate("workgate-workers-js", {
        "title": "bench workers-js",
        "workers": [{"binding": "NATIVE", "module": os.path.abspath(sidecar)},
                    {"binding": "JS", "script": SIDECAR_JS, "entrypoint": "Sidecar"},
                    {"binding": "BODY", "script": os.path.join(d, "body.js"), "entrypoint": "Body"}],
        "serviceBindings": [{"alias": "native", "binding": "NATIVE"}, {"alias": "js", "binding": "JS"},
                            {"alias": "body", "binding": "BODY"}],
        "gateway": {"max_body_bytes": 1 << 20},
        "paths": [{"method": "GET", "path": "/static", "response": {"raw": "string from TARGET.run"}},
                  {"method": "GET", "path": "/native", "integration": {"type": "service_binding", "binding": "native",
                                                                       "function": "run"}},
                  {"method": "GET", "path": "/js", "integration": {"type": "service_binding", "binding": "js",
                                                                   "function": "run"}},
                  {"method": "POST", "path": "/js-body", "integration": {"type": "service_binding",
                                                                         "binding": "body", "function": "size"}}]})
    expect_ok("workgate", wg.port, "GET", "/js?mode=string", want_body=JS_BODY)
    expect_ok("workgate", wg.port, "GET", "/native?mode=string", want_body=JS_BODY)
    sides = [{"name": "bare workerd", "role": "base", "server": bare, "path": "/?mode=string"},
             {"name": "bare workerd, no URL parse", "role": "other", "server": bare, "path": "/min"},
             {"name": "static", "role": "other", "server": wg, "path": "/static"},
             {"name": "native service_binding", "role": "other", "server": wg, "path": "/native?mode=string"},
             {"name": "js service_binding", "role": "test", "server": wg, "path": "/js?mode=string"}]
    results = [measure_case(ctx, {"label": f"c{c}", "conns": c, "sides": sides, "target": 0.5,
                                  "ratio_name": "js route/bare workerd",
                                  "extra_ratios": [("js service_binding", "bare workerd, no URL parse"),
                                                   ("js service_binding", "native service_binding"),
                                                   ("js service_binding", "static")]}) for c in conns_list]
    # Request bodies: 1 KiB (read whole, one piece) and 256 KiB (streamed to workerd, x-wg-prefix), each
    # against the bare workerd reading the same body.
    for size, label in ((1024, "post-1KiB"), (256 * 1024, "post-256KiB")):
        want = json.dumps({"size": size}, separators=(",", ":"))
        expect_ok("workgate", wg.port, "POST", "/js-body", {"Content-Type": "application/octet-stream"}, b"x" * size)
        lua = write_lua(ctx, f"{label}.lua", f'wrk.method = "POST"\nwrk.body = string.rep("x", {size})\n'
                        'wrk.headers["Content-Type"] = "application/octet-stream"\n')
        status, text = http_check(wg.port, "POST", "/js-body", {"Content-Type": "application/octet-stream"},
                                  b"x" * size)
        if status != 200 or json.loads(text).get("data", {}).get("size") != size:
            raise Skip(f"POST /js-body answered {status} {text[:120]!r}, expected the size {want}")
        body_sides = [{"name": "bare workerd", "role": "base", "server": bare, "path": "/", "script": lua},
                      {"name": "js service_binding", "role": "test", "server": wg, "path": "/js-body",
                       "script": lua}]
        results += [measure_case(ctx, {"label": f"c{c}-{label}", "conns": c, "sides": body_sides, "target": 0.5,
                                       "ratio_name": "js route/bare workerd"}) for c in conns_list]
    print_table("workers-js", results)
    for res in results:
        if "extra_ratios" not in res:
            continue
        for name, r in res["extra_ratios"].items():
            log(f"{res['label']:<14} {'ratio ' + name:<44} {fmt_x(r['rps']):>10} {fmt_x(r['p99']):>9}")
    return results


def redis_command(port, *args):
    """One RESP command to 127.0.0.1:port; the raw reply (the bench only reads simple replies)."""
    wire = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(wire)
        data = b""
        s.settimeout(1)
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            head_end = data.find(b"\r\n")
            if head_end < 0:
                continue
            if not data.startswith(b"$"):
                break  # +OK, -ERR, :N
            length = int(data[1:head_end])
            if length < 0 or len(data) >= head_end + 2 + length + 2:
                break
    return data.decode(errors="replace")


def redis_commandstats(port):
    out = {}
    for line in redis_command(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            out[name] = int(dict(kv.split("=") for kv in rest.split(","))["calls"])
    return out


def scenario_ratelimit(ctx, conns_list):
    redis_bin = shutil.which("redis-server")
    if not redis_bin:
        raise Skip("redis-server not installed (scripts/install-deps.sh)")
    d = ctx.subdir("redis")
    port = free_port()
    # Redis is the shared service here, not the server under test: it runs on the client's CPU.
    redis = Server("redis", ctx.pin(ctx.args.client_cpu) + [
        redis_bin, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", d],
        d, port)
    ctx.servers.append(redis)
    if not redis.wait_ready():
        raise Skip(f"redis-server did not start: {one_line(redis.output())}")
    # Policies that admit everything: the cost measured is the decision, not refusals.
    everything = {"rate": 1000000, "period_seconds": 1, "burst": 1000000000, "key": "$request.client_ip"}
    wg = ctx.start_workgate("workgate-ratelimit", {
        "title": "bench rate limits",
        # A long timeout: on a busy machine a slow decision must show as an error, not as a fail_open 200.
        "redis": {"url": f"redis://127.0.0.1:{port}/0", "timeout_ms": 1000},
        "rate_limits": [dict(everything, name="local-all", store="local"),
                        dict(everything, name="redis-all", store="redis", fail_open=False)],
        "paths": [{"method": "GET", "path": "/open", "response": {"status": "ok"}},
                  {"method": "GET", "path": "/local", "response": {"status": "ok"}, "rate_limit": "local-all"},
                  {"method": "GET", "path": "/redis", "response": {"status": "ok"}, "rate_limit": "redis-all"}]})
    for path in ("/open", "/local", "/redis"):
        expect_ok("workgate", wg.port, "GET", path, want_body=STATIC_BODY)
    status, text = http_check(wg.port, "GET", "/redis")
    if status != 200:
        raise Skip(f"GET /redis answered {status} {text[:100]!r}")
    results = []
    for c in conns_list:
        base = {"name": "no policy", "role": "base", "server": wg, "path": "/open"}
        results.append(measure_case(ctx, {"label": f"c{c}-local", "conns": c, "ratio_name": "limited/unlimited",
                                          "target": 0.95,
                                          "sides": [base, {"name": "local policy", "role": "test", "server": wg,
                                                           "path": "/local"}]}))
        redis_side = {"name": "redis policy", "role": "test", "server": wg, "path": "/redis", "watch": [wg, redis]}
        res = measure_case(ctx, {"label": f"c{c}-redis", "conns": c, "ratio_name": "limited/unlimited",
                                 "target": 0.6, "sides": [base, redis_side]})
        # Commands per request, from one more run of the redis side alone.
        redis_command(port, "CONFIG", "RESETSTAT")
        run = run_wrk(ctx, redis_side, c, max(2, ctx.args.duration // 2), measure=True)
        stats = redis_commandstats(port)
        reqs = (run or {}).get("requests") or 0
        res["redis_commands"] = stats
        res["redis_commands_per_request"] = {k: v / reqs for k, v in stats.items()} if reqs else None
        res["redis_cpu_us_per_req"] = (run or {}).get("server_cpu", {}).get("redis", {}).get("cpu_us_per_req")
        results.append(res)
    print_table("ratelimit", results)
    for res in results:
        per = res.get("redis_commands_per_request")
        if per:
            total = sum(per.values())
            detail = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items()))
            log(f"{res['label']:<14} Redis commands per request: {total:.2f} ({detail}); redis-server cpu "
                f"{fmt_f(res.get('redis_cpu_us_per_req'), '.2f', 'us/req')}")


class Scraper(threading.Thread):
    """GETs the admin listener's /metrics every `interval` seconds (as Prometheus would) until stop()."""

    def __init__(self, port, interval=1.0):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.scrapes, self.failures, self.bytes = 0, 0, 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.wait(self.interval):
            try:
                status, body = http_check(self.port, "GET", "/metrics")
                self.scrapes += 1
                self.bytes = len(body)
                if status != 200:
                    self.failures += 1
            except (OSError, http.client.HTTPException):
                self.failures += 1

    def stop(self):
        self._stop_event.set()
        self.join(5)


def scenario_metrics(ctx, conns_list):
    config = {"title": "bench metrics", "paths": [{"method": "GET", "path": "/bench", "response": {"status": "ok"}}]}
    off = ctx.start_workgate("workgate-metrics-off", config)
    expect_ok("workgate", off.port, "GET", "/bench", want_body=STATIC_BODY)
    admin = free_port()
    on = ctx.start_workgate("workgate-metrics-on", {**config, "gateway": {"admin": {"listen": f"127.0.0.1:{admin}"}}})
    expect_ok("workgate", on.port, "GET", "/bench", want_body=STATIC_BODY)
    status, body = http_check(admin, "GET", "/metrics")
    if status != 200 or "workgate_http_requests_total" not in body:
        raise RuntimeError(f"admin /metrics answered {status}")
    ng = ctx.start_nginx("nginx-metrics", nginx_static_block())
    expect_ok("nginx", ng.port, "GET", "/bench", want_body=STATIC_BODY, gateway=False)
    sides = [{"name": "nginx", "role": "base", "server": ng, "path": "/bench"},
             {"name": "workgate metrics off", "role": "test", "server": off, "path": "/bench"},
             {"name": "workgate metrics on", "role": "test", "server": on, "path": "/bench"}]
    scraper = Scraper(admin)
    scraper.start()
    try:
        results = [measure_case(ctx, {"label": f"c{c}", "conns": c, "sides": sides,
                                      "ratio_name": "metrics on/nginx",
                                      "extra_ratios": [("workgate metrics off", "nginx"),
                                                       ("workgate metrics on", "workgate metrics off")]})
                   for c in conns_list]
    finally:
        scraper.stop()
    print_table("metrics", results)
    for res in results:
        for name, r in res["extra_ratios"].items():
            verdict = ""
            if name.startswith("workgate metrics on") and r["rps"] is not None:
                verdict = f"   target >= 0.97x: {'MET' if r['rps'] >= 0.97 else 'NOT MET'}"
            log(f"{res['label']:<14} {'ratio ' + name:<42} req/s {fmt_x(r['rps']):>7}  p99 {fmt_x(r['p99']):>7}  "
                f"cpu/req {fmt_x(r['cpu_us_per_req']):>7}{verdict}")
    with_counts = http_check(admin, "GET", "/metrics")[1]
    served = sum(float(l.rsplit(" ", 1)[1]) for l in with_counts.splitlines()
                 if l.startswith('workgate_http_requests_total{route="/bench"'))
    log(f"scrapes during the runs: {scraper.scrapes} ({scraper.failures} failed, {scraper.bytes} bytes each); "
        f"requests counted by the metrics-on gateway: {served:.0f}")
    for res in results:
        res["scrapes"] = {"count": scraper.scrapes, "failures": scraper.failures, "bytes": scraper.bytes}
    return results


TRACEPARENT = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def scenario_tracing(ctx, conns_list):
    """http_proxy to the nginx upstream with gateway.tracing off and at each --tracing-ratios sample_ratio
    (sampled requests: a server and a client span each, exported as OTLP/HTTP JSON to an nginx on the client
    CPU that discards them), all with the admin listener (metrics on every side, so that tracing is the only
    difference), vs nginx in the same run. Two sides isolate the unsampled path: tracing off with a client
    traceparent (propagation only: parse it, continue the client's trace), and sample_ratio 0 (tracing
    configured, nothing sampled: the sampling decision on every request, no span)."""
    ratios = ctx.args.tracing_ratios
    up = ctx.start_nginx("nginx-upstream", nginx_upstream_block())
    expect_ok("upstream", up.port, "GET", "/bench", want_body=UPSTREAM_BODY, gateway=False)
    sink = ctx.start_nginx("otlp-sink", """    server {
        listen 127.0.0.1:@PORT@ reuseport backlog=4096;
        server_name _;
        client_body_buffer_size 4m;
        location / {
            default_type application/json;
            return 200 '{}';
        }
    }""", cpu=ctx.args.client_cpu)
    ng = ctx.start_nginx("nginx-front", nginx_proxy_front(up.port))
    expect_ok("nginx front", ng.port, "GET", "/bench", want_body=UPSTREAM_BODY, gateway=False)
    config = {"title": "bench tracing", "servers": [{"alias": "up", "url": f"http://127.0.0.1:{up.port}"}],
              "paths": [{"method": "GET", "path": "/bench", "integration": {"type": "http_proxy", "server": "up"}}]}
    admins = {}

    def gateway(key, tracing):
        admins[key] = free_port()
        gw = {"admin": {"listen": f"127.0.0.1:{admins[key]}"}}
        if tracing is not None:
            gw["tracing"] = tracing
        server = ctx.start_workgate(f"workgate-tracing-{key}", {**config, "gateway": gw})
        expect_ok("workgate", server.port, "GET", "/bench", want_body=UPSTREAM_BODY)
        return server

    off = gateway("off", None)
    on = {}
    for ratio in ratios:
        on[ratio] = gateway(f"r{ratio:g}", {"otlp_endpoint": f"http://127.0.0.1:{sink.port}/v1/traces",
                                            "sample_ratio": ratio, "service_name": "bench"})

    def span_counts(key):
        text = http_check(admins[key], "GET", "/metrics")[1]
        values = {}
        for line in text.splitlines():
            for name in ("workgate_tracing_spans_exported_total", "workgate_tracing_spans_dropped_total",
                         "workgate_http_requests_total"):
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    values[name] = values.get(name, 0) + float(line.split()[-1])
        return (values.get("workgate_tracing_spans_exported_total", 0),
                values.get("workgate_tracing_spans_dropped_total", 0),
                values.get("workgate_http_requests_total", 0))

    if 1.0 in on:
        deadline = time.monotonic() + 5
        while span_counts(f"r{1.0:g}")[0] < 2 and time.monotonic() < deadline:  # the check request's two spans
            time.sleep(0.1)
        if span_counts(f"r{1.0:g}")[0] < 2:
            raise RuntimeError("the sample_ratio 1 gateway exported no span to the sink")

    def name_of(ratio):
        return f"workgate ratio {ratio:g}" + (" (unsampled)" if ratio == 0 else "")

    sides = [{"name": "nginx", "role": "base", "server": ng, "path": "/bench", "watch": [ng, up]},
             {"name": "workgate tracing off", "role": "test", "server": off, "path": "/bench", "watch": [off, up]},
             {"name": "workgate off, traceparent", "role": "test", "server": off, "path": "/bench",
              "watch": [off, up], "headers": [TRACEPARENT]}]
    for ratio in ratios:
        sides.append({"name": name_of(ratio), "role": "test", "server": on[ratio], "path": "/bench",
                      "watch": [on[ratio], up, sink]})
    last = sides[-1]["name"]
    extra = [("workgate tracing off", "nginx"), ("workgate off, traceparent", "workgate tracing off")]
    extra += [(name_of(r), "workgate tracing off") for r in ratios]
    results = [measure_case(ctx, {"label": f"c{c}", "conns": c, "sides": sides, "ratio_name": f"{last}/nginx",
                                  "extra_ratios": extra})
               for c in conns_list]
    print_table("tracing", results)
    for res in results:
        for name, r in res["extra_ratios"].items():
            log(f"{res['label']:<14} {'ratio ' + name:<58} req/s {fmt_x(r['rps']):>7}  p99 {fmt_x(r['p99']):>7}  "
                f"cpu/req {fmt_x(r['cpu_us_per_req']):>7}")
        med = {n: s["median"]["cpu_us_per_req"] for n, s in res["sides"].items()}
        off_cpu = med["workgate tracing off"]
        full = med.get(name_of(1.0)) if 1.0 in ratios else None
        res["tracing_cost_us"] = {}
        for name in ["workgate off, traceparent"] + [name_of(r) for r in ratios]:
            if off_cpu and med.get(name):
                res["tracing_cost_us"][name] = med[name] - off_cpu
                log(f"{res['label']:<14} {name:<36} {med[name] - off_cpu:+.2f} us of gateway CPU per request vs "
                    f"tracing off ({med[name]:.2f} vs {off_cpu:.2f}; the exporter thread included)")
        if full and off_cpu:
            for r in ratios:
                if 0 < r < 1 and med.get(name_of(r)):
                    log(f"{res['label']:<14} ratio {r:g}: measured {med[name_of(r)] - off_cpu:+.2f} us, linear "
                        f"model ratio x (ratio 1 cost) {r * (full - off_cpu):+.2f} us")
        for r in ratios:
            vals = [run["server_cpu"].get(sink.name, {}).get("cpu_us_per_req")
                    for run in res["sides"][name_of(r)]["runs"] if run["valid"]]
            vals = [v for v in vals if v is not None]
            if r > 0 and vals:
                log(f"{res['label']:<14} ratio {r:g}: OTLP sink nginx cpu/req (client CPU, not in the gateway's): "
                    f"{statistics.median(vals):.2f} us")
    res_spans = {}
    for r in ratios:
        exported, dropped, requests = span_counts(f"r{r:g}")
        res_spans[r] = {"exported": exported, "dropped": dropped, "requests": requests}
        share = exported / (2 * requests) if requests else 0
        log(f"ratio {r:g}: {requests:.0f} requests, {exported:.0f} spans exported ({share:.4f} of 2 per request), "
            f"{dropped:.0f} dropped"
            + ("  [spans were dropped: the export did not keep up, the cost above is a lower bound]" if dropped else ""))
    for res in results:
        res["spans"] = {f"{r:g}": v for r, v in res_spans.items()}
    return results


# ------------------------------------------------------------------------------------------------ tls

def make_bench_certificate(ctx):
    d = ctx.subdir("tls")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def run_stime(ctx, side, mode, seconds, measure=True):
    """openssl s_time: sequential connections, one GET each; mode "new" (full handshakes) or "reuse"
    (session resumption). Returns connections/s and server CPU per connection."""
    argv = ctx.pin(ctx.args.client_cpu) + ["openssl", "s_time", "-connect", f"127.0.0.1:{side['tls_port']}",
                                           "-www", side["path"], f"-{mode}", "-time", str(seconds)]
    c0 = proc_cpu_ticks(side["server"].pid)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 30)
    c1 = proc_cpu_ticks(side["server"].pid)
    if not measure:
        return None
    out = proc.stdout + proc.stderr
    m = re.search(r"(\d+) connections in (\d+) real seconds", out)
    r = {"errors": {}, "command": " ".join(argv)}
    if not m or proc.returncode != 0:
        r["errors"]["s_time"] = proc.returncode
        r["output_tail"] = "\n".join(out.splitlines()[-8:])
        r["valid"] = False
        return r
    conns, secs = int(m.group(1)), int(m.group(2))
    r["rps"] = conns / secs if secs else None
    r["cpu_us_per_req"] = 1e6 * (c1 - c0) / CLK_TCK / conns if conns and c0 is not None and c1 is not None else None
    r["valid"] = True
    return r


def measure_alternating(ctx, label, sides, run, unit, extra=None):
    """Rounds of run(side, seconds, measure) alternating between the sides (warm-up first), medians of req/s
    (or conn/s) and server CPU per request, and the ratio of the second side to the first."""
    a = ctx.args
    runs = {s["name"]: [] for s in sides}
    for rnd in range(1, a.rounds + 1):
        for side in sides:
            if a.warmup > 0:
                run(side, a.warmup, False)
            r = run(side, a.duration, True)
            runs[side["name"]].append(r)
            flag = "" if r["valid"] else f"  INVALID {r['errors']} {r.get('output_tail', '')}"
            log(f"  [{rnd}/{a.rounds}] {label:<18} {side['name']:<22} {fmt_rps(r.get('rps')):>9} {unit}"
                f"  cpu {fmt_f(r.get('cpu_us_per_req'), '.1f', 'us')}{flag}")
    result = {"label": label, "sides": {}}
    result.update(extra or {})
    for side in sides:
        rs = runs[side["name"]]
        result["sides"][side["name"]] = {"rps": median_of(rs, "rps"), "cpu_us_per_req": median_of(rs, "cpu_us_per_req"),
                                         "runs": rs, "invalid_runs": sum(1 for r in rs if not r["valid"])}
    base, test = (result["sides"][s["name"]] for s in sides)
    result["ratio"] = {k: (test[k] / base[k] if test.get(k) and base.get(k) else None) for k in ("rps", "cpu_us_per_req")}
    result["valid"] = all(v["invalid_runs"] == 0 for v in result["sides"].values())
    return result


def measure_stime_case(ctx, label, mode, sides):
    return measure_alternating(ctx, label, sides,
                               lambda side, seconds, measure: run_stime(ctx, side, mode, seconds, measure),
                               "conn/s", {"mode": mode})


def scenario_tls(ctx, conns_list):
    if not shutil.which("openssl"):
        raise Skip("the openssl command is needed to make the certificate")
    cert, key = make_bench_certificate(ctx)
    wg_tls_port = free_port()
    wg = ctx.start_workgate("workgate-tls", {
        "title": "bench tls",
        "paths": [{"method": "GET", "path": "/bench", "response": {"status": "ok"}}],
        "gateway": {"listeners": [{"address": f"127.0.0.1:{wg_tls_port}",
                                   "tls": {"certificates": [{"cert_file": cert, "key_file": key}]}}]}})
    expect_ok("workgate", wg.port, "GET", "/bench", want_body=STATIC_BODY)
    ng = ctx.start_nginx("nginx-tls", f"""    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    server {{
        listen 127.0.0.1:@PORT@ reuseport backlog=4096;
        listen 127.0.0.1:@TLSPORT@ ssl reuseport backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        server_name _;
        location = /bench {{
            default_type application/json;
            return 200 '{STATIC_BODY}';
        }}
    }}""".replace("@TLSPORT@", str(ng_tls_port := free_port())))
    for name, port in (("workgate", wg_tls_port), ("nginx", ng_tls_port)):
        probe = subprocess.run(["curl", "-s", "--cacert", cert, "--http1.1", f"https://localhost:{port}/bench"],
                               capture_output=True, text=True, timeout=10)
        if probe.stdout != STATIC_BODY:
            raise RuntimeError(f"{name}: GET https://localhost:{port}/bench answered {probe.stdout[:100]!r} "
                               f"{probe.stderr[:200]!r}")
    sides = [{"name": "nginx", "role": "base", "server": ng, "path": "/bench", "tls_port": ng_tls_port,
              "url": f"https://127.0.0.1:{ng_tls_port}/bench"},
             {"name": "workgate", "role": "test", "server": wg, "path": "/bench", "tls_port": wg_tls_port,
              "url": f"https://127.0.0.1:{wg_tls_port}/bench"}]
    results = [measure_case(ctx, {"label": f"https-c{c}", "conns": c, "sides": sides,
                                  "ratio_name": "workgate/nginx", "target": 1.0}) for c in conns_list]
    close_sides = [dict(s, headers=["Connection: close"]) for s in sides]
    results.append(measure_case(ctx, {"label": "new-conn-c32", "conns": 32, "sides": close_sides,
                                      "ratio_name": "workgate/nginx"}))
    print_table("tls", results)
    stime = [measure_stime_case(ctx, "s_time-new", "new", sides),
             measure_stime_case(ctx, "s_time-reuse", "reuse", sides)]
    log("")
    log("== tls: sequential connections, one GET each (openssl s_time; ratio = workgate/nginx)")
    log(f"{'case':<14} {'side':<28} {'conn/s':>10} {'cpu/conn':>10}")
    for res in stime:
        for name, side in res["sides"].items():
            log(f"{res['label']:<14} {name:<28} {fmt_rps(side['rps']):>10} {fmt_f(side['cpu_us_per_req'], '.1f', 'us'):>10}")
        log(f"{res['label']:<14} {'ratio workgate/nginx':<28} {fmt_x(res['ratio']['rps']):>10} "
            f"{fmt_x(res['ratio']['cpu_us_per_req']):>10}")
    return results + stime


def scenario_targets(ctx, conns_list):
    """Proxy to two upstream targets (round robin) vs one, and nginx with the same two upstream servers."""
    blocks = []
    for i in range(2):
        blocks.append(ctx.start_nginx(f"nginx-upstream-{i}", nginx_upstream_block()))
    for up in blocks:
        expect_ok("upstream", up.port, "GET", "/bench", want_body=UPSTREAM_BODY, gateway=False)
    ng = ctx.start_nginx("nginx-front-2", nginx_proxy_front([up.port for up in blocks]))
    expect_ok("nginx front", ng.port, "GET", "/bench", want_body=UPSTREAM_BODY, gateway=False)
    route = [{"method": "ANY", "path": "/bench", "integration": {"type": "http_proxy", "server": "up"}}]
    one = ctx.start_workgate("workgate-1-target", {
        "servers": [{"alias": "up", "url": f"http://127.0.0.1:{blocks[0].port}"}], "paths": route})
    two = ctx.start_workgate("workgate-2-targets", {
        "servers": [{"alias": "up", "targets": [{"url": f"http://127.0.0.1:{up.port}"} for up in blocks],
                     "balance": "round_robin"}], "paths": route})
    for wg in (one, two):
        expect_ok("workgate", wg.port, "GET", "/bench", want_body=UPSTREAM_BODY)
    sides = [{"name": "nginx (2 upstreams)", "role": "base", "server": ng, "path": "/bench", "watch": [ng] + blocks},
             {"name": "workgate 1 target", "role": "test", "server": one, "path": "/bench",
              "watch": [one, blocks[0]]},
             {"name": "workgate 2 targets", "role": "test", "server": two, "path": "/bench", "watch": [two] + blocks}]
    results = [measure_case(ctx, {"label": f"c{c}", "conns": c, "sides": sides,
                                  "ratio_name": "workgate 2 targets/nginx",
                                  "extra_ratios": [("workgate 2 targets", "workgate 1 target")]})
               for c in conns_list]
    print_table("targets", results)
    for res in results:
        for name, r in res["extra_ratios"].items():
            log(f"{res['label']:<14} ratio {name}: {fmt_x(r['rps'])} req/s, {fmt_x(r['p99'])} p99, "
                f"{fmt_x(r['cpu_us_per_req'])} cpu/req")
    return results


def run_h2load(ctx, side, conns, streams, seconds, measure=True):
    """h2load -c conns -m streams for `seconds` (h2 over TLS by ALPN, or h2c for http:// URLs). Returns
    req/s, failures and the server's CPU per request."""
    argv = ctx.pin(ctx.args.client_cpu) + ["h2load", "-c", str(conns), "-m", str(streams), "-D", str(seconds),
                                           side["url"]]
    c0 = proc_cpu_ticks(side["server"].pid)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 60)
    c1 = proc_cpu_ticks(side["server"].pid)
    if not measure:
        return None
    out = proc.stdout + proc.stderr
    r = {"errors": {}, "command": " ".join(argv)}
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
    q = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
                  out)
    if not m or not q or proc.returncode != 0:
        r["errors"]["h2load"] = proc.returncode
        r["output_tail"] = "\n".join(out.splitlines()[-8:])
        r["valid"] = False
        return r
    done, ok, failed, errored = (int(q.group(i)) for i in (3, 4, 5, 6))
    r["rps"] = float(m.group(2))
    r["requests"] = done
    if failed or errored or ok != done:
        r["errors"]["failed"] = failed + errored + (done - ok)
    r["cpu_us_per_req"] = 1e6 * (c1 - c0) / CLK_TCK / done if done and c0 is not None and c1 is not None else None
    r["valid"] = not r["errors"]
    return r


def measure_h2load_case(ctx, label, conns, streams, sides):
    return measure_alternating(
        ctx, label, sides,
        lambda side, seconds, measure: run_h2load(ctx, side, conns, streams, seconds, measure),
        "req/s", {"conns": conns, "streams": streams})


def scenario_http2(ctx, conns_list):
    """HTTP/2 downstream: h2 over TLS and h2c, static route and proxy to an HTTP/1.1 keep-alive upstream,
    h2load -m 10, vs nginx `http2` with the same certificate."""
    if not shutil.which("h2load") or not shutil.which("openssl"):
        raise Skip("h2load (nghttp2-client) and openssl are needed")
    cert, key = make_bench_certificate(ctx)
    up = ctx.start_nginx("nginx-upstream", nginx_upstream_block())
    wg_tls, wg_h2c = free_port(), free_port()
    wg = ctx.start_workgate("workgate-h2", {
        "title": "bench http2",
        "servers": [{"alias": "up", "url": f"http://127.0.0.1:{up.port}"}],
        "paths": [{"method": "GET", "path": "/bench", "response": {"status": "ok"}},
                  {"method": "GET", "path": "/proxy/{.+}", "integration": {"type": "http_proxy", "server": "up"}}],
        "gateway": {"listeners": [
            {"address": f"127.0.0.1:{wg_tls}", "http2": True,
             "tls": {"certificates": [{"cert_file": cert, "key_file": key}]}},
            {"address": f"127.0.0.1:{wg_h2c}", "http2": True}]}})
    ng_tls, ng_h2c = free_port(), free_port()
    ng = ctx.start_nginx("nginx-h2", f"""    upstream up {{
        server 127.0.0.1:{up.port};
        keepalive 1024;
    }}
    http2_max_requests 1000000;
    server {{
        listen 127.0.0.1:@PORT@ reuseport backlog=4096;
        listen 127.0.0.1:{ng_tls} ssl http2 reuseport backlog=4096;
        listen 127.0.0.1:{ng_h2c} http2 reuseport backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        server_name _;
        location = /bench {{
            default_type application/json;
            return 200 '{STATIC_BODY}';
        }}
        location /proxy/ {{
            proxy_pass http://up/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}""")
    for name, port in (("workgate", wg_tls), ("nginx", ng_tls)):
        probe = subprocess.run(["curl", "-s", "--cacert", cert, "--http2", "-w", "%{http_version}",
                                f"https://localhost:{port}/bench"], capture_output=True, text=True, timeout=10)
        if probe.stdout != STATIC_BODY + "2":
            raise RuntimeError(f"{name}: GET https://localhost:{port}/bench over h2 answered {probe.stdout[:100]!r}")

    def sides(path, tls):
        return [{"name": "nginx", "server": ng,
                 "url": f"{'https' if tls else 'http'}://127.0.0.1:{ng_tls if tls else ng_h2c}{path}"},
                {"name": "workgate", "server": wg,
                 "url": f"{'https' if tls else 'http'}://127.0.0.1:{wg_tls if tls else wg_h2c}{path}"}]

    results = []
    for c in conns_list:
        results.append(measure_h2load_case(ctx, f"h2-tls-static-c{c}", c, 10, sides("/bench", True)))
        results.append(measure_h2load_case(ctx, f"h2c-static-c{c}", c, 10, sides("/bench", False)))
        results.append(measure_h2load_case(ctx, f"h2-tls-proxy-c{c}", c, 10, sides("/proxy/bench", True)))
    log("")
    log("== http2: h2load -m 10 (ratio = workgate/nginx; cpu = server CPU per request)")
    log(f"{'case':<20} {'side':<22} {'req/s':>10} {'cpu/req':>10}")
    for res in results:
        for name, side in res["sides"].items():
            log(f"{res['label']:<20} {name:<22} {fmt_rps(side['rps']):>10} {fmt_f(side['cpu_us_per_req'], '.1f', 'us'):>10}")
        log(f"{res['label']:<20} {'ratio workgate/nginx':<22} {fmt_x(res['ratio']['rps']):>10} "
            f"{fmt_x(res['ratio']['cpu_us_per_req']):>10}")
    return results
# ---------------------------------------------------------------------------------------------- peers
# nginx, haproxy and workgate (and, with --gateway-uring, a workgate built with WORKGATE_IO_URING) side by
# side in one run: static, proxy c64/c256/c1024, 1 KiB and 64 KiB proxied responses, idle keep-alive
# connection memory, syscalls per request, paced latency; one table of ratios (bench/README.md).

PEER_BODY_SIZES = {"body1k": 1024, "body64k": 64 * 1024}


def haproxy_config(port, frontend_lines, backend_lines=None, maxconn=4096):
    ulimit_n = 2 * maxconn + 256
    conf = f"""global
    nbthread 1
    maxconn {maxconn}
    ulimit-n {ulimit_n}
    tune.bufsize 16384

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
    timeout http-request 10s

frontend fe
    bind 127.0.0.1:{port}
"""
    conf += "".join(f"    {line}\n" for line in frontend_lines)
    if backend_lines:
        conf += "\nbackend be\n" + "".join(f"    {line}\n" for line in backend_lines)
    return conf


def start_haproxy(ctx, name, frontend_lines, backend_lines=None, maxconn=4096):
    """haproxy in the foreground (-db), one thread, pinned like the other servers; the served process is
    the started one, so /proc/PID is its own."""
    d = ctx.subdir(name)
    port = free_port()
    # haproxy reserves ~2 descriptors per connection and cannot go above the hard limit it inherits.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        maxconn = min(maxconn, (hard - 256) // 2)
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(haproxy_config(port, frontend_lines, backend_lines, maxconn))
    argv = ctx.pin(ctx.args.server_cpu) + [ctx.args.haproxy, "-db", "-f", path]
    server = Server(name, argv, d, port)
    server.max_clients = maxconn - 16  # the idle-memory measure opens no more than this
    ctx.servers.append(server)
    if not server.wait_ready():
        out = server.output()
        ctx.stop(server)
        raise RuntimeError(f"haproxy ({name}) did not start: {one_line(out)}")
    return server


def start_workgate_pair(ctx, name, config):
    """workgate, and the io_uring build beside it with --gateway-uring: [(side name, server)]."""
    out = [("workgate", ctx.start_workgate(name, config))]
    if ctx.args.gateway_uring:
        saved = ctx.args.gateway
        ctx.args.gateway = ctx.args.gateway_uring
        try:
            out.append(("workgate-uring", ctx.start_workgate(name + "-uring", config)))
        finally:
            ctx.args.gateway = saved
    return out


def peer_case(ctx, label, conns, sides, **extra):
    """measure_case over nginx, haproxy, workgate[, workgate-uring]; ratios against nginx and haproxy."""
    names = [s["name"] for s in sides]
    ratios = [(n, "nginx") for n in names if n != "nginx"] + [("workgate", "haproxy")]
    if "workgate-uring" in names:
        ratios += [("workgate-uring", "haproxy"), ("workgate-uring", "workgate")]
    case = {"label": label, "conns": conns, "sides": sides, "ratio_name": "workgate/nginx", "extra_ratios": ratios}
    case.update(extra)
    # measure_case's own ratio is last side / first side; keep workgate last-but-uring by ordering sides so
    # that the main ratio is workgate/nginx.
    return measure_case(ctx, case)


def perf_syscalls(ctx, server, seconds):
    """Starts counting the syscalls of `server` for `seconds`: perf stat on the syscall tracepoints (plus
    recvfrom/read returning EAGAIN), or strace -c -f when perf cannot. Returns a finish() -> dict."""
    out = os.path.join(ctx.root, f"syscalls-{server.name}-{time.monotonic_ns()}.txt")
    if ctx.args.syscall_tool == "perf":
        argv = ["perf", "stat", "-x", ",", "-o", out, "-p", str(server.pid), "-e", "syscalls:sys_enter_*",
                "-e", "syscalls:sys_exit_recvfrom", "--filter", "ret == -11",
                "-e", "syscalls:sys_exit_read", "--filter", "ret == -11", "--", "sleep", str(seconds)]
    else:
        argv = ["strace", "-c", "-f", "-o", out, "-p", str(server.pid)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_die_with_parent)
    time.sleep(0.3)  # attached before the load starts

    def finish():
        if ctx.args.syscall_tool != "perf":
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        counts = {}
        try:
            with open(out) as f:
                text = f.read()
        except OSError:
            return {"error": (err or b"").decode("utf-8", "replace")[-300:]}
        if ctx.args.syscall_tool == "perf":
            for line in text.splitlines():
                parts = line.split(",")
                if len(parts) < 3 or not parts[0].strip().isdigit():
                    continue
                event = parts[2]
                n = int(parts[0])
                if event.startswith("syscalls:sys_enter_"):
                    if n:
                        counts[event[len("syscalls:sys_enter_"):]] = n
                elif event.startswith("syscalls:sys_exit_"):
                    counts[event[len("syscalls:sys_exit_"):] + "_EAGAIN"] = n
        else:
            for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)?\s*(\w+)\s*$", text, re.M):
                counts[m.group(3)] = int(m.group(1))
                if m.group(2):
                    counts[m.group(3) + "_errors"] = int(m.group(2))
        return {"counts": counts}

    return finish


def measure_syscalls(ctx, side, conns):
    """One extra wrk run per side with the syscall counter attached: syscalls per request, by name."""
    seconds = ctx.args.duration
    finish = perf_syscalls(ctx, side["server"], seconds + 1)
    r = run_wrk(ctx, side, conns, seconds, measure=True)
    res = finish()
    reqs = r.get("requests") or 0
    if "counts" not in res or not reqs:
        return {"error": res.get("error", "no requests"), "valid": False}
    counts = res["counts"]
    total = sum(v for k, v in counts.items() if not k.endswith(("_EAGAIN", "_errors")))
    per = {k: v / reqs for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}
    return {"valid": r["valid"], "requests": reqs, "per_request": total / reqs, "by_syscall": per,
            "tool": ctx.args.syscall_tool}


def fmt_syscalls(s):
    if not s or not s.get("per_request"):
        return "-"
    top = [f"{k} {v:.2f}" for k, v in s["by_syscall"].items() if v >= 0.05][:6]
    return f"{s['per_request']:.2f} ({', '.join(top)})"


def idle_connection_memory(ctx, server, path, count):
    """Opens `count` keep-alive connections, one request each (so each has served a request and sits idle),
    then closes them: VmRSS before, with them open, and 2 s after closing."""
    def rss():
        return proc_status_kib(server.pid, "VmRSS")

    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    count = min(count, getattr(server, "max_clients", count))
    before = rss()
    socks = []
    failures = 0
    try:
        for _ in range(count):
            try:
                s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                s.sendall(request)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if not data.startswith(b"HTTP/1.1 2"):
                    failures += 1
                socks.append(s)
            except OSError:
                failures += 1
        time.sleep(1.0)
        open_rss = rss()
        alive = server.alive()
    finally:
        for s in socks:
            s.close()
    time.sleep(2.0)
    after = rss()
    held = len(socks)
    r = {"connections": held, "failures": failures, "rss_before_kib": before, "rss_open_kib": open_rss,
         "rss_after_close_kib": after, "alive": alive}
    if held and before is not None and open_rss is not None:
        r["kib_per_connection"] = (open_rss - before) / held
    if before and after is not None:
        r["after_close_vs_before"] = after / before
    return r


def idle_memory_of_bursts(bursts):
    """Several idle-connection bursts on one server: the first burst's figures (KiB per connection: a
    server that keeps a burst's memory shows ~0 in the later ones), and the worst RSS after close against
    the RSS before the first burst (a burst whose memory stays resident raises the next one's "before",
    which would hide it)."""
    m = dict(bursts[0])
    m["bursts"] = bursts
    after = [b["rss_after_close_kib"] for b in bursts if b.get("rss_after_close_kib") is not None]
    if after and m.get("rss_before_kib"):
        m["rss_after_close_kib"] = max(after)
        m["after_close_vs_before"] = max(after) / m["rss_before_kib"]
    m["alive"] = all(b.get("alive", True) for b in bursts)
    return m


def paced_lua(ctx, rate, conns):
    """wrk Lua: every connection waits a random 0..2x(mean) ms after each response (mean = conns/rate), so
    the offered load is about `rate` and nothing queues; prints p50/p99/p99.9 from wrk's histogram."""
    mean_ms = 1000.0 * conns / rate
    hi = max(1, int(round(2 * mean_ms)))
    return write_lua(ctx, f"paced-{int(rate)}-{conns}.lua", f"""math.randomseed(os.time())
delay = function()
  return math.random(0, {hi})
end
done = function(summary, latency, requests)
  io.write(string.format("PACED p50 %d p99 %d p999 %d max %d\\n", latency:percentile(50),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
""")


def measure_paced(ctx, sides, rate, conns):
    a = ctx.args
    runs = {s["name"]: [] for s in sides}
    lua = paced_lua(ctx, rate, conns)
    for rnd in range(1, a.rounds + 1):
        for side in sides:
            paced = dict(side, script=lua)
            argv = wrk_argv(ctx, paced, conns, a.duration)
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=a.duration + 30,
                                  preexec_fn=_die_with_parent)
            out = proc.stdout + proc.stderr
            r = parse_wrk(out)
            m = re.search(r"PACED p50 (\d+) p99 (\d+) p999 (\d+) max (\d+)", out)
            if m:
                r.update(p50_us=float(m.group(1)), p99_us=float(m.group(2)), p999_us=float(m.group(3)),
                         lat_max_us=float(m.group(4)))
            r["valid"] = bool(m) and proc.returncode == 0 and not r["errors"]
            r["round"] = rnd
            runs[side["name"]].append(r)
            log(f"  [{rnd}/{a.rounds}] paced          {side['name']:<22} {fmt_rps(r.get('rps')):>9} req/s"
                f"  p50 {fmt_us(r.get('p50_us'))} p99 {fmt_us(r.get('p99_us'))} p99.9 {fmt_us(r.get('p999_us'))}"
                f"{'' if r['valid'] else '  INVALID ' + str(r['errors'])}")
    med = {n: {k: median_of(rs, k) for k in ("rps", "p50_us", "p99_us", "p999_us")} for n, rs in runs.items()}
    return {"label": f"paced-c{conns}", "target_rps": rate, "conns": conns, "median": med, "runs": runs,
            "valid": all(r["valid"] for rs in runs.values() for r in rs)}


def scenario_peers(ctx, conns_list):
    a = ctx.args
    if not os.access(a.haproxy, os.X_OK):
        raise Skip(f"{a.haproxy} is not an executable (Debian package haproxy)")
    # Static: nginx `return 200`, haproxy `http-request return`, workgate static route.
    conns_needed = a.idle_connections + 1024
    static = [("nginx", ctx.start_nginx("nginx-static", nginx_static_block(), worker_connections=conns_needed)),
              ("haproxy", start_haproxy(ctx, "haproxy-static", [
                  "http-request return status 200 content-type application/json string "
                  f"'{STATIC_BODY}' if {{ path /bench }}"], maxconn=conns_needed))]
    static += start_workgate_pair(ctx, "workgate-static", {
        "title": "bench static", "paths": [{"method": "GET", "path": "/bench", "response": {"status": "ok"}}]})
    for name, server in static:
        expect_ok(name, server.port, "GET", "/bench", want_body=STATIC_BODY, gateway=name.startswith("workgate"))
    # Proxy: one nginx upstream (same core) serving the small JSON and 1 KiB / 64 KiB files.
    www = ctx.subdir("www")
    for name, size in PEER_BODY_SIZES.items():
        with open(os.path.join(www, name), "wb") as f:
            f.write(b"x" * size)
    up = ctx.start_nginx("nginx-upstream", f"""    server {{
        listen 127.0.0.1:@PORT@ reuseport backlog=4096;
        server_name _;
        location = /bench {{
            default_type application/json;
            return 200 '{UPSTREAM_BODY}';
        }}
        location /files/ {{
            alias {www}/;
            default_type application/octet-stream;
            etag off;
        }}
    }}""")
    proxy = [("nginx", ctx.start_nginx("nginx-front", nginx_proxy_front(up.port))), ("haproxy", start_haproxy(ctx, "haproxy-front", ["default_backend be"],
                                        ["http-reuse always", f"server up 127.0.0.1:{up.port}"]))]
    proxy += start_workgate_pair(ctx, "workgate-proxy", {
        "title": "bench proxy",
        # As many upstream connections as the load needs, like nginx and haproxy (the default is 256).
        "servers": [{"alias": "up", "url": f"http://127.0.0.1:{up.port}", "max_connections": 4096}],
        "paths": [{"method": "GET", "path": "/bench", "integration": {"type": "http_proxy", "server": "up"}},
                  {"method": "GET", "path": "/files/{name}",
                   "integration": {"type": "http_proxy", "server": "up"}}]})
    for name, server in proxy:
        expect_ok(name, server.port, "GET", "/bench", want_body=UPSTREAM_BODY, gateway=name.startswith("workgate"))
        for fname, size in PEER_BODY_SIZES.items():
            expect_ok(name, server.port, "GET", f"/files/{fname}", want_body="x" * size,
                      gateway=name.startswith("workgate"))
    # Order: nginx, haproxy, workgate-uring (if any), workgate: measure_case's main ratio is last/first.
    def order(pairs):
        return sorted(pairs, key=lambda p: {"nginx": 0, "haproxy": 1, "workgate-uring": 2, "workgate": 3}[p[0]])

    def sides_of(pairs, path, watch_up=False):
        return [{"name": n, "role": "base" if n == "nginx" else "test", "server": s, "path": path,
                 **({"watch": [s, up]} if watch_up else {})} for n, s in order(pairs)]

    # The io_uring build first gets a short proxy load on its own: Boost 1.81's backend is experimental, and
    # a side that fails there is left out of the proxy cases (reported) instead of failing the scenario.
    uring_problem = None
    uring = dict(proxy).get("workgate-uring")
    if uring is not None:
        probe = run_wrk(ctx, {"name": "workgate-uring", "server": uring, "path": "/bench"}, 64, 2, measure=True)
        if not probe["valid"]:
            uring_problem = f"proxy c64 probe failed: {probe['errors']} {one_line(uring.output())}"
            log(f"  workgate-uring left out of the proxy cases: {uring_problem}")
            proxy = [(n, s) for n, s in proxy if n != "workgate-uring"]
    results = []
    results.append(peer_case(ctx, "static-c64", 64, sides_of(static, "/bench")))
    for c in conns_list:
        results.append(peer_case(ctx, f"proxy-c{c}", c, sides_of(proxy, "/bench", True), show_rss=True))
    for fname in PEER_BODY_SIZES:
        results.append(peer_case(ctx, f"{fname}-c64", 64, sides_of(proxy, f"/files/{fname}", True), show_rss=True))
    print_table("peers", results, show_rss=True)
    for res in results:
        log(f"{res['label']:<14} " + "  ".join(f"{k} {fmt_x(v['rps'])} (cpu {fmt_x(v['cpu_us_per_req'])})"
                                               for k, v in res["extra_ratios"].items()))
    extra = {}
    # Syscalls per request, static and proxy c64 (one extra run per side with the counter attached).
    log("")
    log(f"syscalls per request ({a.syscall_tool}; the front only, upstream excluded)")
    syscalls = {}
    for label, pairs, path in (("static-c64", static, "/bench"), ("proxy-c64", proxy, "/bench")):
        for side in sides_of(pairs, path):
            s = measure_syscalls(ctx, side, 64)
            syscalls[f"{label}/{side['name']}"] = s
            log(f"  {label:<12} {side['name']:<16} {fmt_syscalls(s)}")
    extra["syscalls"] = syscalls
    # Idle keep-alive connection memory.
    log("")
    log(f"idle keep-alive connections: {a.idle_connections} (one request each, then idle; static servers), "
        f"{a.idle_bursts} bursts each; after close: each burst's RSS 2 s after, against the RSS before the first")
    memory = {}
    for name, server in order(static):
        bursts = [idle_connection_memory(ctx, server, "/bench", a.idle_connections) for _ in range(a.idle_bursts)]
        m = idle_memory_of_bursts(bursts)
        memory[name] = m
        mib = {k: fmt_f((m[k] or 0) / 1024, '.1f', ' MiB') for k in ("rss_before_kib", "rss_open_kib",
                                                                       "rss_after_close_kib")}
        after = ", ".join(fmt_f((b["rss_after_close_kib"] or 0) / 1024, '.1f') for b in bursts)
        log(f"  {name:<16} {fmt_f(m.get('kib_per_connection'), '.2f', ' KiB/conn')}  RSS before "
            f"{mib['rss_before_kib']}, open {mib['rss_open_kib']}, after close {after} MiB (worst "
            f"{fmt_f(m.get('after_close_vs_before'), '.3f', 'x')})  ({m['connections']} held, "
            f"{m['failures']} failed)")
    extra["idle_memory"] = memory
    # Paced latency at half of nginx's proxy c64 peak.
    peak = next((r["sides"]["nginx"]["median"]["rps"] for r in results if r["label"] == "proxy-c64"), None)
    paced = None
    if peak:
        rate = peak / 2
        log("")
        log(f"paced proxy load: {rate:,.0f} req/s (half of nginx's proxy c64 median), {a.paced_connections} "
            f"connections")
        paced = measure_paced(ctx, sides_of(proxy, "/bench"), rate, a.paced_connections)
    extra["paced"] = paced
    extra["uring_problem"] = uring_problem
    print_peers_summary(results, extra)
    if uring_problem:
        log(f"workgate-uring: {uring_problem}")
    return results + [{"label": "peers-extra", "valid": True, **extra}]


def print_peers_summary(results, extra):
    """The one table: every measure, every server, ratios to nginx and haproxy."""
    names = [n for n in ("nginx", "haproxy", "workgate", "workgate-uring")
             if any(n in r["sides"] for r in results)]
    cols = names + ["wg/nginx", "wg/haproxy"] + (["uring/nginx", "uring/wg"] if "workgate-uring" in names else [])
    log("")
    log("== peers: one table (medians; same run, same machine; servers on one core, wrk on the other)")
    log(f"{'measure':<30}" + "".join(f"{c:>15}" for c in cols))

    def row(title, values, ratio_of=lambda t, b: (t / b if t and b else None), fmt=None, lower_better=False):
        fmt = fmt or (lambda v: fmt_rps(v))
        cells = [fmt(values.get(n)) if values.get(n) is not None else "-" for n in names]
        pairs = [("workgate", "nginx"), ("workgate", "haproxy")]
        if "workgate-uring" in names:
            pairs += [("workgate-uring", "nginx"), ("workgate-uring", "workgate")]
        for t, b in pairs:
            cells.append(fmt_x(ratio_of(values.get(t), values.get(b))))
        log(f"{title:<30}" + "".join(f"{c:>15}" for c in cells))

    for res in results:
        rps = {n: s["median"]["rps"] for n, s in res["sides"].items()}
        cpu = {n: s["median"]["cpu_us_per_req"] for n, s in res["sides"].items()}
        row(f"{res['label']} req/s", rps)
        row(f"{res['label']} CPU us/req", cpu, fmt=lambda v: f"{v:.2f}")
    for label in ("static-c64", "proxy-c64"):
        vals = {n: (extra["syscalls"].get(f"{label}/{n}") or {}).get("per_request") for n in names}
        row(f"{label} syscalls/req", vals, fmt=lambda v: f"{v:.2f}")
    mem = extra.get("idle_memory") or {}
    row("idle KiB/conn", {n: (mem.get(n) or {}).get("kib_per_connection") for n in names}, fmt=lambda v: f"{v:.2f}")
    row("RSS after close / before, worst", {n: (mem.get(n) or {}).get("after_close_vs_before") for n in names},
        fmt=lambda v: f"{v:.2f}")
    paced = extra.get("paced")
    if paced:
        for k, title in (("rps", "paced req/s"), ("p50_us", "paced p50 us"), ("p99_us", "paced p99 us"),
                         ("p999_us", "paced p99.9 us")):
            row(title, {n: paced["median"].get(n, {}).get(k) for n in names},
                fmt=(lambda v: fmt_rps(v)) if k == "rps" else (lambda v: f"{v:.0f}"))
    log("ratios: req/s higher is better; CPU, syscalls, memory and latency lower is better")


SCENARIO_FUNCS = {"static": (scenario_static, [64]), "proxy": (scenario_proxy, [64, 256]),
                  "auth": (scenario_auth, [64]), "workers": (scenario_workers, [64]),
                  "ratelimit": (scenario_ratelimit, [64]), "metrics": (scenario_metrics, [64]),
                  "tls": (scenario_tls, [64]), "http2": (scenario_http2, [64]),
                  "targets": (scenario_targets, [64]), "workers-js": (scenario_workers_js, [64])}
SCENARIO_FUNCS["peers"] = (scenario_peers, [64, 256, 1024])
SCENARIO_FUNCS["tracing"] = (scenario_tracing, [64])


# --------------------------------------------------------------------------------------------- main

def tool_version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def git_describe(path):
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return None


def parse_args(argv):
    p = argparse.ArgumentParser(description="workgate vs nginx benchmarks (see bench/README.md)")
    p.add_argument("--scenario", action="append", default=None,
                   help="static (default), proxy, auth, workers, ratelimit or all; repeat or comma-separate")
    p.add_argument("--gateway", default=DEFAULT_GATEWAY, help=f"workgate binary (default {DEFAULT_GATEWAY})")
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--wrk", default="/usr/bin/wrk")
    p.add_argument("--duration", type=int, default=5, help="seconds per measured run (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each measured run (default 1; 0: none)")
    p.add_argument("--rounds", type=int, default=3, help="A B rounds per case (default 3)")
    p.add_argument("--connections", default=None,
                   help="comma-separated wrk -c values, e.g. 64,256 (default: 64; proxy: 64,256)")
    p.add_argument("--threads", type=int, default=1, help="workgate serve --threads (default 1)")
    p.add_argument("--server-cpu", default="0", help="taskset CPU list for servers (default 0)")
    p.add_argument("--client-cpu", default="1", help="taskset CPU list for wrk (default 1)")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--wrk-timeout", type=int, default=2, help="wrk --timeout seconds (default 2)")
    p.add_argument("--body-size", type=int, default=1024 * 1024, help="proxy large-body POST size (default 1 MiB)")
    p.add_argument("--large-connections", type=int, default=32, help="wrk -c for the large-body run (default 32)")
    p.add_argument("--nginx-request-buffering", choices=["on", "memory", "off"], default="on",
                   help="nginx front: on (default, stock nginx: bodies over 16 KiB go to a temp file), memory "
                        "(client_body_buffer_size > body), off (streams, but nginx 1.22 then closes the client "
                        "connection after each large POST: wrk read errors)")
    p.add_argument("--auth-tokens", type=int, default=1,
                   help="distinct RS256 tokens rotated by wrk (default 1; >4096 defeats a per-thread token cache)")
    p.add_argument("--sidecar", default=os.environ.get("WORKGATE_SIDECAR"),
                   help="sidecar test worker module for the workers scenario (default: $WORKGATE_SIDECAR, "
                        "else workers/libworkgate-sidecar.so next to the gateway binary)")
    p.add_argument("--haproxy", default="/usr/sbin/haproxy", help="peers scenario: haproxy binary")
    p.add_argument("--gateway-uring", default=None,
                   help="peers scenario: a workgate built with WORKGATE_IO_URING (build/release-uring/workgate), "
                        "measured beside the default one")
    p.add_argument("--idle-bursts", type=int, default=3,
                   help="peers scenario: bursts of idle connections per server (RSS after close: the worst)")
    p.add_argument("--idle-connections", type=int, default=10000,
                   help="peers scenario: idle keep-alive connections for the memory measure (default 10000)")
    p.add_argument("--paced-connections", type=int, default=256,
                   help="peers scenario: connections of the paced-latency run (default 256)")
    p.add_argument("--syscall-tool", choices=["perf", "strace"], default="perf",
                   help="peers scenario: count syscalls with perf stat tracepoints (default) or strace -c -f")
    p.add_argument("--tracing-ratios", default="0,0.01,0.1,1",
                   help="tracing scenario: the sample_ratio values measured beside tracing off (default 0,0.01,0.1,1)")
    p.add_argument("--json", metavar="FILE", help="write all results as JSON")
    p.add_argument("--keep-temp", action="store_true", help="keep the temp dir (configs, server logs)")
    a = p.parse_args(argv)
    names = []
    for s in a.scenario or ["static"]:
        for n in s.split(","):
            n = n.strip()
            if n == "all":
                names += SCENARIOS
            elif n in SCENARIOS:
                names.append(n)
            elif n:
                p.error(f"unknown scenario {n!r} (choose from {', '.join(SCENARIOS)}, all)")
    a.scenarios = list(dict.fromkeys(names))
    try:
        a.tracing_ratios = sorted({float(r) for r in a.tracing_ratios.split(",") if r.strip()})
    except ValueError:
        p.error("--tracing-ratios takes comma-separated numbers")
    if not a.tracing_ratios or any(r < 0 or r > 1 for r in a.tracing_ratios):
        p.error("--tracing-ratios: numbers from 0 to 1")
    if a.connections:
        try:
            a.conns = [int(c) for c in a.connections.split(",") if c.strip()]
        except ValueError:
            p.error("--connections takes comma-separated integers")
    else:
        a.conns = None
    if a.duration < 1 or a.rounds < 1 or a.warmup < 0 or a.auth_tokens < 1 or a.body_size < 1:
        p.error("--duration, --rounds, --auth-tokens, --body-size must be >= 1 and --warmup >= 0")
    for tool in (a.gateway, a.nginx, a.wrk):
        if not os.access(tool, os.X_OK):
            p.error(f"{tool} is not an executable (build workgate with `cmake --preset release && cmake --build "
                    f"--preset release`, or pass --gateway; nginx/wrk: scripts/install-deps.sh)")
    a.gateway = os.path.abspath(a.gateway)
    if a.gateway_uring:
        if not os.access(a.gateway_uring, os.X_OK):
            p.error(f"--gateway-uring {a.gateway_uring} is not an executable (cmake --preset release-uring)")
        a.gateway_uring = os.path.abspath(a.gateway_uring)
    return a


class Terminated(Exception):
    pass


def _on_signal(signum, frame):
    raise Terminated(signal.Signals(signum).name)


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "gateway": args.gateway, "gateway_version": tool_version([args.gateway, "--version"]),
        "bench_commit": git_describe(REPO),
        "gateway_tree_commit": git_describe(os.path.dirname(args.gateway)),  # the checkout holding the binary
        "nginx": tool_version([args.nginx, "-v"]),
        "wrk": (tool_version([args.wrk, "-v"]) or "").split(" Copyright")[0] or None, "cpus": os.cpu_count(),
        "settings": {k: getattr(args, k) for k in ("duration", "warmup", "rounds", "threads", "server_cpu",
                                                    "client_cpu", "no_pin", "body_size", "large_connections",
                                                    "nginx_request_buffering", "auth_tokens", "wrk_timeout")},
        "loadavg_start": loadavg(), "scenarios": {}}
    log(f"workgate: {args.gateway} ({report['gateway_version']}, tree {report['gateway_tree_commit']}); "
        f"{report['nginx']}; {report['wrk']}")
    log(f"servers on cpu {args.server_cpu}, wrk on cpu {args.client_cpu}; {args.rounds} rounds x {args.duration}s "
        f"(+{args.warmup}s warm-up); loadavg {' '.join(report['loadavg_start'] or [])}")
    if os.cpu_count() and os.cpu_count() < 2 and not args.no_pin:
        log("warning: fewer than 2 CPUs; server and client share a core")
    ctx = Context(args)
    status = 0
    try:
        for name in args.scenarios:
            func, default_conns = SCENARIO_FUNCS[name]
            log("")
            log(f"--- scenario {name}")
            try:
                results = func(ctx, args.conns or default_conns)
                report["scenarios"][name] = {"status": "ok", "cases": results}
                if any(not r["valid"] for r in results):
                    status = 1
            except Skip as e:
                log(f"SKIPPED {name}: {e}")
                report["scenarios"][name] = {"status": "skipped", "reason": str(e)}
            except RuntimeError as e:
                log(f"FAILED {name}: {e}")
                report["scenarios"][name] = {"status": "failed", "reason": str(e)}
                status = 1
            finally:
                for s in list(ctx.servers):  # each scenario starts from a clean slate
                    ctx.stop(s)
    except (KeyboardInterrupt, Terminated) as e:
        log(f"\ninterrupted ({str(e) or 'SIGINT'}): stopping servers")
        report["interrupted"] = True
        status = 130
    finally:
        ctx.cleanup()
        report["loadavg_end"] = loadavg()
        report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=2)
            log(f"results written to {args.json}")
    log(f"loadavg at end: {' '.join(report['loadavg_end'] or [])} (others share this machine: compare ratios, "
        f"not absolute numbers)")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
