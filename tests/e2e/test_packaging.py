"""Packaging: cmake --install (stripped binary, SDK, man page, docs, example config, systemd unit) and the
Debian package from cpack -G DEB, checked with dpkg-deb and run from a dpkg -x extraction.

The build tree is the one of WORKGATE_BIN (it must have been built in full: cpack installs every target).
WG_E2E_APT_INSTALL=1 (CI machines only) also runs a real `apt install ./workgate_*.deb` and
`/usr/bin/workgate --version`."""

import glob
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import workgate_bin

BUILD = os.path.dirname(os.path.abspath(workgate_bin()))


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


@unittest.skipUnless(shutil.which("cpack") and shutil.which("dpkg-deb")
                     and os.path.exists(os.path.join(BUILD, "CPackConfig.cmake")),
                     "needs cpack, dpkg-deb and a configured build tree")
class PackagingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="wg-e2e-pkg-")
        cls.addClassCleanup(cls.tmp.cleanup)

    def test_cmake_install_into_a_prefix(self):
        prefix = os.path.join(self.tmp.name, "prefix")
        r = run(["cmake", "--install", BUILD, "--prefix", prefix])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        binary = os.path.join(prefix, "bin", "workgate")
        for path in ("bin/workgate", "include/workgate/worker.h", "include/workgate/worker.hpp",
                     "share/man/man1/workgate.1", "share/doc/workgate/operations.md",
                     "share/doc/workgate/configuration.md", "share/doc/workgate/README.md",
                     "share/workgate/examples/api-config.json", "etc/workgate/api-config.json",
                     "lib/systemd/system/workgate.service", "lib/cmake/workgate/workgateConfig.cmake"):
            self.assertTrue(os.path.exists(os.path.join(prefix, path)), path)
        # stripped: no symbol table
        sections = run(["readelf", "-S", binary]).stdout
        self.assertNotIn(".symtab", sections)
        self.assertNotIn(".debug_info", sections)
        self.assertEqual(run([binary, "--version"]).returncode, 0)
        # the example config works from the install prefix
        r = run([binary, "validate", os.path.join(prefix, "share/workgate/examples/api-config.json")])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # the man page renders
        if shutil.which("man"):
            r = run(["man", "-l", "-P", "cat", os.path.join(prefix, "share/man/man1/workgate.1")],
                    env={**os.environ, "MANWIDTH": "100"})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("workgate serve", r.stdout)
        with open(os.path.join(prefix, "lib/systemd/system/workgate.service")) as f:
            unit = f.read()
        for line in ("ExecReload=/bin/kill -HUP $MAINPID", "Type=exec", "NoNewPrivileges=yes",
                     "ProtectSystem=strict"):
            self.assertIn(line, unit)

    def test_debian_package(self):
        out = os.path.join(self.tmp.name, "deb")
        r = run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", out])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        debs = glob.glob(os.path.join(out, "workgate_*.deb"))
        self.assertEqual(len(debs), 1, os.listdir(out))
        deb = debs[0]
        contents = run(["dpkg-deb", "-c", deb]).stdout
        for path in ("./usr/bin/workgate", "./usr/include/workgate/worker.h", "./usr/share/man/man1/workgate.1",
                     "./usr/share/doc/workgate/operations.md", "./etc/workgate/api-config.json",
                     "./lib/systemd/system/workgate.service"):
            self.assertIn(path, contents)
        info = run(["dpkg-deb", "-I", deb]).stdout
        self.assertIn("Package: workgate", info)
        self.assertRegex(info, r"Depends: .*libssl3")
        conffiles = subprocess.run(f"dpkg-deb --ctrl-tarfile '{deb}' | tar -xO ./conffiles", shell=True,
                                   capture_output=True, text=True).stdout
        self.assertIn("/etc/workgate/api-config.json", conffiles)
        root = os.path.join(self.tmp.name, "x")
        self.assertEqual(run(["dpkg", "-x", deb, root]).returncode, 0)
        r = run([os.path.join(root, "usr/bin/workgate"), "--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^workgate \d+\.\d+\.\d+\n")
        r = run([os.path.join(root, "usr/bin/workgate"), "validate", os.path.join(root, "etc/workgate/api-config.json")])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        if os.environ.get("WG_E2E_APT_INSTALL") == "1":
            r = run(["apt-get", "install", "-y", deb])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(run(["/usr/bin/workgate", "--version"]).returncode, 0)


if __name__ == "__main__":
    unittest.main()
