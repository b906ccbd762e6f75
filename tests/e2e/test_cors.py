"""CORS preflight and response headers, and the X-Powered-By identity header."""

import unittest

from harness import GatewayTestCase, mint_jwt

SECRET = "cors-test-secret"

AUTHORIZER = {"type": "jwt", "secret": SECRET, "algorithm": "HS256", "issuer": "https://issuer.test",
              "audience": "workgate-e2e"}

PATHS = [
    {"method": "GET", "path": "/public", "response": {"public": True}},
    {"method": "GET", "path": "/private", "auth": True, "response": {"private": True}},
    {"method": "OPTIONS", "path": "/explicit-options", "response": {"explicit": True}},
]

CORS = {
    "allow_origins": ["https://app.example.com", "https://*.example.com"],
    "allow_methods": ["GET", "POST", "OPTIONS"],
    "allow_headers": ["Content-Type", "Authorization"],
    "expose_headers": ["X-Request-Id"],
    "allow_credentials": True,
    "max_age": 600,
}

EXPECTED_PREFLIGHT = {
    "Access-Control-Allow-Origin": "https://app.example.com",
    "Access-Control-Allow-Methods": "GET,POST,OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type,Authorization",
    "Access-Control-Expose-Headers": "X-Request-Id",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Max-Age": "600",
}


def cors_config(**overrides):
    cors = dict(CORS)
    cors.update(overrides)
    return {"cors": cors, "authorizer": AUTHORIZER, "paths": PATHS}


class CorsTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_shared(cors_config())

    def origin_get(self, path, origin, headers=None):
        return self.gw.request("GET", path, headers=[("Origin", origin), *(headers or [])])

    def test_preflight_is_204_with_every_cors_header(self):
        resp = self.gw.request("OPTIONS", "/public", headers=[
            ("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type")])
        self.assertResponse(resp, 204, body=b"", headers=EXPECTED_PREFLIGHT)

    def test_preflight_is_answered_before_auth(self):
        resp = self.gw.request("OPTIONS", "/private", headers=[
            ("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET")])
        self.assertResponse(resp, 204, body=b"", headers=EXPECTED_PREFLIGHT)

    def test_explicit_options_route_is_served_instead_of_preflight(self):
        resp = self.gw.request("OPTIONS", "/explicit-options", headers=[("Origin", "https://app.example.com")])
        self.assertResponse(resp, 200, json_body={"explicit": True},
                            headers={"Access-Control-Allow-Origin": "https://app.example.com"})

    def test_allowed_origin_is_echoed_on_normal_responses(self):
        resp = self.origin_get("/public", "https://app.example.com")
        self.assertResponse(resp, 200, json_body={"public": True},
                            headers={"Access-Control-Allow-Origin": "https://app.example.com"})

    def test_disallowed_origin_gets_no_allow_origin_header(self):
        resp = self.origin_get("/public", "https://evil.net")
        self.assertResponse(resp, 200, json_body={"public": True}, headers={"Access-Control-Allow-Origin": None})

    def test_request_without_origin_gets_no_allow_origin_header(self):
        resp = self.gw.get("/public")
        self.assertResponse(resp, 200, headers={"Access-Control-Allow-Origin": None})

    def test_wildcard_subdomain_matches_nested_subdomain(self):
        resp = self.origin_get("/public", "https://a.b.example.com")
        self.assertResponse(resp, 200, headers={"Access-Control-Allow-Origin": "https://a.b.example.com"})

    def test_wildcard_subdomain_does_not_match_lookalike_origins(self):
        for origin in ("https://example.com", "https://attacker.net/.example.com", "https://x.example.com.evil.net",
                       "https://x.example.com/path", "http://x.example.com", "https://.example.com"):
            with self.subTest(origin=origin):
                resp = self.origin_get("/public", origin)
                self.assertResponse(resp, 200, headers={"Access-Control-Allow-Origin": None})

    def test_preflight_from_disallowed_origin_has_no_allow_origin(self):
        resp = self.gw.request("OPTIONS", "/public", headers=[
            ("Origin", "https://x.example.com.evil.net"), ("Access-Control-Request-Method", "GET")])
        self.assertResponse(resp, 204, headers={"Access-Control-Allow-Origin": None})

    def test_cors_headers_on_404(self):
        resp = self.origin_get("/nope", "https://app.example.com")
        self.assertResponse(resp, 404, json_body={"message": "No match found."},
                            headers={"Access-Control-Allow-Origin": "https://app.example.com",
                                     "Access-Control-Allow-Credentials": "true"})

    def test_cors_headers_on_401(self):
        resp = self.origin_get("/private", "https://app.example.com")
        self.assertResponse(resp, 401, headers={"Access-Control-Allow-Origin": "https://app.example.com",
                                                "Access-Control-Allow-Credentials": "true"})

    def test_cors_headers_on_authorized_response(self):
        token = mint_jwt({"iss": "https://issuer.test", "aud": "workgate-e2e", "sub": "u"}, SECRET)
        resp = self.origin_get("/private", "https://app.example.com", [("Authorization", f"Bearer {token}")])
        self.assertResponse(resp, 200, json_body={"private": True},
                            headers={"Access-Control-Allow-Origin": "https://app.example.com"})


class CorsAnyOriginTest(GatewayTestCase):
    def test_star_with_credentials_echoes_the_origin(self):
        gw = self.start(cors_config(allow_origins=["*"], allow_credentials=True))
        resp = gw.request("GET", "/public", headers=[("Origin", "https://anything.test")])
        self.assertResponse(resp, 200, headers={"Access-Control-Allow-Origin": "https://anything.test",
                                                "Access-Control-Allow-Credentials": "true"})

    def test_star_without_credentials_gives_star(self):
        gw = self.start(cors_config(allow_origins=["*"], allow_credentials=False))
        resp = gw.request("GET", "/public", headers=[("Origin", "https://anything.test")])
        self.assertResponse(resp, 200, headers={"Access-Control-Allow-Origin": "*",
                                                "Access-Control-Allow-Credentials": "false"})


class NoCorsTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_shared({"authorizer": AUTHORIZER, "paths": PATHS})

    def assertNoCorsHeaders(self, resp):
        names = [n for n in resp.header_names() if n.lower().startswith("access-control-")]
        self.assertEqual(names, [], f"unexpected CORS headers: {resp!r}")

    def test_no_cors_config_means_no_cors_headers(self):
        resp = self.gw.request("GET", "/public", headers=[("Origin", "https://app.example.com")])
        self.assertResponse(resp, 200, json_body={"public": True})
        self.assertNoCorsHeaders(resp)

    def test_no_cors_config_routes_options_normally(self):
        resp = self.gw.request("OPTIONS", "/public", headers=[
            ("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET")])
        self.assertResponse(resp, 404, json_body={"message": "No match found."})
        self.assertNoCorsHeaders(resp)

    def test_no_cors_config_still_serves_explicit_options_route(self):
        resp = self.gw.request("OPTIONS", "/explicit-options")
        self.assertResponse(resp, 200, json_body={"explicit": True})


class IdentityHeaderTest(GatewayTestCase):
    def test_identity_header_on_success_and_errors(self):
        gw = self.start({"authorizer": AUTHORIZER, "paths": PATHS})
        for method, path, status in (("GET", "/public", 200), ("GET", "/nope", 404), ("GET", "/private", 401)):
            with self.subTest(path=path):
                resp = gw.request(method, path)
                self.assertResponse(resp, status, headers={"X-Powered-By": "workgate"})
        with gw.connect() as conn:
            conn.send(b"GET /public HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n")
            resp = conn.read_response()
        self.assertResponse(resp, 400, headers={"X-Powered-By": "workgate"})

    def test_identity_header_can_be_disabled(self):
        gw = self.start({"gateway": {"identity_header": False}, "authorizer": AUTHORIZER, "paths": PATHS})
        for path, status in (("/public", 200), ("/nope", 404), ("/private", 401)):
            with self.subTest(path=path):
                resp = gw.get(path)
                self.assertResponse(resp, status, headers={"X-Powered-By": None})
        with gw.connect() as conn:
            conn.send(b"GET /public HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n")
            resp = conn.read_response()
        self.assertResponse(resp, 400, headers={"X-Powered-By": None})


if __name__ == "__main__":
    unittest.main()
