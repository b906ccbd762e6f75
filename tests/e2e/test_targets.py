"""servers[].targets: balancing over real upstreams, a target killed mid-load (connect failures retried on
the other target, zero failed client requests), ejection and re-admission by health checks, `hash`
stickiness, weights, and the max_requests circuit breaker (docs/proxy.md)."""

import concurrent.futures
import threading
import time
import unittest

from proxy_support import ORIGIN, ProxyTestCase, proxy_config, proxy_route, refused_port
from test_admin import admin_get, admin_port
from upstreams import EchoUpstream

OVERLOADED = {"error": "Upstream overloaded", "code": "UPSTREAM_OVERLOADED"}


def cluster(alias, urls, **extra):
    entry = {"alias": alias, "targets": [{"url": u} if isinstance(u, str) else u for u in urls]}
    entry.update(extra)
    return entry


def proxied(up):
    """The requests an upstream received, without the health checks."""
    with up.lock:
        return [r for r in up.requests if r["path"] != "/health"]


class TargetsTest(ProxyTestCase):
    def test_weights_are_exact_on_one_thread(self):
        a, b = self.upstream(), self.upstream()
        gw = self.start(proxy_config([cluster("api", [{"url": a.url, "weight": 3}, {"url": b.url}])],
                                     [proxy_route("/w/{.+}", "api")]), threads=1)
        for i in range(40):
            self.echo(gw.request("GET", f"/w/{i}"))
        self.assertEqual((len(proxied(a)), len(proxied(b))), (30, 10), self.context())
        # The Host field names the target each request went to.
        self.assertEqual({r["headers"]["host"][0] for r in proxied(a)}, {f"127.0.0.1:{a.port}"})
        self.assertEqual({r["headers"]["host"][0] for r in proxied(b)}, {f"127.0.0.1:{b.port}"})

    def test_hash_sends_each_key_to_one_target(self):
        a, b = self.upstream(), self.upstream()
        gw = self.start(proxy_config([cluster("api", [a.url, b.url], balance="hash",
                                              hash_key="$request.header.x-user")],
                                     [proxy_route("/h/{.+}", "api")]), threads=2)
        for round_ in range(4):
            for user in range(30):
                self.echo(gw.request("GET", f"/h/{round_}", headers=[("X-User", f"user-{user}")]))
        users_a = {r["headers"]["x-user"][0] for r in proxied(a)}
        users_b = {r["headers"]["x-user"][0] for r in proxied(b)}
        self.assertEqual(users_a & users_b, set(), "a key went to both targets")
        self.assertEqual(len(users_a | users_b), 30)
        self.assertTrue(users_a and users_b, f"one target got every key: {len(users_a)} / {len(users_b)}")
        self.assertEqual(len(proxied(a)) + len(proxied(b)), 120)

    def test_max_requests_breaker_answers_503(self):
        a = self.upstream()
        gw = self.start(proxy_config([cluster("api", [a.url], max_requests=1)], [proxy_route("/b/{.+}", "api")],
                                     gateway={"admin": {"listen": "127.0.0.1:0"}}), threads=1)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(gw.request, "GET", "/b/slow", headers=[("X-Echo-Mode", "delay=1")])
            self.assertTrue(a.wait_for(lambda up: up.inflight >= 1))
            self.assertGatewayError(gw.request("GET", "/b/fast", headers=[("Origin", ORIGIN)]), 503, OVERLOADED)
            self.echo(held.result(timeout=5))
        self.echo(gw.request("GET", "/b/after"))
        metrics = admin_get(admin_port(gw), "/metrics").text
        self.assertIn('workgate_upstream_breaker_rejections_total{server="api"} 1', metrics)

    def test_post_after_connect_failure_is_retried_on_the_other_target(self):
        a = self.upstream()
        dead = f"http://127.0.0.1:{refused_port()}"
        gw = self.start(proxy_config([cluster("api", [dead, a.url])], [proxy_route("/p/{.+}", "api")]),
                        threads=1)
        for i in range(10):  # round robin sends every other one to the dead target first
            self.assertEqual(self.echo(gw.request("POST", f"/p/{i}", body=b"payload"))["body_length"], 7)
        self.assertEqual(len(proxied(a)), 10)
        self.assertEqual({r["method"] for r in proxied(a)}, {"POST"})

    def test_killed_target_zero_failures_ejected_then_readmitted(self):
        a, b = self.upstream(), EchoUpstream()
        b_port = b.port
        revived = []

        def cleanup():
            b.stop()
            for up in revived:
                up.stop()
        self.addCleanup(cleanup)
        gw = self.start(proxy_config(
            [cluster("api", [a.url, b.url],
                     # Checks slower than the traffic: requests find the dead target first (retried, ejected).
                     health_check={"path": "/health", "interval_ms": 1000, "timeout_ms": 300,
                                   "healthy_threshold": 1, "unhealthy_threshold": 1},
                     outlier={"consecutive_connect_failures": 1, "base_ejection_ms": 300,
                              "max_ejection_ms": 600})],
            [proxy_route("/k/{.+}", "api")], gateway={"admin": {"listen": "127.0.0.1:0"}}), threads=2)
        admin = admin_port(gw)

        failures = []
        statuses = {}
        stop = threading.Event()
        lock = threading.Lock()

        def load(worker):
            # Idempotent methods: a request the dying target accepted and then reset is retried for these
            # only (a POST then may have been processed); test_post_after_connect_failure covers POST.
            i = 0
            while not stop.is_set():
                method = ("GET", "PUT", "DELETE")[i % 3]
                try:
                    resp = gw.request(method, f"/k/{worker}/{i}", body=b"x" if method == "PUT" else None)
                    with lock:
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    if resp.status != 200:
                        failures.append((method, resp.status, resp.body[:200]))
                except Exception as e:  # noqa: BLE001 - any client failure counts
                    failures.append((method, "exception", repr(e)))
                i += 1

        threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.7)
            self.assertTrue(proxied(b), "target b got no traffic before it was killed")
            # Mid-load: from now on new connections to it are refused. (A kill that cut a response after its
            # head reached the client cannot be retried by anyone; that is not what this test is about.)
            b.refuse_new()
            time.sleep(1.5)
            before_revival = len(proxied(a))
            metrics = admin_get(admin, "/metrics").text
            dead = f'server="api",target="http://127.0.0.1:{b_port}"'
            self.assertIn(f"workgate_upstream_target_healthy{{{dead}}} 0", metrics)
            self.assertRegex(metrics, rf"workgate_upstream_target_ejections_total{{{dead}}} [1-9]")
            self.assertRegex(metrics, rf"workgate_upstream_target_health_check_failures_total{{{dead}}} [1-9]")
            self.assertRegex(metrics, rf'workgate_upstream_retries_total{{upstream="http://127.0.0.1:{b_port}"}} [1-9]')
            self.assertIn(f'workgate_upstream_target_healthy{{server="api",target="http://127.0.0.1:{a.port}"}} 1',
                          metrics)
            # Revived on the same port: the health check re-admits it and traffic reaches it again.
            b2 = EchoUpstream(port=b_port)
            revived.append(b2)
            self.assertTrue(b2.wait_for(lambda up: len([r for r in up.requests if r["path"] != "/health"]) > 5,
                                        timeout=5), f"revived target got no traffic{self.context()}")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
        self.assertEqual(failures[:5], [], f"{len(failures)} failed client requests; statuses {statuses}"
                                           f"{self.context()}")
        self.assertGreater(before_revival, 50)
        stderr = gw.stderr()
        self.assertIn("ejected", stderr)
        self.assertIn("unhealthy", stderr)
        self.assertIn("healthy again", stderr)


if __name__ == "__main__":
    unittest.main()
