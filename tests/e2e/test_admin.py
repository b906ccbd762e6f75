"""The admin listener (docs/operations.md): /livez, /readyz, /metrics (promtool, a real Prometheus scrape),
/config (redacted), /routes; never on the public port; readiness before the JWKS is fetched and while
draining; X-Request-Id taken, replaced, returned, forwarded and logged."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

from auth_fakes import JwksServer, Pki, SigningKey
from harness import (START_TIMEOUT, GatewayTestCase, RawConnection, free_port, mint_jwt, run_cli, start_gateway,
                     write_temp)
from upstreams import EchoUpstream

ADMIN_LINE = re.compile(r"admin listener on http://(?:\[[^\]]*\]|[^\s/]+):(\d+)")
JWT_SECRET = "admin-test-jwt-secret-0123456789abcdef"  # from the environment ($secret.)
LITERAL_SECRET = "literal-supabase-secret-9f8e7d6c5b4a"  # written in the config itself
API_URL_SECRET = "internal-api.example.test"  # part of an $env value
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def admin_port(gw, timeout=START_TIMEOUT):
    """The admin listener's port, from its startup line."""
    deadline = time.monotonic() + timeout
    while True:
        match = ADMIN_LINE.search(gw.stderr())
        if match:
            return int(match.group(1))
        if gw.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("no admin listener line" + gw.describe())
        time.sleep(0.02)


def admin_get(port, path, method="GET"):
    """(status, headers dict, body bytes) of one request to the admin listener (no proxy)."""
    with RawConnection("127.0.0.1", port) as conn:
        conn.send(f"{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n".encode())
        resp = conn.read_response(head=(method == "HEAD"))
    return resp


def metric_value(text, name, labels=None):
    """The value of the sample `name{labels}` (labels: dict, matched exactly), or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if "{" in series:
            metric, _, rest = series.partition("{")
            found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        else:
            metric, found = series, {}
        if metric == name and found == (labels or {}):
            return float(value)
    return None


def base_config(upstream_url, admin="127.0.0.1:0"):
    config = {
        "servers": [{"alias": "echo", "url": upstream_url},
                    {"alias": "internal", "url": "$env.ADMIN_TEST_API_URL"},
                    {"alias": "dead", "url": f"http://127.0.0.1:{free_port()}", "timeout_ms": 2000}],
        "authorizer": {"type": "jwt", "secret": "$secret.ADMIN_TEST_JWT_SECRET", "algorithm": "HS256",
                       "issuer": "https://issuer.test", "audience": "admin-test"},
        "paths": [
            {"method": "GET", "path": "/health", "response": {"status": "ok"}},
            {"method": "GET", "path": "/items/{id}", "response": {"item": True}},
            {"method": "GET", "path": "/private", "auth": True, "response": {"private": True}},
            {"method": "ANY", "path": "/echo/{.+}", "integration": {"type": "http_proxy", "server": "echo"}},
            {"method": "GET", "path": "/dead", "integration": {"type": "http_proxy", "server": "dead"}},
            {"method": "GET", "path": "/internal", "integration": {"type": "http_proxy", "server": "internal"}},
        ],
    }
    if admin:
        config["gateway"] = {"admin": {"listen": admin}}
    return config


ENV = {"ADMIN_TEST_JWT_SECRET": JWT_SECRET, "ADMIN_TEST_API_URL": f"http://{API_URL_SECRET}:9"}


class AdminEndpointsTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = EchoUpstream()
        cls.addClassCleanup(cls.upstream.stop)
        cls.config = base_config(cls.upstream.url)
        gw = cls.start_shared(cls.config, env=ENV, args=["--access-log"])
        cls.admin = admin_port(gw)

    def test_serving_line_names_both_listeners(self):
        line = [l for l in self.gw.stderr().splitlines() if " serving " in l][0]
        self.assertRegex(line, rf"on http://127\.0\.0\.1:{self.gw.port} with 2 thread\(s\), admin on "
                               rf"http://127\.0\.0\.1:{self.admin}$")

    def test_livez(self):
        resp = admin_get(self.admin, "/livez")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json(), {"status": "alive"})

    def test_readyz_reports_the_config(self):
        resp = admin_get(self.admin, "/readyz")
        self.assertEqual(resp.status, 200, resp)
        body = resp.json()
        self.assertEqual(body["status"], "ready")
        self.assertEqual(body["reasons"], [])
        self.assertFalse(body["draining"])
        self.assertEqual(body["config"]["generation"], 1)
        with open(self.gw.config_path, "rb") as f:
            self.assertEqual(body["config"]["sha256"], hashlib.sha256(f.read()).hexdigest())
        self.assertRegex(body["config"]["loaded_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertIsNone(body["last_reload"])

    def test_config_is_redacted(self):
        resp = admin_get(self.admin, "/config")
        self.assertEqual(resp.status, 200, resp)
        text = resp.body.decode()
        for secret in (JWT_SECRET, API_URL_SECRET, "$secret.", "$env."):
            self.assertNotIn(secret, text)
        config = resp.json()
        self.assertEqual(config["authorizer"]["secret"], "[redacted]")
        self.assertEqual(config["servers"][1]["url"], "[redacted]")
        self.assertEqual(config["servers"][0]["url"], self.upstream.url)  # plain values stay
        self.assertEqual(len(config["paths"]), len(self.config["paths"]))

    def test_routes(self):
        resp = admin_get(self.admin, "/routes")
        self.assertEqual(resp.status, 200, resp)
        routes = resp.json()["routes"]
        by_path = {r["path"]: r for r in routes}
        self.assertEqual(len(routes), len(self.config["paths"]))
        self.assertEqual(by_path["/health"]["integration"], {"type": "static"})
        self.assertEqual(by_path["/health"]["match"], "exact")
        self.assertEqual(by_path["/echo/{.+}"]["integration"], {"type": "http_proxy", "server": "echo"})
        self.assertEqual(by_path["/echo/{.+}"]["method"], "ANY")
        self.assertEqual(by_path["/echo/{.+}"]["match"], "wildcard")
        self.assertTrue(by_path["/private"]["auth"])
        self.assertFalse(by_path["/health"]["auth"])
        self.assertIsNone(by_path["/health"]["pre_process"])
        self.assertEqual([r["priority"] for r in routes], list(range(1, len(routes) + 1)))

    def test_unknown_endpoint_and_method(self):
        self.assertEqual(admin_get(self.admin, "/nope").status, 404)
        resp = admin_get(self.admin, "/livez", method="POST")
        self.assertEqual(resp.status, 405)
        self.assertEqual(resp.header("Allow"), "GET, HEAD")
        resp = admin_get(self.admin, "/livez", method="HEAD")
        self.assertEqual(resp.status, 200)

    def test_admin_endpoints_are_not_on_the_public_port(self):
        for path in ("/metrics", "/livez", "/readyz", "/config", "/routes"):
            resp = self.gw.get(path)
            self.assertResponse(resp, 404, json_body={"message": "No match found."})

    def test_metrics_pass_promtool(self):
        if shutil.which("promtool") is None:
            self.skipTest("promtool not installed (Debian package prometheus)")
        self.gw.get("/health")
        resp = admin_get(self.admin, "/metrics")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        check = subprocess.run(["promtool", "check", "metrics"], input=resp.body, capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout.decode() + check.stderr.decode())

    def scrape(self):
        resp = admin_get(self.admin, "/metrics")
        self.assertEqual(resp.status, 200)
        return resp.body.decode()

    def test_request_metrics_follow_traffic(self):
        labels = {"route": "/items/{id}", "method": "GET", "code": "200"}
        before = metric_value(self.scrape(), "workgate_http_requests_total", labels) or 0
        hist_before = metric_value(self.scrape(), "workgate_http_request_duration_seconds_count",
                                   {"route": "/items/{id}"}) or 0
        for i in range(5):
            self.assertEqual(self.gw.get(f"/items/{i}").status, 200)
        self.gw.get("/no/such/route")
        text = self.scrape()
        # route is the pattern, never the raw path
        self.assertEqual(metric_value(text, "workgate_http_requests_total", labels), before + 5)
        self.assertNotIn('route="/items/3"', text)
        self.assertEqual(metric_value(text, "workgate_http_request_duration_seconds_count", {"route": "/items/{id}"}),
                         hist_before + 5)
        self.assertGreaterEqual(metric_value(text, "workgate_http_requests_total",
                                             {"route": "unmatched", "method": "GET", "code": "404"}), 1)
        self.assertGreater(metric_value(text, "workgate_http_response_size_bytes_total", {"route": "/items/{id}"}), 0)
        self.assertIsNotNone(metric_value(text, "workgate_http_connections_open",
                                          {"listener": "public", "protocol": "http/1.1"}))

    def test_request_bytes(self):
        before = metric_value(self.scrape(), "workgate_http_request_size_bytes_total", {"route": "/echo/{.+}"}) or 0
        self.assertEqual(self.gw.request("POST", "/echo/upload", body=b"x" * 1000).status, 200)
        after = metric_value(self.scrape(), "workgate_http_request_size_bytes_total", {"route": "/echo/{.+}"})
        self.assertEqual(after, before + 1000)

    def test_upstream_metrics(self):
        self.assertEqual(self.gw.get("/echo/a").status, 200)
        self.assertEqual(self.gw.get("/dead").status, 502)
        text = self.scrape()
        self.assertGreaterEqual(
            metric_value(text, "workgate_upstream_request_duration_seconds_count", {"server": "echo"}), 1)
        self.assertGreaterEqual(
            metric_value(text, "workgate_upstream_errors_total", {"server": "dead", "kind": "unavailable"}), 1)
        self.assertEqual(metric_value(text, "workgate_upstream_errors_total", {"server": "echo", "kind": "timeout"}), 0)

    def test_auth_metrics(self):
        text = self.scrape()
        valid = metric_value(text, "workgate_auth_verifications_total", {"result": "valid"})
        invalid = metric_value(text, "workgate_auth_verifications_total", {"result": "invalid"})
        hits = metric_value(text, "workgate_auth_token_cache_hits_total")
        now = int(time.time())
        token = mint_jwt({"iss": "https://issuer.test", "aud": "admin-test", "sub": "u", "exp": now + 600},
                         JWT_SECRET)
        # One connection: the token cache is per thread.
        with self.gw.connect() as conn:
            for _ in range(2):
                conn.send(f"GET /private HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
                self.assertEqual(conn.read_response().status, 200)
        self.assertEqual(self.gw.get("/private", headers={"Authorization": "Bearer nope"}).status, 401)
        text = self.scrape()
        self.assertEqual(metric_value(text, "workgate_auth_verifications_total", {"result": "valid"}), valid + 2)
        self.assertEqual(metric_value(text, "workgate_auth_verifications_total", {"result": "invalid"}), invalid + 1)
        self.assertEqual(metric_value(text, "workgate_auth_token_cache_hits_total"), hits + 1)

    def test_build_config_and_process_metrics(self):
        text = self.scrape()
        build = [l for l in text.splitlines() if l.startswith("workgate_build_info{")]
        self.assertEqual(len(build), 1, text)
        self.assertRegex(build[0], r'^workgate_build_info\{version="[^"]+",commit="[^"]+",abi="\d+"\} 1$')
        self.assertEqual(metric_value(text, "workgate_config_generation"), 1)
        self.assertEqual(metric_value(text, "workgate_ready"), 1)
        self.assertIsNotNone(metric_value(text, "workgate_config_reloads_total", {"result": "ok"}))
        self.assertGreater(metric_value(text, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(metric_value(text, "process_open_fds"), 3)
        self.assertGreaterEqual(metric_value(text, "process_cpu_seconds_total"), 0)
        start = metric_value(text, "process_start_time_seconds")
        self.assertLess(abs(start - time.time()), 3600)

    # ---- X-Request-Id
    def test_request_id_taken_from_the_client(self):
        rid = "client-id_1.2-ABC"
        resp = self.gw.get("/echo/id", headers={"X-Request-Id": rid})
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header_all("X-Request-Id"), [rid])
        self.assertEqual(resp.json()["headers"]["x-request-id"], [rid])  # what the upstream received
        long_ok = "a" * 128
        self.assertEqual(self.gw.get("/health", headers={"X-Request-Id": long_ok}).header("X-Request-Id"), long_ok)

    def test_request_id_generated_when_absent(self):
        first = self.gw.get("/echo/gen")
        second = self.gw.get("/health")
        a, b = first.header("X-Request-Id"), second.header("X-Request-Id")
        self.assertRegex(a, HEX32)
        self.assertRegex(b, HEX32)
        self.assertNotEqual(a, b)
        self.assertEqual(first.json()["headers"]["x-request-id"], [a])
        self.assertRegex(self.gw.get("/nowhere").header("X-Request-Id"), HEX32)  # 404s carry one too

    def test_hostile_request_ids_are_replaced(self):
        for hostile in ("a" * 129, "has space", 'quo"te', "caf\u00e9", "semi;colon", "tab\there"):
            raw = hostile.encode("utf-8")
            with self.gw.connect() as conn:
                conn.send(b"GET /echo/h HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + raw + b"\r\nConnection: close\r\n\r\n")
                resp = conn.read_response()
            self.assertEqual(resp.status, 200, hostile)
            got = resp.header_all("X-Request-Id")
            self.assertEqual(len(got), 1, hostile)
            self.assertRegex(got[0], HEX32, hostile)
            self.assertEqual(resp.json()["headers"]["x-request-id"], got, hostile)
        # CRLF inside the value ends the field: what follows is another field, never echoed back.
        with self.gw.connect() as conn:
            conn.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: ok\r\nX-Injected: 1\r\nConnection: close\r\n\r\n")
            resp = conn.read_response()
        self.assertEqual(resp.header_all("X-Request-Id"), ["ok"])
        self.assertIsNone(resp.header("X-Injected"))
        # Two X-Request-Id fields: the first is used, and the response carries exactly one.
        with self.gw.connect() as conn:
            conn.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\nX-Request-Id: two\r\n"
                      b"Connection: close\r\n\r\n")
            resp = conn.read_response()
        self.assertEqual(len(resp.header_all("X-Request-Id")), 1)

    def test_request_id_in_the_access_log(self):
        rid = "access-log-id-4711"
        self.gw.get("/health", headers={"X-Request-Id": rid})
        text = self.gw.wait_for_output(lambda t: rid in t, timeout=3, stream="stdout")
        line = [l for l in text.splitlines() if rid in l]
        self.assertEqual(len(line), 1, text[-2000:])
        self.assertIn('"GET /health"', line[0])


class WorkerMetricsTest(GatewayTestCase):
    def test_worker_calls_failures_timeouts_and_duration(self):
        from test_workers import test_worker
        config = {"gateway": {"admin": {"listen": "127.0.0.1:0"}},
                  "workers": [{"binding": "ASYNC", "module": test_worker(), "timeout_ms": 150}],
                  "serviceBindings": [{"alias": "async", "binding": "ASYNC"}],
                  "paths": [
                      {"method": "POST", "path": "/later", "integration": {"type": "service_binding", "binding": "async",
                                                                           "function": "later"}},
                      {"method": "GET", "path": "/fails", "integration": {"type": "service_binding", "binding": "async",
                                                                          "function": "fail"}}]}
        gw = self.start(config)
        port = admin_port(gw)
        self.assertEqual(gw.request("POST", "/later?delay=1", body="{}").status, 200)
        self.assertEqual(gw.request("POST", "/later?delay=1", body="{}").status, 200)
        self.assertEqual(gw.request("POST", "/later?delay=500", body="{}").status, 504)
        self.assertEqual(gw.get("/fails").status, 500)
        text = admin_get(port, "/metrics").body.decode()
        later = {"binding": "ASYNC", "function": "later"}
        fails = {"binding": "ASYNC", "function": "fail"}
        self.assertEqual(metric_value(text, "workgate_worker_calls_total", later), 3)
        self.assertEqual(metric_value(text, "workgate_worker_timeouts_total", later), 1)
        self.assertEqual(metric_value(text, "workgate_worker_failures_total", later), 0)
        self.assertEqual(metric_value(text, "workgate_worker_calls_total", fails), 1)
        self.assertEqual(metric_value(text, "workgate_worker_failures_total", fails), 1)
        self.assertEqual(metric_value(text, "workgate_worker_duration_seconds_count", later), 3)
        self.assertGreaterEqual(metric_value(text, "workgate_worker_duration_seconds_sum", later), 0.14)


class UpstreamPoolMetricsTest(GatewayTestCase):
    def test_pool_gauges(self):
        upstream = EchoUpstream()
        self.addCleanup(upstream.stop)
        gw = self.start(base_config(upstream.url), env=ENV, threads=1)
        port = admin_port(gw)
        origin = f"http://127.0.0.1:{upstream.port}"
        self.assertEqual(gw.get("/echo/a").status, 200)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # sampled on each thread's 100 ms tick
            text = admin_get(port, "/metrics").body.decode()
            idle = metric_value(text, "workgate_upstream_connections", {"upstream": origin, "state": "idle"})
            if idle == 1:
                break
            time.sleep(0.05)
        self.assertEqual(idle, 1, text)
        self.assertEqual(metric_value(text, "workgate_upstream_connections", {"upstream": origin, "state": "open"}), 1)
        self.assertEqual(metric_value(text, "workgate_upstream_connections", {"upstream": origin, "state": "pending"}), 0)
        # A request in flight: the connection is open and not idle.
        t = threading.Thread(target=lambda: gw.get("/echo/slow", headers={"X-Echo-Mode": "delay=1.5"}))
        t.start()
        self.addCleanup(t.join)
        upstream.wait_for(lambda u: u.inflight > 0, timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = admin_get(port, "/metrics").body.decode()
            if metric_value(text, "workgate_upstream_connections", {"upstream": origin, "state": "idle"}) == 0:
                break
            time.sleep(0.05)
        self.assertEqual(metric_value(text, "workgate_upstream_connections", {"upstream": origin, "state": "idle"}), 0)
        self.assertEqual(metric_value(text, "workgate_upstream_connections", {"upstream": origin, "state": "open"}), 1)


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def artifacts_dir():
    """Where test artifacts (the dashboard screenshot) are kept: $WG_E2E_ARTIFACTS, else e2e-artifacts/ next
    to the binary under test."""
    from harness import workgate_bin
    path = os.environ.get("WG_E2E_ARTIFACTS") or os.path.join(os.path.dirname(workgate_bin()), "e2e-artifacts")
    os.makedirs(path, exist_ok=True)
    return path


class DashboardTest(GatewayTestCase):
    def chromium(self, url, *args, budget_ms=5000):
        profile = tempfile.TemporaryDirectory(prefix="wg-chromium-")
        self.addCleanup(profile.cleanup)
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        argv = [self.browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-proxy-server",
                "--disable-dev-shm-usage", f"--user-data-dir={profile.name}", "--window-size=1400,1100",
                f"--virtual-time-budget={budget_ms}", *args, url]
        result = subprocess.run(argv, capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        return result

    def dom_cell(self, dom, route, field):
        row = re.search(r'<tr data-route="' + re.escape(route) + r'">(.*?)</tr>', dom, re.S)
        self.assertIsNotNone(row, f"no row for {route} in the DOM:\n{dom[:3000]}")
        cell = re.search(r'data-field="' + field + r'"[^>]*>([^<]*)<', row.group(1))
        self.assertIsNotNone(cell, row.group(1))
        return cell.group(1)

    def test_dashboard_shows_live_numbers(self):
        self.browser = chromium_binary()
        if self.browser is None:
            self.skipTest("chromium not installed")
        upstream = EchoUpstream()
        self.addCleanup(upstream.stop)
        gw = self.start(base_config(upstream.url), env=ENV)
        port = admin_port(gw)
        resp = admin_get(port, "/")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("Content-Type"), "text/html; charset=utf-8")
        for external in (b"http://", b"https://", b"src=", b"<link"):  # no external assets
            self.assertNotIn(external, resp.body)
        for _ in range(5):
            gw.get("/health")
        gw.get("/echo/x")
        url = f"http://127.0.0.1:{port}/"
        first = self.chromium(url, "--dump-dom")
        dom = first.stdout.decode("utf-8", "replace")
        self.assertIn('id="routes"', dom, first.stderr.decode()[-2000:])
        self.assertEqual(self.dom_cell(dom, "/health", "requests"), "5", dom[:4000])
        self.assertNotEqual(self.dom_cell(dom, "/health", "p50"), "-")
        self.assertIn("ready", re.search(r'<span id="status"[^>]*>([^<]*)<', dom).group(1))
        self.assertIn('data-server="echo"', dom)
        self.assertIn('data-listener="public"', dom)
        for _ in range(7):
            gw.get("/health")
        second = self.chromium(url, "--dump-dom")
        dom = second.stdout.decode("utf-8", "replace")
        self.assertEqual(self.dom_cell(dom, "/health", "requests"), "12", dom[:4000])
        shot = os.path.join(artifacts_dir(), "dashboard.png")
        if os.path.exists(shot):
            os.unlink(shot)
        result = self.chromium(url, f"--screenshot={shot}")
        self.assertTrue(os.path.exists(shot) and os.path.getsize(shot) > 1000, result.stderr.decode()[-2000:])

    def test_dashboard_shows_upstream_target_health(self):
        self.browser = chromium_binary()
        if self.browser is None:
            self.skipTest("chromium not installed")
        upstream = EchoUpstream()
        self.addCleanup(upstream.stop)
        dead_checked, dead_ejected = free_port(), free_port()
        cfg = base_config(upstream.url)
        cfg["servers"] += [
            {"alias": "checked", "targets": [{"url": upstream.url}, {"url": f"http://127.0.0.1:{dead_checked}"}],
             "health_check": {"path": "/hc", "interval_ms": 200, "timeout_ms": 500, "healthy_threshold": 1,
                              "unhealthy_threshold": 1}},
            {"alias": "flaky", "targets": [{"url": upstream.url}, {"url": f"http://127.0.0.1:{dead_ejected}"}],
             "outlier": {"consecutive_connect_failures": 1, "base_ejection_ms": 120000}}]
        cfg["paths"].append({"method": "GET", "path": "/flaky", "integration": {"type": "http_proxy", "server": "flaky"}})
        gw = self.start(cfg, env=ENV, threads=1)
        port = admin_port(gw)
        for _ in range(4):  # one of them picks the dead target: a connect failure ejects it (and is retried)
            self.assertEqual(gw.get("/flaky").status, 200)
        deadline = time.monotonic() + 10
        while True:
            body = admin_get(port, "/upstreams").json()
            states = {(c["server"], t["target"]): t["state"] for c in body["servers"] for t in c["targets"]}
            if states.get(("checked", f"http://127.0.0.1:{dead_checked}")) == "unhealthy" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(states, {("checked", upstream.url): "healthy",
                                  ("checked", f"http://127.0.0.1:{dead_checked}"): "unhealthy",
                                  ("flaky", upstream.url): "healthy",
                                  ("flaky", f"http://127.0.0.1:{dead_ejected}"): "ejected"}, body)
        text = admin_get(port, "/metrics").body.decode()
        self.assertEqual(metric_value(text, "workgate_upstream_target_ejected",
                                      {"server": "flaky", "target": f"http://127.0.0.1:{dead_ejected}"}), 1)
        self.assertEqual(metric_value(text, "workgate_upstream_target_healthy",
                                      {"server": "checked", "target": f"http://127.0.0.1:{dead_checked}"}), 0)
        self.assertEqual(metric_value(text, "workgate_upstream_breaker_open", {"server": "flaky"}), 0)

        url = f"http://127.0.0.1:{port}/"
        result = self.chromium(url, "--dump-dom")
        dom = result.stdout.decode("utf-8", "replace")

        def cell(data, value, field):
            row = re.search(r'<tr data-' + data + r'="' + re.escape(value) + r'">(.*?)</tr>', dom, re.S)
            self.assertIsNotNone(row, f"no {data} row {value} in the DOM:\n{dom[:5000]}")
            found = re.search(r'data-field="' + field + r'"[^>]*>([^<]*)<', row.group(1))
            self.assertIsNotNone(found, row.group(1))
            return found.group(1)

        self.assertEqual(cell("target", f"checked http://127.0.0.1:{dead_checked}", "state"), "unhealthy")
        self.assertEqual(cell("target", f"checked {upstream.url}", "state"), "healthy")
        self.assertEqual(cell("target", f"flaky http://127.0.0.1:{dead_ejected}", "state"), "ejected")
        self.assertEqual(cell("target", f"flaky http://127.0.0.1:{dead_ejected}", "ejections"), "1")
        self.assertEqual(cell("server", "checked", "targets_up"), "1 of 2")
        self.assertEqual(cell("server", "flaky", "targets_up"), "1 of 2")
        self.assertEqual(cell("server", "flaky", "breaker"), "closed")
        self.assertEqual(cell("server", "echo", "targets_up"), "-")
        self.assertRegex(cell("listener", "public", "connections"), r"^\d+$")
        shot = os.path.join(artifacts_dir(), "dashboard-targets.png")
        if os.path.exists(shot):
            os.unlink(shot)
        result = self.chromium(url, f"--screenshot={shot}")
        self.assertTrue(os.path.exists(shot) and os.path.getsize(shot) > 1000, result.stderr.decode()[-2000:])


class UpstreamRetryMetricsTest(GatewayTestCase):
    def test_replay_on_a_reused_connection_is_counted(self):
        upstream = EchoUpstream()
        self.addCleanup(upstream.stop)
        gw = self.start(base_config(upstream.url), env=ENV, threads=1)
        port = admin_port(gw)
        origin = f"http://127.0.0.1:{upstream.port}"
        self.assertEqual(gw.get("/echo/warm").status, 200)  # leaves a pooled keep-alive connection
        # The upstream resets the reused connection after reading the request: the GET is replayed once on a
        # fresh connection (which resets too, so the client gets a 502).
        self.assertEqual(gw.get("/echo/reset", headers={"X-Echo-Mode": "reset"}).status, 502)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # sampled on the thread's 100 ms tick
            text = admin_get(port, "/metrics").body.decode()
            if metric_value(text, "workgate_upstream_retries_total", {"upstream": origin}) == 1:
                break
            time.sleep(0.05)
        self.assertEqual(metric_value(text, "workgate_upstream_retries_total", {"upstream": origin}), 1, text)
        self.assertEqual(metric_value(text, "workgate_upstream_errors_total", {"server": "echo", "kind": "unavailable"}), 1)


class AdminLifecycleTest(GatewayTestCase):
    def test_admin_flag_wins_and_off_by_default(self):
        upstream = EchoUpstream()
        self.addCleanup(upstream.stop)
        gw = self.start(base_config(upstream.url, admin=None), env=ENV)
        self.assertIsNone(ADMIN_LINE.search(gw.stderr()))  # off unless configured
        gw2 = self.start(base_config(upstream.url, admin=None), env=ENV, args=["--admin", "127.0.0.1:0"])
        self.assertEqual(admin_get(admin_port(gw2), "/livez").status, 200)

    def test_listener_names_in_the_startup_log_and_routes(self):
        config = {"paths": [{"method": "GET", "path": "/health", "response": {"ok": True}}],
                  "gateway": {"admin": {"listen": "127.0.0.1:0"},
                              "listeners": [{"address": "127.0.0.1:0", "name": "edge", "http2": True},
                                            {"address": "127.0.0.1:0"}]}}
        gw = self.start(config)
        ports = gw.listener_ports(at_least=3)
        err = gw.stderr()
        # --listen (the harness's) is listener 0, "public"; then the config's, by name or position.
        self.assertIn(f'listener 0 "public": http://127.0.0.1:{ports[0][1]} (--listen) plain HTTP/1.1\n', err)
        self.assertIn(f'listener 1 "edge": http://127.0.0.1:{ports[1][1]} (/gateway/listeners/0) plain HTTP/1.1 '
                      "and h2c\n", err)
        self.assertIn(f'listener 2 "listener 2": http://127.0.0.1:{ports[2][1]} (/gateway/listeners/1) plain '
                      "HTTP/1.1\n", err)
        body = admin_get(admin_port(gw), "/routes").json()
        self.assertEqual(body["listeners"], [
            {"name": "public", "url": f"http://127.0.0.1:{ports[0][1]}", "origin": "--listen", "tls": False,
             "http2": False},
            {"name": "edge", "url": f"http://127.0.0.1:{ports[1][1]}", "origin": "/gateway/listeners/0",
             "tls": False, "http2": True},
            {"name": "listener 2", "url": f"http://127.0.0.1:{ports[2][1]}", "origin": "/gateway/listeners/1",
             "tls": False, "http2": False}])
        self.assertEqual([r["path"] for r in body["routes"]], ["/health"])
        # The same names as the metrics' `listener` label and /readyz's listeners.
        names = [l["name"] for l in admin_get(admin_port(gw), "/readyz").json()["listeners"]]
        self.assertEqual(names, ["admin", "public", "edge", "listener 2"])

    def test_reload_updates_generation_and_history(self):
        upstream = EchoUpstream()
        self.addCleanup(upstream.stop)
        config = base_config(upstream.url)
        gw = self.start(config, env=ENV)
        port = admin_port(gw)
        config["paths"].append({"method": "GET", "path": "/added", "response": {"added": True}})
        gw.write_config(config)
        gw.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            body = admin_get(port, "/readyz").json()
            if body["config"]["generation"] == 2:
                break
            time.sleep(0.05)
        self.assertEqual(body["config"]["generation"], 2, body)
        self.assertEqual(body["last_reload"]["result"], "ok")
        with open(gw.config_path, "rb") as f:
            self.assertEqual(body["config"]["sha256"], hashlib.sha256(f.read()).hexdigest())
        self.assertIn("/added", [r["path"] for r in admin_get(port, "/routes").json()["routes"]])
        self.assertEqual(gw.get("/added").status, 200)
        # The series of a route survive a reload (keyed by pattern).
        self.assertEqual(gw.get("/health").status, 200)
        text = admin_get(port, "/metrics").body.decode()
        self.assertEqual(metric_value(text, "workgate_config_reloads_total", {"result": "ok"}), 1)
        # A broken edit: recorded as failed, the running config (and its hash) kept.
        gw.write_config("{ broken")
        gw.signal(signal.SIGHUP)
        while time.monotonic() < deadline + 10:
            body = admin_get(port, "/readyz").json()
            if body["last_reload"]["result"] == "failed":
                break
            time.sleep(0.05)
        self.assertEqual(body["last_reload"]["result"], "failed", body)
        self.assertEqual(body["config"]["generation"], 2)
        self.assertEqual(body["status"], "ready")
        text = admin_get(port, "/metrics").body.decode()
        self.assertEqual(metric_value(text, "workgate_config_reloads_total", {"result": "failed"}), 1)

    def test_readyz_while_draining(self):
        upstream = EchoUpstream()
        self.addCleanup(upstream.stop)
        gw = self.start(base_config(upstream.url), env=ENV, args=["--drain-timeout-ms", "10000"])
        port = admin_port(gw)
        self.assertEqual(admin_get(port, "/readyz").status, 200)
        result = {}

        def slow_request():
            result["resp"] = gw.get("/echo/slow", headers={"X-Echo-Mode": "delay=2"})

        t = threading.Thread(target=slow_request)
        t.start()
        upstream.wait_for(lambda u: u.inflight > 0, timeout=5)
        gw.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        status = None
        while time.monotonic() < deadline:
            resp = admin_get(port, "/readyz")
            status = resp.status
            if status == 503:
                break
            time.sleep(0.02)
        self.assertEqual(status, 503, gw.describe())
        self.assertIn("draining", resp.json()["reasons"])
        self.assertTrue(resp.json()["draining"])
        self.assertEqual(admin_get(port, "/livez").status, 200)  # still alive while draining
        t.join(10)
        self.assertEqual(result["resp"].status, 200)
        self.assertEqual(gw.wait_exit(), 0)

    def test_invalid_admin_address_is_a_config_error(self):
        path = write_temp(json.dumps({"gateway": {"admin": {"listen": "nope"}},
                                      "paths": [{"method": "GET", "path": "/", "response": {}}]}))
        self.addCleanup(os.unlink, path)
        result = run_cli(["validate", path])
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("/gateway/admin/listen", result.stderr)
        result = run_cli(["serve", "--config", path, "--admin", "no-port"])
        self.assertEqual(result.returncode, 2, result)
        self.assertIn("--admin must be HOST:PORT", result.stderr)


class ReadyzJwksTest(GatewayTestCase):
    def test_not_ready_until_the_jwks_is_fetched(self):
        tmp = tempfile.TemporaryDirectory(prefix="wg-admin-jwks-")
        self.addCleanup(tmp.cleanup)
        key = SigningKey("RS256", "key-a", tmp.name)
        jwks = JwksServer([key])
        self.addCleanup(jwks.stop)
        jwks.set_mode("ok", delay=2.5)  # slow: the gateway waits for it before it serves
        config = {"gateway": {"admin": {"listen": "127.0.0.1:0"}},
                  "authorizer": {"type": "auth0", "domain": "tenant.example.test", "client_id": "c",
                                 "client_secret": "$secret.ADMIN_AUTH0_SECRET", "redirect_uri": "https://a.test/cb",
                                 "scope": "openid", "jwks_uri": jwks.uri},
                  "paths": [{"method": "GET", "path": "/p", "auth": True, "response": {}}]}
        gw = start_gateway(config, env={"ADMIN_AUTH0_SECRET": "auth0-client-secret-value-77"}, ready=False)
        self.addCleanup(gw.cleanup)
        port = admin_port(gw)
        resp = admin_get(port, "/readyz")
        self.assertEqual(resp.status, 503, resp)
        self.assertIn("config not loaded", resp.json()["reasons"])
        self.assertEqual(admin_get(port, "/livez").status, 200)
        self.assertEqual(admin_get(port, "/metrics").status, 200)
        gw.wait_ready()
        resp = admin_get(port, "/readyz")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["jwks"], [{"uri": jwks.uri, "fetched": True}])
        text = admin_get(port, "/metrics").body.decode()
        self.assertEqual(metric_value(text, "workgate_jwks_fetches_total", {"uri": jwks.uri, "result": "success"}), 1)
        self.assertEqual(metric_value(text, "workgate_jwks_fetches_total", {"uri": jwks.uri, "result": "failure"}), 0)
        age = metric_value(text, "workgate_jwks_key_set_age_seconds", {"uri": jwks.uri})
        self.assertGreaterEqual(age, 0)
        self.assertLess(age, 60)
        body = admin_get(port, "/config").body.decode()
        self.assertNotIn("auth0-client-secret-value-77", body)


class PrometheusScrapeTest(GatewayTestCase):
    def test_real_prometheus_scrapes_the_admin_listener(self):
        prometheus = shutil.which("prometheus")
        if prometheus is None:
            self.skipTest("prometheus not installed (Debian package prometheus)")
        upstream = EchoUpstream()
        self.addCleanup(upstream.stop)
        gw = self.start(base_config(upstream.url), env=ENV)
        port = admin_port(gw)
        for _ in range(3):
            gw.get("/health")
        tmp = tempfile.TemporaryDirectory(prefix="wg-prometheus-")
        self.addCleanup(tmp.cleanup)
        config_path = os.path.join(tmp.name, "prometheus.yml")
        with open(config_path, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: workgate\n"
                    f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        web_port = free_port()
        proc = subprocess.Popen([prometheus, f"--config.file={config_path}",
                                 f"--storage.tsdb.path={os.path.join(tmp.name, 'data')}",
                                 f"--web.listen-address=127.0.0.1:{web_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

        def stop():
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stderr.close()

        self.addCleanup(stop)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        query = "workgate_http_requests_total{route=\"/health\",method=\"GET\",code=\"200\"}"
        url = f"http://127.0.0.1:{web_port}/api/v1/query?query=" + urllib.parse.quote(query)
        deadline = time.monotonic() + 40
        last = None
        while time.monotonic() < deadline:
            self.assertIsNone(proc.poll(), "prometheus exited")
            try:
                with opener.open(url, timeout=2) as r:
                    last = json.loads(r.read())
                if last.get("status") == "success" and last["data"]["result"]:
                    break
            except OSError as e:
                last = str(e)
            time.sleep(0.5)
        self.assertEqual(last["status"], "success", last)
        result = last["data"]["result"]
        self.assertEqual(len(result), 1, last)
        self.assertEqual(result[0]["metric"]["job"], "workgate")
        self.assertGreaterEqual(float(result[0]["value"][1]), 3)
        # The scrape itself is healthy (up == 1).
        with opener.open(f"http://127.0.0.1:{web_port}/api/v1/query?query=up", timeout=2) as r:
            up = json.loads(r.read())["data"]["result"]
        self.assertEqual(up[0]["value"][1], "1", up)


if __name__ == "__main__":
    unittest.main()
