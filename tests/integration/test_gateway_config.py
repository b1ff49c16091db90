"""Configuration of the gateway: `cohort validate`, `cohort serve` with a
bad file, reload on SIGHUP and through the admin API (bad files keep the old
snapshot serving), the admin endpoints, and 50 reloads under wrk load."""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from cohort_harness import Gateway, binary, http_get, run_wrk, start_backend
from gateway_fixtures import gateway_config, route, service

GOOD_YAML = """\
gateway:
  listeners:
    - name: public
      address: 127.0.0.1:0
services:
  - name: svc
    subsets:
      stable: { endpoints: [127.0.0.1:9001] }
routes:
  - name: all
    match: { path_prefix: / }
    service: svc
"""

# Two problems at known places: an endpoint without a port (line 8) and a
# route naming a service that does not exist (line 12).
BAD_YAML = """\
gateway:
  listeners:
    - name: public
      address: 127.0.0.1:0
services:
  - name: svc
    subsets:
      stable: { endpoints: [nothost] }
routes:
  - name: all
    match: { path_prefix: / }
    service: nosuch
"""

SYNTAX_ERROR_YAML = "gateway:\n  listeners: [\n    - name: public\n"


def admin_request(gw, path, method="GET", body=None, timeout=5):
    req = urllib.request.Request(gw.admin_url(path), data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def diagnostics(text, path):
    """(line, column, message) of every file:line:column: message line."""
    out = []
    for line in text.splitlines():
        m = re.fullmatch(re.escape(path) + r":(\d+):(\d+): (.+)", line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    return out


class ValidateAndServe(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cohort-cfg-")

    def tearDown(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_validate_good_file_exits_0(self):
        path = self.write("good.yaml", GOOD_YAML)
        proc = subprocess.run([binary("cohort"), "validate", path], capture_output=True,
                              text=True, timeout=10)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("ok", proc.stdout)

    def test_validate_bad_file_prints_every_error_with_position(self):
        path = self.write("bad.yaml", BAD_YAML)
        proc = subprocess.run([binary("cohort"), "validate", path], capture_output=True,
                              text=True, timeout=10)
        self.assertEqual(proc.returncode, 1)
        diags = diagnostics(proc.stdout + proc.stderr, path)
        lines = sorted(d[0] for d in diags)
        self.assertEqual(lines, [8, 12], proc.stdout + proc.stderr)
        by_line = {d[0]: d for d in diags}
        self.assertIn("nothost", by_line[8][2])
        self.assertIn("nosuch", by_line[12][2])
        for line, column, _ in diags:
            self.assertGreater(column, 0)
        # the column points at the offending value
        self.assertEqual(by_line[8][1], BAD_YAML.splitlines()[7].index("nothost") + 1)
        self.assertEqual(by_line[12][1], BAD_YAML.splitlines()[11].index("nosuch") + 1)

    def test_validate_syntax_error(self):
        path = self.write("syntax.yaml", SYNTAX_ERROR_YAML)
        proc = subprocess.run([binary("cohort"), "validate", path], capture_output=True,
                              text=True, timeout=10)
        self.assertEqual(proc.returncode, 1)
        self.assertTrue(diagnostics(proc.stdout + proc.stderr, path), proc.stdout + proc.stderr)

    def test_serve_with_bad_file_exits_1_with_the_errors(self):
        path = self.write("bad.yaml", BAD_YAML)
        proc = subprocess.run([binary("cohort"), "serve", "-c", path], capture_output=True,
                              text=True, timeout=10, cwd=self.dir)
        self.assertEqual(proc.returncode, 1)
        diags = diagnostics(proc.stdout + proc.stderr, path)
        self.assertEqual(sorted(d[0] for d in diags), [8, 12], proc.stderr)

    def test_serve_with_missing_file_exits_1(self):
        path = os.path.join(self.dir, "missing.yaml")
        proc = subprocess.run([binary("cohort"), "serve", "-c", path], capture_output=True,
                              text=True, timeout=10, cwd=self.dir)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(path, proc.stderr)


class Reload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = start_backend(label="a")
        cls.b = start_backend(label="b")

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()

    def config_to(self, backend, extra_route=None):
        routes = [route("profile", "svc", path_prefix="/profile")]
        if extra_route:
            routes.insert(0, extra_route)
        return gateway_config([service("svc", [backend])], routes,
                              admin={"address": "127.0.0.1:0"})

    def label(self, gw, path="/profile"):
        status, headers, _ = http_get(gw.port("public"), path)
        return status, headers["X-Backend-Version"]

    def test_sighup_bad_file_keeps_old_config_good_file_applies(self):
        with Gateway(self.config_to(self.a)) as gw:
            self.assertEqual(self.label(gw), (200, "a"))
            mark = gw.reload(SYNTAX_ERROR_YAML)
            rejected = gw.wait_for_log({"msg": "configuration rejected"}, since=mark)
            self.assertIn(gw.config_path, rejected.get("error", ""))
            self.assertEqual(self.label(gw), (200, "a"))
            # A file that parses but does not validate is refused too.
            mark = gw.reload(BAD_YAML)
            gw.wait_for_log({"msg": "configuration rejected"}, since=mark)
            self.assertEqual(self.label(gw), (200, "a"))
            # A good one applies: the route now goes to b.
            mark = gw.reload(self.config_to(self.b))
            applied = gw.wait_for_log({"msg": "configuration applied"}, since=mark)
            self.assertEqual(applied.get("source"), gw.config_path)
            self.assertEqual(self.label(gw), (200, "b"))
            self.assertTrue(gw.running)

    def test_admin_api_config_get_post(self):
        with Gateway(self.config_to(self.a)) as gw:
            status, _, body = admin_request(gw, "/api/v1/config")
            self.assertEqual(status, 200)
            with open(gw.config_path, encoding="utf-8") as f:
                self.assertEqual(body.decode(), f.read())

            status, headers, body = admin_request(gw, "/api/v1/config", "POST", BAD_YAML.encode())
            self.assertEqual(status, 400)
            self.assertIn("json", headers["Content-Type"])
            doc = json.loads(body)
            self.assertTrue(doc["error"])
            self.assertEqual(len(doc["details"]), 2, doc)
            for d in doc["details"]:
                self.assertRegex(d, r"^[^:]+:\d+:\d+: .+")
            self.assertEqual(self.label(gw), (200, "a"))

            status, _, body = admin_request(gw, "/api/v1/config", "POST",
                                            b"routes: [unclosed\n")
            self.assertEqual(status, 400)
            self.assertTrue(json.loads(body)["details"])

            new_text = json.dumps(self.config_to(self.b,
                                                 route("extra", "svc", path_exact="/echo")))
            status, _, body = admin_request(gw, "/api/v1/config", "POST", new_text.encode())
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body).get("status"), "applied")
            self.assertEqual(self.label(gw), (200, "b"))
            self.assertEqual(self.label(gw, "/echo"), (200, "b"))
            status, _, body = admin_request(gw, "/api/v1/config")
            self.assertEqual((status, body.decode()), (200, new_text))
            gw.wait_for_log({"msg": "configuration applied", "source": "api"})

    def test_healthz_readyz_and_unknown_admin_path(self):
        with Gateway(self.config_to(self.a)) as gw:
            self.assertEqual(admin_request(gw, "/healthz")[0], 200)
            self.assertEqual(admin_request(gw, "/readyz")[0], 200)
            status, _, body = admin_request(gw, "/api/v1/nothing")
            self.assertEqual(status, 404)
            self.assertIn("error", json.loads(body))

    def test_fifty_reloads_under_load(self):
        configs = [self.config_to(self.a),
                   gateway_config([service("svc", [self.a, self.b], lb="round_robin")],
                                  [route("profile", "svc", path_prefix="/profile")],
                                  admin={"address": "127.0.0.1:0"})]
        with Gateway(configs[0]) as gw:
            result = {}

            def load():
                result["wrk"] = run_wrk(gw.url("/profile"), duration_s=8, connections=8,
                                        threads=2, timeout=30)

            t = threading.Thread(target=load)
            t.start()
            applied = rejected = 0
            try:
                time.sleep(0.5)
                for i in range(50):
                    valid = i % 2 == 0
                    via_api = (i // 2) % 2 == 1
                    if via_api:
                        mark = gw.log_mark()
                        text = json.dumps(configs[(i // 2) % 2]) if valid else BAD_YAML
                        status, _, _ = admin_request(gw, "/api/v1/config", "POST",
                                                     text.encode())
                        self.assertEqual(status, 200 if valid else 400)
                    else:
                        mark = gw.reload(configs[(i // 2) % 2] if valid else SYNTAX_ERROR_YAML)
                    msg = "configuration applied" if valid else "configuration rejected"
                    gw.wait_for_log({"msg": msg}, since=mark, timeout=5)
                    applied += valid
                    rejected += not valid
                    time.sleep(0.1)
            finally:
                t.join(timeout=40)
            self.assertEqual((applied, rejected), (25, 25))
            wrk = result["wrk"]
            print(f"\nwrk during 50 reloads: {wrk['requests']} requests, "
                  f"{wrk['requests_per_s']} req/s, non-2xx {wrk['non_2xx']}, "
                  f"socket errors {wrk['socket_errors']}", file=sys.stderr)
            self.assertGreater(wrk["requests"], 200, wrk["raw"])
            self.assertEqual(wrk["non_2xx"], 0, wrk["raw"])
            self.assertEqual(wrk["socket_errors"],
                             {"connect": 0, "read": 0, "write": 0, "timeout": 0}, wrk["raw"])
            self.assertEqual(self.label(gw)[0], 200)


if __name__ == "__main__":
    unittest.main()
