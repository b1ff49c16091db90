"""cohort-loadgen against the real gateway and profile-api backends: pacing,
cohorts (internal and beta on the canary, old app versions on stable), sticky
users at a fixed weight, cookie jars for anonymous users, and the switches a
weight raise causes (stable -> canary only)."""

import json
import re
import subprocess
import time
import unittest

from cohort_harness import Gateway, binary, free_port, http_get, start_backend

ROLLOUT = "profile-api"


def gateway_config(stable_port, canary_port, weight="25%"):
    return {
        "gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
                    "workers": 2},
        "state": {"store": "sqlite:state.db"},
        "services": [{"name": "profile-api", "subsets": {
            "stable": {"endpoints": [f"127.0.0.1:{stable_port}"]},
            "canary": {"endpoints": [f"127.0.0.1:{canary_port}"]}}}],
        "routes": [{"name": "profile", "match": {"path_prefix": "/profile"},
                    "service": "profile-api"}],
        "rollouts": [{
            "name": ROLLOUT, "service": "profile-api",
            "session": {"key": [{"header": "X-User-Id"}], "anonymous": "cookie"},
            "cohorts": [
                {"name": "internal", "pin": "canary",
                 "match": {"headers": [{"name": "X-User-Cohort", "exact": "internal"}]}},
                {"name": "legacy-mobile", "pin": "stable",
                 "match": {"headers": [{"name": "X-App-Version", "semver": "<5.2.0"}]}},
                {"name": "beta", "pin": "canary",
                 "match": {"users": ["2048", "100", "101", "102", "103", "104"]}},
            ],
            "weight": weight,
        }],
    }


def loadgen_argv(port, *extra):
    return [binary("cohort-loadgen"), "--target", f"http://127.0.0.1:{port}", "--path",
            "/profile", "--json", *extra]


class LoadgenUsage(unittest.TestCase):
    def test_help_documents_the_flags(self):
        out = subprocess.run([binary("cohort-loadgen"), "--help"], capture_output=True,
                             text=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        for flag in ("--target", "--path", "--users", "--internal-share", "--beta-users",
                     "--legacy-share", "--anonymous-share", "--rate", "--connections",
                     "--duration", "--requests", "--seed", "--report-every", "--json",
                     "--timeout"):
            self.assertIn(flag, out.stdout)

    def test_usage_errors_exit_2(self):
        for args in (["--rate", "0"], ["--users", "many"], ["--internal-share", "120%"],
                     ["--internal-share", "60%", "--legacy-share", "50%"], ["--bogus", "1"],
                     ["--target", "ftp://x:1"], ["--duration"]):
            out = subprocess.run([binary("cohort-loadgen"), *args], capture_output=True,
                                 text=True, timeout=10)
            self.assertEqual(out.returncode, 2, f"{args}: {out.stderr}")
            self.assertIn("cohort-loadgen:", out.stderr)

    def test_unreachable_target_exits_1_quickly(self):
        port = free_port()  # nothing listens there
        start = time.monotonic()
        out = subprocess.run(loadgen_argv(port, "--duration", "10s"), capture_output=True,
                             text=True, timeout=20)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn("cannot connect", out.stderr)
        self.assertEqual(out.stdout, "")


class LoadgenThroughGateway(unittest.TestCase):
    def setUp(self):
        self.stable = start_backend(api="v1.0")
        self.canary = start_backend(api="v1.1")
        self.addCleanup(self.stable.stop)
        self.addCleanup(self.canary.stop)
        self.gw = Gateway(gateway_config(self.stable.port, self.canary.port))
        self.addCleanup(self.gw.close)

    def run_loadgen(self, *extra, timeout=30):
        out = subprocess.run(loadgen_argv(self.gw.port(), *extra), capture_output=True,
                             text=True, timeout=timeout)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout), out.stderr

    def assert_cohorts_pinned(self, report):
        cohorts = report["cohorts"]
        self.assertGreater(cohorts["internal"]["users"], 0)
        self.assertGreater(cohorts["beta"]["users"], 0)
        self.assertGreater(cohorts["legacy"]["users"], 0)
        self.assertEqual(set(cohorts["internal"]["versions"]), {"v1.1"})
        self.assertEqual(set(cohorts["beta"]["versions"]), {"v1.1"})
        self.assertEqual(set(cohorts["legacy"]["versions"]), {"v1.0"})
        self.assertEqual(cohorts["legacy"]["multi_version_users"], 0)

    def test_fixed_weight_keeps_every_user_on_one_version(self):
        report, stderr = self.run_loadgen(
            "--users", "2000", "--internal-share", "2%", "--beta-users", "100-104,2048",
            "--legacy-share", "10%", "--anonymous-share", "10%", "--rate", "200",
            "--connections", "16", "--duration", "4s", "--seed", "7", "--report-every", "1s")
        # Pacing: 200/s for 4 s.
        self.assertAlmostEqual(report["requests"], 800, delta=40)
        self.assertAlmostEqual(report["achieved_rate"], 200, delta=20)
        self.assertLess(report["elapsed_s"], 6)
        self.assertEqual(report["responses"], report["requests"])
        self.assertEqual(report["status"], {"200": report["requests"]})
        self.assertEqual(report["errors"]["total"], 0, report["errors"])
        self.assertEqual(sum(report["versions"].values()), report["requests"])
        # Cohorts as configured: 2% of 2000 internal, 10% legacy, 10% anonymous, 6 beta ids
        # (2048 is outside the population and ignored).
        cohorts = report["cohorts"]
        self.assertEqual(cohorts["internal"]["users"], 40)
        self.assertEqual(cohorts["legacy"]["users"], 200)
        self.assertEqual(cohorts["anonymous"]["users"], 200)
        self.assertEqual(cohorts["beta"]["users"], 5)
        self.assertIn("beta user 2048 is not in the population", stderr)
        self.assert_cohorts_pinned(report)
        # 25% of the bucketed users on the canary: both versions show up for regular users.
        regular = cohorts["regular"]["versions"]
        share = regular.get("v1.1", 0) / sum(regular.values())
        self.assertTrue(0.15 < share < 0.35, regular)
        # Anonymous users got a cookie on their first answer and kept their version.
        self.assertEqual(set(cohorts["anonymous"]["versions"]), {"v1.0", "v1.1"})
        self.assertEqual(report["multi_version_users"], 0)
        self.assertEqual(report["transitions"], {})
        self.assertGreater(report["latency_ms"]["p99"], 0)
        self.assertLessEqual(report["latency_ms"]["p50"], report["latency_ms"]["p99"])
        # Progress lines on stderr, about one per second.
        progress = [l for l in stderr.splitlines() if re.match(r"\[\d+\.\d+s\] sent=\d+", l)]
        self.assertTrue(3 <= len(progress) <= 5, stderr)
        self.assertIn("multi-version-users=0", progress[-1])

    def test_requests_bound_stops_early(self):
        report, _ = self.run_loadgen("--users", "100", "--rate", "500", "--requests", "150",
                                     "--duration", "20s", "--report-every", "0")
        self.assertEqual(report["requests"], 150)
        self.assertEqual(report["responses"], 150)
        self.assertLess(report["elapsed_s"], 2)

    def test_weight_raise_moves_users_from_stable_to_canary_only(self):
        proc = subprocess.Popen(
            loadgen_argv(self.gw.port(), "--users", "1000", "--internal-share", "2%",
                         "--beta-users", "100-104", "--legacy-share", "10%", "--rate", "300", "--connections", "16",
                         "--duration", "6s", "--seed", "3", "--report-every", "0"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(3)
            status, _, body = http_get(self.gw.admin_port,
                                       f"/api/v1/rollouts/{ROLLOUT}/weight", method="POST",
                                       body=json.dumps({"weight": "50%"}),
                                       headers={"Content-Type": "application/json"})
            self.assertEqual(status, 200, body)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        report = json.loads(out)
        self.assertEqual(report["errors"]["total"], 0, report["errors"])
        self.assert_cohorts_pinned(report)
        self.assertGreater(report["multi_version_users"], 0)
        self.assertEqual(list(report["transitions"]), ["v1.0->v1.1"])
        times = report["transition_times"]["v1.0->v1.1"]
        self.assertEqual(times["users"], report["multi_version_users"])
        self.assertEqual(report["cohorts"]["regular"]["multi_version_users"],
                         report["multi_version_users"])
        # No switch before the raise, sent 3 s after the load generator was started (its
        # clock starts a little later, after start-up and a first connection).
        self.assertGreater(times["first_s"], 1.5)
        self.assertTrue(all(int(s) >= 1 for s in times["by_second"]), times)
        # A user switches once: each switch is a different user.
        self.assertEqual(report["transitions"]["v1.0->v1.1"], times["users"])


if __name__ == "__main__":
    unittest.main()
