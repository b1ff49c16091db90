"""Webhooks mean what Flagger's mean (issue 18, finding 8), end to end: a real
`cohort serve`, profile-api backends, cohort-loadgen and Python webhook
receivers on loopback. One test (or two) per hook type, each checking the row
of the webhook table in docs/configuration.md ("Types, in the order a rollout
meets them") and what docs/rollouts.md says of gates, against what the
controller does. Every interval is 1 s unless a test counts calls per
interval, and every wait is bounded.
"""

import time
import unittest

from cohort_harness import (PROBE_USERS, ROLLOUT, RolloutTestCase, WebhookServer,
                            gateway_config, msg_is, msg_starts)

INTERNAL = {"name": "internal", "pin": "canary",
            "match": {"headers": [{"name": "X-User-Cohort", "exact": "internal"}]}}
STAFF = {"X-User-Cohort": "internal"}


class WebhookTestCase(RolloutTestCase):
    def receiver(self, status=200, answer=b"", delay=0.0):
        hook = WebhookServer(status=status, answer=answer, delay=delay)
        self.addCleanup(hook.close)
        return hook

    def rollout(self, webhooks, steps=({"weight": "10%"}, {"weight": "20%"}), **kw):
        stable, canary = self.backends()
        kw.setdefault("min_requests", 20)
        return self.gateway(gateway_config(stable, canary, steps=list(steps),
                                           webhooks=webhooks, **kw))

    def wait_calls(self, hook, count, timeout, what):
        deadline = time.monotonic() + timeout
        while len(hook.calls) < count:
            if time.monotonic() > deadline:
                self.fail(f"{what}: {len(hook.calls)} calls within {timeout}s, wanted {count}")
            time.sleep(0.05)
        return hook.calls

    def describe(self, gw):
        out = self.cli(gw, "describe", "rollout", ROLLOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def staff_versions(self, gw):
        seen = self.probe(gw, PROBE_USERS[:20], headers=STAFF)
        return {v for _, v in seen.values()}


class PreRollout(WebhookTestCase):
    def test_failing_pre_rollout_counts_as_a_failed_check_and_rolls_back(self):
        """pre-rollout: "a failure counts as a failed check" (Flagger): at
        `threshold` the rollout is rolled back instead of halting forever. The
        hook's answer is in the reason and in `cohort describe`; pinned users
        never reach the canary; the hook is asked about once per interval."""
        # A long answer: only its first KiB is kept.
        hook = self.receiver(status=500, answer=b"migration 42 not applied " + b"x" * 3000)
        gw = self.rollout([{"type": "pre-rollout", "url": hook.url("/ready"), "timeout": "1s"}],
                          threshold=2, cohorts=[INTERNAL])
        started = time.monotonic()
        self.assertEqual(self.staff_versions(gw), {"stable"})
        gw.wait_for_log(msg_starts(f"Rolling back {ROLLOUT} failed checks threshold reached 2"),
                        timeout=15)
        state = self.wait_api(gw, lambda s: s["phase"] == "Failed", 3, "Failed")
        elapsed = time.monotonic() - started
        self.assertEqual(state["failed_checks"], 2)
        self.assertIn("migration 42 not applied", state["reason"])
        self.assertIn("x" * 900, state["reason"])
        self.assertNotIn("x" * 1025, state["reason"])
        self.assertIn("migration 42 not applied", self.describe(gw))
        self.assertNotIn(f"Starting canary analysis for {ROLLOUT}", self.messages(gw))
        self.assertEqual(self.staff_versions(gw), {"stable"})
        calls = hook.calls
        self.assertEqual({(c["type"], c["name"]) for c in calls}, {("pre-rollout", ROLLOUT)})
        # Two asks (one per failed check), each tried up to three times.
        self.assertLessEqual(len(calls), 3 * 2, f"{len(calls)} calls in {elapsed:.1f}s")

    def test_pinned_cohorts_reach_the_canary_only_after_the_start_gates_pass(self):
        """pre-rollout: "before traffic moves to the canary" includes pinned
        cohorts (pin: canary): staff stay on stable until the gate passes."""
        hook = self.receiver(status=503, answer=b"not yet")
        gw = self.rollout([{"type": "pre-rollout", "url": hook.url("/ready"), "timeout": "1s"}],
                          threshold=10, cohorts=[INTERNAL])
        self.wait_calls(hook, 1, 5, "pre-rollout asked")
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            self.assertEqual(self.staff_versions(gw), {"stable"})
            time.sleep(0.25)
        self.assertEqual(self.api(gw)["phase"], "Initialized")
        mark = gw.log_mark()
        hook.set_status(200, b"ok")
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=8, since=mark)
        self.assertEqual(self.staff_versions(gw), {"canary"})


class ConfirmRollout(WebhookTestCase):
    def test_confirm_rollout_waits_asked_once_per_interval(self):
        """confirm-rollout: "a gate: the rollout waits until a 2xx answer": no
        failed check, no rollback; asked once per analysis.interval (4 s here),
        not every second, and the event hooks are not flooded with halts."""
        gate = self.receiver(status=403, answer=b"change freeze")
        events = self.receiver(status=200)
        gw = self.rollout([{"type": "confirm-rollout", "url": gate.url("/confirm"),
                            "timeout": "1s"},
                           {"type": "event", "url": events.url("/events")}],
                          interval="4s", threshold=1, cohorts=[INTERNAL])
        first = self.wait_calls(gate, 1, 5, "confirm-rollout asked")
        t0 = time.monotonic()
        time.sleep(13)
        state = self.api(gw)
        self.assertEqual((state["phase"], state["failed_checks"], state["weight"]),
                         ("Initialized", 0, "0%"), state)
        self.assertEqual(first[0]["type"], "confirm-rollout")
        # Asks at about 0, 4, 8 and 12 s; each ask tried up to three times.
        asked = len(gate.calls_since(t0 - 0.5))
        self.assertLessEqual(asked, 4 * 3, gate.calls)
        self.assertLessEqual(len(events.calls_since(t0 - 0.5)), 4, events.calls)
        self.assertIn("change freeze", self.describe(gw))
        self.assertEqual(self.staff_versions(gw), {"stable"})
        mark = gw.log_mark()
        gate.set_status(200)
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=10, since=mark)
        self.assertEqual(self.api(gw)["failed_checks"], 0)


class RolloutHook(WebhookTestCase):
    def test_failing_rollout_hook_counts_as_a_failed_check(self):
        """rollout: "a failure counts as a failed check": with traffic that
        would advance every step, a failing rollout hook rolls back at
        `threshold`, its answer in the reason."""
        hook = self.receiver(status=500, answer=b"smoke test failed: /checkout")
        gw = self.rollout([{"type": "rollout", "url": hook.url("/smoke"), "timeout": "1s"}],
                          threshold=2)
        self.traffic(gw, rate=300)
        gw.wait_for_log(msg_starts(f"Rolling back {ROLLOUT} failed checks threshold reached 2"),
                        timeout=20)
        state = self.wait_api(gw, lambda s: s["phase"] == "Failed", 3, "Failed")
        self.assertEqual(state["step"], 1, "never advanced past the first step")
        self.assertIn("smoke test failed: /checkout", state["reason"])
        self.assertEqual({c["type"] for c in hook.calls}, {"rollout"})

    def test_rollout_hook_is_asked_once_per_advance(self):
        """rollout: "when a step has passed its analysis and would advance":
        not while the step is still gathering its requests, and once for each
        advance (here step 1 -> 2 and step 2 -> promotion)."""
        hook = self.receiver(status=200)
        gw = self.rollout([{"type": "rollout", "url": hook.url("/smoke"), "timeout": "1s"}],
                          min_requests=100)
        self.traffic(gw, rate=300)
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=5)
        self.assertEqual(hook.calls, [], "asked before the first step had 100 requests")
        gw.wait_for_log(msg_is(f"Promotion completed {ROLLOUT}"), timeout=30)
        calls = hook.calls
        self.assertEqual([(c["type"], c["step"]) for c in calls], [("rollout", 0), ("rollout", 1)],
                         calls)


class ConfirmPromotion(WebhookTestCase):
    def test_confirm_promotion_holds_the_last_step_until_it_agrees(self):
        """confirm-promotion: "a gate: promotion waits until a 2xx answer", at
        the last step's weight, without failed checks."""
        hook = self.receiver(status=409, answer=b"waiting for QA sign-off")
        gw = self.rollout([{"type": "confirm-promotion", "url": hook.url("/promote"),
                            "timeout": "1s"}], threshold=1)
        self.traffic(gw, rate=300)
        self.wait_calls(hook, 1, 20, "confirm-promotion asked")
        time.sleep(3)
        state = self.api(gw)
        self.assertNotIn(state["phase"], ("Promoting", "Succeeded", "Failed"), state)
        self.assertEqual((state["weight"], state["failed_checks"]), ("20%", 0), state)
        self.assertEqual(hook.calls[0]["type"], "confirm-promotion")
        self.assertIn("waiting for QA sign-off", self.describe(gw))
        hook.set_status(200)
        gw.wait_for_log(msg_is(f"Promotion completed {ROLLOUT}"), timeout=10)


class PostRollout(WebhookTestCase):
    def test_post_rollout_is_sent_once_on_success_with_the_outcome(self):
        """post-rollout: "once the rollout has succeeded or failed": on success."""
        hook = self.receiver(status=200)
        gw = self.rollout([{"type": "post-rollout", "url": hook.url("/done")}])
        self.traffic(gw, rate=300)
        gw.wait_for_log(msg_is(f"Promotion completed {ROLLOUT}"), timeout=20)
        [call] = self.wait_calls(hook, 1, 5, "post-rollout on success")
        self.assertEqual((call["type"], call["phase"], call["outcome"]),
                         ("post-rollout", "Succeeded", "succeeded"), call)
        time.sleep(2)
        self.assertEqual(len(hook.calls), 1, hook.calls)

    def test_post_rollout_is_sent_once_on_failure_with_the_outcome(self):
        """post-rollout: "once the rollout has succeeded or failed": on failure
        (here an abort), with the outcome and the reason."""
        hook = self.receiver(status=200)
        gw = self.rollout([{"type": "post-rollout", "url": hook.url("/done")}],
                          min_requests=10**9)
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=5)
        out = self.cli(gw, "abort", ROLLOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        [call] = self.wait_calls(hook, 1, 5, "post-rollout on failure")
        self.assertEqual((call["type"], call["outcome"]), ("post-rollout", "failed"), call)
        self.assertIn(call["phase"], ("RollingBack", "Failed"), call)
        self.assertIn("aborted by operator", call["reason"])
        time.sleep(2)
        self.assertEqual(len(hook.calls), 1, hook.calls)


class RollbackHook(WebhookTestCase):
    def test_rollback_hook_answering_2xx_rolls_back(self):
        """rollback: "during the analysis; a 2xx answer rolls the canary back at
        once": polled once per interval, a non-2xx answer changes nothing; a
        2xx rolls back with the hook's answer in the reason."""
        hook = self.receiver(status=404)
        gw = self.rollout([{"type": "rollback", "url": hook.url("/rollback"), "timeout": "1s"}],
                          min_requests=10**9)
        self.traffic(gw, rate=200)
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=5)
        t0 = time.monotonic()
        time.sleep(4.5)
        polls = hook.calls_since(t0)
        self.assertGreaterEqual(len(polls), 3, polls)
        self.assertLessEqual(len(polls), 6, polls)
        state = self.api(gw)
        self.assertEqual((state["phase"], state["failed_checks"]), ("Progressing", 0), state)
        hook.set_status(200, b"incident INC-7 open")
        gw.wait_for_log(msg_starts(f"Rolling back {ROLLOUT}"), timeout=5)
        self.assert_all_on_stable(gw, f"rollback:{ROLLOUT}", PROBE_USERS[:50])
        state = self.wait_api(gw, lambda s: s["phase"] == "Failed", 3, "Failed")
        self.assertIn("incident INC-7 open", state["reason"])
        self.assertIn("incident INC-7 open", self.describe(gw))


class EventHook(WebhookTestCase):
    def test_event_hooks_observe_every_transition_and_change_nothing(self):
        """event: "on every transition; observed only": a failing event hook
        does not stop the rollout; it hears each transition's message,
        including a gate's failure with the gate's answer, once per ask."""
        gate = self.receiver(status=503, answer=b"warming caches")
        hook = self.receiver(status=500)
        gw = self.rollout([{"type": "event", "url": hook.url("/events"), "timeout": "1s"},
                           {"type": "confirm-rollout", "url": gate.url("/confirm"),
                            "timeout": "1s"}])
        # The fourth call is the second ask (an ask is tried up to three times):
        # the first ask has failed by then.
        self.wait_calls(gate, 4, 10, "confirm-rollout asked twice")
        gate.set_status(200)
        self.traffic(gw, rate=300)
        gw.wait_for_log(msg_is(f"Promotion completed {ROLLOUT}"), timeout=20)
        time.sleep(1)
        self.assertEqual({c["type"] for c in hook.calls}, {"event"})
        self.assertEqual(hook.calls[0]["name"], ROLLOUT)
        messages = [c.get("message", "") for c in hook.calls]
        for expected in (f"Starting canary analysis for {ROLLOUT}",
                         f"Advance {ROLLOUT} canary weight 10%",
                         f"Advance {ROLLOUT} canary weight 20%",
                         f"Promotion completed {ROLLOUT}"):
            self.assertIn(expected, messages)
        self.assertTrue([m for m in messages if "warming caches" in m], messages)
        state = self.api(gw)
        self.assertEqual((state["phase"], state["failed_checks"]), ("Succeeded", 0))


if __name__ == "__main__":
    unittest.main()
