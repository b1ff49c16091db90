"""Replaying requests with small bodies (issue 8: "never retry a request
whose body was already streamed past a buffer limit"). A body of up to
64 KiB announced by Content-Length is read whole before the first attempt,
so a failed attempt can be sent again; a longer body is streamed and never
replayed. Real processes: the gateway, profile-api for stable, Python
upstreams that hang or close their idle connections.
"""

import json
import random
import time
import unittest

from cohort_harness import Gateway, fnv1a64, http_get, start_backend
from gateway_fixtures import RecordingUpstream, SilentUpstream, gateway_config, route, service

DECISION = "x-cohort-decision"


def rollout_config(canary_address, stable_address):
    return {
        "gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
                    "workers": 1, "decision_header": DECISION},
        "services": [{
            "name": "api",
            "subsets": {"stable": {"endpoints": [stable_address]},
                        "canary": {"endpoints": [canary_address]}},
            "connect_timeout": "500ms", "request_timeout": "3s", "per_try_timeout": "300ms",
            # Outlier detection off: every canary request meets the hanging canary.
            "outlier_detection": {"consecutive_errors": 1000},
        }],
        "routes": [{"name": "all", "match": {"path_prefix": "/"}, "service": "api"}],
        "rollouts": [{
            "name": "api", "service": "api", "stable": "stable", "canary": "canary",
            "weight": "0%", "session": {"key": [{"header": "X-User-Id"}]},
            "cohorts": [{"name": "internal", "pin": "canary",
                         "match": {"headers": [{"name": "X-User-Cohort", "exact": "internal"}]}}],
        }],
    }


def send(gw, method, body):
    return http_get(gw.port(), "/echo", method=method, body=body, timeout=5,
                    headers={"X-User-Id": "7", "X-User-Cohort": "internal",
                             "Content-Type": "application/octet-stream"})


class HangingCanaryWithBodies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stable = start_backend(api="v1.0", label="v1.0")
        cls.silent = SilentUpstream()
        cls.gw = Gateway(rollout_config(cls.silent.address, cls.stable.address))

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()
        cls.silent.close()
        cls.stable.stop()

    def test_small_idempotent_body_is_replayed_on_stable(self):
        body = random.Random(1).randbytes(1500)
        start = time.monotonic()
        status, headers, reply = send(self.gw, "PUT", body)
        took = time.monotonic() - start
        self.assertEqual(status, 200, reply)
        self.assertTrue(headers[DECISION].endswith(",failover:canary->stable"), headers[DECISION])
        echoed = json.loads(reply)
        self.assertEqual(echoed["method"], "PUT")
        self.assertEqual(echoed["body_length"], len(body))
        self.assertEqual(echoed["body_fnv1a64"], "%016x" % fnv1a64(body))
        self.assertGreaterEqual(took, 0.28)  # the canary's try ran out first
        self.assertLess(took, 2.0)

    def test_non_idempotent_body_is_not_replayed(self):
        status, headers, reply = send(self.gw, "POST", b"x" * 1500)
        self.assertEqual(status, 504, reply)
        self.assertNotIn("failover", headers[DECISION])

    def test_body_past_the_hold_limit_is_streamed_and_not_replayed(self):
        status, headers, reply = send(self.gw, "PUT", b"y" * (64 * 1024 + 1))
        self.assertEqual(status, 504, reply)
        self.assertIn(b"subset 'canary'", reply)


class StalePooledConnectionWithBodies(unittest.TestCase):
    def test_posts_with_small_bodies_survive_upstream_idle_closes(self):
        # The origin closes every connection right after its answer: the
        # pooled connection a request takes is usually dead, and the request
        # is sent again on a fresh connection, body included.
        bodies = [random.Random(i).randbytes(100 + 50 * i) for i in range(20)]
        with RecordingUpstream(close_after_each=True) as origin, \
                Gateway(gateway_config([service("s", [origin])],
                                       [route("r", "s", path_prefix="/")])) as gw:
            for i, body in enumerate(bodies):
                status, _, reply = http_get(gw.port("public"), f"/p/{i}", method="POST",
                                            body=body)
                self.assertEqual(status, 200, reply)
                time.sleep(0.01)  # let the FIN arrive before the next request
            self.assertEqual([r["raw_body"] for r in origin.requests], bodies)


if __name__ == "__main__":
    unittest.main()
