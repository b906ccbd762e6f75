"""Name resolution of upstreams, with the gateway in a private mount namespace whose /etc/resolv.conf points at
a fake DNS server of the test (on 127.0.53.53) and whose /etc/hosts is empty, so that no test depends on the
machine's resolver:
- connect_timeout_ms covers the DNS lookup (a resolver that stalls 3 s does not hold a request for 3 s);
- `localhost` and `*.localhost` resolve to loopback without asking DNS (RFC 6761), even without /etc/hosts.
Skipped where mount namespaces cannot be made (not root, no unshare)."""

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from proxy_support import ProxyTestCase, proxy_config, proxy_route, server

DNS_ADDRESS = "127.0.53.53"
TIMED_OUT = {"error": "Upstream timed out", "code": "UPSTREAM_TIMEOUT"}


class FakeDns:
    """Answers A queries for `answers` names with 127.0.0.1 after `delay` seconds; never answers others."""

    def __init__(self, answers, delay):
        self.answers = {name.lower().rstrip(".") for name in answers}
        self.delay = delay
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((DNS_ADDRESS, 53))
        self.sock.settimeout(0.1)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            threading.Thread(target=self.answer, args=(data, peer), daemon=True).start()

    def answer(self, data, peer):
        if len(data) < 12:
            return
        qid, = struct.unpack("!H", data[:2])
        labels, i = [], 12
        while i < len(data) and data[i] != 0:
            n = data[i]
            labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        question = data[12:i + 5]
        qtype, = struct.unpack("!H", data[i + 1:i + 3])
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))
        if name not in self.answers:
            return  # stall for ever
        time.sleep(self.delay)
        if qtype == 1:
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
            header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
        else:
            answer = b""
            header = struct.pack("!HHHHHH", qid, 0x8180, 1, 0, 0, 0)
        try:
            self.sock.sendto(header + question + answer, peer)
        except OSError:
            pass

    def stop(self):
        self.stopping.set()
        self.sock.close()
        self.thread.join(timeout=2)


def namespace_supported():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


@unittest.skipUnless(namespace_supported(), "needs root and unshare(1) for a private mount namespace")
class UpstreamDnsTest(ProxyTestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="wg-dns-")
        self.addCleanup(self.dir.cleanup)
        resolv = os.path.join(self.dir.name, "resolv.conf")
        with open(resolv, "w") as f:
            f.write(f"nameserver {DNS_ADDRESS}\noptions timeout:3 attempts:1\n")
        hosts = os.path.join(self.dir.name, "hosts")
        open(hosts, "w").close()
        # A wrapper that runs the real binary with the test's resolv.conf and an empty /etc/hosts.
        wrapper = os.path.join(self.dir.name, "workgate-in-namespace")
        real = harness.workgate_bin()
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    f"exec unshare -m --propagation private sh -c 'mount --bind {resolv} /etc/resolv.conf && "
                    f"mount --bind {hosts} /etc/hosts && exec \"$0\" \"$@\"' {real} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        original = harness.workgate_bin
        harness.workgate_bin = lambda: wrapper
        self.addCleanup(setattr, harness, "workgate_bin", original)

    def dns(self, answers, delay):
        fake = FakeDns(answers, delay)
        self.addCleanup(fake.stop)
        return fake

    def test_connect_timeout_covers_a_stalled_lookup(self):
        dns = self.dns(["stall.test"], delay=3.0)
        up = self.upstream()
        gw = self.start(proxy_config([server("up", f"http://stall.test:{up.port}", connect_timeout_ms=500)],
                                     [proxy_route("/up/{.+}", "up")]))
        started = time.monotonic()
        resp = gw.get("/up/x")
        elapsed = time.monotonic() - started
        self.assertResponse(resp, 504, json_body=TIMED_OUT, gw=gw)
        self.assertLess(elapsed, 2.0, "connect_timeout_ms (500) must bound the DNS lookup")
        self.assertIn("stall.test", [q[0] for q in dns.queries], "the lookup went to the fake resolver")
        self.assertEqual(up.requests, [])

    def test_a_lookup_within_the_timeout_still_connects(self):
        self.dns(["quick.test"], delay=0.0)
        up = self.upstream()
        gw = self.start(proxy_config([server("up", f"http://quick.test:{up.port}", connect_timeout_ms=2000)],
                                     [proxy_route("/up/{.+}", "up")]))
        rec = self.echo(gw.get("/up/x"))
        self.assertEqual(rec["path"], "/x")

    def test_localhost_names_resolve_without_dns(self):
        dns = self.dns([], delay=0.0)  # answers nothing: any lookup would stall
        up = self.upstream()
        servers = [server("plain", f"http://localhost:{up.port}", connect_timeout_ms=1000),
                   server("sub", f"http://api.LocalHost:{up.port}", connect_timeout_ms=1000)]
        gw = self.start(proxy_config(servers, [proxy_route("/plain/{.+}", "plain"), proxy_route("/sub/{.+}", "sub")]))
        for prefix in ("plain", "sub"):
            with self.subTest(server=prefix):
                started = time.monotonic()
                rec = self.echo(gw.get(f"/{prefix}/x"))
                self.assertEqual(rec["path"], "/x")
                self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual(dns.queries, [], "localhost names must not be looked up")

    def test_names_that_only_end_like_localhost_are_looked_up(self):
        dns = self.dns([], delay=0.0)
        up = self.upstream()
        gw = self.start(proxy_config([server("up", f"http://notlocalhost:{up.port}", connect_timeout_ms=300)],
                                     [proxy_route("/up/{.+}", "up")]))
        self.assertResponse(gw.get("/up/x"), 504, json_body=TIMED_OUT, gw=gw)
        self.assertIn("notlocalhost", [q[0] for q in dns.queries])


if __name__ == "__main__":
    unittest.main()
