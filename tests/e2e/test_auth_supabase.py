"""supabase authorizer and the Supabase passwordless flows (supabase_passwordless_auth, _verify, _auth_alt)
against a fake Supabase Auth API on loopback HTTPS (SUPABASE_URL; a test CA trusted through --ca-file)."""

import json
import os
import re
import tempfile
import time
import unittest

from auth_fakes import Answer, FakeServer, Pki, refused_port
from harness import GatewayTestCase, mint_jwt, run_cli

SERVICE_KEY = "service-role-key-SECRET-93b1"
JWT_SECRET = "supabase-jwt-secret-0123456789abcdef"
ISSUER = "https://project.supabase.test/auth/v1"

_tmp = None
PKI = None


def setUpModule():
    global _tmp, PKI
    _tmp = tempfile.TemporaryDirectory(prefix="wg-supabase-")
    PKI = Pki(_tmp.name)


def tearDownModule():
    if _tmp is not None:
        _tmp.cleanup()


def config():
    return {
        "authorizer": {"type": "supabase", "jwt_secret": "$env.SUPABASE_JWT_SECRET", "issuer": ISSUER,
                       "audience": "authenticated"},
        "paths": [
            {"method": "POST", "path": "/api/v1/supabase/auth", "integration": {"type": "supabase_passwordless_auth"}},
            {"method": "POST", "path": "/api/v1/supabase/verify",
             "integration": {"type": "supabase_passwordless_verify"}},
            {"method": "POST", "path": "/api/v1/supabase/auth-alt",
             "integration": {"type": "supabase_passwordless_auth_alt"}},
            {"method": "GET", "path": "/api/v1/protected", "auth": True, "response": {"status": "protected"}},
        ],
    }


def err(message, code):
    return {"error": message, "code": code}


EMAIL_SENT = {"message": "Email OTP sent successfully",
              "note": "Check your email for a 6-digit verification code (not a link)",
              "debug": "If you received a magic link, check your Supabase project Auth settings"}
ADMIN_SENT = {"message": "Email OTP request sent via admin API", "note": "Check your email for verification code"}
SMS_SENT = {"message": "SMS OTP sent successfully", "note": "Check your phone for a 6-digit verification code"}
ALT_SENT = {"message": "Alternative OTP method attempted", "note": "Check your email for verification code"}

OTP = "/auth/v1/otp"
VERIFY = "/auth/v1/verify"
SIGNUP = "/auth/v1/signup"
GENERATE_LINK = "/auth/v1/admin/generate_link"


class SupabaseTestCase(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeServer(PKI)
        cls.addClassCleanup(cls.fake.stop)
        cls.start_shared(config(), env={"SUPABASE_URL": cls.fake.origin + "/",
                                        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
                                        "SUPABASE_JWT_SECRET": JWT_SECRET},
                         args=["--ca-file", PKI.ca, "--log-level", "debug", "--access-log"])

    def setUp(self):
        self.fake.clear()
        for path in (OTP, VERIFY, SIGNUP, GENERATE_LINK):
            self.fake.route("POST", path, Answer(200, {}))

    def post(self, path, body):
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        return self.gw.request("POST", "/api/v1/supabase/" + path, headers={"Content-Type": "application/json"},
                               body=body)

    def assertServiceKey(self, record):
        self.assertEqual(record.headers["apikey"], SERVICE_KEY)
        self.assertEqual(record.headers["authorization"], f"Bearer {SERVICE_KEY}")
        self.assertTrue(record.headers["content-type"].startswith("application/json"))


class PasswordlessAuthTest(SupabaseTestCase):
    def test_email_otp(self):
        self.assertResponse(self.post("auth", {"email": "user@example.com"}), 200, json_body=EMAIL_SENT,
                            headers={"Content-Type": "application/json"})
        [call] = self.fake.recorded(OTP)
        self.assertServiceKey(call)
        self.assertEqual(call.json(), {"email": "user@example.com", "data": {}, "create_user": True,
                                       "gotrue_meta_security": {}, "code_challenge": None,
                                       "code_challenge_method": None})
        self.assertEqual(self.fake.recorded(GENERATE_LINK), [])

    def test_email_otp_falls_back_to_the_admin_api(self):
        self.fake.route("POST", OTP, Answer(400, {"code": 400, "error_code": "otp_disabled",
                                                  "msg": "Signups not allowed for otp"}))
        self.assertResponse(self.post("auth", {"email": "user@example.com"}), 200, json_body=ADMIN_SENT)
        [call] = self.fake.recorded(GENERATE_LINK)
        self.assertServiceKey(call)
        self.assertEqual(call.query, "redirect_to=otp%3A%2F%2Fverify")
        self.assertEqual(call.json(), {"type": "magiclink", "email": "user@example.com", "redirectTo": "otp://verify"})

    def test_email_otp_both_failing_is_502(self):
        self.fake.route("POST", OTP, Answer(429, {"msg": "Email rate limit exceeded"}))
        self.fake.route("POST", GENERATE_LINK, Answer(403, {"message": "User not allowed"}))
        self.assertResponse(self.post("auth", {"email": "user@example.com"}), 502, json_body=err(
            "Failed to send OTP: Supabase OTP Error: Email rate limit exceeded. Admin fallback failed: "
            "Admin API Error: User not allowed", "SUPABASE_OTP_SEND_FAILED"))

    def test_phone_otp(self):
        self.assertResponse(self.post("auth", {"phone": "+15550100"}), 200, json_body=SMS_SENT)
        [call] = self.fake.recorded(OTP)
        self.assertEqual(call.json(), {"phone": "+15550100", "data": {}, "create_user": True,
                                       "gotrue_meta_security": {}, "channel": "sms"})

    def test_phone_otp_failure_is_400(self):
        self.fake.route("POST", OTP, Answer(422, {"error_description": "Invalid phone number format"}))
        self.assertResponse(self.post("auth", {"phone": "12"}), 400,
                            json_body=err("Phone OTP Error: Invalid phone number format", "SUPABASE_OTP_SEND_FAILED"))

    def test_email_wins_over_phone(self):
        self.post("auth", {"email": "a@example.com", "phone": "+15550100"})
        self.assertEqual(self.fake.recorded(OTP)[0].json()["email"], "a@example.com")

    def test_missing_email_and_phone(self):
        for body in ({}, {"email": "", "phone": None}, {"email": 0}, [], "null"):
            with self.subTest(body=body):
                self.assertResponse(self.post("auth", body), 400,
                                    json_body=err("Missing email or phone", "missing_email_or_phone"))
        self.assertEqual(self.fake.recorded(), [])

    def test_invalid_json_is_400(self):
        for body in ("", "{email", "{\"email\": \"x\"} trailing"):
            with self.subTest(body=body):
                self.assertResponse(self.post("auth", body), 400, json_body=err("Invalid JSON body", "invalid_json"))


class VerifyTest(SupabaseTestCase):
    SESSION = {"access_token": "at", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt",
               "user": {"id": "u-1", "email": "user@example.com"}}

    def test_email_verification_returns_the_session(self):
        self.fake.route("POST", VERIFY, Answer(200, self.SESSION))
        resp = self.post("verify", {"email": "user@example.com", "token": "123456"})
        self.assertResponse(resp, 200, headers={"Content-Type": "application/json"})
        body = resp.json()
        expires_at = body.pop("expires_at")
        self.assertEqual(body, self.SESSION)
        self.assertAlmostEqual(expires_at, int(time.time()) + 3600, delta=5)
        [call] = self.fake.recorded(VERIFY)
        self.assertServiceKey(call)
        self.assertEqual(call.json(), {"email": "user@example.com", "token": "123456", "type": "email",
                                       "gotrue_meta_security": {}})

    def test_phone_verification_and_kept_expires_at(self):
        session = dict(self.SESSION, expires_at=1234)
        self.fake.route("POST", VERIFY, Answer(200, session))
        self.assertResponse(self.post("verify", {"phone": "+15550100", "token": "654321"}), 200, json_body=session)
        self.assertEqual(self.fake.recorded(VERIFY)[0].json()["type"], "sms")
        self.assertEqual(self.fake.recorded(VERIFY)[0].json()["phone"], "+15550100")

    def test_answer_without_session_is_null(self):
        self.fake.route("POST", VERIFY, Answer(200, {"id": "u-1", "email": "user@example.com"}))
        self.assertResponse(self.post("verify", {"email": "user@example.com", "token": "1"}), 200, body=b"null")

    def test_failure_is_401(self):
        self.fake.route("POST", VERIFY, Answer(403, {"code": 403, "error_code": "otp_expired",
                                                     "msg": "Token has expired or is invalid"}))
        self.assertResponse(self.post("verify", {"email": "user@example.com", "token": "000000"}), 401, json_body=err(
            "OTP Verification Error: Token has expired or is invalid", "SUPABASE_OTP_VERIFY_FAILED"))

    def test_missing_fields(self):
        for body in ({"email": "a@example.com"}, {"token": "1"}, {"token": "", "phone": "+1"}, {}):
            with self.subTest(body=body):
                self.assertResponse(self.post("verify", body), 400,
                                    json_body=err("Missing token, email, or phone", "missing_token_or_contact"))
        self.assertResponse(self.post("verify", "not json"), 400, json_body=err("Invalid JSON body", "invalid_json"))
        self.assertEqual(self.fake.recorded(), [])


class AltTest(SupabaseTestCase):
    def test_signup_with_a_random_password(self):
        self.assertResponse(self.post("auth-alt", {"email": "new@example.com"}), 200, json_body=ALT_SENT)
        self.assertResponse(self.post("auth-alt", {"email": "new@example.com"}), 200, json_body=ALT_SENT)
        first, second = self.fake.recorded(SIGNUP)
        self.assertServiceKey(first)
        body = first.json()
        password = body.pop("password")
        self.assertRegex(password, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertNotEqual(password, second.json()["password"])
        self.assertEqual(body, {"email": "new@example.com", "data": {"otp_only": True}, "gotrue_meta_security": {},
                                "code_challenge": None, "code_challenge_method": None})

    def test_already_registered_counts_as_success(self):
        self.fake.route("POST", SIGNUP, Answer(422, {"code": 422, "error_code": "user_already_exists",
                                                     "msg": "User already registered"}))
        self.assertResponse(self.post("auth-alt", {"email": "old@example.com"}), 200, json_body=ALT_SENT)

    def test_other_errors_are_400(self):
        self.fake.route("POST", SIGNUP, Answer(422, {"msg": "Password should be at least 6 characters"}))
        self.assertResponse(self.post("auth-alt", {"email": "x@example.com"}), 400,
                            json_body=err("Password should be at least 6 characters", "SUPABASE_OTP_ALT_FAILED"))
        self.fake.route("POST", SIGNUP, Answer(503, "down", {"Content-Type": "text/plain"}))
        self.assertResponse(self.post("auth-alt", {"email": "x@example.com"}), 400,
                            json_body=err("Supabase is unavailable (HTTP 503)", "SUPABASE_OTP_ALT_FAILED"))

    def test_no_answer_is_502(self):
        self.fake.route("POST", SIGNUP, Answer(drop=True))
        self.assertResponse(self.post("auth-alt", {"email": "x@example.com"}), 502, json_body=err(
            "Alternative OTP method failed: Supabase request failed", "SUPABASE_OTP_ALT_FAILED"))

    def test_missing_email(self):
        self.assertResponse(self.post("auth-alt", {"phone": "+15550100"}), 400, json_body=err(
            "Missing email - alternative method only supports email", "missing_email"))


class AuthorizerAndSecretsTest(SupabaseTestCase):
    def test_protected_route_with_the_supabase_authorizer(self):
        now = int(time.time())
        good = mint_jwt({"sub": "u-1", "aud": "authenticated", "iss": ISSUER, "exp": now + 600}, JWT_SECRET)
        self.assertResponse(self.gw.get("/api/v1/protected", headers={"Authorization": f"Bearer {good}"}), 200,
                            json_body={"status": "protected"})
        expired = mint_jwt({"sub": "u-1", "aud": "authenticated", "iss": ISSUER, "exp": now - 600}, JWT_SECRET)
        self.assertResponse(self.gw.get("/api/v1/protected", headers={"Authorization": f"Bearer {expired}"}), 401,
                            json_body=err("Token has expired.", "JWT_EXPIRED"))

    def test_service_key_never_in_output_or_bodies(self):
        self.fake.route("POST", OTP, Answer(401, {"msg": "Invalid API key"}))
        self.fake.route("POST", GENERATE_LINK, Answer(drop=True))
        bodies = [self.post("auth", {"email": "a@example.com"}).body,
                  self.post("verify", {"email": "a@example.com", "token": "1"}).body,
                  self.post("auth-alt", {"email": "a@example.com"}).body]
        for body in bodies:
            self.assertNotIn(SERVICE_KEY.encode(), body)
        output = self.gw.wait_for_output(lambda t: "supabase" in t, timeout=2)
        self.assertIn("Supabase answered HTTP 401", output)
        self.assertNotIn(SERVICE_KEY, output + self.gw.stdout())
        self.assertNotIn("a@example.com", output + self.gw.stdout())


class BasePathAndPlainHttpTest(GatewayTestCase):
    def test_supabase_url_with_a_path_over_plain_http(self):
        fake = FakeServer()
        self.addCleanup(fake.stop)
        fake.route("POST", "/prefix/auth/v1/otp", Answer(200, {}))
        self.start(config(), env={"SUPABASE_URL": fake.origin + "/prefix", "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
                                  "SUPABASE_JWT_SECRET": JWT_SECRET})
        resp = self.gw.request("POST", "/api/v1/supabase/auth", body=json.dumps({"phone": "+15550100"}))
        self.assertResponse(resp, 200, json_body=SMS_SENT)
        self.assertEqual(len(fake.recorded("/prefix/auth/v1/otp")), 1)

    def test_unreachable_supabase(self):
        self.start(config(), env={"SUPABASE_URL": f"http://127.0.0.1:{refused_port()}",
                                  "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY, "SUPABASE_JWT_SECRET": JWT_SECRET})
        self.assertResponse(self.gw.request("POST", "/api/v1/supabase/auth", body='{"phone":"+1"}'), 400,
                            json_body=err("Phone OTP Error: Supabase request failed", "SUPABASE_OTP_SEND_FAILED"))
        self.assertResponse(self.gw.request("POST", "/api/v1/supabase/verify", body='{"phone":"+1","token":"1"}'), 401,
                            json_body=err("OTP Verification Error: Supabase request failed",
                                          "SUPABASE_OTP_VERIFY_FAILED"))


class EnvironmentTest(GatewayTestCase):
    def test_missing_environment_is_a_warning_then_500(self):
        gw = self.start(config(), env={"SUPABASE_JWT_SECRET": JWT_SECRET, "SUPABASE_URL": "",
                                       "SUPABASE_SERVICE_ROLE_KEY": ""})
        self.assertIn("SUPABASE_ENV_MISSING", gw.stderr())
        env_missing = err("Supabase environment is not configured.", "SUPABASE_ENV_MISSING")
        for path, body in (("auth", {"email": "a@example.com"}), ("verify", {"email": "a@example.com", "token": "1"}),
                           ("auth-alt", {"email": "a@example.com"})):
            self.assertResponse(gw.request("POST", "/api/v1/supabase/" + path, body=json.dumps(body)), 500,
                                json_body=env_missing)
        # Request checks come first, as in the original.
        self.assertResponse(gw.request("POST", "/api/v1/supabase/auth", body="{}"), 400,
                            json_body=err("Missing email or phone", "missing_email_or_phone"))

    def test_invalid_supabase_url_is_a_startup_error(self):
        path = os.path.join(_tmp.name, "supabase-bad-url.json")
        with open(path, "w") as f:
            json.dump(config(), f)
        result = run_cli(["validate", path], env={"SUPABASE_JWT_SECRET": JWT_SECRET, "SUPABASE_URL": "project.supabase.co",
                                                  "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY})
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("/paths/0/integration: environment variable SUPABASE_URL must be an absolute", result.stderr)
        self.assertNotIn(SERVICE_KEY, result.output)

    def test_example_config_validates(self):
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "supabase.json")
        result = run_cli(["validate", example], env={"SUPABASE_JWT_SECRET": JWT_SECRET, "SUPABASE_JWT_ISSUER": ISSUER,
                                                     "SUPABASE_URL": "https://project.supabase.co",
                                                     "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY})
        self.assertEqual(result.returncode, 0, result)
        self.assertFalse(re.search(r"warning", result.stderr), result)


if __name__ == "__main__":
    unittest.main()
