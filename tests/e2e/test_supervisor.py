"""The supervisor of `workgate serve`: a crash of the serving process (a worker module dereferencing NULL)
restarts it at once while the supervisor keeps the listening sockets, so clients are never refused;
signals are forwarded; startup failures are not restarted; --no-supervise keeps a single process."""

import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import GatewayTestCase, build_request, child_pids, free_port, run_cli, wait_gone, workgate_bin, \
    write_temp


def crash_module():
    path = os.path.join(os.path.dirname(workgate_bin()), "workers", "test", "libworkgate-test-crash.so")
    if not os.path.exists(path):
        raise unittest.SkipTest(f"crash worker module not built: {path}")
    return path


def crash_config():
    return {
        "services": [{"alias": "crash", "entrypoint": crash_module()}],
        "paths": [
            {"method": "GET", "path": "/ok", "response": {"ok": True}},
            {"method": "GET", "path": "/crash", "integration": {"type": "service", "binding": "crash"}},
        ],
    }


SEGV_LINE = "killed by signal 11 (Segmentation fault); restarting in 0 ms"


def wait_until(predicate, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Connector(threading.Thread):
    """Connects to the gateway in a tight loop (connect, close) and counts refused connections."""

    def __init__(self, host, port, max_seconds=20.0):
        super().__init__(daemon=True)
        self.address = (host, port)
        self.max_seconds = max_seconds
        self.stop_flag = threading.Event()
        self.connected = 0
        self.refused = 0
        self.other_errors = []

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        while not self.stop_flag.is_set() and time.monotonic() < deadline:
            try:
                with socket.create_connection(self.address, timeout=2):
                    self.connected += 1
            except ConnectionRefusedError:
                self.refused += 1
            except OSError as e:
                self.other_errors.append(repr(e))
            time.sleep(0.001)

    def finish(self):
        self.stop_flag.set()
        self.join(timeout=10)


def crash_env():
    """The crash must stay a SIGSEGV under the asan preset: the sanitizers' own SEGV handlers would turn it
    into a report and exit status 1 (the crash module itself is built uninstrumented, cmake/workers.cmake).
    No effect on a release build."""
    env = {}
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        current = os.environ.get(name, "")
        env[name] = (current + ":" if current else "") + "handle_segv=0"
    return env


class CrashRestartTest(GatewayTestCase):
    def start(self, config, env=None, **kwargs):
        return super().start(config, env={**crash_env(), **(env or {})}, **kwargs)

    def crash(self, gw):
        """GET /crash: the serving process dies in the worker; the client's connection just ends."""
        with gw.connect() as conn:
            conn.send(build_request("GET", "/crash", close=True))
            with self.assertRaises(ConnectionError, msg="a crashing worker cannot answer" + gw.describe()):
                conn.read_response()

    def ok(self, gw):
        self.assertResponse(gw.get("/ok"), 200, json_body={"ok": True}, gw=gw)

    def test_a_crashing_worker_restarts_the_serving_process_and_no_client_is_refused(self):
        gw = self.start(crash_config())
        self.ok(gw)
        first = gw.serving_pid()
        self.assertNotEqual(first, gw.pid, "serve runs a supervisor and a serving process" + gw.describe())

        connector = Connector(gw.host, gw.port)
        connector.start()
        self.addCleanup(connector.finish)
        time.sleep(0.2)
        before = connector.connected
        self.crash(gw)
        text = gw.wait_for_output(lambda t: SEGV_LINE in t, timeout=5)
        self.assertIn(f"serving process {first} {SEGV_LINE}", text, gw.describe())
        self.assertTrue(wait_until(lambda: gw.serving_pid() not in (first, gw.pid)), gw.describe())
        self.ok(gw)  # other routes work again (queued connections included)
        time.sleep(0.3)
        connector.finish()

        self.assertEqual(connector.refused, 0, "connections refused during the restart" + gw.describe())
        self.assertGreater(connector.connected - before, 20, gw.describe())
        self.assertIsNone(gw.proc.poll(), "the supervisor keeps running" + gw.describe())
        self.ok(gw)
        self.assertEqual(gw.stop(), 0, gw.describe())

    def test_repeated_crashes_back_off_and_a_request_during_the_backoff_waits_and_is_served(self):
        gw = self.start(crash_config())
        self.crash(gw)
        gw.wait_for_output(lambda t: SEGV_LINE in t, timeout=5)
        self.assertTrue(wait_until(lambda: gw.get("/ok").status == 200, timeout=5), gw.describe())
        self.crash(gw)  # dies again within 10 s of its start: the next start waits 250 ms
        # The crashed process is gone (its connection ended); no process serves for 250 ms.
        with gw.connect() as waiting:
            self.assertNotIn("(restart 2)", gw.stderr(), "the restart must not have happened yet")
            waiting.send(build_request("GET", "/ok", close=True))
            self.assertResponse(waiting.read_response(), 200, json_body={"ok": True}, gw=gw)
        text = gw.stderr()
        self.assertRegex(text, r"serving process \d+ killed by signal 11 \(Segmentation fault\); "
                               r"restarting in 250 ms", gw.describe())
        self.assertIn("(restart 2)", text)
        self.assertEqual(gw.stop(), 0, gw.describe())

    def test_signals_are_forwarded_and_sigterm_exits_with_the_serving_process_status(self):
        gw = self.start(crash_config())
        serving = gw.serving_pid()
        # SIGHUP reaches the serving process (it reloads; the supervisor does not die of it).
        gw.signal(signal.SIGHUP)
        self.assertIn("reloaded", gw.wait_for_output(lambda t: "reloaded" in t, timeout=5), gw.describe())
        self.assertEqual(gw.serving_pid(), serving)
        gw.signal(signal.SIGTERM)
        self.assertEqual(gw.wait_exit(timeout=5), 0, gw.describe())
        self.assertIn("draining", gw.stderr())
        self.assertEqual(wait_gone([serving], timeout=2), [], "serving process left behind")

    def test_the_serving_process_dies_with_a_killed_supervisor(self):
        gw = self.start(crash_config())
        serving = gw.serving_pid()
        self.assertNotEqual(serving, gw.pid)
        gw.proc.kill()
        gw.proc.wait(timeout=5)
        self.assertEqual(wait_gone([serving], timeout=5), [], "orphaned serving process" + gw.describe())

    def test_a_restart_that_fails_at_startup_ends_the_supervisor(self):
        gw = self.start(crash_config())
        gw.write_config('{"paths": [ "not a route" ]}')
        self.crash(gw)
        self.assertEqual(gw.wait_exit(timeout=10), 1, gw.describe())
        text = gw.stderr()
        self.assertIn(SEGV_LINE, text)
        self.assertIn("/paths/0", text)
        self.assertRegex(text, r"serving process \d+ exited with status 1 while starting; stopping")
        self.assertEqual(text.count("started serving process"), 1, gw.describe())

    def test_no_supervise_runs_one_process_that_a_crash_ends(self):
        gw = self.start(crash_config(), args=["--no-supervise"])
        self.ok(gw)
        self.assertEqual(child_pids(gw.pid), [])
        self.assertEqual(gw.serving_pid(), gw.pid)
        self.crash(gw)
        self.assertEqual(gw.wait_exit(timeout=5), -signal.SIGSEGV, gw.describe())


class StartupTest(unittest.TestCase):
    def test_config_error_exits_1_with_the_messages_and_is_not_restarted(self):
        path = write_temp('{"paths": [{"method": "GET", "path": "/x", "integration": '
                          '{"type": "http_proxy", "server": "api"}}]}')
        self.addCleanup(os.unlink, path)
        started = time.monotonic()
        r = run_cli(["serve", "--config", path, "--listen", f"127.0.0.1:{free_port()}", "--threads", "2"])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn('error: /paths/0/integration/server: unknown server alias "api"', r.stderr, r)
        self.assertNotIn("restarting", r.stderr, r)
        self.assertLess(time.monotonic() - started, 5)

    def test_port_zero_reports_the_bound_port_and_serves_there(self):
        path = write_temp('{"paths": [{"method": "GET", "path": "/ok", "response": {"ok": true}}]}')
        self.addCleanup(os.unlink, path)
        err = write_temp("", suffix=".log")
        self.addCleanup(os.unlink, err)
        with open(err, "wb") as f:
            proc = subprocess.Popen([workgate_bin(), "serve", "--config", path, "--listen", "127.0.0.1:0",
                                     "--threads", "2"], stdout=subprocess.DEVNULL, stderr=f, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(5)))
        found = []

        def port_logged():
            with open(err) as f:
                found[:] = re.findall(r"on http://127\.0\.0\.1:(\d+) with 2 thread", f.read())
            return bool(found)
        self.assertTrue(wait_until(port_logged, timeout=10), "port not logged")
        port = int(found[0])
        self.assertNotEqual(port, 0)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.settimeout(5)
            s.sendall(build_request("GET", "/ok", close=True))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main()
