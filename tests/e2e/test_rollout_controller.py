"""The rollout controller end to end: a real `cohort serve`, profile-api
backends, cohort-loadgen for traffic, a Python webhook receiver and a real
Prometheus on loopback. Every interval is 1 s and every wait is bounded, so the
whole file runs in about two minutes.

What is checked is what an operator would see: the admin API (phase, step,
weight, failed checks, events), the Flagger-style log lines, the decision
header and the backend version users actually get, the CLI and /metrics.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from cohort_harness import (PROBE_USERS, ROLLOUT, RolloutTestCase, WebhookServer, free_port,
                            gateway_config, http_get, msg_is, msg_starts)


class HealthyCanary(RolloutTestCase):
    def test_walks_every_step_and_is_promoted(self):
        stable, canary = self.backends()
        # At 10% of 300 users/s one interval brings about 30 canary requests: step 1
        # needs two judged intervals, the later steps one.
        gw = self.gateway(gateway_config(stable, canary, min_requests=50, steps=[
            {"weight": "10%"}, {"weight": "30%"}, {"weight": "60%"}]))
        self.traffic(gw, rate=300)
        gw.wait_for_log(msg_is(f"Promotion completed {ROLLOUT}"), timeout=30)
        state = self.api(gw)
        self.assertEqual(state["phase"], "Succeeded")
        self.assertEqual(state["weight"], "100%")
        self.assertEqual(state["failed_checks"], 0)
        self.assertEqual(state["steps"], 3)
        # The Flagger-style lines, in order.
        msgs = self.messages(gw)
        expected = [f"Starting canary analysis for {ROLLOUT}",
                    f"Advance {ROLLOUT} canary weight 10%",
                    f"Advance {ROLLOUT} canary weight 30%",
                    f"Advance {ROLLOUT} canary weight 60%",
                    f"Promoting {ROLLOUT} canary weight 100%",
                    f"Promotion completed {ROLLOUT}"]
        positions = [msgs.index(m) for m in expected]
        self.assertEqual(positions, sorted(positions), msgs)
        self.assertFalse([m for m in msgs if m.startswith(f"Halt {ROLLOUT} advancement") and
                          ("<" in m or ">" in m) and "judged" not in m], msgs)
        # Each step advanced only after its checks passed with enough canary requests.
        self.assertTrue(any(re.fullmatch(rf"Halt {ROLLOUT} advancement \d+ of 50 canary "
                                         r"requests judged", m) for m in msgs), msgs)
        events = [e["message"] for e in state["events"]]
        self.assertIn(f"Advance {ROLLOUT} canary weight 30%", events)
        # Everyone is on the canary now.
        seen = self.probe(gw, PROBE_USERS[:100])
        self.assertEqual({d for d, _ in seen.values()}, {f"promoted:{ROLLOUT}"})
        self.assertEqual({v for _, v in seen.values()}, {"canary"})
        text = self.metrics_text(gw)
        self.assertEqual(self.metric_value(text, "cohort_rollout_phase", rollout=ROLLOUT,
                                           phase="Succeeded"), 1.0, text)
        self.assertEqual(self.metric_value(text, "cohort_rollout_phase", rollout=ROLLOUT,
                                           phase="Progressing"), 0.0)
        self.assertGreaterEqual(self.metric_value(text, "cohort_analysis_checks_total",
                                                  rollout=ROLLOUT, metric="success-rate",
                                                  result="pass") or 0, 3)


class FailingCanary(RolloutTestCase):
    def test_errors_roll_back_after_threshold_and_everyone_is_on_stable(self):
        stable, canary = self.backends(error_rate=0.03)
        # min_requests out of reach: a lucky interval must not advance; only the checks count.
        gw = self.gateway(gateway_config(stable, canary, threshold=3, min_requests=10**9,
                                         metrics=[{"name": "success-rate", "min": "99%"}],
                                         steps=[{"weight": "50%"}, {"weight": "80%"}]))
        self.traffic(gw, rate=400)
        line = gw.wait_for_log(
            msg_is(f"Rolling back {ROLLOUT} failed checks threshold reached 3"), timeout=30)
        seen_at = time.monotonic()
        # The snapshot is published before the line is logged: every user is on stable now.
        self.assert_all_on_stable(gw, f"rollback:{ROLLOUT}", PROBE_USERS[:200])
        self.assertLess(time.monotonic() - seen_at, 1.0, "probing took longer than one interval")
        self.assertEqual(line.get("level"), "warn")
        halts = [m for m in self.messages(gw)
                 if re.fullmatch(rf"Halt {ROLLOUT} advancement success rate \d+\.\d\d% < 99%", m)]
        self.assertEqual(len(halts), 3, self.messages(gw))
        state = self.wait_api(gw, lambda s: s["phase"] == "Failed", 3, "Failed")
        self.assertEqual(state["failed_checks"], 3)
        self.assertEqual(state["weight"], "0%")
        self.assertIn("failed checks threshold reached 3", state["reason"])
        text = self.metrics_text(gw)
        self.assertEqual(self.metric_value(text, "cohort_analysis_checks_total", rollout=ROLLOUT,
                                           metric="success-rate", result="fail"), 3.0)
        self.assertEqual(self.metric_value(text, "cohort_rollout_phase", rollout=ROLLOUT,
                                           phase="Failed"), 1.0)

    def test_latency_rolls_back_on_p99(self):
        stable, canary = self.backends(latency_ms=300)
        gw = self.gateway(gateway_config(stable, canary, threshold=2, min_requests=10**9,
                                         metrics=[{"name": "latency-p99", "max": "200ms"}],
                                         steps=[{"weight": "50%"}, {"weight": "80%"}]))
        self.traffic(gw, rate=150, connections=96)
        gw.wait_for_log(msg_is(f"Rolling back {ROLLOUT} failed checks threshold reached 2"),
                        timeout=30)
        self.assert_all_on_stable(gw, f"rollback:{ROLLOUT}")
        halts = [m for m in self.messages(gw)
                 if re.fullmatch(rf"Halt {ROLLOUT} advancement latency p99 [\d.]+ms > 200ms", m)]
        self.assertEqual(len(halts), 2, self.messages(gw))
        for h in halts:
            self.assertGreaterEqual(float(re.search(r"p99 ([\d.]+)ms", h).group(1)), 290)
        state = self.wait_api(gw, lambda s: s["phase"] == "Failed", 3, "Failed")
        self.assertEqual(state["failed_checks"], 2)
        [metric] = state["last_analysis"]["metrics"]
        self.assertEqual(metric["name"], "latency-p99")
        self.assertGreaterEqual(metric["value"], 0.29)


class NoTraffic(RolloutTestCase):
    def test_a_quiet_service_holds_past_the_no_data_deadline(self):
        stable, canary = self.backends()
        gw = self.gateway(gateway_config(stable, canary, no_data_deadline="3s",
                                         steps=[{"weight": "10%"}, {"weight": "50%"}]))
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=5)
        time.sleep(6)  # twice the deadline: nobody uses the service, so nothing is wrong
        state = self.api(gw)
        self.assertEqual(state["phase"], "Progressing", self.messages(gw))
        self.assertEqual(state["step"], 1)
        self.assertEqual(state["failed_checks"], 0)
        self.assertNotIn("Rolling back", " ".join(self.messages(gw)))

    def test_a_canary_that_gets_no_users_of_a_busy_service_fails_at_the_deadline(self):
        stable, canary = self.backends()
        # The cohort matches a header nobody sends: a routing mistake.
        cohorts = [{"name": "beta", "match": {"headers": [{"name": "X-Beta", "exact": "yes"}]}}]
        gw = self.gateway(gateway_config(stable, canary, no_data_deadline="6s", cohorts=cohorts,
                                         steps=[{"cohort": "beta"}, {"weight": "50%"}]))
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=5)
        started = time.monotonic()
        time.sleep(4)
        held = [m for m in self.messages(gw)
                if m == f"Halt {ROLLOUT} advancement no canary traffic (insufficient evidence)"]
        self.assertGreaterEqual(len(held), 3, self.messages(gw))
        state = self.api(gw)
        self.assertEqual(state["phase"], "Progressing")
        self.assertEqual(state["step"], 1)
        self.assertEqual(state["failed_checks"], 0)
        self.assertEqual({m["result"] for m in state["last_analysis"]["metrics"]}, {"nodata"})
        # Users arrive, all of them on stable: past the deadline the step fails,
        # and says why.
        deadline = time.monotonic() + 12
        rolled_back = msg_starts(f"Rolling back {ROLLOUT} no canary traffic for 6s while the "
                                 "service served")
        while time.monotonic() < deadline and not any(
                rolled_back(r) for r in list(gw.logs)):
            status, _, _ = http_get(gw.port(), "/profile", headers={"X-User-Id": "u1"})
            self.assertEqual(status, 200)
            time.sleep(0.05)
        gw.wait_for_log(rolled_back, timeout=1)
        self.assertGreaterEqual(time.monotonic() - started, 6)
        state = self.wait_api(gw, lambda s: s["phase"] == "Failed", 3, "Failed")
        self.assertEqual(state["failed_checks"], 0)


class CrashRecovery(RolloutTestCase):
    def test_kill9_mid_rollout_resumes_at_the_same_step(self):
        stable, canary = self.backends()
        gw = self.gateway(gateway_config(stable, canary, min_requests=30, steps=[
            {"weight": "5%"}, {"weight": "10%"}, {"weight": "15%"}, {"weight": "20%"}]))
        load = self.traffic(gw, rate=300, duration=30)
        self.wait_api(gw, lambda s: s["step"] >= 2, 20, "step 2")
        load.stop()
        # Once no traffic is left in the window, the rollout holds where it is.
        mark = gw.log_mark()
        gw.wait_for_log(msg_is(f"Halt {ROLLOUT} advancement no canary traffic "
                               "(insufficient evidence)"), timeout=5, since=mark)
        before = self.api(gw)
        self.assertEqual(before["phase"], "Progressing")
        self.assertIn(before["step"], (2, 3), before)
        decisions = self.explain(gw)
        on_canary = {u for u, (subset, _) in decisions.items() if subset == "canary"}
        self.assertTrue(on_canary, decisions)
        self.assertEqual(gw.kill9(), -signal.SIGKILL)

        gw.start()
        restored = gw.wait_for_log(msg_is("rollout state restored"), timeout=5)
        self.assertEqual(restored.get("phase"), "Progressing")
        self.assertEqual(restored.get("weight"), before["weight"])
        after = self.api(gw)
        for key in ("phase", "step", "weight", "failed_checks", "joined_cohorts"):
            self.assertEqual(after[key], before[key], key)
        self.assertEqual(self.explain(gw), decisions)
        # Real requests agree: the same users, and only they, are on the canary.
        seen = self.probe(gw)
        self.assertEqual({u for u, (_, v) in seen.items() if v == "canary"}, on_canary)
        # The analysis continues from there: the next step comes, not the first again.
        mark = gw.log_mark()
        self.traffic(gw, rate=300, duration=20)
        next_weight = {2: "15%", 3: "20%"}[before["step"]]
        gw.wait_for_log(msg_is(f"Advance {ROLLOUT} canary weight {next_weight}"), timeout=15,
                        since=mark)
        self.assertNotIn(f"Starting canary analysis for {ROLLOUT}", self.messages(gw, mark))
        self.assertNotIn(f"Advance {ROLLOUT} canary weight 5%", self.messages(gw, mark))


class OperatorGates(RolloutTestCase):
    def test_manual_pause_waits_for_cohort_resume(self):
        stable, canary = self.backends()
        gw = self.gateway(gateway_config(stable, canary, steps=[
            {"weight": "10%"}, {"pause": "manual"}, {"weight": "30%"}]))
        self.traffic(gw, rate=300)
        gw.wait_for_log(msg_is(f"Pausing {ROLLOUT} advancement until resume"), timeout=15)
        time.sleep(2.5)  # more than two passing intervals
        state = self.api(gw)
        self.assertEqual((state["phase"], state["step"], state["weight"]), ("Paused", 2, "10%"))
        out = self.cli(gw, "get", "rollouts")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, rf"{ROLLOUT}\s+Paused")
        out = self.cli(gw, "describe", "rollout", ROLLOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Paused", out.stdout)
        mark = gw.log_mark()
        out = self.cli(gw, "resume", ROLLOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        gw.wait_for_log(msg_is(f"Advance {ROLLOUT} canary weight 30%"), timeout=3, since=mark)
        gw.wait_for_log(msg_is(f"Promotion completed {ROLLOUT}"), timeout=15, since=mark)
        # Resuming a rollout that is not paused is refused.
        out = self.cli(gw, "resume", ROLLOUT)
        self.assertEqual(out.returncode, 1, out.stdout)

    def test_manual_promotion_waits_for_cohort_promote(self):
        stable, canary = self.backends()
        gw = self.gateway(gateway_config(stable, canary, promotion="manual",
                                         steps=[{"weight": "20%"}]))
        self.traffic(gw, rate=300)
        gw.wait_for_log(msg_is(f"Waiting for {ROLLOUT} promotion (manual)"), timeout=15)
        time.sleep(2)
        state = self.api(gw)
        self.assertEqual((state["phase"], state["weight"]), ("WaitingPromotion", "20%"))
        out = self.cli(gw, "promote", ROLLOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        gw.wait_for_log(msg_is(f"Promotion completed {ROLLOUT}"), timeout=3)
        state = self.api(gw)
        self.assertEqual((state["phase"], state["weight"]), ("Succeeded", "100%"))
        seen = self.probe(gw, PROBE_USERS[:50])
        self.assertEqual({d for d, _ in seen.values()}, {f"promoted:{ROLLOUT}"})

    def test_abort_sends_everyone_to_stable(self):
        gw = self.half_on_the_canary()
        out = self.cli(gw, "abort", ROLLOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_all_on_stable(gw, f"rollback:{ROLLOUT}")
        state = self.wait_api(gw, lambda s: s["phase"] == "Failed", 3, "Failed")
        self.assertEqual(state["reason"], "aborted by operator")
        self.assertEqual(state["weight"], "0%")
        out = self.cli(gw, "abort", ROLLOUT)
        self.assertEqual(out.returncode, 1, out.stdout)

    def test_new_revision_restarts_from_the_first_step(self):
        stable, canary = self.backends()
        steps = [{"weight": "10%"}, {"weight": "20%"}, {"weight": "30%"}, {"weight": "40%"}]
        cfg = gateway_config(stable, canary, steps=steps, revision="1")
        gw = self.gateway(cfg)
        self.traffic(gw, rate=300)
        self.wait_api(gw, lambda s: s["step"] >= 2, 20, "step 2")
        mark = gw.reload(gateway_config(stable, canary, steps=steps, revision="2"))
        gw.wait_for_log(msg_is(f"New revision detected! Restarting analysis for {ROLLOUT}"),
                        timeout=5, since=mark)
        msgs = self.messages(gw, mark)
        restart_at = msgs.index(f"New revision detected! Restarting analysis for {ROLLOUT}")
        gw.wait_for_log(msg_is(f"Advance {ROLLOUT} canary weight 10%"), timeout=5, since=mark)
        # Straight after the restart the rollout is back at step 1, weight 10%.
        msgs = self.messages(gw, mark)
        advances = [m for m in msgs[restart_at:] if m.startswith(f"Advance {ROLLOUT}")]
        self.assertEqual(advances[0], f"Advance {ROLLOUT} canary weight 10%", msgs)
        state = self.api(gw)
        self.assertIn(f"New revision detected! Restarting analysis for {ROLLOUT}",
                      [e["message"] for e in state["events"]])
        self.assertEqual(state["failed_checks"], 0)


class Webhooks(RolloutTestCase):
    def test_failing_pre_rollout_webhook_blocks_the_start(self):
        hook = WebhookServer(status=500)
        self.addCleanup(hook.close)
        stable, canary = self.backends()
        gw = self.gateway(gateway_config(
            stable, canary, steps=[{"weight": "10%"}, {"weight": "20%"}],
            webhooks=[{"type": "pre-rollout", "url": hook.url("/ready"), "timeout": "1s"}]))
        gw.wait_for_log(msg_starts(f"Halt {ROLLOUT} advancement start webhook pre-rollout "
                                   "failed"), timeout=10)
        time.sleep(1)
        state = self.api(gw)
        self.assertEqual((state["phase"], state["weight"]), ("Initialized", "0%"))
        self.assertNotIn(f"Starting canary analysis for {ROLLOUT}", self.messages(gw))
        calls = hook.calls
        self.assertGreaterEqual(len(calls), 3)  # retried with backoff
        self.assertEqual(calls[0]["name"], ROLLOUT)
        self.assertEqual(calls[0]["phase"], "Initialized")
        self.assertEqual(calls[0]["type"], "pre-rollout")
        seen = self.probe(gw, PROBE_USERS[:50])
        self.assertEqual({v for _, v in seen.values()}, {"stable"})
        hook.set_status(200)
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=8)
        state = self.api(gw)
        self.assertEqual((state["phase"], state["weight"]), ("Progressing", "10%"))

    def test_start_gates_answering_in_different_ticks(self):
        # confirm-rollout answers at once, pre-rollout after 1.5 s: their
        # outcomes reach the controller in different ticks and both count.
        fast = WebhookServer(status=200)
        self.addCleanup(fast.close)
        slow = WebhookServer(status=200, delay=1.5)
        self.addCleanup(slow.close)
        stable, canary = self.backends()
        gw = self.gateway(gateway_config(
            stable, canary, steps=[{"weight": "10%"}],
            webhooks=[{"type": "confirm-rollout", "url": fast.url("/confirm"), "timeout": "3s"},
                      {"type": "pre-rollout", "url": slow.url("/ready"), "timeout": "3s"}]))
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=8)
        self.assertEqual(self.api(gw)["weight"], "10%")

    def test_gate_asked_before_a_crash_is_asked_again_after_restart(self):
        # The hook is asked, then the server dies before the answer comes back:
        # the restored record says "waiting for pre-rollout", but nothing is in flight.
        hook = WebhookServer(status=200, delay=2.5)
        self.addCleanup(hook.close)
        stable, canary = self.backends()
        gw = self.gateway(gateway_config(
            stable, canary, steps=[{"weight": "10%"}],
            webhooks=[{"type": "pre-rollout", "url": hook.url("/ready"), "timeout": "5s"}]))
        deadline = time.monotonic() + 5
        while not hook.calls:
            self.assertLess(time.monotonic(), deadline, "the pre-rollout hook was never called")
            time.sleep(0.05)
        gw.kill9()
        hook.httpd.delay = 0
        asked = len(hook.calls)
        gw.start()
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=8)
        self.assertGreater(len(hook.calls), asked)


class PrometheusMetric(RolloutTestCase):
    def start_prometheus(self, targets):
        exe = shutil.which("prometheus")
        if exe is None:
            self.skipTest("prometheus is not installed")
        tmp = tempfile.mkdtemp(prefix="cohort-prom-")
        self.addCleanup(shutil.rmtree, tmp, True)
        port = free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w", encoding="utf-8") as f:
            json.dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                       "scrape_configs": [{"job_name": "canary",
                                           "static_configs": [{"targets": targets}]}]}, f)
        proc = subprocess.Popen(
            [exe, f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def stop():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.stderr.close()
        self.addCleanup(stop)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return f"http://127.0.0.1:{port}"
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                self.fail(f"prometheus did not become ready: {proc.stderr.read()[-2000:]}")
            time.sleep(0.2)

    def test_prometheus_metric_fails_the_rollout(self):
        stable, canary = self.backends(error_rate=0.3)
        prom = self.start_prometheus([canary.address])
        query = "sum(rate(profile_api_requests_total{code=~\"5..\"}[5s]))"
        gw = self.gateway(gateway_config(
            stable, canary, threshold=2, min_requests=10**9,
            metrics=[{"name": "canary-5xx-per-second",
                      "prometheus": {"address": prom, "query": query}, "max": 2}],
            steps=[{"weight": "50%"}, {"weight": "80%"}]))
        self.traffic(gw, rate=200, duration=40)
        gw.wait_for_log(msg_is(f"Rolling back {ROLLOUT} failed checks threshold reached 2"),
                        timeout=35)
        halts = [m for m in self.messages(gw) if m.startswith(
            f"Halt {ROLLOUT} advancement canary-5xx-per-second ")]
        self.assertEqual(len(halts), 2, self.messages(gw))
        for h in halts:
            value = float(re.fullmatch(r".* ([\d.]+) > 2", h).group(1))
            self.assertGreater(value, 2)
        # The value the controller used is the one Prometheus serves.
        with urllib.request.urlopen(prom + "/api/v1/query?" + urllib.parse.urlencode(
                {"query": query}), timeout=5) as r:
            answer = json.loads(r.read())
        self.assertEqual(answer["status"], "success")
        self.assertGreater(float(answer["data"]["result"][0]["value"][1]), 2)
        self.assert_all_on_stable(gw, f"rollback:{ROLLOUT}")
        state = self.wait_api(gw, lambda s: s["phase"] == "Failed", 3, "Failed")
        [metric] = state["last_analysis"]["metrics"]
        self.assertEqual(metric["result"], "fail")


if __name__ == "__main__":
    unittest.main()
