"""--access-log: one line per request with method, path (never the query) and status; no token leaks."""

import re
import time
import unittest

from harness import GatewayTestCase, mint_jwt

SECRET = "access-log-secret-value"
ISSUER = "https://issuer.test/"
AUDIENCE = "workgate-e2e"

CONFIG = {
    "authorizer": {"type": "jwt", "secret": SECRET, "algorithm": "HS256", "issuer": ISSUER, "audience": AUDIENCE},
    "paths": [
        {"method": "GET", "path": "/health", "response": {"status": "ok"}},
        {"method": "GET", "path": "/private", "auth": True, "response": {"private": True}},
    ],
}


def log_lines(text):
    return [line for line in text.splitlines() if line.strip()]


class AccessLogTest(GatewayTestCase):
    def test_one_line_per_request_with_method_path_and_status(self):
        gw = self.start(CONFIG, args=["--access-log"])
        self.assertResponse(gw.get("/health"), 200)
        self.assertResponse(gw.request("POST", "/missing"), 404)
        self.assertResponse(gw.get("/private"), 401)
        gw.wait_for_output(lambda t: len(log_lines(t)) >= 3, stream="stdout", timeout=3)
        gw.stop()
        lines = log_lines(gw.stdout())
        self.assertEqual(len(lines), 3, f"expected 3 access log lines:\n{gw.stdout()}")
        # Threads flush their own buffers, so lines of different connections may come in any order.
        for method, path, status in [("GET", "/health", 200), ("POST", "/missing", 404), ("GET", "/private", 401)]:
            with self.subTest(request=f"{method} {path}"):
                pattern = re.compile(rf"\b{method} {re.escape(path)}\b.*\b{status}\b")
                self.assertEqual(len([line for line in lines if pattern.search(line)]), 1, gw.stdout())

    def test_query_string_is_never_logged(self):
        gw = self.start(CONFIG, args=["--access-log"])
        self.assertResponse(gw.get("/health?api_key=query-secret-123&x=1"), 200)
        gw.wait_for_output(lambda t: "/health" in t, stream="stdout", timeout=3)
        gw.stop()
        out = gw.stdout()
        self.assertRegex(out, r"\bGET /health\b.*\b200\b")
        self.assertNotIn("query-secret-123", out + gw.stderr())
        self.assertNotIn("?", out)

    def test_authorization_token_never_appears_in_any_output(self):
        gw = self.start(CONFIG, args=["--access-log", "--log-level", "debug"])
        now = int(time.time())
        good = mint_jwt({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "exp": now + 600}, SECRET)
        bad = mint_jwt({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "exp": now - 600}, SECRET)
        self.assertResponse(gw.request("GET", "/private", headers=[("Authorization", f"Bearer {good}")]), 200)
        self.assertResponse(gw.request("GET", "/private", headers=[("Authorization", f"Bearer {bad}")]), 401)
        self.assertResponse(gw.request("GET", "/private", headers=[("Authorization", "Bearer garbage-token-xyz")]),
                            401)
        gw.wait_for_output(lambda t: len(log_lines(t)) >= 3, stream="stdout", timeout=3)
        gw.stop()
        everything = gw.stdout() + gw.stderr()
        for secret in (good, bad, "garbage-token-xyz", good.split(".")[2], SECRET):
            with self.subTest(secret=secret[:20]):
                self.assertNotIn(secret, everything)
        self.assertEqual(len(log_lines(gw.stdout())), 3, gw.stdout())

    def test_lines_are_flushed_on_shutdown(self):
        gw = self.start(CONFIG, args=["--access-log"])
        self.assertResponse(gw.get("/health"), 200)
        self.assertEqual(gw.stop(), 0)
        self.assertEqual(len(log_lines(gw.stdout())), 1, gw.stdout())

    def test_access_log_can_be_enabled_in_the_config(self):
        cfg = dict(CONFIG, gateway={"access_log": True})
        gw = self.start(cfg)
        self.assertResponse(gw.get("/health"), 200)
        self.assertEqual(gw.stop(), 0)
        self.assertRegex(gw.stdout(), r"\bGET /health\b.*\b200\b")

    def test_no_access_log_by_default(self):
        gw = self.start(CONFIG)
        self.assertResponse(gw.get("/health"), 200)
        time.sleep(0.3)
        gw.stop()
        self.assertEqual(gw.stdout(), "")


if __name__ == "__main__":
    unittest.main()
