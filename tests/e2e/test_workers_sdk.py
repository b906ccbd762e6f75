"""The installed worker SDK: `cmake --install` the gateway's build to a temporary prefix, build
examples/workers/out-of-tree against it with find_package(workgate) (C++17, its own flags), and load the
resulting module in the gateway."""

import os
import shutil
import subprocess
import tempfile
import unittest

from harness import GatewayTestCase, REPO, workgate_bin


def run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def sdk_headers(include_dir):
    """The SDK headers under include_dir/workgate, as paths relative to include_dir."""
    out = set()
    for root, _, files in os.walk(os.path.join(include_dir, "workgate")):
        for f in files:
            if f.endswith((".h", ".hpp")):
                out.add(os.path.relpath(os.path.join(root, f), include_dir).replace(os.sep, "/"))
    return out


class OutOfTreeWorkerTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cmake = shutil.which("cmake")
        build = os.path.dirname(os.path.abspath(workgate_bin()))
        if cmake is None or not os.path.exists(os.path.join(build, "cmake_install.cmake")):
            raise unittest.SkipTest("cmake or the gateway's build directory is not available")
        cls.tmp = tempfile.TemporaryDirectory(prefix="wg-sdk-")
        cls.addClassCleanup(cls.tmp.cleanup)
        prefix = os.path.join(cls.tmp.name, "prefix")
        run([cmake, "--install", build, "--prefix", prefix])
        cls.prefix = prefix
        project = os.path.join(REPO, "examples", "workers", "out-of-tree")
        out = os.path.join(cls.tmp.name, "build")
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        run([cmake, "-S", project, "-B", out, *generator, f"-DCMAKE_PREFIX_PATH={prefix}",
             "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Werror"])
        run([cmake, "--build", out])
        cls.module = os.path.join(out, "libhello-worker.so")

    def test_installed_layout(self):
        for rel in ("include/workgate/worker.h", "include/workgate/worker.hpp"):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, rel)), rel)
        # Every header of the source tree is installed, the umbrella and its parts under workgate/worker/.
        source = sdk_headers(os.path.join(REPO, "include"))
        self.assertIn("workgate/worker/json_writer.hpp", source)
        self.assertIn("workgate/worker/detail/entry.hpp", source)
        self.assertEqual(sdk_headers(os.path.join(self.prefix, "include")), source)
        found = [f for _, _, files in os.walk(self.prefix) for f in files if f == "workgateConfig.cmake"]
        self.assertEqual(found, ["workgateConfig.cmake"])

    def test_installed_headers_compile_alone(self):
        # Each installed header is self-contained: one translation unit that includes only it, as C++17
        # with the installed include directory alone; worker.h also as C99.
        cxx = shutil.which("c++") or shutil.which("g++")
        cc = shutil.which("cc") or shutil.which("gcc")
        if cxx is None:
            self.skipTest("no C++ compiler")
        include = os.path.join(self.prefix, "include")
        for rel in sorted(sdk_headers(include)):
            with self.subTest(header=rel):
                run([cxx, "-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only",
                     "-I", include, "-x", "c++", "-"], input=f"#include <{rel}>\n")
        if cc is not None:
            run([cc, "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only",
                 "-I", include, "-x", "c", "-"], input="#include <workgate/worker.h>\n")

    def test_module_loads_and_answers(self):
        self.assertTrue(os.path.exists(self.module))
        gw = self.start({
            "workers": [{"binding": "HELLO", "module": self.module, "config": {"greeting": "hi"}, "timeout_ms": 2000}],
            "serviceBindings": [{"alias": "hello", "binding": "HELLO"}],
            "paths": [
                {"method": "GET", "path": "/hello/{name}",
                 "integration": {"type": "service_binding", "binding": "hello", "function": "hello"}},
                {"method": "GET", "path": "/slow",
                 "integration": {"type": "service_binding", "binding": "hello", "function": "slow"}},
            ],
        })
        resp = gw.get("/hello/sdk")
        self.assertResponse(resp, 200)
        data = resp.json()["data"]
        self.assertEqual(resp.json()["message"], "hello sdk")
        self.assertEqual(data["binding"], "HELLO")
        self.assertEqual(data["config"], {"greeting": "hi"})
        self.assertEqual(data["cplusplus"], 201703)
        self.assertResponse(gw.get("/slow"), 200, body="slow answer for /slow")


if __name__ == "__main__":
    unittest.main()
