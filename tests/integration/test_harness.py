"""The harness's Gateway class against a stand-in gateway (fake_gateway.py)
that prints the real gateway's start-up log lines, so the plumbing other
integration tests rely on (port discovery, log waiting, reload, restart,
stop codes, clean-up) is tested on its own."""

import json
import os
import time
import unittest

import cohort_harness
from cohort_harness import Gateway, HarnessError, http_get, parse_wrk

FAKE = os.path.join(os.path.dirname(cohort_harness.__file__), "fake_gateway.py")


def config(**extra):
    c = {"gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"},
                                   {"name": "internal", "address": "127.0.0.1:0"}]}}
    c.update(extra)
    return c


class GatewayHarness(unittest.TestCase):
    def test_discovers_ports_and_collects_logs(self):
        with Gateway(config(), binary_path=FAKE) as gw:
            self.assertEqual(set(gw.ports), {"public", "internal"})
            self.assertNotEqual(gw.port("public"), gw.port("internal"))
            self.assertIsNotNone(gw.admin_port)
            status, _, body = http_get(gw.port("internal"), "/x")
            self.assertEqual((status, json.loads(body)["listener"]), (200, "internal"))
            self.assertEqual(http_get(gw.admin_port, "/readyz")[0], 200)
            # The injected admin section is in the file the gateway read.
            with open(gw.config_path, encoding="utf-8") as f:
                self.assertEqual(json.load(f)["admin"], {"address": "127.0.0.1:0"})
            self.assertEqual(gw.wait_for_log({"msg": "starting"})["starts"], 1)
            gw.wait_for_log(lambda r: r.get("_raw") == "plain text, not JSON")
            self.assertIn("not a log line: stdout", gw.stdout_lines)
            with self.assertRaises(KeyError):
                gw.port("nope")
            directory = gw.dir
        self.assertFalse(os.path.exists(directory))

    def test_reload_and_wait_for_log_since_mark(self):
        with Gateway(config(marker="one"), binary_path=FAKE) as gw:
            mark = gw.reload(config(marker="two"))
            self.assertEqual(gw.wait_for_log({"msg": "config reloaded"}, since=mark)["marker"],
                             "two")
            mark = gw.reload(config(marker="three"))
            record = gw.wait_for_log({"msg": "config reloaded"}, since=mark, timeout=5)
            self.assertEqual(record["marker"], "three")
            with self.assertRaises(TimeoutError):
                gw.wait_for_log({"msg": "config reloaded"}, since=gw.log_mark(), timeout=0.3)

    def test_stop_returns_exit_code_and_restart_keeps_directory(self):
        with Gateway(config(exit_code=3), binary_path=FAKE) as gw:
            first_pid = gw.pid
            self.assertEqual(gw.restart(), 3)
            self.assertNotEqual(gw.pid, first_pid)
            # Same working directory: the state file saw both starts.
            self.assertEqual(gw.wait_for_log({"msg": "starting"})["starts"], 2)
            self.assertEqual(http_get(gw.port("public"), "/")[0], 200)
            self.assertEqual(gw.kill9(), -9)
            self.assertFalse(gw.running)
            gw.restart(config(exit_code=0))
            self.assertEqual(gw.wait_for_log({"msg": "starting"})["starts"], 3)
            self.assertEqual(gw.stop(), 0)
            gw.wait_for_log({"msg": "drained"})

    def test_failed_start_reports_logs(self):
        bad = config()
        bad["admin"] = {"address": "not-an-address"}
        start = time.monotonic()
        with self.assertRaises(HarnessError) as ctx:
            Gateway(bad, binary_path=FAKE, start_timeout=10)
        self.assertLess(time.monotonic() - start, 8)  # noticed the exit, did not time out
        self.assertIn("exited with", str(ctx.exception))

    def test_missing_listener_times_out(self):
        with self.assertRaises(HarnessError):
            Gateway(config(), binary_path=FAKE, listeners=["public", "absent"],
                    start_timeout=1)


class WrkParser(unittest.TestCase):
    def test_parses_report(self):
        out = """Running 1s test @ http://127.0.0.1:1/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50ms  250.00us   1.02s    98.14%
    Req/Sec    84.75k     2.77k   90.18k    76.00%
  Latency Distribution
     50%  593.00us
     75%  700.00us
     90%    1.20ms
     99%    3.00ms
  421211 requests in 5.00s, 128.54MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 17
Requests/sec:  84184.35
Transfer/sec:     25.69MB
"""
        r = parse_wrk(out)
        self.assertEqual(r["requests"], 421211)
        self.assertEqual(r["duration_s"], 5.0)
        self.assertEqual(r["non_2xx"], 17)
        self.assertEqual(r["socket_errors"], {"connect": 1, "read": 2, "write": 3, "timeout": 4})
        self.assertAlmostEqual(r["latency_ms"]["avg"], 1.5)
        self.assertAlmostEqual(r["latency_ms"]["stdev"], 0.25)
        self.assertAlmostEqual(r["latency_ms"]["max"], 1020.0)
        self.assertAlmostEqual(r["latency_ms"]["p50"], 0.593)
        self.assertAlmostEqual(r["latency_ms"]["p99"], 3.0)
        self.assertAlmostEqual(r["requests_per_s"], 84184.35)


if __name__ == "__main__":
    unittest.main()
