"""Process robustness: a restart on the same port right after a stop (TIME-WAIT), SIGTERM during a reload
that waits on a JWKS that never answers, config numbers outside the int64 range, and rate-limited
repeated warnings under descriptor exhaustion."""

import json
import os
import re
import resource
import signal
import socket
import threading
import time
import unittest

from harness import Gateway, GatewayTestCase, build_request, run_cli, write_temp

CONFIG = {"paths": [{"method": "GET", "path": "/health", "response": {"status": "ok"}}]}


def wait_until(predicate, timeout=5.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def time_wait_count(port):
    """Sockets in TIME-WAIT (state 06) whose local port is `port`, from /proc/net/tcp{,6}."""
    count = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "06":
                count += 1
    return count


class RestartOnTheSamePortTest(unittest.TestCase):
    def test_restart_right_after_a_stop_with_connections_in_time_wait_starts(self):
        first = Gateway(CONFIG)
        self.addCleanup(first.cleanup)
        first.wait_ready()
        for _ in range(5):  # Connection: close: the gateway closes first, its side goes to TIME-WAIT
            resp = first.get("/health")
            self.assertEqual(resp.status, 200, first.describe())
        self.assertTrue(wait_until(lambda: time_wait_count(first.port) > 0, timeout=3),
                        "no server-side TIME-WAIT connection to test with")
        self.assertEqual(first.stop(), 0, first.describe())
        self.assertGreater(time_wait_count(first.port), 0)

        second = Gateway(CONFIG, port=first.port)
        self.addCleanup(second.cleanup)
        second.wait_ready()
        self.assertNotIn("already in use", second.stderr())
        self.assertEqual(second.get("/health").status, 200, second.describe())

    def test_a_running_gateway_on_the_port_is_still_detected(self):
        first = Gateway(CONFIG)
        self.addCleanup(first.cleanup)
        first.wait_ready()
        second = Gateway(CONFIG, port=first.port)
        self.addCleanup(second.cleanup)
        self.assertEqual(second.wait_exit(timeout=10), 1, second.describe())
        self.assertIn(f"address 127.0.0.1:{first.port} is already in use", second.stderr())


class BlackHole:
    """A TCP server that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        for c in self.accepted:
            c.close()
        self.sock.close()


class SigtermDuringReloadTest(GatewayTestCase):
    def test_sigterm_during_a_reload_waiting_on_an_unanswered_jwks_exits_promptly(self):
        hole = BlackHole()
        self.addCleanup(hole.stop)
        gw = self.start(CONFIG, env={"AUTH0_CLIENT_SECRET": "robustness-client-secret"})
        gw.write_config({
            "authorizer": {"type": "auth0", "domain": "tenant.example.test", "client_id": "client-1",
                           "client_secret": "$secret.AUTH0_CLIENT_SECRET",
                           "redirect_uri": "https://app.example.test/cb", "scope": "openid",
                           "jwks_uri": f"http://127.0.0.1:{hole.port}/.well-known/jwks.json"},
            "paths": CONFIG["paths"]})
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: len(hole.accepted) > 0, timeout=5), "the reload never fetched")
        # The reload now waits for the JWKS (up to its 5 s fetch timeout); requests are still served.
        self.assertEqual(gw.get("/health").status, 200, gw.describe())
        started = time.monotonic()
        gw.signal(signal.SIGTERM)
        code = gw.wait_exit(timeout=15)
        elapsed = time.monotonic() - started
        self.assertEqual(code, 0, gw.describe())
        self.assertLess(elapsed, 2.0, "SIGTERM waited for the reload" + gw.describe())
        self.assertIn("draining", gw.stderr())
        self.assertIn("abandoned", gw.stderr())


class ConfigNumberTest(unittest.TestCase):
    def test_numbers_outside_the_int64_range_are_config_errors_with_their_pointer(self):
        path = write_temp('{"gateway": {"max_body_bytes": 1e300, "max_headers": -1e300, '
                          '"header_timeout_ms": 18446744073709551615, "body_timeout_ms": 1.5, '
                          '"idle_timeout_ms": -5}, "paths": []}')
        self.addCleanup(os.unlink, path)
        r = run_cli(["validate", path])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("error: /gateway/max_body_bytes: must be between 0 and 9223372036854775807", r.stderr, r)
        self.assertIn("error: /gateway/max_headers: must be between 1 and 10000", r.stderr, r)
        self.assertIn("error: /gateway/header_timeout_ms: must be between 1 and 86400000", r.stderr, r)
        self.assertIn("error: /gateway/body_timeout_ms: must be an integer", r.stderr, r)
        self.assertIn("error: /gateway/idle_timeout_ms: must be between 1 and 86400000", r.stderr, r)
        self.assertIn("5 error(s)", r.stderr, r)

    def test_an_integral_double_in_range_is_accepted(self):
        path = write_temp('{"gateway": {"max_body_bytes": 1e6}, "paths": []}')
        self.addCleanup(os.unlink, path)
        r = run_cli(["validate", path])
        self.assertEqual(r.returncode, 0, r)


FD_LIMIT = 48


def low_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


class RepeatedWarningTest(GatewayTestCase):
    def test_descriptor_exhaustion_logs_suppression_counts_and_the_gateway_recovers(self):
        gw = self.start(CONFIG, threads=1, preexec_fn=low_fd_limit)
        self.assertEqual(gw.get("/health").status, 200, gw.describe())
        clients = []
        self.addCleanup(lambda: [c.close() for c in clients])
        for _ in range(FD_LIMIT * 2):  # more than the gateway can accept: the rest waits in the backlog
            clients.append(socket.create_connection((gw.host, gw.port), timeout=5))
        text = gw.wait_for_output(lambda t: "Too many open files" in t, timeout=5)
        self.assertIn("accept failed: Too many open files", text, gw.describe())
        time.sleep(2.5)  # the accept loop retries every 50 ms: about 50 failures in this time
        text = gw.wait_for_output(lambda t: "(repeated " in t, timeout=3)
        failures = [line for line in text.splitlines() if "accept failed: Too many open files" in line]
        self.assertLessEqual(len(failures), 6, "repeated warnings are not rate-limited" + gw.describe())
        counts = [int(n) for n in re.findall(r"accept failed: Too many open files \(repeated (\d+) times\)", text)]
        self.assertTrue(counts, gw.describe())
        self.assertGreaterEqual(sum(counts), 20, gw.describe())

        for c in clients:
            c.close()
        clients.clear()
        self.assertTrue(wait_until(lambda: self.healthy(gw), timeout=10), "no recovery" + gw.describe())

    @staticmethod
    def healthy(gw):
        try:
            with socket.create_connection((gw.host, gw.port), timeout=1) as s:
                s.settimeout(1)
                s.sendall(build_request("GET", "/health", close=True))
                return s.recv(12).startswith(b"HTTP/1.1 200")
        except OSError:
            return False


if __name__ == "__main__":
    unittest.main()
