"""JWT authorizer (type jwt, HMAC)."""

import time
import unittest

from harness import GatewayTestCase, mint_jwt, b64url

SECRET = "e2e-jwt-secret-0123456789abcdef"
ISSUER = "https://issuer.test/"
AUDIENCE = "workgate-e2e"


def config(algorithm="HS256"):
    return {
        "authorizer": {"type": "jwt", "secret": SECRET, "algorithm": algorithm, "issuer": ISSUER,
                       "audience": AUDIENCE},
        "paths": [
            {"method": "GET", "path": "/private", "auth": True, "response": {"private": True}},
            {"method": "GET", "path": "/public", "response": {"public": True}},
        ],
    }


def claims(**overrides):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 600}
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not None}


def error(message, code):
    return '{"error":"%s","code":"%s"}' % (message, code)


NO_TOKEN = error("No token provided or token format is invalid.", "AUTH_ERROR")
INVALID_JWS = error("Invalid JWS", "ERR_JWS_INVALID")
BAD_SIGNATURE = error("Signature verification failed", "ERR_JWS_SIGNATURE_VERIFICATION_FAILED")
EXPIRED = error("Token has expired.", "ERR_JWT_EXPIRED")
CLAIM_FAILED = error("JWT claim validation failed", "ERR_JWT_CLAIM_VALIDATION_FAILED")
ALG_NOT_ALLOWED = error("Algorithm not allowed", "ERR_JOSE_ALG_NOT_ALLOWED")


class JwtHS256Test(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_shared(config("HS256"))

    def call(self, authorization=None):
        headers = [("Authorization", authorization)] if authorization is not None else []
        return self.gw.request("GET", "/private", headers=headers)

    def assertAccepted(self, resp):
        self.assertResponse(resp, 200, json_body={"private": True})

    def assertRejected(self, resp, body):
        self.assertResponse(resp, 401, body=body, headers={"Content-Type": "application/json"})

    def test_valid_token_is_accepted(self):
        self.assertAccepted(self.call(f"Bearer {mint_jwt(claims(), SECRET)}"))

    def test_public_route_needs_no_token(self):
        self.assertResponse(self.gw.get("/public"), 200, json_body={"public": True})

    def test_missing_authorization_is_rejected(self):
        self.assertRejected(self.call(), NO_TOKEN)

    def test_basic_scheme_is_rejected_as_missing_token(self):
        self.assertRejected(self.call("Basic dXNlcjpwYXNz"), NO_TOKEN)

    def test_bearer_without_token_is_rejected_as_missing_token(self):
        self.assertRejected(self.call("Bearer"), NO_TOKEN)

    def test_lowercase_bearer_scheme_is_accepted(self):
        self.assertAccepted(self.call(f"bearer {mint_jwt(claims(), SECRET)}"))

    def test_garbage_token_is_invalid_jws(self):
        self.assertRejected(self.call("Bearer not-a-jwt"), INVALID_JWS)

    def test_wrong_secret_fails_signature_verification(self):
        self.assertRejected(self.call(f"Bearer {mint_jwt(claims(), 'another-secret')}"), BAD_SIGNATURE)

    def test_tampered_payload_fails_signature_verification(self):
        header, _, signature = mint_jwt(claims(), SECRET).split(".")
        forged = b64url('{"iss":"%s","aud":"%s","sub":"admin"}' % (ISSUER, AUDIENCE))
        self.assertRejected(self.call(f"Bearer {header}.{forged}.{signature}"), BAD_SIGNATURE)

    def test_expired_token_is_rejected(self):
        now = int(time.time())
        self.assertRejected(self.call(f"Bearer {mint_jwt(claims(iat=now - 7200, exp=now - 3600), SECRET)}"), EXPIRED)

    def test_wrong_audience_fails_claim_validation(self):
        self.assertRejected(self.call(f"Bearer {mint_jwt(claims(aud='someone-else'), SECRET)}"), CLAIM_FAILED)

    def test_missing_audience_fails_claim_validation(self):
        self.assertRejected(self.call(f"Bearer {mint_jwt(claims(aud=None), SECRET)}"), CLAIM_FAILED)

    def test_wrong_issuer_fails_claim_validation(self):
        self.assertRejected(self.call(f"Bearer {mint_jwt(claims(iss='https://evil.test/'), SECRET)}"), CLAIM_FAILED)

    def test_future_nbf_fails_claim_validation(self):
        token = mint_jwt(claims(nbf=int(time.time()) + 3600), SECRET)
        self.assertRejected(self.call(f"Bearer {token}"), CLAIM_FAILED)

    def test_hs512_token_is_refused_when_algorithm_is_hs256(self):
        self.assertRejected(self.call(f"Bearer {mint_jwt(claims(), SECRET, alg='HS512')}"), ALG_NOT_ALLOWED)

    def test_alg_none_is_refused(self):
        resp = self.call(f"Bearer {mint_jwt(claims(), SECRET, alg='none')}")
        self.assertResponse(resp, 401)
        self.assertNotEqual(resp.json().get("private"), True)

    def test_audience_array_containing_the_audience_is_accepted(self):
        self.assertAccepted(self.call(f"Bearer {mint_jwt(claims(aud=['other', AUDIENCE]), SECRET)}"))

    def test_token_without_exp_is_accepted(self):
        self.assertAccepted(self.call(f"Bearer {mint_jwt(claims(exp=None), SECRET)}"))


class JwtHS512Test(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_shared(config("HS512"))

    def test_hs512_configuration_accepts_hs512_tokens(self):
        token = mint_jwt(claims(), SECRET, alg="HS512")
        resp = self.gw.request("GET", "/private", headers=[("Authorization", f"Bearer {token}")])
        self.assertResponse(resp, 200, json_body={"private": True})

    def test_hs512_configuration_refuses_hs256_tokens(self):
        token = mint_jwt(claims(), SECRET, alg="HS256")
        resp = self.gw.request("GET", "/private", headers=[("Authorization", f"Bearer {token}")])
        self.assertResponse(resp, 401, body=ALG_NOT_ALLOWED)


class JwtHS384Test(GatewayTestCase):
    def test_hs384_configuration_accepts_hs384_tokens(self):
        gw = self.start(config("HS384"))
        token = mint_jwt(claims(), SECRET, alg="HS384")
        resp = gw.request("GET", "/private", headers=[("Authorization", f"Bearer {token}")])
        self.assertResponse(resp, 200, json_body={"private": True})


if __name__ == "__main__":
    unittest.main()
