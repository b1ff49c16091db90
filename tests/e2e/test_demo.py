"""`make demo` in its short mode: the seed's story end to end, asserted from the
machine-readable summary the demo writes (DEMO_SUMMARY) and from its output.

Rollout 1 (good v1.1) must be promoted, rollout 2 (bad v1.2) rolled back; no
user may flap; apps below 5.2.0 never see v1.1 or v1.2; Ctrl-C stops every
process the demo started.
"""

import json
import os
import pathlib
import signal
import subprocess
import tempfile
import time
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo.sh"
BIN = os.environ.get("COHORT_BIN", str(ROOT / "build" / "bin"))


def demo_env(**extra):
    env = dict(os.environ)
    env.update({"COHORT_BIN": BIN, "DEMO_SHORT": "1", "KEEP": "0"})
    env.update(extra)
    return env


def session_processes(sid):
    """Pids of live processes in session sid (the demo and all it started)."""
    out = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            out.append(int(entry.name))
    return out


class DemoStory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="cohort-demo-test.")
        summary_path = pathlib.Path(cls.tmp.name) / "summary.json"
        started = time.monotonic()
        proc = subprocess.run(["bash", str(DEMO)], cwd=ROOT, capture_output=True, text=True,
                              env=demo_env(DEMO_SUMMARY=str(summary_path)), timeout=240,
                              start_new_session=True)
        cls.elapsed = time.monotonic() - started
        cls.proc = proc
        cls.output = proc.stdout + proc.stderr
        cls.summary = json.loads(summary_path.read_text()) if summary_path.exists() else None

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.assertEqual(self.proc.returncode, 0, self.output[-4000:])
        self.assertIsNotNone(self.summary, "the demo wrote no summary\n" + self.output[-4000:])

    def test_finishes_quickly_in_short_mode(self):
        self.assertLess(self.elapsed, 90, "short mode took too long")

    def test_rollout_1_is_promoted_after_every_step(self):
        r1 = self.summary["rollouts"][0]
        self.assertEqual(r1["phase"], "Succeeded")
        self.assertEqual(r1["max_step"], r1["steps"])
        messages = [e["message"] for e in r1["events"]]
        for step in ("cohort internal", "cohort beta", "weight 1%", "weight 5%", "weight 25%",
                     "weight 50%"):
            self.assertIn(f"Advance profile-api canary {step}", messages)
        self.assertIn("Promotion completed profile-api", messages)
        self.assertFalse([m for m in messages if m.startswith("Rolling back")])

    def test_rollout_2_is_rolled_back_by_the_analysis(self):
        r2 = self.summary["rollouts"][1]
        self.assertEqual(r2["phase"], "Failed")
        messages = [e["message"] for e in r2["events"]]
        self.assertTrue(any(m.startswith("New revision detected!") for m in messages), messages)
        self.assertTrue(any(m.startswith("Rolling back profile-api") for m in messages), messages)
        self.assertFalse([m for m in messages if m.startswith("Promotion")])
        # It never got past its first weight step: the bad build was caught
        # while only staff and beta testers (150 users) had it.
        self.assertLessEqual(r2["max_step"], 3)

    def test_the_bad_build_reached_only_the_canary_population(self):
        # Staff (100) and beta testers (50) are the canary population of the
        # first steps; the reload that brought v1.2 must not send anyone else.
        r2 = self.summary["rollouts"][1]
        v12_users = self.summary["users_per_version"].get("v1.2", 0)
        self.assertGreater(v12_users, 0)
        if r2["max_step"] <= 2:
            self.assertLessEqual(v12_users, 150)
        regular = self.summary["cohorts"]["regular"]["versions"]
        if r2["max_step"] <= 2:
            self.assertNotIn("v1.2", regular)

    def test_no_user_flaps(self):
        self.assertEqual(self.summary["flapping"], [])
        by_name = {t["transition"]: t for t in self.summary["transitions"]}
        for name, t in by_name.items():
            self.assertEqual(t["switches"], t["users"], name)
        # Nobody goes back to v1.0 once v1.1 was promoted; v1.2 users return to
        # v1.1 only after the rollback.
        self.assertNotIn("v1.1->v1.0", by_name)
        rollback = min(m["at_s"] for m in self.summary["moments"]
                       if m["message"].startswith("Rolling back"))
        if "v1.2->v1.1" in by_name:
            self.assertGreaterEqual(by_name["v1.2->v1.1"]["first_s"], rollback - 2.0)
        self.assertGreater(by_name["v1.0->v1.1"]["users"], 0)
        # Every multi-version user made at least one of these switches.
        self.assertGreaterEqual(self.summary["multi_version_users"],
                                max(t["users"] for t in by_name.values()))
        self.assertLessEqual(self.summary["multi_version_users"],
                             sum(t["users"] for t in by_name.values()))

    def test_old_apps_never_saw_v1_1(self):
        legacy = self.summary["cohorts"]["legacy"]
        self.assertEqual(legacy["users"], 500)
        self.assertEqual(set(legacy["versions"]), {"v1.0"})
        self.assertGreater(legacy["versions"]["v1.0"], 0)
        self.assertEqual(legacy["multi_version_users"], 0)
        self.assertTrue(self.summary["legacy_only_v1_0"])

    def test_errors_come_only_from_the_bad_build(self):
        errors = self.summary["errors"]
        for kind in ("connect", "timeout", "io", "dropped", "abandoned"):
            self.assertEqual(errors[kind], 0, kind)
        self.assertLessEqual(errors["non_2xx"], self.summary["versions"].get("v1.2", 0))

    def test_output_shows_progress_and_the_dashboard(self):
        self.assertRegex(self.output, r"rollout 1 \(v1\.1\): Progressing +step \d/6 +weight")
        self.assertRegex(self.output, r"canary +\d+\.\d\d% p99 +\d+\.\dms")
        self.assertIn("rollout 2 (v1.2): Failed", self.output)
        self.assertIn("dashboard: " + self.summary["dashboard"], self.output)
        self.assertRegex(self.summary["dashboard"], r"^http://127\.0\.0\.1:\d+/$")


class DemoInterrupted(unittest.TestCase):
    def test_ctrl_c_stops_everything_it_started(self):
        proc = subprocess.Popen(["bash", str(DEMO)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=demo_env(),
                                start_new_session=True)
        try:
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("-- rollout 1"):
                    break
            self.assertTrue(lines and lines[-1].startswith("-- rollout 1"), "".join(lines))
            time.sleep(2)
            self.assertGreater(len(session_processes(proc.pid)), 5)  # 5 APIs, gateway, loadgen
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
            rest, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("interrupted", rest)
        deadline = time.monotonic() + 10
        while session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(session_processes(proc.pid), [])


if __name__ == "__main__":
    unittest.main()
