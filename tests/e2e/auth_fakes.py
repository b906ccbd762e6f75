"""Loopback fakes for the auth end-to-end tests (Python standard library + the openssl CLI).

- Pki(directory): a test CA and a certificate for localhost / 127.0.0.1 made with the openssl CLI; the gateway
  trusts the CA through --ca-file, nothing else does.
- SigningKey(kind, kid, directory): an RS256 / ES256 / EdDSA key made with the openssl CLI, its public JWK,
  and sign(claims) minting a compact JWS with the openssl CLI.
- FakeServer: a threaded HTTP/1.1 server (TLS with the Pki's certificate, or plain) whose answers are set per
  (method, path) with route(...) or a callable; it records every request and can be slow or drop connections.
- FakeAuth0 / FakeSupabase / JwksServer: FakeServer with the paths those services use.
"""

import base64
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import unittest
import urllib.parse


def _openssl(args, cwd, stdin=None):
    proc = subprocess.run(["openssl", *args], cwd=cwd, input=stdin, capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def require_openssl():
    if shutil.which("openssl") is None:
        raise unittest.SkipTest("the openssl CLI is not installed")


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ------------------------------------------------------------------------------------------------ PKI


class Pki:
    """A CA and a server certificate (SAN localhost, 127.0.0.1) in `directory`."""

    def __init__(self, directory):
        require_openssl()
        self.dir = directory
        _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                  "-subj", "/CN=workgate auth e2e CA"], directory)
        with open(os.path.join(directory, "san.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
                  "/CN=localhost"], directory)
        _openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                  "server.pem", "-days", "2", "-extfile", "san.ext"], directory)
        self.ca = os.path.join(directory, "ca.pem")
        self.cert = os.path.join(directory, "server.pem")
        self.key = os.path.join(directory, "server.key")

    def server_context(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


# ---------------------------------------------------------------------------------------------- JOSE


def _der_length(data, i):
    first = data[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    return int.from_bytes(data[i + 1:i + 1 + n], "big"), i + 1 + n


def _ecdsa_der_to_raw(der, size):
    """DER Ecdsa-Sig-Value (SEQUENCE of two INTEGERs) -> R || S, each `size` bytes."""
    assert der[0] == 0x30
    _, i = _der_length(der, 1)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        length, i = _der_length(der, i + 1)
        value = der[i:i + length].lstrip(b"\x00")
        out += value.rjust(size, b"\x00")
        i += length
    return out


class SigningKey:
    """kind: "RS256" (RSA 2048), "ES256" (P-256) or "EdDSA" (Ed25519)."""

    _counter = 0

    def __init__(self, kind, kid, directory, bits=2048):
        require_openssl()
        SigningKey._counter += 1
        self.kind = kind
        self.kid = kid
        self.dir = directory
        self.path = os.path.join(directory, f"key-{SigningKey._counter}-{kind}.pem")
        if kind == "RS256":
            _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", self.path],
                     directory)
        elif kind == "ES256":
            _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.path],
                     directory)
        elif kind == "EdDSA":
            _openssl(["genpkey", "-algorithm", "ed25519", "-out", self.path], directory)
        else:
            raise ValueError(kind)
        self.jwk = self._public_jwk()

    def _public_jwk(self):
        der = _openssl(["pkey", "-in", self.path, "-pubout", "-outform", "DER"], self.dir)
        if self.kind == "RS256":
            text = _openssl(["rsa", "-in", self.path, "-noout", "-modulus"], self.dir).decode().strip()
            modulus = bytes.fromhex(text.split("=", 1)[1])
            return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64url(modulus),
                    "e": b64url((65537).to_bytes(3, "big"))}
        if self.kind == "ES256":
            point = der[-65:]
            assert point[0] == 4
            return {"kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                    "x": b64url(point[1:33]), "y": b64url(point[33:])}
        return {"kty": "OKP", "kid": self.kid, "use": "sig", "alg": "EdDSA", "crv": "Ed25519", "x": b64url(der[-32:])}

    def sign(self, claims, header=None, alg=None):
        """A compact JWS of `claims` with {"alg", "typ", "kid"} (+ `header` overrides; a None value drops a
        member)."""
        hdr = {"alg": alg or self.kind, "typ": "JWT", "kid": self.kid}
        hdr.update(header or {})
        hdr = {k: v for k, v in hdr.items() if v is not None}
        signing_input = b64url(json.dumps(hdr, separators=(",", ":"))) + "." + \
            b64url(json.dumps(claims, separators=(",", ":")))
        data = signing_input.encode()
        if self.kind == "EdDSA":
            data_path = os.path.join(self.dir, f"input-{os.getpid()}-{threading.get_ident()}")
            with open(data_path, "wb") as f:
                f.write(data)
            try:
                signature = _openssl(["pkeyutl", "-sign", "-inkey", self.path, "-rawin", "-in", data_path], self.dir)
            finally:
                os.unlink(data_path)
        else:
            signature = _openssl(["dgst", "-sha256", "-sign", self.path], self.dir, stdin=data)
            if self.kind == "ES256":
                signature = _ecdsa_der_to_raw(signature, 32)
        return signing_input + "." + b64url(signature)


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Ed25519's identity point (y = 1): OpenSSL verifies the signature R = identity, S = 0 for any message
# under it, so a JWKS holding it lets anyone mint tokens.
ED25519_IDENTITY = b"\x01" + b"\x00" * 31


def identity_ed25519_jwk(kid):
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": "EdDSA", "x": b64url(ED25519_IDENTITY)}


def forged_identity_token(claims, kid):
    """A compact JWS that "verifies" under identity_ed25519_jwk(kid)."""
    header = {"alg": "EdDSA", "typ": "JWT", "kid": kid}
    signing_input = b64url(json.dumps(header, separators=(",", ":"))) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")))
    return signing_input + "." + b64url(ED25519_IDENTITY + b"\x00" * 32)


def off_curve_ec_jwk(key, kid):
    """The public JWK of an ES256 SigningKey with the last bit of y flipped: not a point on P-256."""
    jwk = dict(key.jwk, kid=kid)
    y = bytearray(b64url_decode(jwk["y"]))
    y[-1] ^= 1
    jwk["y"] = b64url(bytes(y))
    return jwk


def jwks_document(*keys):
    return {"keys": [k.jwk if isinstance(k, SigningKey) else k for k in keys]}


# ------------------------------------------------------------------------------------------- servers


class Recorded:
    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        parsed = urllib.parse.urlsplit(target)
        self.path = parsed.path
        self.query = parsed.query
        self.headers = headers  # lower-cased name -> value (last one wins)
        self.body = body

    def json(self):
        return json.loads(self.body)

    def form(self):
        return dict(urllib.parse.parse_qsl(self.body.decode(), keep_blank_values=True))

    def __repr__(self):
        return f"<{self.method} {self.target} {self.body[:200]!r}>"


class Answer:
    """What the fake answers: status, body (bytes/str/JSON-able), headers; `delay` seconds first; `drop`
    closes the connection without answering."""

    def __init__(self, status=200, body=b"", headers=None, delay=0.0, drop=False):
        self.status = status
        if isinstance(body, (dict, list)) or body is None:
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = headers or {}
        self.delay = delay
        self.drop = drop


class FakeServer:
    def __init__(self, pki=None, host="127.0.0.1"):
        self.lock = threading.Lock()
        self.routes = {}
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = Recorded(self.command, self.path, headers, body)
                with fake.lock:
                    fake.requests.append(record)
                    answer = fake.routes.get((self.command, record.path))
                if callable(answer):
                    answer = answer(record)
                if answer is None:
                    answer = Answer(404, {"error": "not found"})
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.drop:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = _handle
            do_POST = _handle

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # clients (the gateway timing out) may go away mid-answer

        self.server = Server((host, 0), Handler)
        self.tls = pki is not None
        if self.tls:
            self.server.socket = pki.server_context().wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def origin(self):
        return f"https://localhost:{self.port}" if self.tls else f"http://127.0.0.1:{self.port}"

    def route(self, method, path, answer):
        with self.lock:
            self.routes[(method, path)] = answer

    def recorded(self, path=None, method=None):
        with self.lock:
            return [r for r in self.requests if (path is None or r.path == path) and
                    (method is None or r.method == method)]

    def clear(self):
        with self.lock:
            self.requests.clear()

    def wait_for(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


JWKS_PATH = "/.well-known/jwks.json"


class JwksServer(FakeServer):
    """Serves a JWK set at /.well-known/jwks.json; set_keys() rotates it, set_mode() makes it fail or slow."""

    def __init__(self, keys, pki=None, cache_control="public, max-age=600"):
        super().__init__(pki)
        self.document = jwks_document(*keys)
        self.cache_control = cache_control
        self.mode = "ok"
        self.delay = 0.0
        self.route("GET", JWKS_PATH, self._answer)

    def _answer(self, _record):
        headers = {"Content-Type": "application/json"}
        if self.cache_control is not None:
            headers["Cache-Control"] = self.cache_control
        if self.mode == "error":
            return Answer(503, b"unavailable", {"Content-Type": "text/plain"}, delay=self.delay)
        if self.mode == "drop":
            return Answer(drop=True, delay=self.delay)
        if self.mode == "garbage":
            return Answer(200, b"<html>not a jwks</html>", {"Content-Type": "text/html"}, delay=self.delay)
        return Answer(200, json.dumps(self.document), headers, delay=self.delay)

    def set_keys(self, *keys):
        self.document = jwks_document(*keys)

    def set_mode(self, mode, delay=0.0):
        self.mode = mode
        self.delay = delay

    @property
    def uri(self):
        return self.origin + JWKS_PATH

    def fetches(self):
        return len(self.recorded(JWKS_PATH))


def refused_port():
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
