"""--log-format text|json: every line the gateway writes in one shape; the JSON access log's fields;
request ids in the log lines about a request; never a query string or a token."""

import json
import re
import socket
import unittest

from harness import GatewayTestCase, mint_jwt, run_cli
from proxy_support import ProxyTestCase, proxy_route, refused_port, server

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SECRET = "log-format-secret"


def json_lines(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


class LogFormatTest(ProxyTestCase):
    def config(self, up_url):
        return {
            "servers": [server("echo", up_url), server("down", f"http://127.0.0.1:{refused_port()}")],
            "authorizer": {"type": "jwt", "secret": SECRET, "algorithm": "HS256", "issuer": "i", "audience": "a"},
            "paths": [
                proxy_route("/api/{.+}", "echo", mapping={"headers": {"x-q": "$request.query.q"}}),
                proxy_route("/down", "down"),
                {"method": "GET", "path": "/private", "auth": True, "response": {"ok": True}},
            ],
        }

    def test_json_lines_on_stderr_and_stdout(self):
        up = self.upstream()
        gw = self.start(self.config(up.url), args=["--log-format", "json", "--access-log"])
        resp = gw.request("GET", "/api/items/1?q=a%0D%0Ab&token=querysecret",
                          headers={"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01", "X-Request-Id": "req-42"})
        self.assertEqual(resp.status, 200)
        self.assertEqual(gw.request("GET", "/down").status, 502)
        bad = mint_jwt({"sub": "u"}, "wrong-secret")
        self.assertEqual(gw.request("GET", "/private", headers={"Authorization": f"Bearer {bad}"}).status, 401)
        self.assertEqual(gw.request("POST", "/nowhere?x=1", body=b"abc").status, 404)
        gw.stop()

        stderr = json_lines(gw.stderr())  # every line parses
        for line in stderr:
            self.assertEqual(set(line) - {"request_id"}, {"time", "level", "msg"}, line)
            self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(line["level"], ("debug", "info", "warning", "error"))
        self.assertTrue(any(" serving " in line["msg"] for line in stderr), stderr)
        # a log line about a request names it
        warning = [line for line in stderr if "mapping of header x-q" in line["msg"]]
        self.assertEqual(len(warning), 1, stderr)
        self.assertEqual(warning[0]["request_id"], "req-42")
        self.assertEqual(warning[0]["level"], "warning")

        # each thread writes its own lines: order them by path
        by_path = {line["path"]: line for line in json_lines(gw.stdout())}
        self.assertEqual(len(by_path), 4, by_path)
        access = [by_path[p] for p in ("/api/items/1", "/down", "/private", "/nowhere")]
        first = access[0]
        self.assertEqual(first["msg"], "access")
        self.assertEqual(first["request_id"], "req-42")
        self.assertEqual(first["trace_id"], TRACE)
        self.assertEqual(first["client"], "127.0.0.1")
        self.assertEqual(first["listener"], "public")
        self.assertEqual(first["protocol"], "HTTP/1.1")
        self.assertEqual(first["method"], "GET")
        self.assertEqual(first["route"], "/api/{.+}")
        self.assertEqual(first["path"], "/api/items/1")
        self.assertEqual(first["status"], 200)
        self.assertEqual(first["bytes_in"], 0)
        self.assertEqual(first["bytes_out"], len(resp.body))
        self.assertIsInstance(first["duration_ms"], float)
        self.assertEqual(first["upstream"], "echo")
        self.assertGreaterEqual(first["upstream_duration_ms"], 0)
        self.assertLessEqual(first["upstream_duration_ms"], first["duration_ms"])
        self.assertNotIn("error", first)
        self.assertEqual(access[1]["error"], "UPSTREAM_UNAVAILABLE")
        self.assertEqual(access[1]["upstream"], "down")
        self.assertEqual(access[2]["error"], "AUTH_ERROR")
        self.assertEqual(access[3]["error"], "NO_MATCH")
        self.assertEqual(access[3]["bytes_in"], 3)
        self.assertNotIn("route", access[3])
        self.assertRegex(access[3]["trace_id"], r"^[0-9a-f]{32}$")
        everything = gw.stderr() + gw.stdout()
        for secret in ("querysecret", "token=", bad, SECRET, "x=1"):
            self.assertNotIn(secret, everything)

    def test_listener_names_in_the_access_log(self):
        cfg = {"paths": [{"method": "GET", "path": "/x", "response": {}}],
               "gateway": {"listeners": [{"address": "127.0.0.1:0", "name": "edge-1"},
                                         {"address": "127.0.0.1:0"}]}}
        gw = self.start(cfg, args=["--log-format", "json", "--access-log"])
        self.assertEqual(gw.get("/x").status, 200)  # the serving line is out: so are the listener lines
        ports = {int(m.group(1)): int(m.group(2))
                 for m in re.finditer(r'listener (\d+) \\"[^"\\]+\\": http://127\.0\.0\.1:(\d+) ', gw.stderr())}
        self.assertEqual(sorted(ports), [0, 1, 2], gw.stderr())
        for index in (1, 2):
            with socket.create_connection(("127.0.0.1", ports[index]), timeout=10) as conn:
                conn.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                while conn.recv(4096):
                    pass
        gw.stop()
        listeners = sorted(line["listener"] for line in json_lines(gw.stdout()))
        self.assertEqual(listeners, ["edge-1", "listener 2", "public"])

    def test_text_is_the_default_shape(self):
        up = self.upstream()
        gw = self.start(self.config(up.url), args=["--access-log"])
        self.assertEqual(gw.request("GET", "/api/x?q=a%0D%0Ab", headers={"X-Request-Id": "req-7"}).status, 200)
        gw.stop()
        line = next(l for l in gw.stderr().splitlines() if "mapping of header x-q" in l)
        self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warning .* request_id=req-7$")
        access = gw.stdout().splitlines()[0]
        self.assertRegex(access, r'^\S+Z 127\.0\.0\.1 "GET /api/x" 200 \d+ \d+us req-7 [0-9a-f]{32} '
                                 r'upstream=echo \d+us$')

    def test_config_errors_at_serve_follow_the_format(self):
        r = run_cli(["serve", "--log-format=json", "--no-supervise", "--config", "/nonexistent/wg.json"])
        self.assertEqual(r.returncode, 1, r)
        lines = json_lines(r.stderr)
        self.assertTrue(lines, r)
        self.assertTrue(all(line["level"] == "error" for line in lines), lines)

    def test_an_unknown_format_is_a_usage_error(self):
        r = run_cli(["serve", "--log-format", "xml", "--config", "x.json"])
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("--log-format must be text or json", r.stderr)


if __name__ == "__main__":
    unittest.main()
