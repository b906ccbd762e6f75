"""Loopback upstreams for the http_proxy end-to-end tests (Python standard library only).

- EchoUpstream: a threaded raw-socket HTTP/1.1 server (plain or TLS) that answers every request with a
  JSON description of what it received (method, target, path, raw query, lower-cased headers with
  repeated ones kept, body length + sha256) and counts connections. A request selects a behaviour with
  the header `X-Echo-Mode: token[,token...]` (or the server's `default_mode`):
    delay=S        wait S seconds before answering
    pause=S        wait S seconds before reading the request body (back-pressure on uploads)
    hang           never answer (until the peer closes or the server stops)
    reset          read the request, then reset the connection (RST) without answering
    close          read the request, then close (FIN) without answering
    drop           answer normally (keep-alive, no `Connection: close`), then close the connection
    garbage        answer bytes that are not HTTP, then close
    truncate=N     announce Content-Length 1000, send N bytes, close
    chunked-truncate  send a chunked head and one chunk, then close (no last chunk)
    chunked        frame the answer with chunked encoding
    eof            frame the answer by closing the connection (no Content-Length, no chunked)
    status=N       answer with status N (204/304: no body)
    download=N     the body is N bytes of pattern_bytes() (with chunked/eof framing when asked)
    gate=TAG       (with download) send the head and the first 256 KiB, then wait for release(TAG)
    interim        send `HTTP/1.1 100 Continue` before the final answer
    resp-hop       add hop-by-hop and other pass-through checks to the answer's headers
  `X-Echo-Tag: T` makes the body bytes received so far visible as progress(T).
  `X-Echo-Respond-Header: Name: value` (repeatable) adds a header to the answer.
- make_tls_files(): a CA and server certificates made with the openssl CLI.
- Nginx: /usr/sbin/nginx with a generated config in a temp dir.
"""

import hashlib
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

IO_TIMEOUT = 10.0
_PERIOD = 251  # a prime period: a misplaced or lost piece changes the hash
_PATTERN = bytes(i % _PERIOD for i in range(_PERIOD)) * ((4 * 1024 * 1024) // _PERIOD + 2)


def pattern_bytes(total, block=1024 * 1024):
    """Yields `total` bytes of a deterministic pattern (byte i is i % 251) in pieces of at most `block`
    bytes (at most 4 MiB); the stream does not depend on `block`."""
    block = min(block, len(_PATTERN) - _PERIOD)
    sent = 0
    while sent < total:
        n = min(block, total - sent)
        start = sent % _PERIOD
        yield _PATTERN[start:start + n]
        sent += n


def pattern_sha256(total):
    h = hashlib.sha256()
    for piece in pattern_bytes(total):
        h.update(piece)
    return h.hexdigest()


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise EOFError("peer closed")
        self.buf += data

    def until(self, marker, limit=1 << 20):
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("head too large")
            self.fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def some(self, n):
        if not self.buf:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def parse_mode(text):
    mode = {}
    for token in (text or "").split(","):
        token = token.strip()
        if not token:
            continue
        key, sep, value = token.partition("=")
        mode[key.strip().lower()] = value.strip() if sep else True
    return mode


class EchoUpstream:
    def __init__(self, ssl_context=None, default_mode="", host="127.0.0.1", port=0):
        self.ssl_context = ssl_context
        self.default_mode = default_mode
        self.host = host
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.requests = []  # one dict per request head received (see _describe)
        self.connections = 0  # accepted
        self.active = 0
        self.max_active = 0
        self.inflight = 0
        self.max_inflight = 0
        self.handshake_errors = []
        self._progress = {}
        self._gates = {}
        self._stopping = threading.Event()
        self._socks = set()
        self._threads = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))  # port: a restart on the port of a stopped one
        self.listener.listen(128)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True, name=f"echo-{self.port}")
        self._acceptor.start()

    # -- public helpers
    @property
    def url(self):
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    def reset_stats(self):
        with self.lock:
            self.requests.clear()
            self.connections = self.active = self.max_active = 0
            self.inflight = self.max_inflight = 0

    def wait_for(self, predicate, timeout=5.0):
        """Waits until predicate(self) (called under the lock) is true; returns its last value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate(self)
                remaining = deadline - time.monotonic()
                if value or remaining <= 0:
                    return value
                self.cond.wait(min(remaining, 0.05))

    def progress(self, tag):
        with self.lock:
            return self._progress.get(tag, 0)

    def release(self, tag):
        self._gate(tag).set()

    def _gate(self, tag):
        with self.lock:
            return self._gates.setdefault(tag, threading.Event())

    def refuse_new(self):
        """Dies as a target does between responses: new connections are refused, each open connection
        ends after the response it is serving (or the next request it reads). stop() still cleans up."""
        self._stopping.set()
        try:
            self.listener.close()
        except OSError:
            pass

    def stop(self):
        self._stopping.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self._socks)
            for g in self._gates.values():
                g.set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._acceptor.join(timeout=2)
        for t in list(self._threads):
            t.join(timeout=2)

    # -- server
    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                conn_id = self.connections
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                self._socks.add(sock)
                self.cond.notify_all()
            t = threading.Thread(target=self._serve, args=(sock, conn_id), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, raw, conn_id):
        sock = raw
        try:
            sock.settimeout(IO_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                try:
                    sock = self.ssl_context.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    with self.lock:
                        self.handshake_errors.append(str(e))
                    return
            reader = _Reader(sock)
            index = 0
            while not self._stopping.is_set():
                index += 1
                try:
                    keep = self._one(sock, reader, conn_id, index)
                except (EOFError, ConnectionError, socket.timeout, TimeoutError, ssl.SSLError, OSError):
                    return
                if not keep:
                    return
        finally:
            try:
                sock.close()
            except OSError:
                pass
            with self.lock:
                self.active -= 1
                self._socks.discard(raw)
                self.cond.notify_all()

    def _one(self, sock, reader, conn_id, index):
        """Serves one request; returns False when the connection must end."""
        sock.settimeout(60.0)  # the next request on a kept-alive connection may come much later
        head = reader.until(b"\r\n\r\n")
        sock.settimeout(IO_TIMEOUT)
        lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = (lines[0].split(" ") + ["", ""])[:3]
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        hmap = {}
        for k, v in headers:
            hmap.setdefault(k, []).append(v)
        first = lambda k: hmap.get(k, [None])[0]  # noqa: E731
        mode = parse_mode(first("x-echo-mode") if "x-echo-mode" in hmap else self.default_mode)
        tag = first("x-echo-tag")
        path, qmark, query = target.partition("?")
        record = {"method": method, "target": target, "version": version, "path": path,
                  "query": query if qmark else None, "headers": hmap, "header_list": headers,
                  "conn_id": conn_id, "conn_request": index, "body_length": 0, "body_sha256": None,
                  "body_complete": False}
        with self.lock:
            self.requests.append(record)
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            self.cond.notify_all()
        try:
            return self._answer(sock, reader, record, hmap, first, mode, tag, method, version)
        finally:
            with self.lock:
                self.inflight -= 1
                self.cond.notify_all()

    def _read_body(self, sock, reader, record, first, tag):
        h = hashlib.sha256()
        kept = bytearray()
        total = 0

        def take(data):
            nonlocal total
            h.update(data)
            total += len(data)
            if len(kept) < 65536:
                kept.extend(data[:65536 - len(kept)])
            if tag:
                with self.lock:
                    self._progress[tag] = total
                    self.cond.notify_all()

        te = (first("transfer-encoding") or "").lower()
        if "chunked" in te:
            while True:
                size_line = reader.until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while reader.until(b"\r\n") != b"\r\n":
                        pass
                    break
                remaining = size
                while remaining:
                    data = reader.some(min(remaining, 262144))
                    take(data)
                    remaining -= len(data)
                reader.exact(2)
        elif first("content-length") is not None:
            remaining = int(first("content-length"))
            while remaining:
                data = reader.some(min(remaining, 262144))
                take(data)
                remaining -= len(data)
        record["body_length"] = total
        record["body_sha256"] = h.hexdigest()
        record["body"] = bytes(kept).decode("utf-8", "replace")
        record["body_complete"] = True

    def _answer(self, sock, reader, record, hmap, first, mode, tag, method, version):
        if (first("expect") or "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "pause" in mode:
            time.sleep(float(mode["pause"]))
        self._read_body(sock, reader, record, first, tag)
        with self.lock:
            self.cond.notify_all()
        client_close = "close" in (first("connection") or "").lower() or version == "HTTP/1.0"

        if "delay" in mode:
            time.sleep(float(mode["delay"]))
        if "hang" in mode:
            sock.settimeout(0.1)
            deadline = time.monotonic() + 60
            while not self._stopping.is_set() and time.monotonic() < deadline:
                try:
                    if not sock.recv(65536):
                        break
                except (socket.timeout, TimeoutError):
                    continue
            return False
        if "reset" in mode:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if "close" in mode:
            sock.shutdown(socket.SHUT_RDWR)
            return False
        if "garbage" in mode:
            sock.sendall(b"SPLAT \x00\x01\x02 this is not HTTP at all\r\n\r\n\x7f\x80")
            time.sleep(0.05)
            return False
        if "interim" in mode:
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

        status = int(mode.get("status", 200))
        extra = []
        for value in hmap.get("x-echo-respond-header", []):
            name, _, v = value.partition(":")
            extra.append((name.strip(), v.strip()))
        if "resp-hop" in mode:
            extra += [("Connection", "X-Resp-Hop"), ("X-Resp-Hop", "secret"), ("Keep-Alive", "timeout=5"),
                      ("Proxy-Authenticate", "Basic realm=up"), ("Upgrade", "h2c"),
                      ("Proxy-Connection", "keep-alive"), ("Trailer", "X-Trailer"),
                      ("X-Powered-By", "upstream-php"), ("Access-Control-Allow-Origin", "https://evil.example"),
                      ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/"), ("X-Upstream", "yes"),
                      ("Cache-Control", "no-store")]

        if "truncate" in mode:
            sent = int(mode["truncate"])
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
                         + b"x" * sent)
            time.sleep(0.1)
            return False
        if "chunked-truncate" in mode:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"a\r\n0123456789\r\n")
            time.sleep(0.1)
            return False

        download = int(mode["download"]) if "download" in mode else None
        if download is not None:
            body_iter = pattern_bytes(download, 256 * 1024)
            length = download
            ctype = "application/octet-stream"
        else:
            desc = {k: record[k] for k in ("method", "target", "path", "query", "headers", "header_list",
                                            "body_length", "body_sha256", "body", "conn_id", "conn_request")}
            payload = json.dumps(desc).encode()
            body_iter = iter([payload[:len(payload) // 2], payload[len(payload) // 2:]])
            length = len(payload)
            ctype = "application/json"
        no_body = status in (204, 304) or 100 <= status < 200
        lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Status'}", "X-Echo-Server: 1"]
        if not no_body:
            lines.append(f"Content-Type: {ctype}")
        framing = "length"
        if no_body:
            framing = "none"
        elif "chunked" in mode:
            framing = "chunked"
            lines.append("Transfer-Encoding: chunked")
        elif "eof" in mode:
            framing = "eof"
        else:
            lines.append(f"Content-Length: {length}")
        lines += [f"{k}: {v}" for k, v in extra]
        if client_close and framing != "eof":
            lines.append("Connection: close")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if method == "HEAD" or framing == "none":
            body_iter = iter(())
        gate = mode.get("gate")
        sent = 0
        gated = False
        for piece in body_iter:
            if gate and not gated and sent >= 128 * 1024:
                gated = True
                if not self._gate(gate).wait(timeout=15):
                    return False
            if framing == "chunked":
                sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            else:
                sock.sendall(piece)
            sent += len(piece)
        if framing == "chunked" and method != "HEAD":
            sock.sendall(b"0\r\n\r\n")
        if framing == "eof":
            sock.shutdown(socket.SHUT_WR)
            return False
        if "drop" in mode:
            return False
        return not client_close


# -------------------------------------------------------------------------------------------- TLS


def _openssl(args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_tls_files(directory):
    """Makes in `directory`: ca.pem/ca.key (a CA), server.pem/server.key (127.0.0.1 + localhost, signed by
    the CA), wrongname.pem/.key (only other.example, signed by the CA), selfsigned.pem/.key (127.0.0.1 +
    localhost, self-signed). Returns a dict of paths. Raises unittest.SkipTest without openssl."""
    import unittest
    if shutil.which("openssl") is None:
        raise unittest.SkipTest("the openssl CLI is not installed")
    d = directory
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
              "-subj", "/CN=workgate e2e test CA", "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)

    def leaf(name, san, selfsigned=False):
        ext = os.path.join(d, f"{name}.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
        if selfsigned:
            _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                      f"{name}.pem", "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}"], d)
            return
        _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                  "-subj", f"/CN={name}"], d)
        _openssl(["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                  "-out", f"{name}.pem", "-days", "2", "-extfile", ext], d)

    leaf("server", "IP:127.0.0.1,DNS:localhost")
    leaf("wrongname", "DNS:other.example")
    leaf("selfsigned", "IP:127.0.0.1,DNS:localhost", selfsigned=True)
    return {name: os.path.join(d, name) for name in
            ("ca.pem", "server.pem", "server.key", "wrongname.pem", "wrongname.key", "selfsigned.pem",
             "selfsigned.key")}


def server_tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


# ------------------------------------------------------------------------------------------ nginx

NGINX = "/usr/sbin/nginx"


class Nginx:
    """nginx in the foreground (daemon off, master_process off) with everything in a temp dir.
    `locations` is the text of the server block's locations."""

    def __init__(self, locations, root_files=None):
        import unittest
        if not os.access(NGINX, os.X_OK):
            raise unittest.SkipTest(f"nginx is not installed at {NGINX}")
        self.dir = tempfile.TemporaryDirectory(prefix="wg-e2e-nginx-")
        d = self.dir.name
        self.root = os.path.join(d, "html")
        os.makedirs(self.root)
        for name, data in (root_files or {}).items():
            with open(os.path.join(self.root, name), "wb") as f:
                f.write(data)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        user = "user root root;" if os.geteuid() == 0 else ""
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(f"""
{user}
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {d}/logs/access.log;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{self.port};
    server_name localhost;
    root {self.root};
{locations}
  }}
}}
""")
        self.proc = subprocess.Popen([NGINX, "-p", d, "-c", self.conf, "-e", f"{d}/logs/error.log"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                self.dir.cleanup()
                raise RuntimeError(f"nginx exited: {err}\n{self.error_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("nginx did not start listening")
                time.sleep(0.05)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def error_log(self):
        try:
            with open(os.path.join(self.dir.name, "logs", "error.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def access_log(self):
        try:
            with open(os.path.join(self.dir.name, "logs", "access.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc.stderr.close()

    def cleanup(self):
        self.stop()
        self.dir.cleanup()
