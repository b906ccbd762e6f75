"""Process lifecycle: graceful SIGTERM drain, refusing new connections, SIGHUP reload."""

import os
import signal
import tempfile
import socket
import time
import unittest

from harness import GatewayTestCase, build_request

CONFIG = {"paths": [
    {"method": "GET", "path": "/health", "response": {"status": "ok"}},
    {"method": "POST", "path": "/submit", "response": {"accepted": True}},
]}


def wait_until(predicate, timeout=3.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class ShutdownTest(GatewayTestCase):
    def start_slow_upload(self, gw):
        """A POST whose head and half its body were sent; the rest is still to come."""
        conn = gw.connect()
        self.addCleanup(conn.close)
        # The interim 100 Continue proves the gateway has parsed the head and is now reading the body.
        conn.send(build_request("POST", "/submit", headers=[("Content-Length", "10"), ("Expect", "100-continue")]))
        _, status, _, _, _ = conn.read_head()
        self.assertEqual(status, 100, gw.describe())
        conn.send(b"hello")
        time.sleep(0.1)
        return conn

    def send_signal_and_wait_for_drain(self, gw):
        gw.signal(signal.SIGTERM)
        gw.wait_for_output(lambda t: "draining" in t, timeout=3)

    def test_sigterm_lets_an_in_flight_request_finish_and_exits_0(self):
        gw = self.start(CONFIG)
        conn = self.start_slow_upload(gw)
        self.send_signal_and_wait_for_drain(gw)
        time.sleep(0.2)
        self.assertIsNone(gw.proc.poll(), "gateway exited with a request in flight" + gw.describe())
        conn.send(b"wor")
        time.sleep(0.2)
        conn.send(b"ld")
        resp = conn.read_response()
        self.assertResponse(resp, 200, json_body={"accepted": True}, headers={"Connection": "close"})
        self.assertTrue(conn.closed_by_server(timeout=3))
        self.assertEqual(gw.wait_exit(timeout=5), 0, "exit status after drain" + gw.describe())

    def test_new_connections_are_refused_after_sigterm(self):
        gw = self.start(CONFIG)
        conn = self.start_slow_upload(gw)
        self.send_signal_and_wait_for_drain(gw)

        def refused():
            try:
                with socket.create_connection((gw.host, gw.port), timeout=1) as s:
                    s.settimeout(1)
                    s.sendall(build_request("GET", "/health", close=True))
                    data = s.recv(100)  # accepted before the listener closed: must not be served either
                    return data == b""
            except (ConnectionRefusedError, ConnectionResetError):
                return True
        self.assertTrue(wait_until(refused, timeout=2), "new connections still accepted" + gw.describe())
        self.assertIsNone(gw.proc.poll(), "gateway must still be draining" + gw.describe())
        conn.send(b"world")
        self.assertResponse(conn.read_response(), 200, json_body={"accepted": True})
        self.assertEqual(gw.wait_exit(timeout=5), 0, gw.describe())

    def test_sigterm_on_idle_gateway_exits_0_promptly(self):
        gw = self.start(CONFIG)
        with gw.connect() as idle:  # an idle keep-alive connection does not hold the drain up
            idle.send(build_request("GET", "/health"))
            self.assertResponse(idle.read_response(), 200)
            started = time.monotonic()
            gw.signal(signal.SIGTERM)
            self.assertEqual(gw.wait_exit(timeout=5), 0, gw.describe())
            self.assertLess(time.monotonic() - started, 2.0)
            self.assertTrue(idle.closed_by_server(timeout=2))


    def test_sigint_drains_like_sigterm(self):
        gw = self.start(CONFIG)
        conn = self.start_slow_upload(gw)
        gw.signal(signal.SIGINT)
        gw.wait_for_output(lambda t: "draining" in t, timeout=3)
        conn.send(b"world")
        self.assertResponse(conn.read_response(), 200, json_body={"accepted": True})
        self.assertEqual(gw.wait_exit(timeout=5), 0, gw.describe())

    def test_drain_timeout_closes_stalled_connections_and_exits(self):
        gw = self.start(CONFIG, args=["--drain-timeout-ms", "300"])
        conn = self.start_slow_upload(gw)  # never finishes its body
        started = time.monotonic()
        gw.signal(signal.SIGTERM)
        self.assertEqual(gw.wait_exit(timeout=5), 0, gw.describe())
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertTrue(conn.closed_by_server(timeout=2))


class ReloadTest(GatewayTestCase):
    NEW = {"paths": CONFIG["paths"] + [{"method": "GET", "path": "/new", "response": {"new": True}}]}

    def test_sighup_reloads_an_edited_config(self):
        gw = self.start(CONFIG)
        self.assertResponse(gw.get("/new"), 404)
        gw.write_config(self.NEW)
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: gw.get("/new").status == 200, timeout=3), "route not added" + gw.describe())
        self.assertResponse(gw.get("/new"), 200, json_body={"new": True})
        self.assertResponse(gw.get("/health"), 200, json_body={"status": "ok"})
        self.assertIsNone(gw.proc.poll(), "SIGHUP must not stop the gateway")

    def test_sighup_reload_applies_to_an_open_keep_alive_connection(self):
        gw = self.start(CONFIG)
        with gw.connect() as conn:
            conn.send(build_request("GET", "/new"))
            self.assertResponse(conn.read_response(), 404)
            gw.write_config(self.NEW)
            gw.signal(signal.SIGHUP)
            gw.wait_for_output(lambda t: "reloaded" in t, timeout=3)
            conn.send(build_request("GET", "/new"))
            self.assertResponse(conn.read_response(), 200, json_body={"new": True})

    def test_broken_json_edit_keeps_the_old_config_and_logs_an_error(self):
        gw = self.start(CONFIG)
        gw.write_config('{"paths": [ {"method": "GET", "path": "/new" ')
        gw.signal(signal.SIGHUP)
        text = gw.wait_for_output(lambda t: "reload failed" in t, timeout=3)
        self.assertIn("reload failed", text, gw.describe())
        self.assertRegex(text, r"(?i)error", gw.describe())
        self.assertResponse(gw.get("/health"), 200, json_body={"status": "ok"})
        self.assertResponse(gw.get("/new"), 404)
        self.assertIsNone(gw.proc.poll(), "a failed reload must not stop the gateway")

    def test_invalid_config_edit_keeps_the_old_config_and_logs_the_error(self):
        gw = self.start(CONFIG)
        broken = {"paths": CONFIG["paths"] + [
            {"method": "GET", "path": "/new", "integration": {"type": "http_proxy", "server": "api"}}]}
        gw.write_config(broken)
        gw.signal(signal.SIGHUP)
        text = gw.wait_for_output(lambda t: "reload failed" in t, timeout=3)
        self.assertIn('/paths/2/integration/server: unknown server alias "api"', text, gw.describe())
        self.assertResponse(gw.get("/health"), 200, json_body={"status": "ok"})
        self.assertResponse(gw.get("/new"), 404)

    def test_sighup_rereads_env_files(self):
        env_dir = self.enterContext(tempfile.TemporaryDirectory(prefix="wg-e2e-env-"))
        env_file = os.path.join(env_dir, "gateway.env")
        with open(env_file, "w") as f:
            f.write("WG_E2E_COLOR=blue\n")
        gw = self.start({"paths": [{"method": "GET", "path": "/color", "response": {"color": "$env.WG_E2E_COLOR"}}]},
                        args=["--env-file", env_file])
        self.assertResponse(gw.get("/color"), 200, json_body={"color": "blue"})
        with open(env_file, "w") as f:
            f.write("WG_E2E_COLOR=green\n")
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: gw.get("/color").json() == {"color": "green"}, timeout=3), gw.describe())

    def test_reload_after_a_failed_reload_succeeds(self):
        gw = self.start(CONFIG)
        gw.write_config("not json")
        gw.signal(signal.SIGHUP)
        gw.wait_for_output(lambda t: "reload failed" in t, timeout=3)
        gw.write_config(self.NEW)
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: gw.get("/new").status == 200, timeout=3), gw.describe())


if __name__ == "__main__":
    unittest.main()
