"""End-to-end tests of JavaScript workers on workerd (docs/workers.md, "JavaScript workers"): supervision
(workerd killed under load, a worker that loops for ever), fetch() from a worker to a loopback upstream,
one JavaScript worker calling another through its binding, results and startup errors."""

import json
import os
import re
import signal
import tempfile
import threading
import time
import unittest

from harness import GatewayTestCase, REPO, child_pids, pid_alive, run_cli, wait_gone
from upstreams import EchoUpstream

WORKERD = os.path.join(REPO, "third_party", "npm", "node_modules", "@cloudflare", "workerd-linux-64", "bin",
                       "workerd")


def require_workerd():
    if not (os.environ.get("WORKGATE_WORKERD") or os.access(WORKERD, os.X_OK)):
        raise unittest.SkipTest("workerd is not installed (scripts/install-deps.sh)")


SCRIPT = r"""
import { WorkerEntrypoint } from "cloudflare:workers";

export class Api extends WorkerEntrypoint {
  async hello(request, envJson, ctxJson) {
    return { message: "hi", env: JSON.parse(envJson), path: new URL(request.url).pathname };
  }
  async spin() {
    for (;;) {}
  }
  async boom() {
    throw new Error("secret-detail-of-the-failure");
  }
  async fetchUp(request, envJson) {
    const target = JSON.parse(envJson).UPSTREAM + "/from-js?x=1";
    const r = await fetch(target, { headers: { "x-from-js": "yes" } });
    return new Response(await r.text(), { status: 200, headers: { "content-type": "application/json" } });
  }
  async seen(request) {
    // What the function gets: method, URL, fields, cf and body.
    const body = request.body ? await request.text() : null;
    return { method: request.method, url: request.url, headers: [...request.headers], cf: request.cf ?? null,
             body };
  }
  async viaBinding(request) {
    // Another JavaScript worker, through its binding: RPC inside workerd.
    const sum = await this.env.MATH.add(2, 3);
    return { sum };
  }
}

export class Math extends WorkerEntrypoint {
  async add(a, b) {
    return a + b;
  }
}
"""


def write_script(directory, text, name="api.js"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def base_config(script, health_timeout_ms=2000, **worker):
    # A loaded machine (the ASan run) can keep workerd from answering a probe in 500 ms: only the test of
    # recycling wants it that short.
    entry = {"binding": "API", "script": script, "entrypoint": "Api", "env": ["UPSTREAM"], "timeout_ms": 2000}
    entry.update(worker)
    return {
        "workers": [entry, {"binding": "MATH", "script": script, "entrypoint": "Math"}],
        "serviceBindings": [{"alias": "api", "binding": "API"}],
        "gateway": {"js_workers": {"health_timeout_ms": health_timeout_ms}},
        "paths": [
            {"method": "GET", "path": "/hello", "integration": {"type": "service_binding", "binding": "api",
                                                                "function": "hello"}},
            {"method": "GET", "path": "/spin", "integration": {"type": "service_binding", "binding": "api",
                                                               "function": "spin"}},
            {"method": "GET", "path": "/boom", "integration": {"type": "service_binding", "binding": "api",
                                                               "function": "boom"}},
            {"method": "GET", "path": "/up", "integration": {"type": "service_binding", "binding": "api",
                                                             "function": "fetchUp"}},
            {"method": "GET", "path": "/binding", "integration": {"type": "service_binding", "binding": "api",
                                                                  "function": "viaBinding"}},
            {"method": "ANY", "path": "/seen/{.+}", "integration": {"type": "service_binding", "binding": "api",
                                                                     "function": "seen"}},
            {"method": "GET", "path": "/static", "response": {"ok": True}},
        ],
    }


def workerd_pids(gw):
    out = []
    for p in child_pids(gw.serving_pid()):
        try:
            if os.path.basename(os.readlink(f"/proc/{p}/exe")).startswith("workerd"):
                out.append(p)
        except OSError:  # gone meanwhile
            pass
    return out


class JsWorkersTest(GatewayTestCase):
    def setUp(self):
        super().setUp()
        require_workerd()
        self.dir = tempfile.TemporaryDirectory(prefix="wg-js-")
        self.addCleanup(self.dir.cleanup)
        self.script = write_script(self.dir.name, SCRIPT)

    def wait_until(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    def test_result_envelope_and_declared_env_only(self):
        gw = self.start(base_config(self.script), env={"UPSTREAM": "http://127.0.0.1:9", "OTHER_SECRET": "x"},
                        threads=1)
        resp = gw.get("/hello")
        self.assertResponse(resp, 200)
        body = json.loads(resp.body)
        self.assertEqual(body["status"], "success")
        self.assertEqual(body["message"], "hi")
        self.assertEqual(body["data"]["env"], {"UPSTREAM": "http://127.0.0.1:9"})
        self.assertEqual(body["data"]["path"], "/hello")
        self.assertEqual(resp.header("x-powered-by"), "workgate")

    def test_the_function_gets_the_clients_request(self):
        gw = self.start(base_config(self.script), env={"UPSTREAM": "http://127.0.0.1:9"}, threads=1)

        def seen(method, head, body=b""):
            with gw.connect() as conn:
                conn.send(f"{method} /seen/a/b?x=1&y=%20 HTTP/1.1\r\nHost: api.test\r\n{head}"
                          f"Connection: close\r\n\r\n".encode() + body)
                return conn.read_response(head=method == "HEAD")

        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"):
            with self.subTest(method=method):
                data = b"" if method == "GET" else b"some body"
                resp = seen(method, f"X-Mine: one\r\nX-WG-Call: {{\"wg\":{{\"op\":\"describe\"}}}}\r\n"
                            f"Content-Length: {len(data)}\r\n", data)
                self.assertEqual(resp.status, 200, resp.body[:300])
                got = json.loads(resp.body)["data"]
                self.assertEqual(got["method"], method)
                self.assertEqual(got["url"], "http://api.test/seen/a/b?x=1&y=%20")
                names = [n for n, _ in got["headers"]]
                self.assertIn(["x-mine", "one"], got["headers"])
                self.assertNotIn("x-wg-call", names)  # the client's forgery is dropped, the gateway's consumed
                self.assertEqual(got["body"], data.decode() if data else None)
                # request.cf: nothing but the gateway's call metadata on workerd's own Request; nothing on
                # the Request the bridge builds (a method workerd's server does not take)
                if method == "PROPFIND":
                    self.assertIsNone(got["cf"])
                else:
                    self.assertEqual(sorted(got["cf"]), ["wg"])
                    self.assertEqual(got["cf"]["wg"]["fn"], "seen")
        # HEAD (the call itself goes as GET, so the answer keeps its body): the client gets the head only
        resp = seen("HEAD", "")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"")
        self.assertGreater(int(resp.header("content-length")), 0)

    def test_throw_is_500_with_the_message_only_in_the_log(self):
        gw = self.start(base_config(self.script), threads=1)
        resp = gw.get("/boom")
        self.assertResponse(resp, 500, json_body={"message": "Internal server error"})
        self.assertNotIn(b"secret-detail", resp.body)
        self.assertTrue(gw.wait_for_output(lambda t: "worker API.boom failed" in t and "secret-detail" in t))

    def test_fetch_to_a_loopback_upstream(self):
        echo = EchoUpstream()
        self.addCleanup(echo.stop)
        gw = self.start(base_config(self.script), env={"UPSTREAM": echo.url}, threads=1)
        resp = gw.get("/up")
        self.assertResponse(resp, 200)
        seen = json.loads(resp.body)
        self.assertEqual(seen["path"], "/from-js")
        self.assertEqual(seen["headers"].get("x-from-js"), ["yes"])

    def test_one_js_worker_calls_another_through_its_binding(self):
        gw = self.start(base_config(self.script), threads=1)
        resp = gw.get("/binding")
        self.assertResponse(resp, 200)
        self.assertEqual(json.loads(resp.body)["data"], {"sum": 5})

    def test_infinite_loop_is_504_and_the_process_is_recycled(self):
        gw = self.start(base_config(self.script, health_timeout_ms=500, timeout_ms=300), threads=1)
        before = workerd_pids(gw)
        self.assertEqual(len(before), 1)
        started = time.monotonic()
        resp = gw.get("/spin")
        self.assertResponse(resp, 504, json_body={"error": "Worker timed out", "code": "WORKER_TIMEOUT"})
        self.assertLess(time.monotonic() - started, 3.0)
        self.assertTrue(gw.wait_for_output(lambda t: "did not answer its health check" in t, timeout=10))
        self.assertTrue(self.wait_until(lambda: not pid_alive(before[0])))
        self.assertTrue(self.wait_until(lambda: gw.get("/hello").status == 200))
        after = workerd_pids(gw)
        self.assertEqual(len(after), 1)
        self.assertNotEqual(after, before)

    def test_workerd_killed_under_load(self):
        gw = self.start(base_config(self.script), threads=1)
        pids = workerd_pids(gw)
        self.assertEqual(len(pids), 1)
        self.assertResponse(gw.get("/hello"), 200)
        results = {"js": [], "static": []}
        stop = threading.Event()

        def load(path, key):
            while not stop.is_set():
                try:
                    r = gw.get(path)
                    results[key].append((r.status, r.body))
                except OSError as e:  # a failure of the gateway itself: the test fails below
                    results[key].append((0, str(e).encode()))

        threads = [threading.Thread(target=load, args=("/hello", "js")) for _ in range(4)]
        threads += [threading.Thread(target=load, args=("/static", "static")) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        os.kill(pids[0], signal.SIGKILL)
        time.sleep(0.5)
        self.assertTrue(self.wait_until(lambda: len(workerd_pids(gw)) == 1 and workerd_pids(gw) != pids))
        self.assertTrue(self.wait_until(lambda: gw.get("/hello").status == 200))
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        self.assertTrue(results["static"])
        self.assertTrue(all(s == 200 for s, _ in results["static"]), results["static"][:5])
        statuses = {s for s, _ in results["js"]}
        self.assertLessEqual(statuses, {200, 502}, statuses)
        self.assertIn(200, statuses)
        for status, body in results["js"]:
            if status == 502:
                self.assertEqual(json.loads(body), {"error": "Worker unavailable", "code": "WORKER_UNAVAILABLE"})
        self.assertIn("exited", gw.stderr())

    def test_reload_under_load_replaces_workerd_and_stops_the_old_processes(self):
        config = base_config(self.script)
        gw = self.start(config, threads=2)
        old = workerd_pids(gw)
        self.assertEqual(len(old), 2, gw.stderr())  # one per shard
        self.assertResponse(gw.get("/hello"), 200)
        results = []
        stop = threading.Event()

        def load(path):
            while not stop.is_set():
                try:
                    results.append((path, gw.get(path).status))
                except OSError as e:  # a failure of the gateway itself: the test fails below
                    results.append((path, str(e)))

        threads = [threading.Thread(target=load, args=(p,)) for p in ("/hello", "/hello", "/hello", "/static")]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            config["paths"].append({"method": "GET", "path": "/added", "response": {"added": True}})
            gw.write_config(config)
            gw.signal(signal.SIGHUP)
            self.assertTrue(gw.wait_for_output(lambda t: "reloaded" in t, timeout=30), gw.stderr())
            # The old processes go (on the reaper thread) once the last request of the old config is done.
            self.assertEqual(wait_gone(old, timeout=15), [], gw.stderr())
            self.assertTrue(gw.wait_for_output(lambda t: "process(es) stopped in" in t, timeout=10), gw.stderr())
            time.sleep(0.3)  # more requests on the new engine
        finally:
            stop.set()
            for t in threads:
                t.join()
        failed = [r for r in results if r[1] != 200]
        self.assertEqual(failed, [], f"{len(failed)} of {len(results)} requests failed")
        self.assertGreater(sum(1 for p, _ in results if p == "/hello"), 20)
        new = workerd_pids(gw)
        self.assertEqual(len(new), 2)
        self.assertFalse(set(new) & set(old))
        self.assertResponse(gw.get("/added"), 200)
        self.assertResponse(gw.get("/hello"), 200)
        # The old engine's runtime directory is gone, the new one's is there.
        dirs = re.findall(r"process\(es\) ready, \d+ JavaScript worker\(s\), runtime dir (\S+)", gw.stderr())
        self.assertEqual(len(dirs), 2, gw.stderr())
        self.assertFalse(os.path.exists(dirs[0]))
        self.assertTrue(os.path.isdir(dirs[1]))
        self.assertIn(f"runtime dir {dirs[0]} removed", gw.stderr())

    def test_typescript_is_bundled(self):
        ts = write_script(self.dir.name, """
import { WorkerEntrypoint } from "cloudflare:workers";
import { greet } from "./lib";
export class Api extends WorkerEntrypoint {
  async hello(request: Request, envJson: string): Promise<object> { return { message: greet("ts") }; }
}
export class Math extends WorkerEntrypoint { async add(a: number, b: number): Promise<number> { return a + b; } }
""", "api.ts")
        write_script(self.dir.name, "export function greet(who: string): string { return `hello ${who}`; }\n",
                     "lib.ts")
        config = base_config(ts)
        config["paths"] = config["paths"][:1]
        gw = self.start(config, threads=1)
        resp = gw.get("/hello")
        self.assertResponse(resp, 200)
        self.assertEqual(json.loads(resp.body)["message"], "hello ts")


class JsWorkersStartupErrorsTest(unittest.TestCase):
    def setUp(self):
        require_workerd()
        self.dir = tempfile.TemporaryDirectory(prefix="wg-js-")
        self.addCleanup(self.dir.cleanup)

    def serve_fails(self, config):
        path = os.path.join(self.dir.name, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        result = run_cli(["serve", "--config", path, "--listen", "127.0.0.1:0", "--threads", "1"], timeout=60)
        self.assertNotEqual(result.returncode, 0, result.output)
        return result.stderr

    def test_script_that_does_not_parse(self):
        script = write_script(self.dir.name, "export class Api {\n  async hello( {\n}\n")
        err = self.serve_fails(base_config(script))
        self.assertIn("error: /workers/0/script:", err)
        self.assertIn("workerd did not start", err)
        self.assertIn("SyntaxError", err)
        self.assertIn(script + ":", err)  # the user's file, not the generated module name

    def test_missing_class(self):
        script = write_script(self.dir.name, SCRIPT.replace("export class Api ", "export class Other "))
        err = self.serve_fails(base_config(script))
        self.assertIn('error: /workers/0/script: the module has no export "Api"', err)

    def test_function_the_class_does_not_define(self):
        script = write_script(self.dir.name, SCRIPT)
        config = base_config(script)
        config["paths"][0]["integration"]["function"] = "nope"
        err = self.serve_fails(config)
        self.assertIn('error: /paths/0/integration/function: worker binding "API" has no function "nope"', err)

    def test_typescript_error_names_file_and_line(self):
        ts = write_script(self.dir.name, "export class Api {\n  hello(): number { return 1 +; }\n}\n", "bad.ts")
        err = self.serve_fails(base_config(ts))
        self.assertIn("error: /workers/0/script: esbuild cannot bundle it:", err)
        self.assertIn("bad.ts:2:", err)

    def test_workerd_missing(self):
        script = write_script(self.dir.name, SCRIPT)
        config = base_config(script)
        config["gateway"]["js_workers"]["workerd"] = "/nonexistent/workerd"
        err = self.serve_fails(config)
        self.assertIn("error: /workers/0/script: workerd is not installed", err)


class JsWorkersValidateTest(unittest.TestCase):
    """`workgate validate` starts one workerd process and makes the checks serve makes at load (above), every
    failure with its JSON pointer in one pass; then workerd is stopped and its runtime directory removed."""

    def setUp(self):
        require_workerd()
        self.dir = tempfile.TemporaryDirectory(prefix="wg-js-")
        self.addCleanup(self.dir.cleanup)
        # workerd's runtime directory goes under XDG_RUNTIME_DIR: a private one shows it is removed.
        self.runtime = tempfile.TemporaryDirectory(prefix="wg-js-run-")
        self.addCleanup(self.runtime.cleanup)

    def validate(self, config):
        path = os.path.join(self.dir.name, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        result = run_cli(["validate", path], env={"XDG_RUNTIME_DIR": self.runtime.name}, timeout=90)
        self.assertEqual(os.listdir(self.runtime.name), [], "workerd's runtime directory was left behind")
        return result

    def invalid(self, config):
        result = self.validate(config)
        self.assertEqual(result.returncode, 1, result)
        self.assertEqual(result.stdout, "", result)
        return [line for line in result.stderr.splitlines() if line.startswith("error: ")], result

    def test_a_valid_javascript_config(self):
        script = write_script(self.dir.name, SCRIPT)
        result = self.validate(base_config(script))
        self.assertEqual(result.returncode, 0, result)
        self.assertTrue(result.stdout.endswith(": valid (7 routes)\n"), result)
        self.assertEqual(result.stderr, "", result)  # workerd's own lines (ready, stopped) are not printed

    def test_script_that_does_not_parse(self):
        script = write_script(self.dir.name, "export class Api {\n  async hello( {\n}\n")
        errors, result = self.invalid(base_config(script))
        # Both bindings use the script: each is reported (the second is checked once the first is left out).
        self.assertEqual([e.split(":", 2)[1] for e in errors], [" /workers/0/script", " /workers/1/script"], result)
        for line in errors:
            self.assertIn("workerd did not start", line)
            self.assertIn("SyntaxError", line)
            self.assertIn(script + ":", line)  # the user's file, not the generated module name

    def test_missing_entrypoint_class(self):
        script = write_script(self.dir.name, SCRIPT.replace("export class Api ", "export class Other "))
        errors, result = self.invalid(base_config(script))
        self.assertEqual(errors, ['error: /workers/0/script: the module has no export "Api" (the class '
                                  '"entrypoint" names)'], result)

    def test_function_the_class_does_not_define(self):
        script = write_script(self.dir.name, SCRIPT)
        config = base_config(script)
        config["paths"][0]["integration"]["function"] = "nope"
        config["paths"][1]["pre_process"] = {"binding": "api", "function": "alsoMissing"}
        errors, result = self.invalid(config)
        self.assertEqual(errors, [
            'error: /paths/0/integration/function: worker binding "API" has no function "nope"',
            'error: /paths/1/pre_process/function: worker binding "API" has no function "alsoMissing"'], result)

    def test_workerd_missing(self):
        script = write_script(self.dir.name, SCRIPT)
        config = base_config(script)
        config["gateway"]["js_workers"]["workerd"] = "/nonexistent/workerd"
        errors, result = self.invalid(config)
        self.assertEqual(errors, ['error: /workers/0/script: workerd is not installed: gateway.js_workers.workerd '
                                  '"/nonexistent/workerd" is not an executable file; validate starts it to check '
                                  'that the JavaScript workers load'], result)

    def test_errors_of_several_kinds_in_one_pass(self):
        good = write_script(self.dir.name, SCRIPT, "good.js")
        broken = write_script(self.dir.name, "export class Api {\n  hello( {\n}\n", "broken.js")
        ts = write_script(self.dir.name, "export class Api {\n  hello(): number { return 1 +; }\n}\n", "bad.ts")
        service = write_script(self.dir.name, "export default class { async notFetch() {} }\n", "svc.js")
        hook = {"type": "service_binding", "binding": "good", "function": "hello"}
        config = {
            "workers": [
                {"binding": "GOOD", "script": good, "entrypoint": "Api"},
                {"binding": "BROKEN", "script": broken, "entrypoint": "Api"},
                {"binding": "NOCLASS", "script": good, "entrypoint": "Gone"},
                {"binding": "TS", "script": ts, "entrypoint": "Api"},
            ],
            "services": [{"alias": "svc", "entrypoint": service}],
            "serviceBindings": [{"alias": "good", "binding": "GOOD"}, {"alias": "noclass", "binding": "NOCLASS"}],
            "paths": [
                {"method": "BREW", "path": "/loader", "response": {}},
                {"method": "GET", "path": "/ok", "integration": hook},
                {"method": "GET", "path": "/missing", "integration": {**hook, "function": "missing"}},
                {"method": "GET", "path": "/svc", "integration": {"type": "service", "binding": "svc"}},
                {"method": "GET", "path": "/post", "response": {},
                 "post_process": {"binding": "good", "function": "nopePost"}},
                {"method": "GET", "path": "/noclass", "integration": {**hook, "binding": "noclass"}},
            ],
        }
        errors, result = self.invalid(config)
        by_pointer = {e.split(": ", 2)[1]: e.split(": ", 2)[2] for e in errors}
        self.assertEqual(sorted(by_pointer), sorted([
            "/paths/0/method", "/workers/1/script", "/workers/2/script", "/workers/3/script",
            "/services/0/entrypoint", "/paths/2/integration/function", "/paths/4/post_process/function"]), result)
        self.assertIn("SyntaxError", by_pointer["/workers/1/script"])
        self.assertIn(broken + ":", by_pointer["/workers/1/script"])
        self.assertEqual(by_pointer["/workers/2/script"], 'the module has no export "Gone" (the class "entrypoint" '
                                                          'names)')
        self.assertIn("esbuild cannot bundle it:", by_pointer["/workers/3/script"])
        self.assertEqual(by_pointer["/services/0/entrypoint"], 'the default export class has no method "fetch"')
        self.assertEqual(by_pointer["/paths/2/integration/function"], 'worker binding "GOOD" has no function '
                                                                      '"missing"')
        self.assertEqual(by_pointer["/paths/4/post_process/function"], 'worker binding "GOOD" has no function '
                                                                       '"nopePost"')
        self.assertIn(f"{len(errors)} error(s)", result.stderr)
        # serve stops at the first of them (one workerd config); validate has them all.


if __name__ == "__main__":
    unittest.main()
