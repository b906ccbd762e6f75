"""An OTLP/HTTP JSON trace receiver for the e2e tests: records every export and checks it against the
OTLP JSON encoding rules (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding)."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
UINT64 = re.compile(r"^[0-9]{1,20}$")


def encoding_problems(doc):
    """The ways an ExportTraceServiceRequest in JSON breaks the OTLP encoding rules ([] when none)."""
    problems = []

    def check_attributes(where, attributes):
        if not isinstance(attributes, list):
            problems.append(f"{where}: attributes must be a list")
            return
        for a in attributes:
            if not isinstance(a, dict) or set(a) != {"key", "value"} or not isinstance(a["key"], str):
                problems.append(f"{where}: attribute {a!r} must be {{key, value}}")
                continue
            value = a["value"]
            if not isinstance(value, dict) or len(value) != 1:
                problems.append(f"{where}: {a['key']}: value must hold one of stringValue|intValue|...")
                continue
            kind, v = next(iter(value.items()))
            if kind == "stringValue" and not isinstance(v, str):
                problems.append(f"{where}: {a['key']}: stringValue must be a string")
            elif kind == "intValue" and not (isinstance(v, str) and re.match(r"^-?[0-9]+$", v)):
                problems.append(f"{where}: {a['key']}: intValue must be a decimal string (int64)")
            elif kind not in ("stringValue", "intValue", "boolValue", "doubleValue"):
                problems.append(f"{where}: {a['key']}: unexpected value kind {kind}")

    if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
        return ["resourceSpans must be a list"]
    for rs in doc["resourceSpans"]:
        check_attributes("resource", rs.get("resource", {}).get("attributes", []))
        for ss in rs.get("scopeSpans", []):
            if not isinstance(ss.get("scope", {}).get("name", ""), str):
                problems.append("scope.name must be a string")
            for s in ss.get("spans", []):
                where = f"span {s.get('name')!r}"
                if not HEX32.match(str(s.get("traceId", ""))) or s["traceId"] == "0" * 32:
                    problems.append(f"{where}: traceId must be 32 lowercase hex digits, not all zero")
                if not HEX16.match(str(s.get("spanId", ""))) or s["spanId"] == "0" * 16:
                    problems.append(f"{where}: spanId must be 16 lowercase hex digits, not all zero")
                if "parentSpanId" in s and not HEX16.match(str(s["parentSpanId"])):
                    problems.append(f"{where}: parentSpanId must be 16 lowercase hex digits")
                if not isinstance(s.get("name"), str) or not s["name"]:
                    problems.append(f"{where}: name must be a non-empty string")
                if type(s.get("kind")) is not int or not 0 <= s["kind"] <= 5:
                    problems.append(f"{where}: kind must be an integer enum 0..5")
                for t in ("startTimeUnixNano", "endTimeUnixNano"):
                    if not isinstance(s.get(t), str) or not UINT64.match(s[t]):
                        problems.append(f"{where}: {t} must be a string-encoded uint64")
                if all(isinstance(s.get(t), str) and s[t].isdigit()
                       for t in ("startTimeUnixNano", "endTimeUnixNano")):
                    if int(s["endTimeUnixNano"]) < int(s["startTimeUnixNano"]):
                        problems.append(f"{where}: ends before it starts")
                    if abs(int(s["startTimeUnixNano"]) / 1e9 - time.time()) > 3600:
                        problems.append(f"{where}: start time is not now (nanoseconds since the epoch?)")
                status = s.get("status", {})
                if "code" in status and (type(status["code"]) is not int or status["code"] not in (0, 1, 2)):
                    problems.append(f"{where}: status.code must be an integer enum 0..2")
                check_attributes(where, s.get("attributes", []))
    return problems


def attributes(entity):
    """{key: python value} of an OTLP attribute list (intValue as int)."""
    out = {}
    for a in entity.get("attributes", []):
        kind, v = next(iter(a["value"].items()))
        out[a["key"]] = int(v) if kind == "intValue" else v
    return out


class OtlpReceiver:
    """POST /v1/traces (or any path): each body is parsed, checked and kept. status: what it answers."""

    def __init__(self, status=200):
        self.status = status
        self.exports = []  # (path, content type, parsed body)
        self.problems = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                try:
                    doc = json.loads(body)
                    problems = encoding_problems(doc)
                except ValueError as e:
                    doc, problems = None, [f"not JSON: {e}: {body[:2000]!r}"]
                with receiver.lock:
                    receiver.exports.append((self.path, self.headers.get("Content-Type"), doc))
                    receiver.problems.extend(problems)
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self):
        with self.lock:
            out = []
            for _, _, doc in self.exports:
                for rs in (doc or {}).get("resourceSpans", []):
                    for ss in rs.get("scopeSpans", []):
                        out.extend(ss.get("spans", []))
            return out

    def wait_spans(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans = self.spans()
            if predicate(spans):
                return spans
            time.sleep(0.02)
        return self.spans()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
