"""W3C Trace Context and the OTLP/HTTP JSON export (gateway.tracing): a receiver of our own checks
every export against the OTLP JSON encoding; an echo upstream shows the traceparent it was sent."""

import re
import unittest
import urllib.request

from otlp_support import OtlpReceiver, attributes
from proxy_support import ProxyTestCase, hdr, proxy_route, refused_port, server

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def tracing_config(upstream_url, receiver_url, **tracing):
    settings = {"otlp_endpoint": receiver_url + "/v1/traces", "service_name": "edge-test"}
    settings.update(tracing)
    return {
        "servers": [server("echo", upstream_url)],
        "paths": [proxy_route("/api/{.+}", "echo"),
                  {"method": "GET", "path": "/static", "response": {"status": 200, "body": {"ok": True}}}],
        "gateway": {"tracing": settings, "admin": {"listen": "127.0.0.1:0"}},
    }


class TracingTest(ProxyTestCase):
    def receiver(self, status=200):
        r = OtlpReceiver(status=status)
        self.addCleanup(r.stop)
        return r

    def sent_traceparent(self, record):
        values = hdr(record, "traceparent")
        self.assertEqual(len(values), 1, f"one traceparent to the upstream: {record['headers']}")
        m = TRACEPARENT_RE.match(values[0])
        self.assertIsNotNone(m, values[0])
        return m.groups()

    def test_spans_of_a_proxied_request_follow_the_otlp_encoding_and_link_up(self):
        up = self.upstream()
        rx = self.receiver()
        gw = self.start(tracing_config(up.url, rx.url))
        resp = gw.request("GET", "/api/orders/7?token=secret", headers={
            "traceparent": f"00-{TRACE}-{PARENT}-01", "tracestate": "vendor=abc,other@sys=x y"})
        record = self.echo(resp)
        trace_id, upstream_parent, flags = self.sent_traceparent(record)
        self.assertEqual(trace_id, TRACE)          # the client's trace continues
        self.assertNotEqual(upstream_parent, PARENT)  # with a new span id
        self.assertEqual(flags, "01")
        self.assertEqual(hdr(record, "tracestate"), ["vendor=abc,other@sys=x y"])

        spans = rx.wait_spans(lambda s: len(s) >= 2)
        self.assertEqual(rx.problems, [])
        self.assertEqual(len(spans), 2, spans)
        by_kind = {s["kind"]: s for s in spans}
        server_span, client_span = by_kind[2], by_kind[3]
        self.assertEqual(server_span["traceId"], TRACE)
        self.assertEqual(server_span["parentSpanId"], PARENT)
        self.assertEqual(server_span["name"], "GET /api/{.+}")
        a = attributes(server_span)
        self.assertEqual(a["http.request.method"], "GET")
        self.assertEqual(a["url.path"], "/api/orders/7")
        self.assertEqual(a["http.route"], "/api/{.+}")
        self.assertEqual(a["http.response.status_code"], 200)
        self.assertEqual(a["server.address"], "127.0.0.1")
        self.assertNotIn("server.port", a)  # the Host field had none
        self.assertEqual(a["client.address"], "127.0.0.1")
        self.assertEqual(a["network.protocol.version"], "1.1")
        self.assertEqual(a["url.scheme"], "http")
        self.assertEqual(a["workgate.request_id"], resp.header("X-Request-Id"))
        self.assertNotIn("secret", repr(spans))  # never the query
        # the client span is the server span's child and the upstream's parent
        self.assertEqual(client_span["traceId"], TRACE)
        self.assertEqual(client_span["parentSpanId"], server_span["spanId"])
        self.assertEqual(client_span["spanId"], upstream_parent)
        self.assertEqual(client_span["name"], "GET")
        c = attributes(client_span)
        self.assertEqual(c["http.response.status_code"], 200)
        self.assertEqual(c["server.address"], "127.0.0.1")
        self.assertEqual(c["url.full"], up.url + "/orders/7")
        self.assertGreaterEqual(int(client_span["startTimeUnixNano"]), int(server_span["startTimeUnixNano"]))
        self.assertLessEqual(int(client_span["endTimeUnixNano"]), int(server_span["endTimeUnixNano"]))
        # the export itself
        path, content_type, doc = rx.exports[0]
        self.assertEqual(path, "/v1/traces")
        self.assertEqual(content_type, "application/json")
        resource = attributes(doc["resourceSpans"][0]["resource"])
        self.assertEqual(resource["service.name"], "edge-test")

    def test_client_spans_name_the_target_each_call_went_to(self):
        # A server with two live targets (round robin) and one whose first target refuses connections (a
        # call that picked it moves to the other one): each client span names the target that answered.
        up_a, up_b, up_c = self.upstream(), self.upstream(), self.upstream()
        dead = refused_port()
        rx = self.receiver()
        cfg = tracing_config(up_a.url, rx.url)
        cfg["servers"] = [{"alias": "pair", "targets": [{"url": up_a.url}, {"url": up_b.url}]},
                          {"alias": "moving", "targets": [{"url": f"http://127.0.0.1:{dead}"}, {"url": up_c.url}]}]
        cfg["paths"] = [proxy_route("/api/{.+}", "pair"), proxy_route("/move/{.+}", "moving")]
        gw = self.start(cfg, threads=1)
        for i in range(4):
            self.echo(gw.request("GET", f"/api/r{i}"))
        for i in range(2):
            self.echo(gw.request("GET", f"/move/r{i}"))
        spans = rx.wait_spans(lambda s: sum(1 for x in s if x["kind"] == 3) >= 6)
        self.assertEqual(rx.problems, [])
        clients = [s for s in spans if s["kind"] == 3]
        self.assertEqual(len(clients), 6, clients)
        sent_by = {}  # span id -> the port of the upstream that received it
        for up in (up_a, up_b, up_c):
            for request in up.requests:
                for value in hdr(request, "traceparent"):
                    sent_by[TRACEPARENT_RE.match(value).group(2)] = up.port
        ports = []
        for span in clients:
            a = attributes(span)
            self.assertEqual(a["server.address"], "127.0.0.1")
            self.assertEqual(a["server.port"], sent_by[span["spanId"]], span)  # the target that got the call
            self.assertRegex(a["url.full"], rf"^http://127\.0\.0\.1:{a['server.port']}/r\d$")
            self.assertNotEqual(a["server.port"], dead)
            ports.append(a["server.port"])
            if a["workgate.upstream.server"] == "moving":
                self.assertEqual(a["server.port"], up_c.port)
        self.assertEqual(sorted(p for p in ports if p != up_c.port), sorted([up_a.port, up_a.port, up_b.port, up_b.port]))
        moved = [attributes(s) for s in clients if attributes(s)["workgate.upstream.server"] == "moving"]
        # round robin: one of the two /move calls picked the refusing target first, and was resent once
        self.assertEqual(sorted(m.get("http.request.resend_count", 0) for m in moved), [0, 1], moved)
        self.assertNotIn("http.request.resend_count", {k for s in clients for k in attributes(s)
                                                        if attributes(s)["workgate.upstream.server"] == "pair"})

    def test_a_request_without_traceparent_starts_a_trace(self):
        up = self.upstream()
        rx = self.receiver()
        gw = self.start(tracing_config(up.url, rx.url))
        trace_id, parent, flags = self.sent_traceparent(self.echo(gw.request("GET", "/api/x")))
        self.assertNotEqual(trace_id, "0" * 32)
        self.assertEqual(flags, "01")  # sampled (ratio 1)
        spans = rx.wait_spans(lambda s: len(s) >= 2)
        self.assertEqual(rx.problems, [])
        server_span = next(s for s in spans if s["kind"] == 2)
        self.assertEqual(server_span["traceId"], trace_id)
        self.assertNotIn("parentSpanId", server_span)  # a root span
        # a static route and an unmatched path have server spans too; a 404 span has no route
        self.assertEqual(gw.request("GET", "/static").status, 200)
        self.assertEqual(gw.request("GET", "/nowhere").status, 404)
        spans = rx.wait_spans(lambda s: len(s) >= 4)
        names = sorted(s["name"] for s in spans if s["kind"] == 2)
        self.assertEqual(names, ["GET", "GET /api/{.+}", "GET /static"])
        unmatched = next(s for s in spans if s["name"] == "GET")
        self.assertNotIn("http.route", attributes(unmatched))
        self.assertEqual(rx.problems, [])

    def test_malformed_traceparents_are_replaced_and_their_tracestate_dropped(self):
        up = self.upstream()
        rx = self.receiver()
        gw = self.start(tracing_config(up.url, rx.url))
        malformed = [
            f"00-{TRACE.upper()}-{PARENT}-01",     # uppercase hex
            f"00-{'0' * 32}-{PARENT}-01",          # all-zero trace id
            f"00-{TRACE}-{'0' * 16}-01",           # all-zero parent id
            f"ff-{TRACE}-{PARENT}-01",             # version ff is invalid
            f"00-{TRACE}-{PARENT}-01-extra",       # version 00 has exactly four fields
            f"00-{TRACE}-{PARENT}-1",              # short flags
            f"00-{TRACE[:-1]}-{PARENT}-01",        # short trace id
            f"00_{TRACE}_{PARENT}_01",             # wrong separators
            f"0g-{TRACE}-{PARENT}-01",             # not hex
            f"01-{TRACE}-{PARENT}-01extra",        # a future version still needs '-' after the flags
            "",
        ]
        for value in malformed:
            with self.subTest(traceparent=value):
                record = self.echo(gw.request("GET", "/api/m", headers={"traceparent": value,
                                                                        "tracestate": "k=v"}))
                trace_id, parent, _ = self.sent_traceparent(record)
                self.assertNotEqual(trace_id, TRACE)
                self.assertNotEqual(parent, PARENT)
                self.assertEqual(hdr(record, "tracestate"), [])
        # a future version is parsed leniently: its first four fields, more after a '-'
        record = self.echo(gw.request("GET", "/api/f", headers={
            "traceparent": f"01-{TRACE}-{PARENT}-01-what-the-future-holds"}))
        trace_id, parent, _ = self.sent_traceparent(record)
        self.assertEqual(trace_id, TRACE)
        self.assertNotEqual(parent, PARENT)
        # an invalid tracestate alone is dropped; the traceparent stays
        record = self.echo(gw.request("GET", "/api/s", headers={
            "traceparent": f"00-{TRACE}-{PARENT}-00", "tracestate": "UPPER=1"}))
        self.assertEqual(self.sent_traceparent(record)[0], TRACE)
        self.assertEqual(hdr(record, "tracestate"), [])
        self.assertEqual(rx.problems, [])

    def test_sample_ratio_zero_sends_nothing(self):
        up = self.upstream()
        rx = self.receiver()
        gw = self.start(tracing_config(up.url, rx.url, sample_ratio=0))
        for _ in range(20):
            record = self.echo(gw.request("GET", "/api/none"))
            self.assertEqual(self.sent_traceparent(record)[2], "00")  # not sampled, said downstream
        record = self.echo(gw.request("GET", "/api/p", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}))
        self.assertEqual(self.sent_traceparent(record), (TRACE, self.sent_traceparent(record)[1], "00"))
        gw.stop()  # a drain hands over and exports every buffered span before the process exits
        self.assertEqual(rx.exports, [])

    def test_spans_buffered_at_shutdown_are_exported(self):
        up = self.upstream()
        rx = self.receiver()
        gw = self.start(tracing_config(up.url, rx.url))
        for _ in range(5):
            self.echo(gw.request("GET", "/api/y"))
        gw.stop()
        self.assertEqual(len(rx.spans()), 10)
        self.assertEqual(rx.problems, [])

    def test_failed_exports_are_counted_as_dropped(self):
        up = self.upstream()
        rx = self.receiver(status=500)
        gw = self.start(tracing_config(up.url, rx.url))
        admin = int(re.search(r"admin on http://127\.0\.0\.1:(\d+)", gw.stderr()).group(1))
        self.echo(gw.request("GET", "/api/z"))

        def dropped():
            text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
            return int(re.search(r"^workgate_tracing_spans_dropped_total (\d+)$", text, re.M).group(1))

        deadline_spans = rx.wait_spans(lambda s: len(s) >= 2)
        self.assertEqual(len(deadline_spans), 2)
        for _ in range(100):
            if dropped() >= 2:
                break
            gw.wait_for_output(lambda err: "OTLP export" in err, timeout=0.05)
        self.assertEqual(dropped(), 2)
        self.assertIn("OTLP export to 127.0.0.1", gw.stderr())


if __name__ == "__main__":
    unittest.main()
