"""auth0 authorizer and the Auth0 flows (auth0_callback, auth0_callback_redirect, auth0_userinfo, auth0_refresh)
against a fake Auth0 on loopback HTTPS (a test CA trusted through --ca-file; domain "localhost:PORT")."""

import json
import os
import tempfile
import time
import unittest
import uuid

from auth_fakes import Answer, JwksServer, Pki, SigningKey, refused_port
from harness import GatewayTestCase, run_cli, write_temp

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "auth0-client-secret-7d1c9e"
REDIRECT_URI = "https://app.example.com/auth/callback?from=gw&x=1"
SCOPE = "openid profile email"
ENV = {"AUTH0_CLIENT_SECRET": CLIENT_SECRET}
ORIGIN = "https://app.example.com"

_tmp = None
PKI = None
KEYS = {}


def setUpModule():
    global _tmp, PKI
    _tmp = tempfile.TemporaryDirectory(prefix="wg-auth0-")
    PKI = Pki(_tmp.name)
    KEYS["A"] = SigningKey("RS256", "auth0-key-a", _tmp.name)
    KEYS["B"] = SigningKey("RS256", "auth0-key-b", _tmp.name)


def tearDownModule():
    if _tmp is not None:
        _tmp.cleanup()


def authorizer(domain, **extra):
    a = {"type": "auth0", "domain": domain, "client_id": CLIENT_ID, "client_secret": "$secret.AUTH0_CLIENT_SECRET",
         "redirect_uri": REDIRECT_URI, "scope": SCOPE}
    a.update(extra)
    return a


ROUTES = [
    {"method": "GET", "path": "/auth/callback", "integration": {"type": "auth0_callback"}},
    {"method": "GET", "path": "/auth/login", "integration": {"type": "auth0_callback_redirect"}},
    {"method": "GET", "path": "/auth/profile", "auth": True, "integration": {"type": "auth0_userinfo"}},
    {"method": "GET", "path": "/auth/userinfo", "integration": {"type": "auth0_userinfo"}},
    {"method": "ANY", "path": "/auth/refresh", "integration": {"type": "auth0_refresh"}},
    {"method": "GET", "path": "/private", "auth": True, "response": {"private": True}},
]

CORS = {"allow_origins": [ORIGIN], "allow_methods": ["GET", "POST"], "allow_headers": ["Authorization"],
        "expose_headers": [], "allow_credentials": False, "max_age": 0}


def config(domain, **authorizer_extra):
    return {"cors": CORS, "authorizer": authorizer(domain, **authorizer_extra), "paths": ROUTES}


def err(message, code):
    return {"error": message, "code": code}


class FakeAuth0(JwksServer):
    """Token, userinfo and JWKS endpoints of an Auth0 tenant at https://localhost:PORT/."""

    def __init__(self, *keys):
        super().__init__(list(keys), pki=PKI)

    @property
    def domain(self):
        return f"localhost:{self.port}"

    @property
    def issuer(self):
        return f"https://{self.domain}/"

    def id_token(self, key="A", **overrides):
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "auth0|user-1", "aud": CLIENT_ID, "iat": now, "exp": now + 600,
                  "email": "user@example.com", "nonce": uuid.uuid4().hex}
        claims.update(overrides)
        return KEYS[key].sign(claims)

    def token_posts(self):
        return self.recorded("/oauth/token", "POST")


class Auth0TestCase(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeAuth0(KEYS["A"])
        cls.addClassCleanup(cls.fake.stop)
        cls.start_shared(config(cls.fake.domain, jwks_uri=cls.fake.uri), env=ENV,
                         args=["--ca-file", PKI.ca, "--log-level", "debug", "--access-log"])

    def setUp(self):
        self.fake.clear()

    def get(self, path, headers=None):
        return self.gw.request("GET", path, headers=headers)


class CallbackTest(Auth0TestCase):
    def tokens(self, **extra):
        t = {"access_token": "access-1", "id_token": self.fake.id_token(), "refresh_token": "refresh-1",
             "token_type": "Bearer", "expires_in": 86400, "scope": SCOPE}
        t.update(extra)
        return t

    def test_code_is_exchanged_and_the_tokens_returned(self):
        tokens = self.tokens()
        self.fake.route("POST", "/oauth/token", Answer(200, tokens))
        resp = self.get("/auth/callback?code=abc%20d%26e%2Bf&state=xyz", headers={"Origin": ORIGIN})
        self.assertResponse(resp, 200, json_body=tokens,
                            headers={"Content-Type": "application/json", "Access-Control-Allow-Origin": ORIGIN})
        [post] = self.fake.token_posts()
        self.assertEqual(post.headers["content-type"], "application/x-www-form-urlencoded")
        self.assertEqual(post.headers["host"], self.fake.domain)
        self.assertEqual(post.form(), {"grant_type": "authorization_code", "client_id": CLIENT_ID,
                                       "client_secret": CLIENT_SECRET, "code": "abc d&e+f",
                                       "redirect_uri": REDIRECT_URI})
        self.assertIn(b"code=abc+d%26e%2Bf", post.body)

    def test_missing_code_is_a_400_without_calling_auth0(self):
        for target in ("/auth/callback", "/auth/callback?state=s", "/auth/callback?code="):
            self.assertResponse(self.get(target), 400, json_body=err("Missing authorization code", "missing_code"))
        self.assertEqual(self.fake.token_posts(), [])

    def test_auth0_refusal_keeps_its_status_but_not_its_body(self):
        self.fake.route("POST", "/oauth/token",
                        Answer(403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}))
        resp = self.get("/auth/callback?code=bad")
        self.assertResponse(resp, 403, json_body=err("Auth0 token exchange failed", "AUTH0_UPSTREAM_ERROR"))
        self.fake.route("POST", "/oauth/token", Answer(500, "internal trouble", {"Content-Type": "text/plain"}))
        self.assertResponse(self.get("/auth/callback?code=x"), 500,
                            json_body=err("Auth0 token exchange failed", "AUTH0_UPSTREAM_ERROR"))

    def test_non_json_answer_is_auth0_error(self):
        self.fake.route("POST", "/oauth/token", Answer(200, "<html>oops</html>", {"Content-Type": "text/html"}))
        self.assertResponse(self.get("/auth/callback?code=x"), 500, json_body=err("Internal Server Error", "AUTH0_ERROR"))

    def test_answer_without_id_token_is_auth0_error(self):
        tokens = self.tokens()
        del tokens["id_token"]
        self.fake.route("POST", "/oauth/token", Answer(200, tokens))
        self.assertResponse(self.get("/auth/callback?code=x"), 500, json_body=err("Internal Server Error", "AUTH0_ERROR"))

    def test_id_token_is_verified(self):
        cases = [
            (self.fake.id_token(iss="https://other.example/"),
             err("JWT claim validation failed", "ERR_JWT_CLAIM_VALIDATION_FAILED")),
            (self.fake.id_token(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
             err("Token has expired.", "ERR_JWT_EXPIRED")),
            (self.fake.id_token(key="B"), err("No matching key found in JWKS.", "ERR_JWKS_NO_MATCHING_KEY")),
            (KEYS["B"].sign({"iss": self.fake.issuer, "sub": "x"}, header={"kid": "auth0-key-a"}),
             err("Signature verification failed", "ERR_JWS_SIGNATURE_VERIFICATION_FAILED")),
        ]
        for id_token, body in cases:
            with self.subTest(body=body):
                self.fake.route("POST", "/oauth/token", Answer(200, self.tokens(id_token=id_token)))
                self.assertResponse(self.get("/auth/callback?code=x"), 401, json_body=body)

    def test_dropped_connection_is_a_network_error(self):
        self.fake.route("POST", "/oauth/token", Answer(drop=True))
        self.assertResponse(self.get("/auth/callback?code=x"), 502,
                            json_body=err("Auth0 token exchange request failed", "AUTH0_NETWORK_ERROR"))


class RedirectTest(Auth0TestCase):
    def test_redirect_to_authorize_with_encoded_parameters(self):
        resp = self.get("/auth/login?state=abc%20123%26x%3Dy")
        self.assertResponse(resp, 302, body=b"")
        self.assertEqual(resp.header("Location"),
                         f"https://{self.fake.domain}/authorize?response_type=code&client_id={CLIENT_ID}"
                         "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fcallback%3Ffrom%3Dgw%26x%3D1"
                         "&scope=openid%20profile%20email&state=abc%20123%26x%3Dy")
        self.assertEqual(self.fake.recorded(), [])

    def test_missing_state_is_a_400(self):
        for target in ("/auth/login", "/auth/login?state="):
            resp = self.get(target)
            self.assertResponse(resp, 400, json_body=err("Missing state", "missing_state"))
            self.assertIsNone(resp.header("Location"))


class UserinfoTest(Auth0TestCase):
    PROFILE = {"sub": "auth0|user-1", "email": "user@example.com", "email_verified": True}

    def setUp(self):
        super().setUp()

        def userinfo(record):
            if record.headers.get("authorization") == "Bearer access-1":
                return Answer(200, self.PROFILE)
            return Answer(401, {"error": "invalid_token"})

        self.fake.route("GET", "/userinfo", userinfo)

    def test_access_token_from_x_access_token(self):
        self.assertResponse(self.get("/auth/userinfo", headers={"X-Access-Token": "access-1"}), 200,
                            json_body=self.PROFILE, headers={"Content-Type": "application/json"})
        [call] = self.fake.recorded("/userinfo")
        self.assertEqual(call.headers["authorization"], "Bearer access-1")

    def test_access_token_from_the_bearer_header(self):
        self.assertResponse(self.get("/auth/userinfo", headers={"Authorization": "Bearer access-1"}), 200,
                            json_body=self.PROFILE)

    def test_missing_token(self):
        self.assertResponse(self.get("/auth/userinfo"), 401,
                            json_body=err("Missing bearer token", "missing_access_token"))
        self.assertEqual(self.fake.recorded("/userinfo"), [])

    def test_protected_route_needs_the_id_token_and_takes_the_access_token_apart(self):
        self.assertResponse(self.get("/auth/profile", headers={"X-Access-Token": "access-1"}), 401,
                            json_body=err("No token provided or token format is invalid.", "AUTH_ERROR"))
        headers = {"Authorization": f"Bearer {self.fake.id_token()}", "X-Access-Token": "access-1"}
        self.assertResponse(self.get("/auth/profile", headers=headers), 200, json_body=self.PROFILE)

    def test_auth0_refusal_and_network_error(self):
        self.assertResponse(self.get("/auth/userinfo", headers={"X-Access-Token": "stale"}), 401,
                            json_body=err("Auth0 userinfo failed", "AUTH0_UPSTREAM_ERROR"))
        self.fake.route("GET", "/userinfo", Answer(403, "forbidden", {"Content-Type": "text/plain"}))
        self.assertResponse(self.get("/auth/userinfo", headers={"X-Access-Token": "access-1"}), 403,
                            json_body=err("Auth0 userinfo failed", "AUTH0_UPSTREAM_ERROR"))
        self.fake.route("GET", "/userinfo", Answer(drop=True))
        self.assertResponse(self.get("/auth/userinfo", headers={"X-Access-Token": "access-1"}), 502,
                            json_body=err("Auth0 userinfo request failed", "AUTH0_NETWORK_ERROR"))
        self.fake.route("GET", "/userinfo", Answer(200, "not json", {"Content-Type": "text/plain"}))
        self.assertResponse(self.get("/auth/userinfo", headers={"X-Access-Token": "access-1"}), 500,
                            json_body=err("Internal Server Error", "AUTH0_ERROR"))


class RefreshTest(Auth0TestCase):
    NEW_TOKENS = {"access_token": "access-2", "id_token": "new.id.token", "token_type": "Bearer", "expires_in": 86400}

    def expired(self):
        now = int(time.time())
        return self.fake.id_token(iat=now - 7200, exp=now - 3600)

    def test_missing_refresh_token(self):
        self.assertResponse(self.get("/auth/refresh", headers={"Authorization": f"Bearer {self.expired()}"}), 400,
                            json_body=err("Missing refresh token", "missing_refresh_token"))
        resp = self.gw.request("POST", "/auth/refresh", headers={"Authorization": f"Bearer {self.expired()}"},
                               body="{not json")
        self.assertResponse(resp, 400, json_body=err("Missing refresh token", "missing_refresh_token"))

    def test_missing_or_invalid_id_token(self):
        self.assertResponse(self.get("/auth/refresh", headers={"X-Refresh-Token": "refresh-1"}), 401,
                            json_body=err("No token provided or token format is invalid.", "AUTH_ERROR"))
        forged = KEYS["B"].sign({"iss": self.fake.issuer, "exp": int(time.time()) - 3600},
                                header={"kid": "auth0-key-a"})
        self.assertResponse(self.get("/auth/refresh", headers={"X-Refresh-Token": "refresh-1",
                                                               "Authorization": f"Bearer {forged}"}), 401,
                            json_body=err("Signature verification failed", "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"))
        self.assertEqual(self.fake.token_posts(), [])

    def test_still_valid_id_token_is_not_refreshed(self):
        resp = self.get("/auth/refresh", headers={"X-Refresh-Token": "refresh-1",
                                                  "Authorization": f"Bearer {self.fake.id_token()}"})
        self.assertResponse(resp, 200, json_body={"message": "Token is still valid", "code": "token_still_valid"})
        self.assertEqual(self.fake.token_posts(), [])

    def test_expired_id_token_is_refreshed(self):
        self.fake.route("POST", "/oauth/token", Answer(200, self.NEW_TOKENS))
        resp = self.get("/auth/refresh", headers={"X-Refresh-Token": "refresh-1",
                                                  "Authorization": f"Bearer {self.expired()}"})
        self.assertResponse(resp, 200, json_body=self.NEW_TOKENS)
        [post] = self.fake.token_posts()
        self.assertEqual(post.form(), {"grant_type": "refresh_token", "client_id": CLIENT_ID,
                                       "client_secret": CLIENT_SECRET, "refresh_token": "refresh-1"})

    def test_refresh_token_from_a_post_body(self):
        self.fake.route("POST", "/oauth/token", Answer(200, self.NEW_TOKENS))
        resp = self.gw.request("POST", "/auth/refresh", headers={"Authorization": f"Bearer {self.expired()}",
                                                                 "Content-Type": "application/json"},
                               body=json.dumps({"refresh_token": "refresh-from-body"}))
        self.assertResponse(resp, 200, json_body=self.NEW_TOKENS)
        self.assertEqual(self.fake.token_posts()[0].form()["refresh_token"], "refresh-from-body")

    def test_refresh_failures(self):
        headers = {"X-Refresh-Token": "refresh-1", "Authorization": f"Bearer {self.expired()}"}
        self.fake.route("POST", "/oauth/token", Answer(401, {"error": "invalid_grant"}))
        self.assertResponse(self.get("/auth/refresh", headers=headers), 401,
                            json_body=err("Auth0 refresh token failed", "AUTH0_UPSTREAM_ERROR"))
        self.fake.route("POST", "/oauth/token", Answer(drop=True))
        self.assertResponse(self.get("/auth/refresh", headers=headers), 502,
                            json_body=err("Auth0 refresh token request failed", "AUTH0_NETWORK_ERROR"))
        self.fake.route("POST", "/oauth/token", Answer(200, "x", {"Content-Type": "text/plain"}))
        self.assertResponse(self.get("/auth/refresh", headers=headers), 500,
                            json_body=err("Internal Server Error", "AUTH0_ERROR"))


class SecretsTest(Auth0TestCase):
    def test_client_secret_never_in_output_or_bodies(self):
        bodies = []
        self.fake.route("POST", "/oauth/token", Answer(400, {"error": "invalid_client",
                                                             "error_description": CLIENT_SECRET}))
        bodies.append(self.get("/auth/callback?code=c").body)
        self.fake.route("POST", "/oauth/token", Answer(drop=True))
        bodies.append(self.get("/auth/callback?code=c").body)
        now = int(time.time())
        bodies.append(self.get("/auth/refresh", headers={
            "X-Refresh-Token": "r", "Authorization": f"Bearer {self.fake.id_token(iat=now - 7200, exp=now - 3600)}"}).body)
        bodies.append(self.get("/auth/login?state=s").body)
        self.assertTrue(self.fake.token_posts())
        for body in bodies:
            self.assertNotIn(CLIENT_SECRET.encode(), body)
        output = self.gw.wait_for_output(lambda t: "auth0" in t, timeout=2)
        self.assertIn("Auth0 answered HTTP 400", output)
        self.assertNotIn(CLIENT_SECRET, output + self.gw.stdout())
        self.assertNotIn("code=c", output + self.gw.stdout())


class ProviderUnreachableTest(GatewayTestCase):
    """Inline JWKS, so the gateway starts without the provider."""

    def jwks(self):
        return json.dumps({"keys": [KEYS["A"].jwk]})

    def test_unreachable_auth0(self):
        self.start(config(f"localhost:{refused_port()}", jwks=self.jwks()), env=ENV)
        self.assertResponse(self.gw.get("/auth/callback?code=c"), 502,
                            json_body=err("Auth0 token exchange request failed", "AUTH0_NETWORK_ERROR"))
        self.assertResponse(self.gw.get("/auth/userinfo", headers={"X-Access-Token": "a"}), 502,
                            json_body=err("Auth0 userinfo request failed", "AUTH0_NETWORK_ERROR"))

    def test_untrusted_certificate_is_a_network_error(self):
        fake = FakeAuth0(KEYS["A"])
        self.addCleanup(fake.stop)
        self.start(config(fake.domain, jwks=self.jwks()), env=ENV)  # no --ca-file
        self.assertResponse(self.gw.get("/auth/callback?code=c"), 502,
                            json_body=err("Auth0 token exchange request failed", "AUTH0_NETWORK_ERROR"))
        self.assertEqual(fake.token_posts(), [])


class PostProcessTest(GatewayTestCase):
    """auth0_callback's integration post_process sees the id_token's claims (through the workers module)."""

    def test_post_process_sees_the_id_token_claims(self):
        build = os.path.dirname(os.path.abspath(os.environ.get("WORKGATE_BIN") or "build/workgate"))
        module = os.path.join(build, "workers", "test", "libworkgate-test-worker.so")
        if not os.path.exists(module):
            self.skipTest(f"test worker not built: {module}")
        fake = FakeAuth0(KEYS["A"])
        self.addCleanup(fake.stop)
        cfg = config(fake.domain, jwks_uri=fake.uri)
        cfg["workers"] = [{"binding": "TEST", "module": module}]
        cfg["serviceBindings"] = [{"alias": "test", "binding": "TEST"}]
        cfg["paths"] = [{"method": "GET", "path": "/auth/callback",
                         "integration": {"type": "auth0_callback",
                                         "post_process": {"type": "service_binding", "binding": "test",
                                                          "function": "decorate"}}},
                        {"method": "GET", "path": "/describe",
                         "integration": {"type": "auth0_callback",
                                         "post_process": {"type": "service_binding", "binding": "test",
                                                          "function": "describe"}}}]
        self.start(cfg, env=ENV, args=["--ca-file", PKI.ca])
        tokens = {"access_token": "a", "id_token": fake.id_token(sub="auth0|post-process")}
        fake.route("POST", "/oauth/token", Answer(200, tokens))
        resp = self.gw.get("/auth/callback?code=c")
        self.assertResponse(resp, 299, headers={"x-status-seen": "200"})
        resp = self.gw.get("/describe?code=c")
        self.assertEqual(resp.status, 200, resp)
        described = resp.json()
        self.assertEqual(described["sub"], "auth0|post-process")
        self.assertEqual(described["claims"]["iss"], fake.issuer)


class ConfigTest(unittest.TestCase):
    def validate(self, cfg, env=None):
        path = write_temp(json.dumps(cfg))
        self.addCleanup(os.unlink, path)
        return run_cli(["validate", path], env={**ENV, **(env or {})})

    def test_domain_must_be_a_host(self):
        result = self.validate(config("https://tenant.auth0.com", jwks='{"keys":[]}'))
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("/authorizer/domain: must be a host name", result.stderr)

    def test_example_config_validates(self):
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "auth0.json")
        result = run_cli(["validate", example], env={**ENV, "AUTH0_DOMAIN": "tenant.example.com",
                                                     "AUTH0_CLIENT_ID": "client",
                                                     "AUTH0_JWKS_URI": "https://tenant.example.com/.well-known/jwks.json"})
        self.assertEqual(result.returncode, 0, result)


if __name__ == "__main__":
    unittest.main()
