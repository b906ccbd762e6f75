"""`workgate serve --watch`: an edit reloads, a broken edit is logged and the running config kept, an env
file edit reloads, and a Kubernetes ConfigMap-style `..data` symlink swap reloads."""

import json
import os
import tempfile
import time
import unittest

from harness import GatewayTestCase


def config_with(value):
    return {"paths": [{"method": "GET", "path": "/v", "response": {"v": value}}]}


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class WatchTest(GatewayTestCase):
    def value(self, gw):
        resp = gw.get("/v")
        return resp.json()["v"] if resp.status == 200 else None

    def test_an_edit_reloads_and_a_broken_edit_keeps_the_running_config(self):
        gw = self.start(config_with(1), args=["--watch"])
        gw.wait_for_output(lambda t: "--watch: watching" in t, timeout=3)
        self.assertEqual(self.value(gw), 1)
        gw.write_config(config_with(2))
        self.assertTrue(wait_until(lambda: self.value(gw) == 2), "edit not reloaded" + gw.describe())
        reloads = gw.stderr().count("reloaded")
        self.assertEqual(reloads, 1, "one edit, one reload (debounced)" + gw.describe())
        gw.write_config('{"paths": [ {"method": "GET", "path": "/v" ')
        gw.wait_for_output(lambda t: "reload failed" in t, timeout=3)
        self.assertEqual(self.value(gw), 2)
        self.assertIsNone(gw.proc.poll(), "a broken edit must not stop the gateway")
        gw.write_config(config_with(3))
        self.assertTrue(wait_until(lambda: self.value(gw) == 3), "fixed edit not reloaded" + gw.describe())

    def test_an_env_file_edit_reloads(self):
        tmp = tempfile.TemporaryDirectory(prefix="wg-watch-")
        self.addCleanup(tmp.cleanup)
        env_file = os.path.join(tmp.name, "gateway.env")
        with open(env_file, "w") as f:
            f.write("WG_WATCH_VALUE=first\n")
        cfg = {"paths": [{"method": "GET", "path": "/v", "response": {"v": "$env.WG_WATCH_VALUE"}}]}
        env = {k: v for k, v in os.environ.items() if k != "WG_WATCH_VALUE"}
        gw = self.start(cfg, args=["--watch", "--env-file", env_file], env=env)
        gw.wait_for_output(lambda t: "--watch: watching" in t, timeout=3)
        self.assertEqual(self.value(gw), "first")
        with open(env_file, "w") as f:
            f.write("WG_WATCH_VALUE=second\n")
        self.assertTrue(wait_until(lambda: self.value(gw) == "second"), "env edit not reloaded" + gw.describe())

    def test_a_configmap_symlink_swap_reloads(self):
        tmp = tempfile.TemporaryDirectory(prefix="wg-configmap-")
        self.addCleanup(tmp.cleanup)
        mount = tmp.name

        def publish(version, value):
            # What the kubelet does: a new timestamped directory, a `..data_tmp` symlink to it renamed over
            # `..data`, then the old directory removed. `config.json` -> `..data/config.json` never changes.
            directory = os.path.join(mount, f"..2026_12_02_{version}")
            os.mkdir(directory)
            with open(os.path.join(directory, "config.json"), "w") as f:
                f.write(json.dumps(config_with(value)))
            os.symlink(os.path.basename(directory), os.path.join(mount, "..data_tmp"))
            os.replace(os.path.join(mount, "..data_tmp"), os.path.join(mount, "..data"))
            return directory

        first = publish("a", "one")
        os.symlink("..data/config.json", os.path.join(mount, "config.json"))
        gw = self.start(None, args=["--watch"], config_path=os.path.join(mount, "config.json"))
        gw.wait_for_output(lambda t: "--watch: watching" in t, timeout=3)
        self.assertEqual(self.value(gw), "one")
        publish("b", "two")
        for name in os.listdir(first):
            os.unlink(os.path.join(first, name))
        os.rmdir(first)
        self.assertTrue(wait_until(lambda: self.value(gw) == "two"), "symlink swap not reloaded" + gw.describe())
        publish("c", "three")  # and again: the watch follows the new target directory
        self.assertTrue(wait_until(lambda: self.value(gw) == "three"), "second swap not reloaded" + gw.describe())

    def test_without_watch_an_edit_is_not_applied(self):
        gw = self.start(config_with(1))
        gw.write_config(config_with(2))
        time.sleep(0.6)  # longer than the debounce: a watcher would have reloaded by now
        self.assertEqual(self.value(gw), 1)


if __name__ == "__main__":
    unittest.main()
