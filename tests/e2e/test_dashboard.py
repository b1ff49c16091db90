"""The dashboard in a real browser during a live rollout (issue 9's check).

profile-api v1.0 as stable and baseline, v1.1 as canary, `cohort serve` with a
rollout whose steps cannot advance during the test (min_requests far above
what the load brings), cohort-loadgen for traffic. Debian's chromium, driven
by playwright-core from web/node_modules (dashboard_browser.mjs), opens the
dashboard, waits for the charts, clicks Pause and checks the phase it shows;
the admin API must agree. The screenshot lands in build/test-artifacts/.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from cohort_harness import Gateway, binary, http_get, start_backend, _spawn, _terminate

HERE = os.path.dirname(os.path.abspath(__file__))
WEB_DIR = os.environ.get("COHORT_WEB") or os.path.normpath(os.path.join(HERE, "..", "..", "web"))
ARTIFACTS = os.environ.get("COHORT_ARTIFACTS") or os.path.normpath(
    os.path.join(HERE, "..", "..", "build", "test-artifacts"))
CHROMIUM = os.environ.get("COHORT_CHROMIUM", "/usr/bin/chromium")
ROLLOUT = "profile-api"


def rollout_config(stable, baseline, canary):
    return {
        "gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"}], "workers": 1},
        "state": {"store": "sqlite:cohort-state.db"},
        "services": [{
            "name": "profile-api",
            "subsets": {
                "stable": {"endpoints": [stable.address]},
                "baseline": {"endpoints": [baseline.address]},
                "canary": {"endpoints": [canary.address]},
            },
        }],
        "routes": [{"name": "profile", "match": {"path_prefix": "/profile"},
                    "service": "profile-api"}],
        "rollouts": [{
            "name": ROLLOUT,
            "service": "profile-api",
            "stable": "stable",
            "canary": "canary",
            "baseline": "baseline",
            "session": {"key": [{"header": "X-User-Id"}], "anonymous": "stable"},
            "cohorts": [
                {"name": "internal",
                 "match": {"headers": [{"name": "X-User-Cohort", "exact": "internal"}]},
                 "pin": "canary"},
                {"name": "legacy-mobile",
                 "match": {"headers": [{"name": "X-App-Version", "semver": "<5.2.0"}]},
                 "pin": "stable"},
            ],
            # Five steps; none can pass its min_requests in the test's minute.
            "steps": [{"weight": "20%"}, {"weight": "30%"}, {"weight": "40%"},
                      {"weight": "50%"}, {"weight": "60%"}],
            "analysis": {
                "interval": "1s",
                "threshold": 1000,
                "min_requests": 100000000,
                "metrics": [{"name": "success-rate", "min": "90%"},
                            {"name": "latency-p99", "max": "500ms"}],
                "judge": {"method": "mann-whitney", "pass": 95, "marginal": 75},
                "sequential": {"alpha": 0.001},
            },
        }],
    }


def admin_json(gw, path, method="GET"):
    status, _, body = http_get(gw.admin_port, path, method=method)
    return status, json.loads(body) if body else None


class dashboard_test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for need in (CHROMIUM, shutil.which("node") or "node"):
            if not os.access(need, os.X_OK):
                raise AssertionError(f"{need} is missing: run scripts/deps.sh")
        if not os.path.isdir(os.path.join(WEB_DIR, "node_modules", "playwright-core")):
            raise AssertionError(f"{WEB_DIR}/node_modules has no playwright-core: build the "
                                 "cohort target (its npm ci step) first")
        cls.backends = [
            start_backend(api="v1.0", label="stable", error_rate=0.002, latency_ms=2,
                          latency_jitter_ms=3),
            start_backend(api="v1.0", label="baseline", error_rate=0.002, latency_ms=2,
                          latency_jitter_ms=3),
            # As good as the baseline: the sequential test must not roll it back.
            start_backend(api="v1.1", label="canary", error_rate=0.002, latency_ms=2,
                          latency_jitter_ms=3),
        ]
        cls.gw = Gateway(rollout_config(*cls.backends))
        cls.loadgen = _spawn([binary("cohort-loadgen"), "--target",
                              f"http://127.0.0.1:{cls.gw.port()}", "--path", "/profile",
                              "--users", "3000", "--rate", "200",
                              "--connections", "8", "--duration", "240s", "--report-every", "0"])

    @classmethod
    def tearDownClass(cls):
        _terminate(cls.loadgen, 5)
        cls.gw.close()
        for b in cls.backends:
            b.stop()

    def wait_for_phase(self, phase, timeout=20.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            status, last = admin_json(self.gw, f"/api/v1/rollouts/{ROLLOUT}")
            self.assertEqual(status, 200, last)
            if last["phase"] == phase:
                return last
            time.sleep(0.2)
        self.fail(f"rollout did not reach {phase} within {timeout}s: {last}")

    def test_assets_are_served_from_the_binary(self):
        status, headers, body = http_get(self.gw.admin_port, "/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertEqual(headers["Cache-Control"], "no-cache")
        self.assertIn(b"/assets/app.js", body)
        for path, kind in (("/assets/app.js", "text/javascript"),
                           ("/assets/uPlot.iife.min.js", "text/javascript"),
                           ("/assets/uPlot.min.css", "text/css"),
                           ("/assets/style.css", "text/css")):
            status, headers, body = http_get(self.gw.admin_port, path)
            self.assertEqual(status, 200, path)
            self.assertTrue(headers["Content-Type"].startswith(kind), (path, headers))
            self.assertGreater(len(body), 500, path)
        status, _, _ = http_get(self.gw.admin_port, "/assets/nope.js")
        self.assertEqual(status, 404)
        status, _, _ = http_get(self.gw.admin_port, "/", method="POST")
        self.assertEqual(status, 404)

    def test_pause_from_the_browser(self):
        before = self.wait_for_phase("Progressing")
        self.assertEqual(before["step"], 1)
        # Enough per-second history for the charts to have something to show.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, stats = admin_json(self.gw, "/api/v1/stats")
            if len(stats["samples"]) >= 6:
                break
            time.sleep(0.5)
        os.makedirs(ARTIFACTS, exist_ok=True)
        screenshot = os.path.join(ARTIFACTS, "dashboard.png")
        if os.path.exists(screenshot):
            os.remove(screenshot)
        profile = tempfile.mkdtemp(prefix="cohort-chromium-")
        try:
            proc = subprocess.run(
                [shutil.which("node"), os.path.join(HERE, "dashboard_browser.mjs"),
                 "--url", self.gw.admin_url("/"), "--rollout", ROLLOUT,
                 "--screenshot", screenshot, "--web-dir", WEB_DIR, "--chromium", CHROMIUM,
                 "--min-points", "5", "--user-data-dir", profile],
                capture_output=True, text=True, timeout=180, check=False)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        lines = proc.stdout.strip().splitlines()
        self.assertTrue(lines, f"no report from the browser script\n{proc.stderr}")
        report = json.loads(lines[-1])
        self.assertTrue(report["ok"], f"{report}\n{proc.stderr}")
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(report["phase_before"], "Progressing")
        self.assertEqual(report["phase_after"], "Paused")
        self.assertEqual(report["pause_authorization"], "Bearer e2e-token")
        self.assertEqual(report["token_state"], "token set for this tab")
        self.assertTrue(report["pause_disabled"])
        self.assertTrue(report["resume_enabled"])
        self.assertEqual(report["steps_shown"], 5)
        self.assertEqual(report["current_step"], "1")
        self.assertGreater(report["points"], 5)
        self.assertGreaterEqual(report["analysis_rows"], 2)
        self.assertGreater(report["event_lines"], 0)
        self.assertEqual(report["page_errors"], [])
        self.assertEqual(report["console_errors"], [])
        self.assertEqual(report["failed_requests"], [])
        # The API agrees with what the page showed.
        _, after = admin_json(self.gw, f"/api/v1/rollouts/{ROLLOUT}")
        self.assertEqual(after["phase"], "Paused")
        self.assertTrue(os.path.getsize(screenshot) > 20000)
        with open(screenshot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()
