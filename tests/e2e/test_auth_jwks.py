"""auth0 authorizer with a remote JWKS (`jwks_uri`): fetched before the gateway serves, cached per
Cache-Control, refreshed in the background, refetched (rate-limited) for an unknown kid, and kept when the
JWKS server fails. Tokens are RS256 / ES256 / EdDSA minted with the openssl CLI; nothing leaves loopback."""

import concurrent.futures
import json
import os
import signal
import tempfile
import time
import unittest
import uuid

from auth_fakes import JwksServer, Pki, SigningKey, refused_port
from harness import GatewayTestCase, free_port, run_cli, write_temp

DOMAIN = "tenant.example.test"
ISSUER = f"https://{DOMAIN}/"
SECRET_ENV = {"AUTH0_CLIENT_SECRET": "jwks-test-client-secret-4f1e"}

_tmp = None
PKI = None
KEYS = {}


def setUpModule():
    global _tmp, PKI
    _tmp = tempfile.TemporaryDirectory(prefix="wg-auth-jwks-")
    PKI = Pki(_tmp.name)
    KEYS["A"] = SigningKey("RS256", "key-a", _tmp.name)
    KEYS["B"] = SigningKey("RS256", "key-b", _tmp.name)
    KEYS["C"] = SigningKey("RS256", "key-c", _tmp.name)
    KEYS["EC"] = SigningKey("ES256", "key-ec", _tmp.name)
    KEYS["ED"] = SigningKey("EdDSA", "key-ed", _tmp.name)


def tearDownModule():
    if _tmp is not None:
        _tmp.cleanup()


def config(jwks_uri, algorithms=None):
    authorizer = {"type": "auth0", "domain": DOMAIN, "client_id": "client-1",
                  "client_secret": "$secret.AUTH0_CLIENT_SECRET", "redirect_uri": "https://app.example.test/cb",
                  "scope": "openid profile", "jwks_uri": jwks_uri}
    if algorithms:
        authorizer["algorithms"] = algorithms
    return {"authorizer": authorizer,
            "paths": [{"method": "GET", "path": "/private", "auth": True, "response": {"private": True}}]}


def claims(**overrides):
    now = int(time.time())
    c = {"iss": ISSUER, "sub": "auth0|user-1", "aud": "client-1", "iat": now, "exp": now + 600,
         "jti": uuid.uuid4().hex}  # a fresh jti: every token is new to the gateway's token cache
    c.update(overrides)
    return c


def token(key_name, **overrides):
    return KEYS[key_name].sign(claims(**overrides))


NO_MATCHING_KEY = {"error": "No matching key found in JWKS.", "code": "ERR_JWKS_NO_MATCHING_KEY"}


class JwksTestCase(GatewayTestCase):
    def jwks(self, *key_names, tls=True, cache_control="public, max-age=600"):
        server = JwksServer([KEYS[k] for k in key_names], pki=PKI if tls else None, cache_control=cache_control)
        self.addCleanup(server.stop)
        return server

    def serve(self, server, env=None, algorithms=None):
        return self.start(config(server.uri, algorithms), env={**SECRET_ENV, **(env or {})},
                          args=["--ca-file", PKI.ca, "--log-level", "debug"])

    def call(self, tok, gw=None):
        gw = gw or self.gw
        return gw.request("GET", "/private", headers={"Authorization": f"Bearer {tok}"})

    def assertAccepted(self, tok, gw=None):
        self.assertResponse(self.call(tok, gw), 200, json_body={"private": True}, gw=gw)

    def assertNoMatchingKey(self, tok, gw=None):
        self.assertResponse(self.call(tok, gw), 401, json_body=NO_MATCHING_KEY, gw=gw)

    def wait_accepted(self, key_name, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            resp = self.call(token(key_name))
            if resp.status == 200 or time.monotonic() > deadline:
                return resp
            time.sleep(0.2)


class StartupTest(JwksTestCase):
    def fail_to_serve(self, jwks_uri, args=(), timeout=30):
        path = write_temp(json.dumps(config(jwks_uri)))
        self.addCleanup(os.unlink, path)
        started = time.monotonic()
        result = run_cli(["serve", "--config", path, "--listen", f"127.0.0.1:{free_port()}", *args], env=SECRET_ENV,
                         timeout=timeout)
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("/authorizer/jwks_uri", result.stderr, result)
        return result, time.monotonic() - started

    def test_unreachable_jwks_refuses_to_start(self):
        result, _ = self.fail_to_serve(f"http://127.0.0.1:{refused_port()}/.well-known/jwks.json")
        self.assertIn("unreachable", result.stderr)

    def test_jwks_error_status_refuses_to_start(self):
        server = self.jwks("A", tls=False)
        server.set_mode("error")
        result, _ = self.fail_to_serve(server.uri)
        self.assertIn("HTTP status 503", result.stderr)

    def test_document_that_is_not_a_jwks_refuses_to_start(self):
        server = self.jwks("A", tls=False)
        server.set_mode("garbage")
        result, _ = self.fail_to_serve(server.uri)
        self.assertIn("not a JWK set", result.stderr)

    def test_untrusted_certificate_refuses_to_start(self):
        server = self.jwks("A", tls=True)
        self.fail_to_serve(server.uri)  # no --ca-file: the test CA is not trusted
        self.assertEqual(server.fetches(), 0)

    def test_slow_jwks_times_out_and_refuses_to_start(self):
        server = self.jwks("A", tls=False)
        server.set_mode("ok", delay=12)
        result, elapsed = self.fail_to_serve(server.uri)
        self.assertIn("timed out", result.stderr)
        self.assertLess(elapsed, 11)

    def test_validate_does_not_fetch(self):
        path = write_temp(json.dumps(config(f"http://127.0.0.1:{refused_port()}/jwks.json")))
        self.addCleanup(os.unlink, path)
        result = run_cli(["validate", path], env=SECRET_ENV)
        self.assertEqual(result.returncode, 0, result)

    def test_keys_are_fetched_before_the_gateway_accepts_connections(self):
        server = self.jwks("A")
        server.set_mode("ok", delay=1.0)
        gw = self.serve(server)
        self.assertEqual(server.fetches(), 1)
        self.assertAccepted(token("A"), gw)
        self.assertIn("loaded 1 key(s)", gw.stderr())


class VerificationTest(JwksTestCase):
    def test_rs256_es256_and_eddsa_tokens_from_the_remote_set(self):
        server = self.jwks("A", "EC", "ED")
        self.serve(server, algorithms=["RS256", "ES256", "EdDSA"])
        for name in ("A", "EC", "ED"):
            self.assertAccepted(token(name))
        self.assertEqual(server.fetches(), 1)

    def test_algorithm_outside_the_allow_list_is_refused(self):
        server = self.jwks("A", "EC")
        self.serve(server)  # default algorithms: RS256 only
        self.assertResponse(self.call(token("EC")), 401,
                            json_body={"error": "Algorithm not allowed", "code": "ERR_JOSE_ALG_NOT_ALLOWED"})

    def test_wrong_issuer_and_expired_tokens(self):
        server = self.jwks("A")
        self.serve(server)
        self.assertResponse(self.call(token("A", iss="https://evil.example/")), 401,
                            json_body={"error": "JWT claim validation failed", "code": "ERR_JWT_CLAIM_VALIDATION_FAILED"})
        now = int(time.time())
        self.assertResponse(self.call(token("A", iat=now - 7200, exp=now - 3600)), 401,
                            json_body={"error": "Token has expired.", "code": "ERR_JWT_EXPIRED"})

    def test_the_set_is_cached_across_requests(self):
        server = self.jwks("A")
        self.serve(server)
        for _ in range(5):
            self.assertAccepted(token("A"))
        self.assertEqual(server.fetches(), 1)


class UnknownKidTest(JwksTestCase):
    def test_unknown_kid_is_refused_at_once_then_refetched(self):
        server = self.jwks("A")
        self.serve(server)
        server.set_keys(KEYS["A"], KEYS["B"])  # rotation: B published after the gateway fetched
        started = time.monotonic()
        self.assertNoMatchingKey(token("B"))
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertTrue(server.wait_for(lambda: server.fetches() == 2), server.fetches())
        self.assertEqual(self.wait_accepted("B", timeout=3).status, 200)
        self.assertAccepted(token("A"))
        self.assertIn("kid matches no key; refetching", self.gw.stderr())

    def test_refetch_is_single_flight_and_rate_limited(self):
        server = self.jwks("A")
        self.serve(server, env={"WORKGATE_JWKS_REFETCH_INTERVAL_SECONDS": "3"})
        server.set_keys(KEYS["A"], KEYS["B"])
        tokens = [token("C") for _ in range(16)]  # C is not published yet
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(self.call, tokens))
        for resp in responses:
            self.assertResponse(resp, 401, json_body=NO_MATCHING_KEY)
        self.assertTrue(server.wait_for(lambda: server.fetches() == 2))
        time.sleep(0.5)
        self.assertEqual(server.fetches(), 2, "one refetch for the whole burst")
        # B is in the refetched set now.
        self.assertAccepted(token("B"))
        # Within the interval another unknown kid does not refetch...
        server.set_keys(KEYS["A"], KEYS["B"], KEYS["C"])
        self.assertNoMatchingKey(token("C"))
        time.sleep(0.5)
        if time.monotonic() - started < 2.5:
            self.assertEqual(server.fetches(), 2)
        # ...after it, it does.
        time.sleep(max(0.0, 3.5 - (time.monotonic() - started)))
        deadline = time.monotonic() + 3
        while server.fetches() < 3 and time.monotonic() < deadline:
            self.call(token("C"))
            time.sleep(0.3)
        self.assertEqual(server.fetches(), 3)
        self.assertEqual(self.wait_accepted("C", timeout=3).status, 200)

    def test_slow_refetch_never_delays_requests(self):
        server = self.jwks("A")
        self.serve(server)
        server.set_keys(KEYS["A"], KEYS["B"])
        server.set_mode("ok", delay=4)  # longer than the unknown-kid fetch timeout
        started = time.monotonic()
        self.assertNoMatchingKey(token("B"))
        self.assertAccepted(token("A"))
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertTrue(server.wait_for(lambda: server.fetches() == 2))
        self.assertAccepted(token("A"))  # while the refetch hangs
        # wait_for_output returns the text seen last, found or not: assert on it.
        self.assertIn("refetch for an unknown kid failed (timed out)",
                      self.gw.wait_for_output(lambda t: "refetch for an unknown kid failed (timed out)" in t, timeout=6))
        self.assertAccepted(token("A"))


class RefreshTest(JwksTestCase):
    def test_max_age_is_respected(self):
        server = self.jwks("A", cache_control="public, max-age=600")
        self.serve(server, env={"WORKGATE_JWKS_MIN_CACHE_SECONDS": "1"})
        time.sleep(2.5)
        self.assertEqual(server.fetches(), 1)

    def test_background_refresh_picks_up_rotation_and_drops_retired_keys(self):
        server = self.jwks("A", cache_control="max-age=1")
        self.serve(server, env={"WORKGATE_JWKS_MIN_CACHE_SECONDS": "1", "WORKGATE_JWKS_REFETCH_INTERVAL_SECONDS": "600"})
        server.set_keys(KEYS["B"])
        self.assertTrue(server.wait_for(lambda: server.fetches() >= 2, timeout=5))
        time.sleep(0.3)
        self.assertAccepted(token("B"))
        self.assertNoMatchingKey(token("A"))

    def test_refresh_failures_keep_the_last_good_set_and_back_off(self):
        server = self.jwks("A", cache_control="max-age=1")
        self.serve(server, env={"WORKGATE_JWKS_MIN_CACHE_SECONDS": "1", "WORKGATE_JWKS_REFETCH_INTERVAL_SECONDS": "600"})
        self.assertTrue(server.wait_for(lambda: server.fetches() >= 2, timeout=5))
        for mode in ("error", "drop", "garbage"):
            server.set_mode(mode)
            before = server.fetches()
            self.assertTrue(server.wait_for(lambda: server.fetches() >= before + 1, timeout=5), mode)
            self.assertAccepted(token("A"))
        # Backoff: 1 s, 2 s, 4 s, ... between failed attempts (not one per tick).
        before = server.fetches()
        time.sleep(3.0)
        self.assertLessEqual(server.fetches() - before, 2)
        self.assertAccepted(token("A"))
        self.assertIn("refresh failed", self.gw.stderr())
        # Recovery: the next retry loads the new set.
        server.set_keys(KEYS["B"])
        server.set_mode("ok")
        self.assertEqual(self.wait_accepted("B", timeout=12).status, 200, self.gw.stderr())
        self.assertNoMatchingKey(token("A"))

    def test_jwks_server_gone_keeps_serving(self):
        server = self.jwks("A", tls=False, cache_control="max-age=1")
        self.serve(server, env={"WORKGATE_JWKS_MIN_CACHE_SECONDS": "1"})
        # Stopping the listener leaves the gateway's pooled keep-alive connection served by its handler
        # thread: drop it too, so the server is really gone.
        server.set_mode("drop")
        server.stop()
        self.assertIn("refresh failed (unreachable)",
                      self.gw.wait_for_output(lambda t: "refresh failed (unreachable)" in t, timeout=5))
        self.assertAccepted(token("A"))
        self.assertNoMatchingKey(token("B"))  # refetch fails too; the set is kept
        time.sleep(0.5)
        self.assertAccepted(token("A"))


class ReloadTest(JwksTestCase):
    def test_reload_fetches_again_and_keeps_the_old_config_when_that_fails(self):
        server = self.jwks("A")
        gw = self.serve(server)
        server.set_mode("error")
        gw.signal(signal.SIGHUP)
        self.assertIn("reload failed", gw.wait_for_output(lambda t: "reload failed" in t, timeout=10))
        self.assertIn("/authorizer/jwks_uri", gw.stderr())
        self.assertAccepted(token("A"))
        server.set_keys(KEYS["B"])
        server.set_mode("ok")
        gw.signal(signal.SIGHUP)
        self.assertIn("reloaded", gw.wait_for_output(lambda t: "reloaded" in t, timeout=10))
        time.sleep(0.2)
        self.assertAccepted(token("B"))


    def test_reload_stops_the_old_key_source_without_traffic(self):
        """The replaced config (and its JWKS refresher) is released within a tick of a reload, with no request
        arriving: the old JWKS server is not polled any more."""
        old = self.jwks("A", cache_control="max-age=1")
        gw = self.serve(old, env={"WORKGATE_JWKS_MIN_CACHE_SECONDS": "1"})
        self.assertTrue(old.wait_for(lambda: old.fetches() >= 2, timeout=5), "the old source refreshes every second")
        new = self.jwks("B", cache_control="max-age=600")
        gw.write_config(config(new.uri))
        gw.signal(signal.SIGHUP)
        self.assertIn("reloaded", gw.wait_for_output(lambda t: "reloaded" in t, timeout=10))
        time.sleep(1.0)  # a refresh that had already begun may still complete
        before = old.fetches()
        time.sleep(3.0)
        self.assertEqual(old.fetches(), before, f"the replaced key source keeps polling{gw.describe()}")
        self.assertAccepted(token("B"))
        self.assertNoMatchingKey(token("A"))

if __name__ == "__main__":
    unittest.main()
