"""A real redis-server for the rate-limit tests (a free port, no persistence), and fake Redis servers
that misbehave (answer garbage, stall)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import free_port


def redis_server_bin():
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest("redis-server not installed (scripts/install-deps.sh)")
    return path


class RedisServer:
    """redis-server on 127.0.0.1:PORT (`--port 0` is not supported: a free port, retried when taken)."""

    def __init__(self, port=None, password=None):
        self.dir = tempfile.TemporaryDirectory(prefix="wg-redis-")
        self.password = password
        self.port = port
        self.proc = None
        self.start()

    def start(self):
        for _ in range(5):
            port = self.port or free_port()
            args = [redis_server_bin(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", self.dir.name, "--daemonize", "no", "--loglevel", "warning"]
            if self.password:
                args += ["--requirepass", self.password]
            log = open(os.path.join(self.dir.name, "redis.log"), "ab")
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            log.close()
            if self._wait_ping(port):
                self.port = port
                return self
            self.proc.kill()
            self.proc.wait()
            if self.port:  # a fixed port (restart): it must come back there
                time.sleep(0.2)
        raise RuntimeError("redis-server did not start")

    def _wait_ping(self, port, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                reply = self.command("PING", port=port)
                if reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH"):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def command(self, *args, port=None):
        """One command in RESP; the raw reply bytes (enough for the tests' simple replies)."""
        parts = [] if not self.password else [["AUTH", self.password]]
        parts.append(list(args))
        wire = b""
        for cmd in parts:
            wire += b"*%d\r\n" % len(cmd)
            for a in cmd:
                a = a.encode() if isinstance(a, str) else a
                wire += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", port or self.port), timeout=2) as s:
            s.sendall(wire)
            time.sleep(0.02)
            s.settimeout(2)
            data = s.recv(1 << 20)
        if self.password and data.startswith(b"+OK\r\n"):
            data = data[5:]
        return data

    def info_commandstats(self):
        """{command: calls} from INFO commandstats."""
        raw = self.command("INFO", "commandstats").decode(errors="replace")
        out = {}
        for line in raw.splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[len("cmdstat_"):].split(":", 1)
                fields = dict(kv.split("=") for kv in rest.split(","))
                out[name] = int(fields["calls"])
        return out

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop_process(self):
        self.proc.send_signal(signal.SIGSTOP)

    def continue_process(self):
        self.proc.send_signal(signal.SIGCONT)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.kill()
        self.dir.cleanup()


class FakeRedis:
    """A TCP server on a free port that plays a broken Redis: mode "garbage" answers every read with
    bytes that are not RESP, "wrong" answers +OK to everything (valid RESP, wrong type), "stall" accepts
    and never answers."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopped = False
        self.clients = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.clients.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            while not self.stopped:
                data = conn.recv(65536)
                if not data:
                    return
                if self.mode == "garbage":
                    conn.sendall(b"\x00\xffHTTP/1.1 200 OK\r\n\r\n" * 4)
                elif self.mode == "wrong":
                    conn.sendall(b"+OK\r\n" * max(1, data.count(b"*")))
        except OSError:
            pass

    def close(self):
        self.stopped = True
        self.sock.close()
        for c in self.clients:
            try:
                c.close()
            except OSError:
                pass
