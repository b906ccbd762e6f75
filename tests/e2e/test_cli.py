"""CLI: --version, validate, routes, serve failures, --env-file and SAG_API_CONFIG_JSON."""

import json
import os
import re
import socket
import tempfile
import unittest

from harness import GatewayTestCase, run_cli, start_gateway, write_temp, free_port

GOOD = {"paths": [{"method": "GET", "path": "/health", "response": {"status": "ok"}}]}

# Every route below has exactly one problem; /paths/3 is the one of the example.
BAD = {
    "servers": [{"alias": "backend", "url": "https://backend.example.com"}],
    "authorizer": {"type": "JWT", "secret": "s", "algorithm": "HS256", "issuer": "i", "audience": "a"},
    "paths": [
        {"method": "GET", "path": "/p0", "integration": {"type": "lambda"}},
        {"method": "GET", "path": "/p1", "auth": True, "response": {}},
        {"method": "GET", "path": "/p2/{.+}/tail", "response": {}},
        {"method": "GET", "path": "/p3", "integration": {"type": "http_proxy", "server": "api"}},
        {"method": "GET", "path": "/dup", "response": {}},
        {"method": "GET", "path": "/dup", "response": {}},
        {"method": "GET", "path": "/p6", "response": {"token": "$env.WG_E2E_MISSING_VAR"}},
    ],
}

EXPECTED_BAD_ERRORS = [
    '/authorizer/type: must be exactly "jwt", "auth0" or "supabase" (got "JWT")',
    '/paths/0/integration/type: unknown integration type "lambda"',
    '/paths/1/auth: auth is true but no authorizer is configured',
    '/paths/2/path: {.+} is only allowed as the last segment',
    '/paths/3/integration/server: unknown server alias "api"',
    '/paths/5/path: duplicate of route 4',
    '/paths/6/response/token: environment variable "WG_E2E_MISSING_VAR" is not set',
]


class TempDirMixin:
    def tmp(self, text, suffix=".json"):
        d = tempfile.TemporaryDirectory(prefix="wg-e2e-cli-")
        self.addCleanup(d.cleanup)
        return write_temp(text, suffix=suffix, directory=d.name)


class VersionTest(unittest.TestCase):
    def test_version_prints_the_build_and_its_libraries(self):
        r = run_cli(["--version"])
        self.assertEqual(r.returncode, 0, r)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^workgate \d+\.\d+\.\d+$", r)
        fields = dict(line.split(": ", 1) for line in lines[1:])
        self.assertEqual(set(fields), {"commit", "build type", "worker ABI", "OpenSSL", "Boost", "nghttp2"}, r)
        self.assertRegex(fields["commit"], r"^([0-9a-f]{7,40}|unknown)$")
        self.assertIn(fields["build type"], ("Release", "RelWithDebInfo", "Debug", "MinSizeRel", "none"))
        self.assertRegex(fields["worker ABI"], r"^\d+$")
        self.assertRegex(fields["OpenSSL"], r"^OpenSSL 3\.\d+\.\d+")
        self.assertRegex(fields["Boost"], r"^1\.\d+\.\d+$")
        self.assertRegex(fields["nghttp2"], r"^1\.\d+\.\d+$")
        # the same ABI number as the metrics' build_info and the SDK header
        with open(os.path.join(os.path.dirname(__file__), "../../include/workgate/worker.h")) as f:
            abi = re.search(r"#define WORKGATE_ABI_VERSION (\d+)", f.read())
        if abi:
            self.assertEqual(fields["worker ABI"], abi.group(1))


class ValidateOnePassTest(TempDirMixin, unittest.TestCase):
    def test_a_missing_slash_is_one_line(self):
        cfg = {"paths": [{"method": "GET", "path": "noslash", "response": {}}]}
        r = run_cli(["validate", self.tmp(json.dumps(cfg))])
        self.assertEqual(r.returncode, 1, r)
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        self.assertEqual(errors, ["error: /paths/0/path: must start with /"], r)

    def test_warns_on_credentialed_wildcard_headers_and_mapping_on_a_static_route(self):
        cfg = {"cors": {"allow_origins": ["https://a.example"], "allow_methods": ["GET"], "allow_headers": ["*"],
                        "expose_headers": [], "allow_credentials": True, "max_age": 0},
               "paths": [{"method": "GET", "path": "/s", "response": {},
                          "mapping": {"headers": {"x-a": "$request.path"}}}]}
        r = run_cli(["validate", self.tmp(json.dumps(cfg))])
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stderr, r"warning: /cors/allow_headers: .*allow_credentials")
        self.assertRegex(r.stderr, r"warning: /paths/0/mapping: ignored: a static route")

    def test_loader_and_build_errors_are_reported_in_one_run(self):
        # A loader error (the method), a native worker module that does not exist, a TLS certificate and an
        # upstream CA file that do not exist (found by the build), each on its own line, once; the routes
        # that use the broken worker add no line of their own.
        cfg = {"servers": [{"alias": "api", "url": "https://127.0.0.1:9", "ca_file": "missing-ca.pem"}],
               "serviceBindings": [{"alias": "b", "binding": "W"}],
               "workers": [{"binding": "W", "module": "./no-such-worker.so"}],
               "paths": [{"method": "BREW", "path": "/a", "response": {}},
                         {"method": "GET", "path": "/b",
                          "integration": {"type": "service_binding", "binding": "b", "function": "f"}},
                         {"method": "GET", "path": "/c", "pre_process": {"binding": "b", "function": "g"},
                          "integration": {"type": "http_proxy", "server": "api"}}],
               "gateway": {"listeners": [{"address": "127.0.0.1:0", "tls": {"certificates": [
                   {"cert_file": "missing.pem", "key_file": "missing.key"}]}}]}}
        path = self.tmp(json.dumps(cfg))
        r = run_cli(["validate", path])
        self.assertEqual(r.returncode, 1, r)
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        self.assertEqual(len(errors), len(set(errors)), r)
        expected = [r"^error: /paths/0/method: must be one of",
                    r"^error: /workers/0/module: cannot load worker module: .*no-such-worker\.so",
                    r"^error: /gateway/listeners/0/tls/certificates/0\S*: .*missing",
                    r"^error: /servers/0\S*: .*missing-ca\.pem"]
        for pattern in expected:
            with self.subTest(pattern=pattern):
                self.assertEqual(sum(1 for line in errors if re.search(pattern, line)), 1, r)
        self.assertEqual(len(errors), len(expected), r)
        self.assertIn(f"{path}: 4 error(s)", r.stderr, r)
        # serve still refuses the config at its first stage, as before
        r = run_cli(["serve", "--no-supervise", "--config", path, "--listen", "127.0.0.1:0"])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("/paths/0/method: must be one of", r.stderr, r)
        self.assertNotIn("/workers/0/module", r.stderr, r)

    def test_a_valid_part_builds_when_another_part_has_errors(self):
        # Only the loader's error: the rest (a server, a static route) builds without a new line.
        cfg = {"servers": [{"alias": "api", "url": "http://127.0.0.1:9"}],
               "paths": [{"method": "GET", "path": "/a", "integration": {"type": "http_proxy", "server": "nope"}},
                         {"method": "GET", "path": "/b", "integration": {"type": "http_proxy", "server": "api"},
                          "mapping": {"headers": {"x-a": "$request.nothing"}}}]}
        r = run_cli(["validate", self.tmp(json.dumps(cfg))])
        self.assertEqual(r.returncode, 1, r)
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        self.assertEqual(errors[0], 'error: /paths/0/integration/server: unknown server alias "nope"', r)
        self.assertTrue(any(line.startswith("error: /paths/1/mapping/headers/x-a") for line in errors), r)
        self.assertEqual(len(errors), 2, r)


class HelpAndFlagsTest(TempDirMixin, unittest.TestCase):
    def test_each_command_has_its_help(self):
        for command, first in (("serve", "Usage: workgate serve"), ("validate", "Usage: workgate validate"),
                               ("routes", "Usage: workgate routes")):
            with self.subTest(command=command):
                r = run_cli([command, "--help"])
                self.assertEqual(r.returncode, 0, r)
                self.assertTrue(r.stdout.startswith(first), r)
                self.assertEqual(r.stderr, "", r)
        r = run_cli(["serve", "-h"])
        self.assertIn("--log-format", r.stdout)
        self.assertIn("--admin HOST:PORT", r.stdout)

    def test_flag_equals_value_is_the_same_as_flag_value(self):
        path = self.tmp(json.dumps(GOOD))
        a = run_cli(["routes", f"--config={path}"])
        b = run_cli(["routes", "--config", path])
        self.assertEqual(a.returncode, 0, a)
        self.assertEqual(a.stdout, b.stdout)
        r = run_cli(["serve", "--threads=0", "--config", path])
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("--threads must be a number between 1 and 1024", r.stderr)
        r = run_cli(["serve", "--access-log=yes", "--config", path])
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("--access-log takes no value", r.stderr)
        r = run_cli(["serve", "--config="])
        self.assertNotEqual(r.returncode, 0, r)

    def test_ca_file_is_checked_at_start(self):
        path = self.tmp(json.dumps(GOOD))
        not_pem = self.tmp("not a certificate\n", suffix=".pem")
        for ca in ("/nonexistent/ca.pem", not_pem):
            with self.subTest(ca=ca):
                r = run_cli(["serve", "--config", path, "--listen", "127.0.0.1:0", f"--ca-file={ca}"])
                self.assertEqual(r.returncode, 2, r)
                self.assertIn(f"--ca-file {ca}: cannot load PEM certificates", r.stderr)


class ValidateTest(TempDirMixin, unittest.TestCase):
    def test_valid_config_exits_0_and_prints_valid(self):
        r = run_cli(["validate", self.tmp(json.dumps(GOOD))])
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, r"\bvalid\b", r)
        self.assertNotIn("invalid", r.stdout, r)
        self.assertNotIn("error", r.output.lower(), r)

    def test_invalid_config_exits_1_and_prints_every_error_with_its_pointer(self):
        r = run_cli(["validate", self.tmp(json.dumps(BAD))])
        self.assertEqual(r.returncode, 1, r)
        for expected in EXPECTED_BAD_ERRORS:
            with self.subTest(error=expected):
                self.assertIn(expected, r.output, r)
        self.assertNotIn("valid (", r.stdout, r)

    def test_unknown_server_alias_error_matches_the_documented_line(self):
        r = run_cli(["validate", self.tmp(json.dumps(BAD))])
        self.assertEqual(r.returncode, 1, r)
        lines = [line.strip() for line in r.output.splitlines()]
        self.assertTrue(any(line.endswith('/paths/3/integration/server: unknown server alias "api"') for line in lines),
                        r)

    def test_invalid_json_reports_line_and_column(self):
        text = '{\n  "paths": [\n    {"method": "GET",, "path": "/x"}\n  ]\n}\n'
        r = run_cli(["validate", self.tmp(text)])
        self.assertEqual(r.returncode, 1, r)
        # The offending second comma is on line 3, column 22.
        self.assertRegex(r.output, r"invalid JSON at line 3, column 22\b", r)

    def test_missing_env_variable_names_the_variable_and_the_pointer(self):
        cfg = {"paths": [{"method": "GET", "path": "/x", "response": {"a": ["$env.WG_E2E_NOT_SET_ANYWHERE"]}}]}
        r = run_cli(["validate", self.tmp(json.dumps(cfg))])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn('/paths/0/response/a/0: environment variable "WG_E2E_NOT_SET_ANYWHERE" is not set', r.output, r)

    def test_authorizer_type_must_be_exactly_lowercase(self):
        for bad_type in ("JWT", "Jwt", "jwt ", "oauth"):
            with self.subTest(type=bad_type):
                cfg = {"authorizer": {"type": bad_type, "secret": "s", "algorithm": "HS256", "issuer": "i",
                                      "audience": "a"},
                       "paths": [{"method": "GET", "path": "/x"}]}
                r = run_cli(["validate", self.tmp(json.dumps(cfg))])
                self.assertEqual(r.returncode, 1, r)
                self.assertIn("/authorizer/type: ", r.output, r)

    def test_env_file_supplies_env_and_secret_values(self):
        cfg = {"authorizer": {"type": "jwt", "secret": "$secret.WG_E2E_SECRET", "algorithm": "HS256",
                              "issuer": "$env.WG_E2E_ISSUER", "audience": "a"},
               "paths": [{"method": "GET", "path": "/x", "auth": True}]}
        path = self.tmp(json.dumps(cfg))
        r = run_cli(["validate", path])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn('"WG_E2E_SECRET"', r.output, r)
        env_file = self.tmp("WG_E2E_SECRET=abc\nWG_E2E_ISSUER=https://issuer.test\n", suffix=".env")
        r = run_cli(["validate", path, "--env-file", env_file])
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("valid", r.stdout, r)


    def test_unreadable_env_file_is_an_error(self):
        r = run_cli(["validate", self.tmp(json.dumps(GOOD)), "--env-file", "/nonexistent/wg-e2e.env"])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("/nonexistent/wg-e2e.env", r.output, r)


class RoutesTest(TempDirMixin, unittest.TestCase):
    def test_routes_are_listed_exact_then_parameter_then_wildcard(self):
        cfg = {"paths": [
            {"method": "GET", "path": "/a/{.+}"},
            {"method": "GET", "path": "/a/{id}"},
            {"method": "GET", "path": "/a/b"},
            {"method": "GET", "path": "/{.+}"},
        ]}
        r = run_cli(["routes", self.tmp(json.dumps(cfg))])
        self.assertEqual(r.returncode, 0, r)
        rows = [line.split() for line in r.stdout.splitlines() if re.match(r"^\d+\s", line)]
        listed = [(row[1], row[2], row[3]) for row in rows]
        self.assertEqual(
            [path for _, path, _ in listed], ["/a/b", "/a/{id}", "/a/{.+}", "/{.+}"], r)
        self.assertEqual([cls for _, _, cls in listed], ["exact", "parameter", "wildcard", "wildcard"], r)

    def test_routes_prints_the_named_listeners_before_the_routes(self):
        cfg = {"paths": [{"method": "GET", "path": "/a", "response": {}}],
               "gateway": {"listeners": [{"address": "127.0.0.1:0", "name": "edge-1", "http2": True},
                                         {"address": "[::1]:8081"}]}}
        path = self.tmp(json.dumps(cfg))
        r = run_cli(["routes", path])
        self.assertEqual(r.returncode, 0, r)
        lines = r.stdout.splitlines()
        # Without --listen the configured listeners are all there is; an unnamed first one would be "public".
        self.assertEqual(lines[:3], [
            'listener 0 "edge-1": http://127.0.0.1:0 (/gateway/listeners/0) plain HTTP/1.1 and h2c',
            'listener 1 "listener 1": http://[::1]:8081 (/gateway/listeners/1) plain HTTP/1.1',
            ""], r)
        self.assertTrue(lines[3].startswith("#"), r)  # then the route table's header
        self.assertRegex(lines[4], r"^1\s+GET\s+/a\s", r)
        r = run_cli(["routes", path, "--listen", "127.0.0.1:9999"])
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout.splitlines()[:3], [
            'listener 0 "public": http://127.0.0.1:9999 (--listen) plain HTTP/1.1',
            'listener 1 "edge-1": http://127.0.0.1:0 (/gateway/listeners/0) plain HTTP/1.1 and h2c',
            'listener 2 "listener 2": http://[::1]:8081 (/gateway/listeners/1) plain HTTP/1.1'], r)

    def test_routes_names_the_default_listener_public(self):
        r = run_cli(["routes", self.tmp(json.dumps(GOOD))])
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout.splitlines()[0],
                         'listener 0 "public": http://127.0.0.1:8787 (default) plain HTTP/1.1', r)

    def test_routes_with_a_bad_config_exits_1(self):
        r = run_cli(["routes", self.tmp(json.dumps(BAD))])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn('/paths/3/integration/server: unknown server alias "api"', r.output, r)


class ServeFailureTest(TempDirMixin, unittest.TestCase):
    def test_serve_with_a_bad_config_exits_1_and_prints_the_errors(self):
        path = self.tmp(json.dumps(BAD))
        r = run_cli(["serve", "--config", path, "--listen", f"127.0.0.1:{free_port()}", "--threads", "2"])
        self.assertEqual(r.returncode, 1, r)
        for expected in EXPECTED_BAD_ERRORS:
            with self.subTest(error=expected):
                self.assertIn(expected, r.output, r)

    def test_serve_on_an_address_already_in_use_exits_1(self):
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(blocker.close)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        path = self.tmp(json.dumps(GOOD))
        r = run_cli(["serve", "--config", path, "--listen", f"127.0.0.1:{port}", "--threads", "2"])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("already in use", r.output, r)


class ConfigSourcesTest(TempDirMixin, GatewayTestCase):
    VALUE_CFG = {"paths": [{"method": "GET", "path": "/value", "response": {"value": "$env.WG_E2E_VALUE",
                                                                            "secret": "$secret.WG_E2E_SECRET"}}]}

    def test_env_file_values_are_substituted_when_serving(self):
        env_file = self.tmp("# comment\nWG_E2E_VALUE=from-file\nexport WG_E2E_SECRET='s3cr3t'\n", suffix=".env")
        gw = self.start(self.VALUE_CFG, args=["--env-file", env_file])
        self.assertResponse(gw.get("/value"), 200, json_body={"value": "from-file", "secret": "s3cr3t"})

    def test_process_environment_wins_over_env_file(self):
        env_file = self.tmp("WG_E2E_VALUE=from-file\nWG_E2E_SECRET=file-secret\n", suffix=".env")
        gw = self.start(self.VALUE_CFG, env={"WG_E2E_VALUE": "from-process"}, args=["--env-file", env_file])
        self.assertResponse(gw.get("/value"), 200, json_body={"value": "from-process", "secret": "file-secret"})

    def test_inline_config_in_environment_wins_over_config_file(self):
        inline = {"paths": [{"method": "GET", "path": "/from-env", "response": {"source": "env"}}]}
        file_cfg = {"paths": [{"method": "GET", "path": "/from-file", "response": {"source": "file"}}]}
        gw = self.start(file_cfg, env={"SAG_API_CONFIG_JSON": json.dumps(inline)})
        self.assertResponse(gw.get("/from-env"), 200, json_body={"source": "env"})
        self.assertResponse(gw.get("/from-file"), 404, json_body={"message": "No match found."})


if __name__ == "__main__":
    unittest.main()
