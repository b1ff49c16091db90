"""`cohort explain` against a running gateway: it prints the subset and reason
the gateway actually uses for the same request, and its exit codes follow the
CLI's contract (0 ok, 1 no route, 2 usage, 3 admin API unreachable)."""

import subprocess
import unittest

from cohort_harness import Gateway, binary, free_port, http_get
from test_session_routing import (DECISION_HEADER, LABELS, SUBSET_OF_LABEL, make_config,
                                  setUpModule as start_backends,
                                  tearDownModule as stop_backends)


def setUpModule():
    start_backends()


def tearDownModule():
    stop_backends()


def run_cli(*args, timeout=20):
    proc = subprocess.run([binary("cohort"), "explain", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def parse_lines(stdout):
    """{'route': ..., 'service': ..., 'subset': ..., 'rollout': ..., 'bucket': ..., 'reason': ...}"""
    fields = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value.strip()
    return fields


class ExplainCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(make_config(weight="25%"))
        cls.admin = f"http://127.0.0.1:{cls.gw.admin_port}"

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def test_prints_what_the_gateway_does(self):
        seen = set()
        for i in range(40):
            headers = {"X-User-Id": f"cli-{i}"}
            if i % 8 == 0:
                headers["X-User-Cohort"] = "internal"
            elif i % 8 == 1:
                headers["X-App-Version"] = "5.1.9"
            status, h, _ = http_get(self.gw.port(), "/profile", headers)
            self.assertEqual(status, 200)
            subset = SUBSET_OF_LABEL[h["X-Backend-Version"]]
            args = ["--admin", self.admin]
            for name, value in headers.items():
                args += ["-H", f"{name}: {value}"]
            code, out, err = run_cli(*args, "/profile")
            self.assertEqual(code, 0, err)
            fields = parse_lines(out)
            self.assertEqual(set(fields),
                             {"route", "service", "subset", "rollout", "bucket", "reason"}, out)
            self.assertEqual(fields["subset"], subset, out)
            self.assertEqual(fields["reason"], h[DECISION_HEADER], out)
            self.assertEqual((fields["route"], fields["service"], fields["rollout"]),
                             ("profile", "profile-api", "profile-api"))
            if fields["reason"].startswith(("bucket:", "baseline:")):
                self.assertEqual(fields["reason"].split(":")[1].split("<")[0].split(">")[0],
                                 fields["bucket"])
            seen.add(fields["reason"].split(":")[0] + ":" + subset)
        # The sample covered pins and every bucket outcome.
        self.assertTrue({"pin:canary", "pin:stable", "bucket:canary", "bucket:stable",
                         "baseline:baseline"} <= seen, seen)
        self.assertEqual(set(LABELS), {"stable", "baseline", "canary"})

    def test_no_route_exits_1(self):
        code, out, _ = run_cli("--admin", self.admin, "/not-routed")
        self.assertEqual(code, 1)
        self.assertIn("no route", out)

    def test_unreachable_admin_exits_3(self):
        port = free_port()  # nothing listens there (a moment ago nothing did)
        code, out, err = run_cli("--admin", f"http://127.0.0.1:{port}", "-H", "X-User-Id: 1",
                                 "/profile")
        self.assertEqual(code, 3, (out, err))
        self.assertEqual(out, "")
        self.assertTrue(err.strip())

    def test_bad_usage_exits_2(self):
        cases = [
            [],                                            # no path
            ["-H", "X-User-Id: 1"],                        # still no path
            ["-H", "no colon here", "/profile"],           # malformed header
            ["-H", ": empty name", "/profile"],
            ["profile"],                                   # not a path
            ["/profile", "/second"],                       # two paths
            ["-H"],                                        # option without its value
        ]
        for args in cases:
            code, out, err = run_cli("--admin", self.admin, *args)
            self.assertEqual(code, 2, (args, out, err))
            self.assertTrue(err.strip(), args)
