"""End-to-end tests of the in-process workers: service_binding, service, pre_process and post_process
hooks against the real binary, with the bundled `sidecar` worker, the unit-test worker (asynchronous
functions, timeouts) and the example workers of examples/api-config.json."""

import json
import os
import re
import signal
import time
import unittest

from harness import GatewayTestCase, REPO, mint_jwt, run_cli, workgate_bin, write_temp


def build_dir():
    return os.path.dirname(os.path.abspath(workgate_bin()))


def module_path(*parts):
    path = os.path.join(build_dir(), "workers", *parts)
    if not os.path.exists(path):
        raise unittest.SkipTest(f"worker module not built: {path}")
    return path


def sidecar():
    return module_path("libworkgate-sidecar.so")


def test_worker():
    return module_path("test", "libworkgate-test-worker.so")


JWT_SECRET = "e2e-workers-secret-0123456789abcdef"

CORS = {
    "allow_origins": ["https://app.example.com"], "allow_methods": ["GET", "POST"], "allow_headers": ["Content-Type"],
    "expose_headers": [], "allow_credentials": False, "max_age": 0,
}


def sidecar_config():
    return {
        "workers": [
            {"binding": "HOOKS", "module": sidecar(), "env": ["GREETING"]},
            {"binding": "TARGET", "module": sidecar(), "env": ["GREETING", "NOT_SET_ANYWHERE"]},
            {"binding": "ASYNC", "module": test_worker(), "timeout_ms": 150},
        ],
        "serviceBindings": [
            {"alias": "hooks", "binding": "HOOKS"}, {"alias": "target", "binding": "TARGET"},
            {"alias": "async", "binding": "ASYNC"},
        ],
        "services": [{"alias": "svc", "entrypoint": os.path.splitext(sidecar())[0]}],
        "cors": CORS,
        "authorizer": {"type": "jwt", "secret": "$secret.E2E_JWT", "algorithm": "HS256", "issuer": "https://issuer.e2e",
                       "audience": "e2e"},
        "variables": {"region": "eu"},
        "paths": [
            {"method": "ANY", "path": "/run", "integration": {"type": "service_binding", "binding": "target",
                                                              "function": "run"}},
            {"method": "GET", "path": "/items/{id}/{.+}",
             "integration": {"type": "service_binding", "binding": "target", "function": "run"}},
            {"method": "ANY", "path": "/hooked", "pre_process": {"binding": "hooks", "function": "before"},
             "integration": {"type": "service_binding", "binding": "target", "function": "run"}},
            {"method": "GET", "path": "/private", "auth": True,
             "integration": {"type": "service_binding", "binding": "target", "function": "run"}},
            {"method": "GET", "path": "/post-static", "response": {"static": True},
             "post_process": {"binding": "hooks", "function": "after"}},
            {"method": "GET", "path": "/service", "integration": {"type": "service", "binding": "svc"}},
            {"method": "POST", "path": "/later", "integration": {"type": "service_binding", "binding": "async",
                                                                 "function": "later"}},
            {"method": "GET", "path": "/describe/{id}", "variables": {"route_var": 1},
             "integration": {"type": "service_binding", "binding": "async", "function": "describe"}},
            {"method": "POST", "path": "/edit/{.+}", "pre_process": {"binding": "async", "function": "edit"},
             "integration": {"type": "service_binding", "binding": "async", "function": "describe"},
             "post_process": {"binding": "hooks", "function": "after"}},
            {"method": "GET", "path": "/fails", "integration": {"type": "service_binding", "binding": "async",
                                                                "function": "fail"}},
            {"method": "GET", "path": "/nothing", "integration": {"type": "service_binding", "binding": "async",
                                                                  "function": "nothing"}},
            {"method": "GET", "path": "/bad-header", "integration": {"type": "service_binding", "binding": "async",
                                                                     "function": "bad_header"}},
        ],
    }


ENV = {"GREETING": "hello-e2e", "E2E_JWT": JWT_SECRET, "SUPER_SECRET": "do-not-leak-me"}


class SidecarTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_shared(sidecar_config(), env=ENV)

    def test_object_result_is_enveloped_with_context(self):
        resp = self.gw.request("POST", "/run?mode=object&x=1", headers={"Content-Type": "text/plain"}, body="payload")
        self.assertResponse(resp, 201, headers={"Content-Type": "application/json"})
        body = resp.json()
        self.assertEqual(list(body), ["status", "message", "data"])
        self.assertEqual(body["status"], "success")
        self.assertEqual(body["message"], "ran")
        data = body["data"]
        self.assertNotIn("statusCode", data)
        self.assertEqual(data["method"], "POST")
        self.assertEqual(data["search"], "?mode=object&x=1")
        self.assertEqual(data["body"], "payload")
        self.assertEqual(data["matched_path"], "/run")
        self.assertIsNone(data["jwt_sub"])
        self.assertIsNone(data["enriched"])

    def test_env_isolation(self):
        data = self.gw.get("/run").json()["data"]
        self.assertEqual(data["env_greeting"], "hello-e2e")
        # Only the declared (and set) variables: not E2E_JWT, SUPER_SECRET, PATH, ...
        self.assertEqual(data["env_keys"], ["GREETING"])

    def test_path_params_and_wildcard(self):
        data = self.gw.get("/items/42/a/b").json()["data"]
        self.assertEqual(data["params"], {"id": "42"})
        self.assertEqual(data["matched_path"], "/items/{id}/{.+}")

    def test_value_kinds(self):
        self.assertResponse(self.gw.get("/run?mode=string"), 200, body='{"raw":"string from TARGET.run"}',
                            headers={"Content-Type": "application/json"})
        self.assertResponse(self.gw.get("/run?mode=null"), 200, body="", headers={"Content-Type": "application/json"})
        self.assertResponse(self.gw.get("/run?mode=error"), 418,
                            json_body={"status": "error", "message": "teapot", "error": "boom"})
        self.assertResponse(self.gw.get("/run?mode=response"), 202, body="plain text from TARGET.run",
                            headers={"Content-Type": "text/plain", "x-from": "TARGET.run"})
        self.assertResponse(self.gw.get("/nothing"), 400, body="", headers={"Content-Type": "application/json"})

    def test_failure_is_500_and_logged_without_request_data(self):
        resp = self.gw.request("GET", "/run?mode=throw&token=query-secret-value",
                               headers={"X-Api-Key": "header-secret-value"})
        self.assertResponse(resp, 500, json_body={"message": "Internal server error"})
        log = self.gw.wait_for_output(lambda t: "TARGET.run" in t)
        self.assertRegex(log, r"worker TARGET\.run failed")
        for secret in ("query-secret-value", "header-secret-value", "do-not-leak-me", JWT_SECRET):
            self.assertNotIn(secret, log)
        self.assertResponse(self.gw.get("/fails"), 500, json_body={"message": "Internal server error"})
        self.assertIn("worker ASYNC.fail failed: failed on purpose", self.gw.wait_for_output(lambda t: "ASYNC.fail" in t))
        self.assertResponse(self.gw.get("/bad-header"), 500, json_body={"message": "Internal server error"})

    def test_pre_process(self):
        resp = self.gw.request("GET", "/hooked", headers={"x-block": "1", "Origin": "https://app.example.com"})
        self.assertResponse(resp, 403, json_body={"blocked": True, "by": "HOOKS.before", "path": "/hooked"},
                            headers={"x-hook": "blocked", "Access-Control-Allow-Origin": "https://app.example.com",
                                     "X-Powered-By": "workgate"})
        data = self.gw.request("GET", "/hooked", headers={"x-block": "enrich"}).json()["data"]
        self.assertEqual(data["enriched"], "yes")
        self.assertResponse(self.gw.get("/hooked"), 201)

    def test_auth_runs_before_the_binding_and_claims_are_visible(self):
        self.assertResponse(self.gw.get("/private"), 401)
        token = mint_jwt({"sub": "user-9", "iss": "https://issuer.e2e", "aud": "e2e", "exp": int(time.time()) + 600},
                         JWT_SECRET)
        data = self.gw.get("/private", headers={"Authorization": f"Bearer {token}"}).json()["data"]
        self.assertEqual(data["jwt_sub"], "user-9")

    def test_post_process_on_a_static_route(self):
        self.assertResponse(self.gw.get("/post-static"), 200, json_body={"static": True},
                            headers={"x-post-processed": "yes"})

    def test_service_entrypoint_without_so_suffix(self):
        self.assertResponse(self.gw.get("/service"), 200, body="Hello from sidecar fetch",
                            headers={"Content-Type": "text/plain"})

    def test_context_views(self):
        token = "unused"
        resp = self.gw.request("GET", "/describe/7?q=1", headers={"X-Test": "v", "Authorization": token})
        self.assertResponse(resp, 200)
        body = resp.json()
        self.assertEqual(body["route"], "/describe/{id}")
        self.assertEqual(body["params"], {"id": "7"})
        self.assertEqual(body["query"], "q=1")
        self.assertEqual(body["variables"], {"region": "eu", "route_var": 1})
        self.assertEqual(body["env"], {})
        self.assertIsNone(body["claims"])
        self.assertRegex(body["request_id"], r"^[0-9a-f]{32}$")  # generated: no X-Request-Id was sent
        self.assertEqual(resp.header("X-Request-Id"), body["request_id"])
        self.assertIn(["X-Test", "v"], body["headers"])

    def test_pre_process_changes_path_query_body_then_post_process(self):
        resp = self.gw.request("POST", "/edit/a?path=/edit/b/c&body=changed&clear=1",
                               headers={"X-Drop": "1", "Content-Type": "text/plain"}, body="original")
        self.assertResponse(resp, 200, headers={"x-post-processed": "yes"})
        body = resp.json()
        self.assertEqual(body["path"], "/edit/b/c")
        self.assertEqual(body["query"], "")
        self.assertFalse(body["has_query"])
        self.assertEqual(body["body"], "changed")
        names = [h[0].lower() for h in body["headers"]]
        self.assertIn("x-edited", names)
        self.assertNotIn("x-drop", names)
        self.assertIn(["Content-Length", "7"], body["headers"])
        # A path the route does not match is refused.
        resp = self.gw.request("POST", "/edit/a?path=/elsewhere", body="x")
        self.assertResponse(resp, 500, json_body={"message": "Internal server error"})

    def test_async_completion(self):
        resp = self.gw.request("POST", "/later?delay=20", body='{"async":true}')
        self.assertResponse(resp, 200, json_body={"status": "success", "message": "Operation completed successfully.",
                                                  "data": {"async": True}})

    def test_timeout_then_the_connection_stays_usable(self):
        with self.gw.connect() as conn:
            conn.send(b"POST /later?delay=600 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnull")
            started = time.monotonic()
            resp = conn.read_response()
            self.assertLess(time.monotonic() - started, 0.55)
            self.assertResponse(resp, 504, json_body={"error": "Worker timed out", "code": "WORKER_TIMEOUT"})
            # The late completion (~450 ms later) must not answer the next request on this connection.
            conn.send(b"POST /later?delay=400 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            self.assertResponse(conn.read_response(), 504)
            conn.send(b"POST /later?delay=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{\"n\":12345}")
            resp = conn.read_response()
            self.assertResponse(resp, 200)
            self.assertEqual(resp.json()["data"], {"n": 12345})
        time.sleep(0.5)
        self.assertResponse(self.gw.get("/run?mode=null"), 200)
        self.assertIn("worker ASYNC.later timed out after 150 ms", self.gw.stderr())


def cli_config(paths, workers):
    return json.dumps({
        "workers": workers,
        "serviceBindings": [{"alias": "t", "binding": "TARGET"}],
        "paths": paths,
    })


class StartupErrorsTest(unittest.TestCase):
    def validate(self, text):
        path = write_temp(text)
        self.addCleanup(os.unlink, path)
        return run_cli(["validate", "--config", path])

    def test_missing_function(self):
        result = self.validate(cli_config(
            [{"method": "GET", "path": "/ok", "response": 1},
             {"method": "GET", "path": "/x", "integration": {"type": "service_binding", "binding": "t",
                                                            "function": "nope"}}],
            [{"binding": "TARGET", "module": sidecar()}]))
        self.assertNotEqual(result.returncode, 0, result)
        self.assertIn('/paths/1/integration/function: worker binding "TARGET" has no function "nope"', result.stderr)

    def test_abi_mismatch_and_missing_module(self):
        mismatch = module_path("test", "libworkgate-test-abi-mismatch.so")
        result = self.validate(cli_config(
            [{"method": "GET", "path": "/x", "response": 1}],
            [{"binding": "TARGET", "module": mismatch}, {"binding": "OTHER", "module": "./no-such-worker.so"}]))
        self.assertNotEqual(result.returncode, 0, result)
        self.assertRegex(result.stderr, r"/workers/0/module: .*built for worker ABI version \d+, this gateway "
                                        r"supports version \d+")
        self.assertRegex(result.stderr, r"/workers/1/module: cannot load worker module: .*no-such-worker\.so")

    def test_init_failure_fails_serve_but_not_validate(self):
        text = cli_config([{"method": "GET", "path": "/x", "response": 1}],
                          [{"binding": "TARGET", "module": test_worker(), "config": {"fail": True}}])
        self.assertEqual(self.validate(text).returncode, 0)
        path = write_temp(text)
        self.addCleanup(os.unlink, path)
        result = run_cli(["serve", "--config", path, "--listen", "127.0.0.1:0"])
        self.assertNotEqual(result.returncode, 0, result)
        self.assertIn('/workers/0: worker "TARGET" failed to initialise: configured to fail', result.stderr)


class ReloadTest(GatewayTestCase):
    def config(self, n):
        return {
            "workers": [{"binding": "T", "module": test_worker(), "config": {"n": n}}],
            "serviceBindings": [{"alias": "t", "binding": "T"}],
            "paths": [{"method": "GET", "path": "/d", "integration": {"type": "service_binding", "binding": "t",
                                                                      "function": "describe"}}],
        }

    def test_reload_creates_new_instances_with_the_new_config(self):
        gw = self.start(self.config(1))
        self.assertEqual(gw.get("/d").json()["config"], {"n": 1})
        gw.write_config(self.config(2))
        gw.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and gw.get("/d").json()["config"] != {"n": 2}:
            time.sleep(0.05)
        self.assertEqual(gw.get("/d").json()["config"], {"n": 2})
        # A reload whose worker fails to initialise keeps the current config.
        bad = self.config(3)
        bad["workers"][0]["config"] = {"fail": True}
        gw.write_config(bad)
        gw.signal(signal.SIGHUP)
        gw.wait_for_output(lambda t: "failed to initialise" in t)
        self.assertEqual(gw.get("/d").json()["config"], {"n": 2})


class ExamplesTest(GatewayTestCase):
    """examples/api-config.json with its module paths pointed at this build."""

    def setUp(self):
        with open(os.path.join(REPO, "examples", "api-config.json")) as f:
            config = json.load(f)
        for worker in config["workers"]:
            worker["module"] = module_path(os.path.basename(worker["module"]))
        config["gateway"]["admin"]["listen"] = "127.0.0.1:0"  # the example's fixed 9901 may be taken here
        self.start(config, env={"EXAMPLE_API_KEY": "k-123", "EXAMPLE_JWT_SECRET": "example-secret-0123456789abcdef"})

    def test_orders(self):
        self.assertResponse(self.gw.get("/orders"), 401,
                            json_body={"error": "Missing or invalid API key", "code": "INVALID_API_KEY"})
        self.assertResponse(self.gw.get("/orders", headers={"x-api-key": "wrong"}), 401)
        resp = self.gw.get("/orders", headers={"x-api-key": "k-123"})
        self.assertResponse(resp, 200, headers={"Cache-Control": "no-store", "X-Served-By": "workgate-example-worker"})
        self.assertEqual(resp.json()["message"], "2 orders")
        self.assertEqual(resp.json()["data"]["orders"][0]["currency"], "EUR")
        resp = self.gw.get("/orders/2", headers={"x-api-key": "k-123"})
        self.assertEqual(resp.json()["data"]["order"]["item"], "grinder")
        self.assertResponse(self.gw.get("/orders/9", headers={"x-api-key": "k-123"}), 404,
                            json_body={"status": "error", "message": "An error occurred.", "error": "Order not found"},
                            headers={"Cache-Control": "no-store"})
        resp = self.gw.request("POST", "/orders", headers={"x-api-key": "k-123", "Content-Type": "application/json"},
                               body='{"item":"filter papers","quantity":3}')
        self.assertResponse(resp, 201)
        self.assertEqual(resp.json()["data"]["order"]["id"], "3")
        resp = self.gw.request("POST", "/orders", headers={"x-api-key": "k-123"}, body="not json")
        self.assertResponse(resp, 400)
        self.assertEqual(resp.json()["status"], "error")


if __name__ == "__main__":
    unittest.main()
