"""auth0 authorizer: verdicts tied to the key set they were reached with, and weak or degenerate keys refused
when a key set is loaded (inline `jwks` and remote `jwks_uri`).

- A token accepted and remembered by the per-thread token cache is refused right after the refresh that
  removes its key from the remote JWKS (not up to 5 minutes later).
- Refused, each logged with its index, kid and reason: Ed25519 keys that are points of small order (the
  identity point lets anyone forge tokens: R = identity, S = 0), RSA keys below 2048 bits, EC points off the
  curve, JWKs holding private key members. A set left without a usable key is a startup warning (inline) or
  a failed fetch (remote: the last good set is kept).
"""

import json
import os
import tempfile
import time
import unittest
import uuid

from auth_fakes import JwksServer, Pki, SigningKey, forged_identity_token, identity_ed25519_jwk, off_curve_ec_jwk
from harness import GatewayTestCase, free_port, run_cli, write_temp

DOMAIN = "tenant.example.test"
ISSUER = f"https://{DOMAIN}/"
SECRET_ENV = {"AUTH0_CLIENT_SECRET": "key-checks-client-secret-7d2a"}
ALGORITHMS = ["RS256", "ES256", "EdDSA"]

_tmp = None
PKI = None
KEYS = {}


def setUpModule():
    global _tmp, PKI
    _tmp = tempfile.TemporaryDirectory(prefix="wg-auth-keys-")
    PKI = Pki(_tmp.name)
    KEYS["A"] = SigningKey("RS256", "key-a", _tmp.name)
    KEYS["B"] = SigningKey("RS256", "key-b", _tmp.name)
    KEYS["EC"] = SigningKey("ES256", "key-ec", _tmp.name)
    KEYS["RSA1024"] = SigningKey("RS256", "weak-rsa", _tmp.name, bits=1024)


def tearDownModule():
    if _tmp is not None:
        _tmp.cleanup()


def authorizer(**source):
    return {"type": "auth0", "domain": DOMAIN, "client_id": "client-1",
            "client_secret": "$secret.AUTH0_CLIENT_SECRET", "redirect_uri": "https://app.example.test/cb",
            "scope": "openid profile", "algorithms": ALGORITHMS, **source}


def config(**source):
    return {"authorizer": authorizer(**source),
            "paths": [{"method": "GET", "path": "/private", "auth": True, "response": {"private": True}}]}


def claims(**overrides):
    now = int(time.time())
    c = {"iss": ISSUER, "sub": "auth0|user-1", "aud": "client-1", "iat": now, "exp": now + 600,
         "jti": uuid.uuid4().hex}
    c.update(overrides)
    return c


def token(key_name):
    return KEYS[key_name].sign(claims())


def forged():
    return forged_identity_token(claims(sub="auth0|admin"), "weak-ed")


def document(*keys):
    return {"keys": [k.jwk if isinstance(k, SigningKey) else k for k in keys]}


NO_MATCHING_KEY = {"error": "No matching key found in JWKS.", "code": "ERR_JWKS_NO_MATCHING_KEY"}
SMALL_ORDER = 'key skipped: keys[{}] (kid "weak-ed"): Ed25519 public key is a point of small order'


class KeyChecksTestCase(GatewayTestCase):
    def jwks_server(self, *keys, cache_control="public, max-age=600"):
        server = JwksServer([], pki=PKI, cache_control=cache_control)
        server.document = document(*keys)
        self.addCleanup(server.stop)
        return server

    def serve_remote(self, server, env=None, threads=2, args=()):
        return self.start(config(jwks_uri=server.uri), env={**SECRET_ENV, **(env or {})}, threads=threads,
                          args=["--ca-file", PKI.ca, *args])

    def serve_inline(self, *keys):
        return self.start(config(jwks=json.dumps(document(*keys))), env=SECRET_ENV)

    def call(self, tok):
        return self.gw.request("GET", "/private", headers={"Authorization": f"Bearer {tok}"})

    def assertAccepted(self, tok):
        self.assertResponse(self.call(tok), 200, json_body={"private": True})

    def assertNoMatchingKey(self, tok):
        self.assertResponse(self.call(tok), 401, json_body=NO_MATCHING_KEY)

    def wait_for_log(self, text, timeout=5.0):
        # wait_for_output returns the text seen last, found or not.
        self.assertIn(text, self.gw.wait_for_output(lambda t: text in t, timeout=timeout))


class CachedVerdictTest(KeyChecksTestCase):
    def test_a_cached_token_is_refused_right_after_the_refresh_that_removes_its_key(self):
        server = self.jwks_server(KEYS["A"], cache_control="max-age=1")
        # One event-loop thread: every request meets the same token cache.
        self.serve_remote(server, threads=1, env={"WORKGATE_JWKS_MIN_CACHE_SECONDS": "1",
                                                  "WORKGATE_JWKS_REFETCH_INTERVAL_SECONDS": "600"})
        tok = token("A")
        for _ in range(3):
            self.assertAccepted(tok)  # verified once, then served from the cache
        before = server.fetches()
        server.set_keys(KEYS["B"])  # key A rotated out
        self.assertTrue(server.wait_for(lambda: server.fetches() >= before + 1, timeout=5))
        time.sleep(0.3)
        self.assertNoMatchingKey(tok)
        self.assertAccepted(token("B"))


class WeakKeyRemoteTest(KeyChecksTestCase):
    def test_forged_token_for_an_identity_point_key_is_refused(self):
        server = self.jwks_server(KEYS["A"], identity_ed25519_jwk("weak-ed"))
        self.serve_remote(server)
        self.assertNoMatchingKey(forged())
        self.assertAccepted(token("A"))
        self.wait_for_log(SMALL_ORDER.format(1))
        self.assertIn("loaded 1 key(s)", self.gw.stderr())

    def test_keys_refused_in_a_refreshed_document_are_warned_about_at_the_default_log_level(self):
        server = self.jwks_server(KEYS["A"], cache_control="max-age=1")
        self.serve_remote(server, env={"WORKGATE_JWKS_MIN_CACHE_SECONDS": "1"})  # log level info
        server.set_keys(KEYS["A"], KEYS["RSA1024"], off_curve_ec_jwk(KEYS["EC"], "bad-ec"))
        self.wait_for_log('key skipped: keys[1] (kid "weak-rsa"): RSA modulus is shorter than 2048 bits')
        self.wait_for_log('key skipped: keys[2] (kid "bad-ec"): EC public key is not a point on the curve')
        self.assertNoMatchingKey(token("RSA1024"))
        self.assertAccepted(token("A"))
        # Once per document: the next refreshes of the same document do not repeat the warning.
        before = server.fetches()
        self.assertTrue(server.wait_for(lambda: server.fetches() >= before + 2, timeout=6))
        self.assertEqual(self.gw.stderr().count('(kid "weak-rsa")'), 1, self.gw.stderr())

    def test_a_jwk_with_private_key_members_is_refused(self):
        leaked = dict(KEYS["B"].jwk, d="cHJpdmF0ZS1leHBvbmVudC1wbGFjZWhvbGRlcg")
        server = self.jwks_server(KEYS["A"], leaked)
        self.serve_remote(server)
        self.assertNoMatchingKey(token("B"))
        self.assertAccepted(token("A"))
        self.wait_for_log('key skipped: keys[1] (kid "key-b"): the JWK holds private key members')
        self.assertNotIn("cHJpdmF0ZS1leHBvbmVudC1wbGFjZWhvbGRlcg", self.gw.stderr())

    def test_a_set_of_only_weak_keys_refuses_to_start(self):
        server = self.jwks_server(identity_ed25519_jwk("weak-ed"), KEYS["RSA1024"])
        path = write_temp(json.dumps(config(jwks_uri=server.uri)))
        self.addCleanup(os.unlink, path)
        result = run_cli(["serve", "--config", path, "--listen", f"127.0.0.1:{free_port()}", "--ca-file", PKI.ca],
                         env=SECRET_ENV, timeout=30)
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("/authorizer/jwks_uri: fetching", result.stderr)
        self.assertIn("the JWK set has no usable key (2 refused)", result.stderr)
        self.assertIn(SMALL_ORDER.format(0), result.stderr)

    def test_a_refresh_to_only_weak_keys_is_a_failed_fetch_and_keeps_the_last_good_set(self):
        server = self.jwks_server(KEYS["A"], cache_control="max-age=1")
        self.serve_remote(server, env={"WORKGATE_JWKS_MIN_CACHE_SECONDS": "1"})
        server.set_keys(identity_ed25519_jwk("weak-ed"), KEYS["RSA1024"])
        self.wait_for_log("refresh failed (the JWK set has no usable key (2 refused)); keeping the current keys")
        self.assertIn(SMALL_ORDER.format(0), self.gw.stderr())
        self.assertNoMatchingKey(forged())
        self.assertAccepted(token("A"))


class WeakKeyInlineTest(KeyChecksTestCase):
    def test_inline_weak_keys_are_startup_warnings_and_refused(self):
        gw = self.serve_inline(KEYS["RSA1024"], KEYS["A"], identity_ed25519_jwk("weak-ed"),
                               off_curve_ec_jwk(KEYS["EC"], "bad-ec"))
        stderr = gw.stderr()
        self.assertIn('warning: /authorizer/jwks: key skipped: keys[0] (kid "weak-rsa"): RSA modulus is shorter '
                      'than 2048 bits', stderr)
        self.assertIn("warning: /authorizer/jwks: " + SMALL_ORDER.format(2), stderr)
        self.assertIn('warning: /authorizer/jwks: key skipped: keys[3] (kid "bad-ec"): EC public key is not a '
                      'point on the curve', stderr)
        self.assertNotIn("no usable key", stderr)
        self.assertNoMatchingKey(forged())
        self.assertNoMatchingKey(token("RSA1024"))
        self.assertAccepted(token("A"))

    def test_an_inline_set_of_only_weak_keys_is_a_startup_warning(self):
        gw = self.serve_inline(identity_ed25519_jwk("weak-ed"), KEYS["RSA1024"])
        self.assertIn("warning: /authorizer/jwks: the JWK set has no usable key: every token will be refused",
                      gw.stderr())
        self.assertNoMatchingKey(forged())

    def test_keys_a_token_cannot_tell_apart_are_a_warning(self):
        twin = dict(KEYS["B"].jwk, kid="key-a")
        gw = self.serve_inline(KEYS["A"], twin)
        self.assertIn('warning: /authorizer/jwks: 2 keys share the kid "key-a" and fit the same algorithms',
                      gw.stderr())
        self.assertResponse(self.call(token("A")), 401, json_body={
            "error": "Multiple matching keys found in JWKS.", "code": "ERR_JWKS_MULTIPLE_MATCHING_KEYS"})

    def test_validate_reports_the_same_warnings(self):
        path = write_temp(json.dumps(config(jwks=json.dumps(document(identity_ed25519_jwk("weak-ed"))))))
        self.addCleanup(os.unlink, path)
        result = run_cli(["validate", path], env=SECRET_ENV)
        self.assertEqual(result.returncode, 0, result)
        self.assertIn("warning: /authorizer/jwks: " + SMALL_ORDER.format(0), result.stderr)
        self.assertIn("the JWK set has no usable key", result.stderr)


class HmacSecretTest(unittest.TestCase):
    def validate(self, secret, algorithm="HS256"):
        cfg = {"authorizer": {"type": "jwt", "secret": secret, "algorithm": algorithm, "audience": "a",
                              "issuer": "i"},
               "paths": [{"method": "GET", "path": "/private", "auth": True, "response": {}}]}
        path = write_temp(json.dumps(cfg))
        self.addCleanup(os.unlink, path)
        result = run_cli(["validate", path])
        self.assertEqual(result.returncode, 0, result)
        return result

    def test_a_secret_shorter_than_the_hash_is_a_warning(self):
        result = self.validate("short-secret")
        self.assertIn("warning: /authorizer/secret: is shorter than 32 bytes", result.stderr)
        self.assertNotIn("short-secret", result.output)
        result = self.validate("x" * 40, algorithm="HS512")
        self.assertIn("warning: /authorizer/secret: is shorter than 64 bytes", result.stderr)
        self.assertNotIn("warning", self.validate("s" * 32).stderr)


if __name__ == "__main__":
    unittest.main()
