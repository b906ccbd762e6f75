"""Black-box harness for the workgate end-to-end tests (Python standard library only).

- start_gateway(config, env=..., args=...) starts `workgate serve` on port 0 (the kernel picks a free
  port, read back from the startup log line, so no other process can take it in between) and waits until
  it accepts connections; Gateway.stop() sends SIGTERM (SIGKILL after a grace period).
- WG_E2E_TIMEOUT_SCALE (default 1) multiplies the harness's waiting limits (socket operations, start,
  stop) for slow builds (the asan preset); it never changes what a test asserts.
- WG_E2E_SKIP: test ids (module.Class.method, separated by spaces) that a GatewayTestCase skips, with the
  reason in the skip message; scripts/test.sh uses it for the few tests that cannot work under the
  sanitizers (docs/testing.md says which and why).
- Gateway.listener_port(i) is the bound port of listener i (0 = --listen, then gateway.listeners), read
  from the per-listener startup lines (listeners on port 0 work like --listen).
- run_cli(args, ...) runs the binary to completion (validate, routes, --version, a failing serve).
- RawConnection sends exact bytes and reads HTTP/1.1 responses (Content-Length, chunked, HEAD,
  interim 1xx, keep-alive, EOF detection).
- mint_jwt(claims, secret, alg) makes HS256/HS384/HS512 tokens.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

TIMEOUT_SCALE = float(os.environ.get("WG_E2E_TIMEOUT_SCALE") or 1.0)
IO_TIMEOUT = 5.0 * TIMEOUT_SCALE  # seconds for every socket operation
START_TIMEOUT = 10.0 * TIMEOUT_SCALE
STOP_TIMEOUT = 10.0 * TIMEOUT_SCALE

# Tests to skip in this run (see the module docstring).
SKIP_TESTS = set(os.environ.get("WG_E2E_SKIP", "").replace(",", " ").split())

# The serving process's startup line: "workgate 0.1.0 serving ... on http://127.0.0.1:PORT with N thread(s)".
SERVING_LINE = re.compile(r" serving .* on http://(?:\[[^\]]*\]|[^\s/]+):(\d+) with \d+ thread")
# Then one line per listener (listener 0 is --listen), with its name:
# 'listener 1 "edge": https://127.0.0.1:PORT (/gateway/listeners/0) ...' (the quotes escaped in JSON logs).
LISTENER_LINE = re.compile(r' listener (\d+)(?: \\?"[^"\\]*\\?")?: (https?)://(?:\[[^\]]*\]|[^\s/]+):(\d+) ')


def workgate_bin():
    path = os.environ.get("WORKGATE_BIN") or os.path.join(REPO, "build", "workgate")
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest(f"workgate binary not found at {path} (set WORKGATE_BIN)")
    return path


def free_port():
    """A port that was free a moment ago (another process may take it before it is used): only for
    commands that must fail before they listen. Gateways bind port 0 instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config_text(config):
    return config if isinstance(config, str) else json.dumps(config)


def _child_env(env, inherit=True):
    base = dict(os.environ) if inherit else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    base.pop("SAG_API_CONFIG_JSON", None)  # never leak an inline config from the caller
    if env:
        base.update(env)
    return base


def tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------- CLI


class CliResult:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def output(self):
        return self.stdout + self.stderr

    def __repr__(self):
        return f"exit={self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def run_cli(args, env=None, timeout=15):
    proc = subprocess.run([workgate_bin(), *args], env=_child_env(env), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def write_temp(text, suffix=".json", directory=None):
    fd, path = tempfile.mkstemp(suffix=suffix, prefix="wg-e2e-", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


# ----------------------------------------------------------------------------------------- gateway


class GatewayStartError(Exception):
    pass


class Gateway:
    """A running `workgate serve`. stdout (the access log) and stderr go to files read on demand."""

    def __init__(self, config, env=None, args=None, threads=2, config_path=None, preexec_fn=None, port=None):
        self.tmpdir = tempfile.TemporaryDirectory(prefix="wg-e2e-")
        if config_path is None:
            self.config_path = os.path.join(self.tmpdir.name, "config.json")
            with open(self.config_path, "w") as f:
                f.write(_config_text(config))
        else:
            self.config_path = config_path
        self.host = "127.0.0.1"
        # Without a port the gateway binds port 0 and reports the port it got in its startup line (see the
        # `port` property). That line is an info message: with a quieter --log-level, fall back to probing.
        quiet = any(a in ("warn", "error") for a in (args or [])) and "--log-level" in (args or [])
        self._port = port or (free_port() if quiet else None)
        self._stdout_path = os.path.join(self.tmpdir.name, "stdout.log")
        self._stderr_path = os.path.join(self.tmpdir.name, "stderr.log")
        self.argv = [workgate_bin(), "serve", "--config", self.config_path, "--listen", f"{self.host}:{self._port or 0}",
                     "--threads", str(threads), *(args or [])]
        self._out = open(self._stdout_path, "wb")
        self._err = open(self._stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv, env=_child_env(env), stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
        self.returncode = None

    # -- output
    def stdout(self):
        with open(self._stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self._stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def describe(self):
        return (f"\n[workgate {' '.join(self.argv[1:])}; exit={self.proc.poll()}]\n--- stderr (tail) ---\n"
                f"{tail(self.stderr())}\n--- stdout (tail) ---\n{tail(self.stdout(), 10)}")

    def wait_for_output(self, predicate, timeout=3.0, stream="stderr"):
        """Polls stderr/stdout until predicate(text) is true; returns the text (or the last text seen)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr() if stream == "stderr" else self.stdout()
            if predicate(text) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    # -- lifecycle
    @property
    def port(self):
        """The listening port; for a gateway started on port 0, waits for its startup line."""
        if self._port is None:
            self._port = self._wait_port()
        return self._port

    def _wait_port(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            match = SERVING_LINE.search(self.stderr())
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                raise GatewayStartError("workgate exited before it was serving" + self.describe())
            if time.monotonic() > deadline:
                raise GatewayStartError("workgate did not log its serving line in time" + self.describe())
            time.sleep(0.02)

    def listener_ports(self, timeout=START_TIMEOUT, at_least=1):
        """{index: (scheme, port)} from the per-listener startup lines (index 0 is --listen; the entries of
        gateway.listeners follow in order)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr()
            found = {int(m.group(1)): (m.group(2), int(m.group(3))) for m in LISTENER_LINE.finditer(text)}
            if SERVING_LINE.search(text) and len(found) >= at_least:
                return found
            if self.proc.poll() is not None:
                raise GatewayStartError("workgate exited before it was serving" + self.describe())
            if time.monotonic() > deadline:
                raise GatewayStartError("workgate did not log its serving line in time" + self.describe())
            time.sleep(0.02)

    def listener_port(self, index):
        """The bound port of listener `index` (1 = the first entry of gateway.listeners)."""
        return self.listener_ports(at_least=index + 1)[index][1]

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        self._port = self._port or self._wait_port(timeout)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise GatewayStartError("workgate exited before accepting connections" + self.describe())
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise GatewayStartError("workgate did not accept connections in time" + self.describe())

    def signal(self, signo):
        if self.proc.poll() is None:
            self.proc.send_signal(signo)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                children = child_pids(self.proc.pid)
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
                wait_gone(children)  # the serving process dies with the supervisor (PR_SET_PDEATHSIG)
        self.returncode = self.proc.returncode
        self._out.close()
        self._err.close()
        return self.returncode

    def cleanup(self):
        self.stop()
        self.tmpdir.cleanup()

    def write_config(self, config):
        with open(self.config_path, "w") as f:
            f.write(_config_text(config))

    # -- process
    @property
    def pid(self):
        return self.proc.pid

    def serving_pid(self):
        """The process that serves: the supervisor's child (the gateway itself with --no-supervise)."""
        children = child_pids(self.proc.pid)
        return children[0] if children else self.proc.pid

    def vm_kib(self, field="VmRSS"):
        """A memory figure of the serving process from /proc/PID/status (VmRSS, VmHWM, ...), in KiB."""
        return proc_status_kib(self.serving_pid(), field)

    # -- client helpers
    def connect(self, timeout=IO_TIMEOUT):
        return RawConnection(self.host, self.port, timeout)

    def request(self, method, path, headers=None, body=None, version="HTTP/1.1"):
        """One request on a fresh connection (Connection: close); returns the Response."""
        with self.connect() as conn:
            conn.send(build_request(method, path, headers=headers, body=body, version=version, close=True))
            resp = conn.read_response(head=(method == "HEAD"))
            # A response that announces the close is followed by the gateway's FIN: wait for it, so that the
            # gateway closes first (its side keeps the TIME-WAIT state, as with real clients) however slow it
            # is (asan), instead of racing it with our own close.
            if "close" in ",".join(resp.header_all("Connection")).lower() and not conn.buf:
                conn.closed_by_server()
            return resp

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)


def child_pids(pid):
    """The pids of the live child processes of `pid` (from /proc/PID/stat of every process)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(name))
    return sorted(out)


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


def wait_gone(pids, timeout=STOP_TIMEOUT):
    """Waits until none of `pids` is alive; returns the ones still alive at the deadline."""
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if pid_alive(p)]
    return alive


def proc_status_kib(pid, field):
    """The value of `field` (e.g. VmRSS, VmHWM) in /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def start_gateway(config, env=None, args=None, threads=2, config_path=None, ready=True, preexec_fn=None):
    """Starts `workgate serve` on port 0 (no port race, so no retry) and waits until it accepts
    connections (unless ready=False). Only a gateway with a quiet --log-level probes for a free port, and
    is retried when that port was taken in the meantime."""
    for attempt in range(3):
        gw = Gateway(config, env=env, args=args, threads=threads, config_path=config_path, preexec_fn=preexec_fn)
        if not ready:
            return gw
        try:
            return gw.wait_ready()
        except GatewayStartError:
            gw.stop()
            if "already in use" in gw.stderr() and attempt < 2:
                gw.tmpdir.cleanup()
                continue
            raise


# --------------------------------------------------------------------------------------- raw HTTP


def chunked_body(body, piece):
    """`body` in HTTP/1.1 chunked framing, `piece` bytes a chunk, no trailers."""
    out = b""
    for i in range(0, len(body), piece):
        part = body[i:i + piece]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def build_request(method, path, headers=None, body=None, version="HTTP/1.1", close=False, host=True):
    """Exact request bytes. headers: list of (name, value) or a dict. A bytes/str body gets a Content-Length."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in items}
    lines = [f"{method} {path} {version}"]
    if host and "host" not in names:
        lines.append("Host: 127.0.0.1")
    lines += [f"{k}: {v}" for k, v in items]
    if isinstance(body, str):
        body = body.encode()
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    if close and "connection" not in names:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) in wire order
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        """The value of the single field `name` (case-insensitive), None when absent; fails when repeated."""
        values = self.header_all(name)
        if len(values) > 1:
            raise AssertionError(f"header {name} repeated: {values}")
        return values[0] if values else None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header_names(self):
        return [k for k, _ in self.headers]

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<Response {self.status}\n{self.raw_head.decode('latin-1')}{self.body[:300]!r}>"


class RawConnection:
    """A client socket with a read buffer: send exact bytes, read whole responses, detect EOF."""

    def __init__(self, host, port, timeout=IO_TIMEOUT, source=None):
        # source: a local address to connect from (127.0.0.2 ... tell loopback clients apart)
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            raise ConnectionError("connection closed by the server; buffered: %r" % self.buf[:200])
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise ConnectionError("connection closed by the server; buffered: %r" % self.buf[:200])
        self.buf += chunk

    def _read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self):
        """Reads one response head (status line + fields); returns (version, status, reason, headers, raw)."""
        raw = self._read_until(b"\r\n\r\n")
        lines = raw[:-4].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status_text, _, reason = rest.partition(" ")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        return version, int(status_text), reason, headers, raw

    def read_response(self, head=False, skip_interim=True):
        """Reads one final response. head=True: a response to HEAD (no body bytes whatever the length)."""
        while True:
            version, status, reason, headers, raw = self.read_head()
            if 100 <= status < 200 and skip_interim:
                continue
            break
        lower = {k.lower(): v for k, v in headers}
        body = b""
        if head or 100 <= status < 200 or status in (204, 304):
            pass
        elif "chunked" in lower.get("transfer-encoding", "").lower():
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    self._read_until(b"\r\n")  # no trailers expected
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        elif "content-length" in lower:
            body = self._read_exact(int(lower["content-length"]))
        else:  # delimited by close
            try:
                while True:
                    self._fill()
            except ConnectionError:
                pass
            body, self.buf = self.buf, b""
        return Response(version, status, reason, headers, body, raw)

    def read_responses(self, count, head=False):
        return [self.read_response(head=head) for _ in range(count)]

    def read_until_close(self, timeout=IO_TIMEOUT):
        """Everything the server sends until it closes the connection (raises socket.timeout otherwise)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                self._fill()
        except ConnectionError:
            pass
        data, self.buf = self.buf, b""
        return data

    def closed_by_server(self, timeout=IO_TIMEOUT):
        """True when the server closes the connection (EOF/reset) within `timeout` with no further bytes."""
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except (socket.timeout, TimeoutError):
            return False
        if chunk:
            self.buf += chunk
            return False
        self.eof = True
        return True


# --------------------------------------------------------------------------------------------- JWT

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(claims, secret, alg="HS256", header=None):
    """A compact JWS. alg HS256/HS384/HS512 signs with `secret`; alg "none" gives an empty signature."""
    hdr = {"alg": alg, "typ": "JWT"}
    hdr.update(header or {})
    signing_input = b64url(json.dumps(hdr, separators=(",", ":"))) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")))
    if alg == "none":
        return signing_input + "."
    key = secret.encode() if isinstance(secret, str) else secret
    sig = hmac.new(key, signing_input.encode(), _HASHES[alg]).digest()
    return signing_input + "." + b64url(sig)


# --------------------------------------------------------------------------------------- test base


class GatewayTestCase(unittest.TestCase):
    """Starts gateways that are stopped (SIGTERM, then SIGKILL) when the test ends."""

    maxDiff = None

    def setUp(self):
        super().setUp()
        if self.id() in SKIP_TESTS:
            self.skipTest("listed in WG_E2E_SKIP")

    def start(self, config, env=None, args=None, threads=2, config_path=None, preexec_fn=None):
        gw = start_gateway(config, env=env, args=args, threads=threads, config_path=config_path,
                           preexec_fn=preexec_fn)
        self.addCleanup(gw.cleanup)
        self.gw = gw
        return gw

    @classmethod
    def start_shared(cls, config, env=None, args=None, threads=2):
        """A gateway for every test of the class (for tests that only read)."""
        gw = start_gateway(config, env=env, args=args, threads=threads)
        cls.addClassCleanup(gw.cleanup)
        cls.gw = gw
        return gw

    def context(self, gw=None):
        gw = gw or getattr(self, "gw", None)
        return gw.describe() if gw else ""

    def assertResponse(self, resp, status, body=None, json_body=None, headers=None, gw=None):
        """Exact status; optionally the exact body bytes or JSON value, and exact header values
        (a value of None asserts the header is absent)."""
        ctx = f"\nresponse: {resp!r}{self.context(gw)}"
        self.assertEqual(resp.status, status, "status" + ctx)
        if body is not None:
            self.assertEqual(resp.body, body.encode() if isinstance(body, str) else body, "body" + ctx)
        if json_body is not None:
            try:
                value = resp.json()
            except ValueError:
                self.fail("body is not JSON" + ctx)
            self.assertEqual(value, json_body, "JSON body" + ctx)
        for name, value in (headers or {}).items():
            self.assertEqual(resp.header(name), value, f"header {name}" + ctx)
