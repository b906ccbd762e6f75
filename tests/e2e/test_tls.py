"""TLS listeners (gateway.listeners with tls): real clients (curl, openssl s_client, Python's ssl) against
certificates made here with the openssl CLI: SNI with exact and wildcard names, the default certificate,
reload by SIGHUP, min_version, startup errors with their JSON pointer, the handshake timeout, garbage
instead of a ClientHello, session resumption and X-Forwarded-Proto toward the upstream."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import GatewayTestCase, run_cli, start_gateway, write_temp
import hashlib

from upstreams import EchoUpstream, pattern_sha256

HEALTH = {"method": "GET", "path": "/health", "response": {"status": "ok"}}


def openssl(args, cwd, input_text=None, timeout=30, check=True):
    return subprocess.run(["openssl", *args], cwd=cwd, input=input_text, capture_output=True, text=True,
                          timeout=timeout, check=check)


class Pki:
    """A CA and leaf certificates signed by it (ECDSA P-256), in a temp dir."""

    def __init__(self):
        if shutil.which("openssl") is None or shutil.which("curl") is None:
            raise unittest.SkipTest("the openssl and curl commands are needed")
        self.tmp = tempfile.TemporaryDirectory(prefix="wg-tls-")
        self.dir = self.tmp.name
        openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=workgate tls test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
                self.dir)
        self.ca = self.path("ca.pem")

    def path(self, name):
        return os.path.join(self.dir, name)

    def leaf(self, name, cn, san):
        with open(self.path(name + ".ext"), "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
                 "-out", name + ".csr", "-subj", f"/CN={cn}"], self.dir)
        openssl(["x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext"], self.dir)
        return self.path(name + ".pem"), self.path(name + ".key")

    def cleanup(self):
        self.tmp.cleanup()


def tls_config(certificates, min_version=None, extra_gateway=None, paths=None):
    tls = {"certificates": [{"cert_file": c, "key_file": k} for c, k in certificates]}
    if min_version:
        tls["min_version"] = min_version
    gateway = {"listeners": [{"address": "127.0.0.1:0", "tls": tls}]}
    gateway.update(extra_gateway or {})
    return {"paths": paths or [HEALTH], "gateway": gateway}


def s_client(port, *args, input_text="", cwd=None):
    """openssl s_client; returns (returncode, stdout + stderr)."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args], input=input_text,
                       capture_output=True, text=True, timeout=20, cwd=cwd)
    return r.returncode, r.stdout + r.stderr


def subject_cn(output):
    for line in output.splitlines():
        if line.startswith("subject=") and "CN" in line:
            return line.split("CN", 1)[1].lstrip(" =").strip()
    return None


class TlsTestBase(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = Pki()
        cls.addClassCleanup(cls.pki.cleanup)
        cls.one = cls.pki.leaf("one", "one", "DNS:one.test,DNS:localhost,IP:127.0.0.1")
        cls.two = cls.pki.leaf("two", "two", "DNS:two.test,DNS:*.wild.test")

    def curl(self, port, path="/health", name="one.test", extra=None):
        r = subprocess.run(["curl", "-sS", "--http1.1", "--cacert", self.pki.ca, "--resolve",
                            f"{name}:{port}:127.0.0.1", "-w", "\n%{http_code}", *(extra or []),
                            f"https://{name}:{port}{path}"], capture_output=True, text=True, timeout=20)
        body, _, code = r.stdout.rpartition("\n")
        return r.returncode, code, body, r.stderr

    def client_context(self):
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        return ctx


class TlsServingTest(TlsTestBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_shared(tls_config([cls.one, cls.two]))
        cls.port = cls.gw.listener_port(1)

    def test_curl_over_https(self):
        rc, code, body, err = self.curl(self.port)
        self.assertEqual((rc, code), (0, "200"), err + self.context())
        self.assertEqual(json.loads(body), {"status": "ok"})

    def test_curl_verifies_the_second_certificate_by_sni(self):
        rc, code, _, err = self.curl(self.port, name="two.test")
        self.assertEqual((rc, code), (0, "200"), err + self.context())
        rc, code, _, err = self.curl(self.port, name="api.wild.test")
        self.assertEqual((rc, code), (0, "200"), err + self.context())

    def test_plain_listen_keeps_working(self):
        resp = self.gw.get("/health")
        self.assertResponse(resp, 200, json_body={"status": "ok"})

    def test_sni_chooses_each_certificate(self):
        for name, cn in (("one.test", "one"), ("two.test", "two"), ("TWO.Test", "two"), ("two.test.", "two")):
            rc, out = s_client(self.port, "-servername", name)
            self.assertEqual(subject_cn(out), cn, f"{name}: {out[-600:]}")

    def test_wildcard_covers_one_label_only(self):
        for name, cn in (("api.wild.test", "two"), ("X.WILD.TEST", "two"), ("a.b.wild.test", "one"),
                         ("wild.test", "one"), ("unknown.example", "one")):
            rc, out = s_client(self.port, "-servername", name)
            self.assertEqual(subject_cn(out), cn, f"{name}: {out[-600:]}")

    def test_no_sni_gets_the_first_certificate(self):
        rc, out = s_client(self.port, "-noservername")
        self.assertEqual(subject_cn(out), "one", out[-600:])
        # The certificate carries the SAN the client checks.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
            ctx = self.client_context()
            ctx.check_hostname = False
            with ctx.wrap_socket(raw) as s:
                sans = [v for k, v in s.getpeercert()["subjectAltName"] if k == "DNS"]
                self.assertIn("one.test", sans)

    def test_alpn_is_http11(self):
        rc, out = s_client(self.port, "-servername", "one.test", "-alpn", "h2,http/1.1")
        self.assertIn("ALPN protocol: http/1.1", out)
        rc, out = s_client(self.port, "-servername", "one.test", "-alpn", "h2")
        self.assertIn("No ALPN negotiated", out)

    def test_tls12_and_tls13_both_accepted(self):
        for flag, proto in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            rc, out = s_client(self.port, "-servername", "one.test", flag)
            self.assertIn(f"New, {proto},", out, out[-800:])

    def test_keep_alive_requests_over_one_connection(self):
        ctx = self.client_context()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="one.test") as s:
                for _ in range(3):
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: one.test\r\n\r\n")
                    self.assertIn(b'{"status":"ok"}', read_response(s))

    def test_session_resumption(self):
        with tempfile.TemporaryDirectory() as d:
            request = "GET /health HTTP/1.1\r\nHost: one.test\r\nConnection: close\r\n\r\n"
            for flag in ("-tls1_2", "-tls1_3"):
                sess = os.path.join(d, f"sess{flag}.pem")
                rc, out = s_client(self.port, "-servername", "one.test", flag, "-ign_eof", "-sess_out", sess,
                                   input_text=request)
                self.assertIn("New,", out, out[-800:])
                again = os.path.join(d, f"again{flag}.pem")
                rc, out = s_client(self.port, "-servername", "one.test", flag, "-ign_eof", "-sess_in", sess,
                                   "-sess_out", again, input_text=request)
                self.assertIn("Reused,", out, f"{flag}: {out[-800:]}")
                if flag != "-tls1_3":
                    continue
                # A resumed TLS 1.3 connection gets a ticket of its own (its tickets are single-use for
                # clients), so the next connection resumes too.
                rc, out = s_client(self.port, "-servername", "one.test", flag, "-ign_eof", "-sess_in", again,
                                   input_text=request)
                self.assertIn("Reused,", out, f"{flag} (second resumption): {out[-800:]}")

    def test_handshake_garbage_is_closed(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertNotIn(b"HTTP/1.1", data)
        rc, code, _, err = self.curl(self.port)  # still serving
        self.assertEqual(code, "200", err)

    def test_routes_lists_the_listeners(self):
        path = write_temp(json.dumps(tls_config([self.one, self.two])))
        self.addCleanup(os.unlink, path)
        r = run_cli(["routes", path])
        self.assertEqual(r.returncode, 0, r)
        # Configured listeners replace the default one (--listen adds it back).
        self.assertNotIn("8787", r.stdout, r)
        self.assertIn('listener 0 "public": https://127.0.0.1:0 (/gateway/listeners/0)', r.stdout, r)
        r = run_cli(["routes", path, "--listen", "127.0.0.1:9999"])
        self.assertIn('listener 0 "public": http://127.0.0.1:9999 (--listen) plain HTTP/1.1', r.stdout, r)
        self.assertIn('listener 1 "listener 1": https://127.0.0.1:0 (/gateway/listeners/0)', r.stdout, r)
        self.assertIn("one.test", r.stdout, r)
        self.assertIn("*.wild.test", r.stdout, r)


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


class TlsLifecycleTest(TlsTestBase):
    def test_min_version_13_refuses_tls12(self):
        gw = self.start(tls_config([self.one], min_version="1.3"))
        port = gw.listener_port(1)
        rc, out = s_client(port, "-servername", "one.test", "-tls1_2")
        self.assertNotEqual(rc, 0, out[-800:])
        self.assertIn("Cipher is (NONE)", out)
        self.assertIn("alert protocol version", out)
        rc, out = s_client(port, "-servername", "one.test", "-tls1_3")
        self.assertIn("New, TLSv1.3,", out, out[-800:])

    def test_handshake_timeout_closes_a_silent_client(self):
        gw = self.start(tls_config([self.one], extra_gateway={"tls_handshake_timeout_ms": 300}))
        port = gw.listener_port(1)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            started = time.monotonic()
            s.settimeout(5)
            try:
                data = s.recv(1)
            except ConnectionResetError:
                data = b""
            elapsed = time.monotonic() - started
        self.assertEqual(data, b"")
        self.assertGreater(elapsed, 0.2)
        self.assertLess(elapsed, 3.0)

    def test_sighup_rotates_the_certificate_for_new_handshakes_only(self):
        d = tempfile.mkdtemp(prefix="wg-tls-rot-")
        self.addCleanup(shutil.rmtree, d, True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        shutil.copy(self.one[0], cert)
        shutil.copy(self.one[1], key)
        config = tls_config([("cert.pem", "key.pem")])  # relative to the config file
        config_path = os.path.join(d, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        gw = self.start(None, config_path=config_path)
        port = gw.listener_port(1)
        rc, out = s_client(port, "-servername", "one.test")
        self.assertEqual(subject_cn(out), "one", out[-600:])

        ctx = self.client_context()
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        kept = ctx.wrap_socket(raw, server_hostname="one.test")
        self.addCleanup(kept.close)
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: one.test\r\n\r\n")
        self.assertIn(b'{"status":"ok"}', read_response(kept))

        rotated = self.pki.leaf("rotated", "rotated", "DNS:one.test,DNS:localhost")
        shutil.copy(rotated[0], cert)
        shutil.copy(rotated[1], key)
        gw.signal(signal.SIGHUP)
        text = gw.wait_for_output(lambda t: "reloaded" in t, timeout=10)
        self.assertIn("reloaded", text, gw.describe())
        rc, out = s_client(port, "-servername", "one.test")
        self.assertEqual(subject_cn(out), "rotated", out[-600:])
        # The connection made before the reload keeps its certificate and keeps working.
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: one.test\r\n\r\n")
        self.assertIn(b'{"status":"ok"}', read_response(kept))
        self.assertEqual(kept.getpeercert()["subject"][0][0][1], "one")

    def test_sighup_with_a_broken_certificate_keeps_the_running_one(self):
        d = tempfile.mkdtemp(prefix="wg-tls-bad-")
        self.addCleanup(shutil.rmtree, d, True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        shutil.copy(self.one[0], cert)
        shutil.copy(self.one[1], key)
        config_path = os.path.join(d, "config.json")
        with open(config_path, "w") as f:
            json.dump(tls_config([(cert, key)]), f)
        gw = self.start(None, config_path=config_path)
        port = gw.listener_port(1)
        shutil.copy(self.two[1], key)  # the key no longer matches
        gw.signal(signal.SIGHUP)
        text = gw.wait_for_output(lambda t: "reload failed" in t, timeout=10)
        self.assertIn("/gateway/listeners/0/tls/certificates/0/key_file", text, gw.describe())
        rc, out = s_client(port, "-servername", "one.test")
        self.assertEqual(subject_cn(out), "one", out[-600:])

    def test_x_forwarded_proto_reaches_the_upstream(self):
        up = EchoUpstream()
        self.addCleanup(up.stop)
        config = tls_config([self.one], paths=[
            {"method": "GET", "path": "/api/{.+}", "integration": {"type": "http_proxy", "server": "up"}}])
        config["servers"] = [{"alias": "up", "url": up.url}]
        gw = self.start(config)
        port = gw.listener_port(1)
        rc, code, body, err = self.curl(port, "/api/x")
        self.assertEqual(code, "200", err + gw.describe())
        self.assertEqual(json.loads(body)["headers"]["x-forwarded-proto"], ["https"])
        resp = gw.get("/api/x")  # the plain --listen listener
        self.assertEqual(resp.json()["headers"]["x-forwarded-proto"], ["http"])

    def test_streamed_bodies_through_the_proxy_over_tls(self):
        up = EchoUpstream()
        self.addCleanup(up.stop)
        config = tls_config([self.one], paths=[
            {"method": "ANY", "path": "/api/{.+}", "integration": {"type": "http_proxy", "server": "up"}}])
        config["servers"] = [{"alias": "up", "url": up.url}]
        gw = self.start(config)
        port = gw.listener_port(1)
        # A chunked download of 3 MiB (framed chunks over TLS records) arrives whole.
        for mode in ("chunked,download=3145728", "download=3145728"):
            r = subprocess.run(["curl", "-sS", "--http1.1", "--cacert", self.pki.ca, "--resolve",
                                f"one.test:{port}:127.0.0.1", "-H", f"X-Echo-Mode: {mode}",
                                f"https://one.test:{port}/api/big"], capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(r.stdout), 3145728, mode)
            self.assertEqual(hashlib.sha256(r.stdout).hexdigest(), pattern_sha256(3145728), mode)
        # A 2 MiB upload (streamed to the upstream) is received whole.
        body = os.urandom(2 * 1024 * 1024)
        upload = write_temp("", suffix=".bin")
        self.addCleanup(os.unlink, upload)
        with open(upload, "wb") as f:
            f.write(body)
        rc, code, text, err = self.curl(port, "/api/up", extra=["--data-binary", f"@{upload}", "-H",
                                                                 "Content-Type: application/octet-stream"])
        self.assertEqual(code, "200", err + gw.describe())
        echoed = json.loads(text)
        self.assertEqual(echoed["body_length"], len(body))
        self.assertEqual(echoed["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_plain_listener_from_the_config(self):
        config = {"paths": [HEALTH], "gateway": {"listeners": [{"address": "127.0.0.1:0"}]}}
        gw = self.start(config)
        scheme, port = gw.listener_ports(at_least=2)[1]
        self.assertEqual(scheme, "http")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertIn(b'{"status":"ok"}', read_response(s))


class TlsStartupErrorTest(TlsTestBase):
    def serve_fails(self, config):
        path = write_temp(json.dumps(config))
        self.addCleanup(os.unlink, path)
        r = run_cli(["serve", "--config", path, "--listen", "127.0.0.1:0", "--threads", "1"], timeout=20)
        self.assertEqual(r.returncode, 1, r)
        return r.output

    def test_key_that_does_not_match(self):
        out = self.serve_fails(tls_config([(self.one[0], self.two[1])]))
        self.assertIn("/gateway/listeners/0/tls/certificates/0/key_file", out)
        self.assertIn("does not match", out)

    def test_unreadable_file(self):
        out = self.serve_fails(tls_config([self.one, ("/nonexistent/wg.pem", self.one[1])]))
        self.assertIn("/gateway/listeners/0/tls/certificates/1/cert_file: cannot read /nonexistent/wg.pem", out)

    def test_bad_pem(self):
        bad = write_temp("not a certificate\n", suffix=".pem")
        self.addCleanup(os.unlink, bad)
        out = self.serve_fails(tls_config([(bad, self.one[1])]))
        self.assertIn("/gateway/listeners/0/tls/certificates/0/cert_file", out)
        self.assertIn("is not a PEM certificate", out)

    def test_config_shape_errors_have_pointers(self):
        config = tls_config([self.one], min_version="1.1")
        config["gateway"]["listeners"].append({"address": "nowhere", "tls": {"certificates": []}})
        path = write_temp(json.dumps(config))
        self.addCleanup(os.unlink, path)
        r = run_cli(["validate", path])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("/gateway/listeners/0/tls/min_version", r.output)
        self.assertIn("/gateway/listeners/1/address", r.output)
        self.assertIn("/gateway/listeners/1/tls/certificates: needs at least one certificate", r.output)


if __name__ == "__main__":
    unittest.main()
