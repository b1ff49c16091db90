"""Resilience of the gateway against a sick canary (issue 8), with real
processes: profile-api backends for stable and canary, a Python upstream
that accepts and never answers, wrk for load.

Every rollout here is a fixed split (no steps): `weight: 50%` with a canary
subset. Users are sent with X-User-Id; which ids the rollout puts on the
canary is read back from the decision header, not assumed.
"""

import threading
import time
import unittest
import urllib.request

from cohort_harness import Gateway, http_get, run_wrk, start_backend
from gateway_fixtures import SilentUpstream
from resilience_fixtures import (DECISION_HEADER, breaker_config, canary_arm_errors,
                                 canary_users, get, make_config, wait_for, wrk_random_users)

class KilledCanary(unittest.TestCase):
    def test_kill9_under_load_loses_no_idempotent_get(self):
        stable = start_backend(api="v1.0", label="v1.0")
        canary = start_backend(api="v1.1", label="v1.1")
        self.addCleanup(stable.stop)
        self.addCleanup(canary.stop)
        # The budget covers the canary's share of requests in flight at the
        # moment of the kill (half of them): every one of those is replayed.
        config = make_config(canary.address, stable.address, workers=2,
                             outlier_detection={"consecutive_errors": 3, "base_ejection": "30s"},
                             retries={"budget": "60%"})
        with Gateway(config) as gw:
            users = canary_users(gw, 2)
            status, _, label, _ = get(gw, users[0])
            self.assertEqual((status, label), (200, "v1.1"))

            killer = threading.Timer(1.0, canary.kill9)
            killer.start()
            result = run_wrk(gw.url("/profile"), duration_s=3, connections=16, threads=2,
                             lua_script=wrk_random_users(7), timeout=30)
            killer.join(5)
            self.assertIsNotNone(canary.poll(), "the canary was not killed")
            self.assertGreater(result["requests"], 500, result["raw"])
            # Only a request whose answer was partly on its way from the canary at
            # the instant of the kill can be lost (it cannot be replayed safely):
            # at most one per connection. Everything after it is retried or
            # failed over to stable.
            self.assertLessEqual(result["non_2xx"], 16, result["raw"])
            self.assertEqual(sum(result["socket_errors"].values()), 0, result["raw"])

            # After the kill, a canary user keeps its assignment and is served by stable.
            status, reason, label, _ = get(gw, users[1])
            self.assertEqual(status, 200)
            self.assertEqual(label, "v1.0")
            self.assertRegex(reason, r"^bucket:\d+<5000,failover:canary->stable$")
            # The controller's window of the canary arm counts those requests as errors.
            self.assertTrue(wait_for(lambda: canary_arm_errors(gw) > 0, 5))


class HangingCanary(unittest.TestCase):
    def test_requests_time_out_per_try_and_are_served_by_stable(self):
        stable = start_backend(api="v1.0", label="v1.0")
        self.addCleanup(stable.stop)
        silent = SilentUpstream()
        self.addCleanup(silent.close)
        # Outlier detection off: every canary request meets the hanging canary.
        config = make_config(silent.address, stable.address, per_try_timeout="300ms")
        with Gateway(config) as gw:
            # Ids are probed with the canary hanging: each probe of a canary id
            # is itself a retried request.
            users = canary_users(gw, 3)
            for user in users:
                start = time.monotonic()
                status, reason, label, _ = get(gw, user)
                took = time.monotonic() - start
                self.assertEqual((status, label), (200, "v1.0"), reason)
                self.assertTrue(reason.endswith(",failover:canary->stable"), reason)
                self.assertGreaterEqual(took, 0.28)
                self.assertLess(took, 1.5)
            self.assertGreaterEqual(silent.accepted, 1)

    def test_without_retry_to_stable_the_answer_is_a_504_within_the_try(self):
        stable = start_backend(api="v1.0", label="v1.0")
        self.addCleanup(stable.stop)
        silent = SilentUpstream()
        self.addCleanup(silent.close)
        config = make_config(silent.address, stable.address, per_try_timeout="300ms",
                             retries={"to_stable": False})
        with Gateway(config) as gw:
            users = canary_users(gw, 1)
            start = time.monotonic()
            status, reason, _, body = get(gw, users[0])
            took = time.monotonic() - start
            self.assertEqual(status, 504)
            self.assertNotIn("failover", reason)
            self.assertIn(b"subset 'canary'", body)
            self.assertIn(b"per_try_timeout 300ms", body)
            self.assertLess(took, 1.0)


class FailingCanary(unittest.TestCase):
    def test_500s_eject_the_canary_and_its_users_fail_over(self):
        stable = start_backend(api="v1.0", label="v1.0")
        canary = start_backend(api="v1.1", label="v1.1", error_rate=1)
        self.addCleanup(stable.stop)
        self.addCleanup(canary.stop)
        # One worker: its outlier view is the only one, so the count is exact.
        config = make_config(canary.address, stable.address,
                             outlier_detection={"consecutive_errors": 3, "base_ejection": "1s"})
        with Gateway(config) as gw:
            users = canary_users(gw, 1)  # its probe was the first 500
            statuses = []
            for _ in range(10):
                status, reason, label, _ = get(gw, users[0])
                statuses.append((status, label, reason.endswith(",failover:canary->stable")))
            # 500 answers are relayed (a response came back: nothing is replayed);
            # the third in a row ejects the canary, then stable serves.
            self.assertEqual(statuses[:2], [(500, "v1.1", False)] * 2)
            self.assertEqual(statuses[2:], [(200, "v1.0", True)] * 8)
            # The ejection ends after base_ejection: the canary is tried again.
            time.sleep(1.1)
            status, reason, label, _ = get(gw, users[0])
            self.assertEqual((status, label), (500, "v1.1"), reason)

    def test_failover_none_keeps_users_on_the_ejected_canary(self):
        stable = start_backend(api="v1.0", label="v1.0")
        canary = start_backend(api="v1.1", label="v1.1", error_rate=1)
        self.addCleanup(stable.stop)
        self.addCleanup(canary.stop)
        config = make_config(canary.address, stable.address, failover="none",
                             retries={"to_stable": False},
                             outlier_detection={"consecutive_errors": 2, "base_ejection": "10s"})
        with Gateway(config) as gw:
            users = canary_users(gw, 1)
            status, _, label, _ = get(gw, users[0])
            self.assertEqual((status, label), (500, "v1.1"))
            # Ejected, no failover: no endpoint in rotation for the canary.
            status, reason, _, body = get(gw, users[0])
            self.assertEqual(status, 503, body)
            self.assertNotIn("failover", reason)
            self.assertIn(b"subset 'canary'", body)
            self.assertIn(b"no endpoint available", body)


def breaker_overflows(gw, service):
    """cohort_circuit_breaker_overflows_total of a service, summed over its
    subsets and breakers, read from the admin /metrics."""
    with urllib.request.urlopen(gw.admin_url("/metrics"), timeout=5) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("cohort_circuit_breaker_overflows_total{") and \
                f'service="{service}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


class CircuitBreaker(unittest.TestCase):
    BURST = 40

    def test_overflow_is_a_fast_503_and_other_subsets_stay_fast(self):
        limited = start_backend(api="v1.0", label="limited", threads=8)
        other = start_backend(api="v1.0", label="other")
        self.addCleanup(limited.stop)
        self.addCleanup(other.stop)
        # One worker: its share of max_requests is the whole limit.
        config = breaker_config(limited.address, other.address, workers=1,
                                request_timeout="5s", max_requests=4)
        with Gateway(config) as gw:
            self.assertEqual(http_get(gw.port(), "/echo")[0], 200)
            self.assertEqual(breaker_overflows(gw, "limited-api"), 0)

            results = []
            lock = threading.Lock()
            go = threading.Event()

            def one(i):
                go.wait()
                start = time.monotonic()
                try:
                    status, _, body = http_get(gw.port(), f"/slow?ms=800&i={i}", timeout=10)
                except OSError as e:
                    status, body = 0, repr(e).encode()
                with lock:
                    results.append((status, time.monotonic() - start, body))

            threads = [threading.Thread(target=one, args=(i,)) for i in range(self.BURST)]
            for t in threads:
                t.start()
            go.set()
            # Meanwhile the other service's subset answers at once.
            time.sleep(0.1)
            other_latencies = []
            for _ in range(10):
                start = time.monotonic()
                status, _, _ = http_get(gw.port(), "/echo", timeout=5)
                other_latencies.append(time.monotonic() - start)
                self.assertEqual(status, 200)
            for t in threads:
                t.join(15)

            self.assertEqual(len(results), self.BURST)
            ok = [r for r in results if r[0] == 200]
            refused = [r for r in results if r[0] == 503]
            self.assertEqual(len(ok) + len(refused), self.BURST,
                             [r[0] for r in results])
            self.assertGreaterEqual(len(ok), 4)
            self.assertGreaterEqual(len(refused), self.BURST * 3 // 4)
            for status, took, body in refused:
                self.assertLess(took, 0.2, body)
                self.assertIn(b"service 'limited-api'", body)
                self.assertIn(b"subset 'stable'", body)
                self.assertIn(b"max_requests", body)
            for status, took, _ in ok:
                self.assertGreaterEqual(took, 0.75)
            self.assertLess(max(other_latencies), 0.2, other_latencies)
            self.assertEqual(breaker_overflows(gw, "limited-api"), len(refused))
            self.assertEqual(breaker_overflows(gw, "other-api"), 0)

    def test_an_open_canary_breaker_fails_the_user_over_to_stable(self):
        stable = start_backend(api="v1.0", label="v1.0")
        canary = start_backend(api="v1.1", label="v1.1")
        self.addCleanup(stable.stop)
        self.addCleanup(canary.stop)
        config = make_config(canary.address, stable.address)
        config["services"][0]["circuit_breakers"] = {"max_requests": 1}
        config["routes"][0]["match"] = {"path_prefix": "/"}
        with Gateway(config) as gw:
            users = canary_users(gw, 2)
            # One slow request holds the canary's only slot.
            holder = threading.Thread(target=lambda: http_get(
                gw.port(), "/slow?ms=800", headers={"X-User-Id": users[0]}, timeout=10))
            holder.start()
            time.sleep(0.2)
            status, headers, _ = http_get(gw.port(), "/profile",
                                          headers={"X-User-Id": users[1]})
            holder.join(10)
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("X-Backend-Version"), "v1.0")
            self.assertTrue(headers.get(DECISION_HEADER, "").endswith(
                ",failover:canary->stable"), headers.get(DECISION_HEADER))
            self.assertEqual(breaker_overflows(gw, "profile-api"), 1)


if __name__ == "__main__":
    unittest.main()
