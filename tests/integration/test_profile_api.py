"""The demo backend (profile-api) on its own, no gateway: the API shapes of
v1.0 and v1.1, injected errors and latency, and the debug endpoints that
proxy tests rely on (/echo, /stream, /slow, /metrics)."""

import asyncio
import http.client
import json
import math
import random
import re
import socket
import subprocess
import threading
import time
import unittest

from cohort_harness import (binary, decode_chunked, fnv1a64, fnv1a64_zeros, http_get,
                            raw_exchange, run_wrk, start_backend, stream_pattern, curl_upload)


def metric_samples(text):
    """{(name, frozenset(labels)): value} from a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'(\w+)(?:\{(.*)\})? (\S+)', line)
        if not m:
            raise AssertionError(f"malformed exposition line {line!r}")
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


class ProfileBodies(unittest.TestCase):
    def test_v10_has_avatar_url_string(self):
        with start_backend(api="v1.0") as b:
            status, headers, body = http_get(b.port, "/profile", {"X-User-Id": "42"})
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], "application/json")
            self.assertEqual(headers["X-Backend-Version"], "v1.0")
            doc = json.loads(body)
            self.assertEqual(set(doc), {"userId", "username", "avatarUrl", "version"})
            self.assertEqual(doc["userId"], "42")
            self.assertIn("42", doc["username"])
            self.assertIsInstance(doc["avatarUrl"], str)
            self.assertEqual(doc["version"], "v1.0")

    def test_v11_has_avatar_object_and_label(self):
        with start_backend(api="v1.1", label="canary-7") as b:
            status, headers, body = http_get(b.port, "/profile", {"X-User-Id": "2048"})
            self.assertEqual(status, 200)
            self.assertEqual(headers["X-Backend-Version"], "canary-7")
            doc = json.loads(body)
            self.assertEqual(set(doc), {"userId", "username", "avatar", "version"})
            self.assertEqual(set(doc["avatar"]), {"primary", "thumbnail"})
            self.assertNotEqual(doc["avatar"]["primary"], doc["avatar"]["thumbnail"])
            self.assertEqual(doc["userId"], "2048")
            self.assertEqual(doc["version"], "canary-7")

    def test_without_user_header_is_anonymous(self):
        with start_backend() as b:
            _, _, body = http_get(b.port, "/profile")
            self.assertEqual(json.loads(body)["userId"], "anonymous")

    def test_hostile_user_id_still_yields_valid_json(self):
        with start_backend() as b:
            uid = 'a"b\\c\t\xe9/?'
            status, _, body = http_get(b.port, "/profile",
                                       {"X-User-Id": uid.encode("latin-1")})
            self.assertEqual(status, 200)
            doc = json.loads(body)
            self.assertEqual(doc["userId"], uid)
            self.assertNotIn('"', doc["avatarUrl"])
            self.assertNotIn("?", doc["avatarUrl"].split("://", 1)[1])

    def test_head_has_length_but_no_body(self):
        with start_backend() as b:
            reply = raw_exchange(b.port, b"HEAD /profile HTTP/1.1\r\nHost: x\r\n"
                                         b"Connection: close\r\n\r\n", timeout=3)
            head, _, rest = reply.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), reply)
            self.assertRegex(head.decode(), r"(?i)content-length: [1-9]\d*")
            self.assertEqual(rest, b"")

    def test_unknown_path_and_wrong_method(self):
        with start_backend() as b:
            status, _, body = http_get(b.port, "/nope")
            self.assertEqual(status, 404)
            self.assertIn("error", json.loads(body))
            status, headers, _ = http_get(b.port, "/profile", method="DELETE")
            self.assertEqual(status, 405)
            self.assertIn("GET", headers["Allow"])
            status, _, body = http_get(b.port, "/healthz")
            self.assertEqual((status, body), (200, b"ok\n"))


class InjectedFaults(unittest.TestCase):
    def count_errors(self, port, n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        errors = 0
        try:
            for i in range(n):
                conn.request("GET", "/profile", headers={"X-User-Id": str(i)})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status == 500:
                    errors += 1
                    self.assertIn("error", json.loads(body))
                else:
                    self.assertEqual(resp.status, 200)
        finally:
            conn.close()
        return errors

    def test_error_rate_is_roughly_the_configured_share(self):
        n, rate = 400, 0.25
        with start_backend(error_rate=rate) as b:
            errors = self.count_errors(b.port, n)
        # Five standard deviations either side: a flake is ~1 in 1.7 million.
        sd = math.sqrt(n * rate * (1 - rate))
        self.assertGreater(errors, n * rate - 5 * sd)
        self.assertLess(errors, n * rate + 5 * sd)

    def test_error_rate_extremes(self):
        with start_backend(error_rate=0) as b:
            self.assertEqual(self.count_errors(b.port, 100), 0)
        with start_backend(error_rate=1) as b:
            self.assertEqual(self.count_errors(b.port, 100), 100)

    def test_latency_is_added(self):
        with start_backend(latency_ms=400) as b:
            start = time.monotonic()
            status, _, _ = http_get(b.port, "/profile")
            elapsed = time.monotonic() - start
            self.assertEqual(status, 200)
            self.assertGreaterEqual(elapsed, 0.400)
            # /healthz is not delayed.
            start = time.monotonic()
            http_get(b.port, "/healthz")
            self.assertLess(time.monotonic() - start, 0.300)

    def test_latency_jitter_stays_in_range(self):
        with start_backend(latency_ms=100, latency_jitter_ms=50) as b:
            for _ in range(5):
                start = time.monotonic()
                http_get(b.port, "/profile")
                self.assertGreaterEqual(time.monotonic() - start, 0.050)

    def test_tail_latency_replaces_the_usual_latency(self):
        # Every request in the tail: 300 ms instead of the usual 0 ms.
        with start_backend(tail_share=1, tail_latency_ms=300) as b:
            for _ in range(3):
                start = time.monotonic()
                status, _, _ = http_get(b.port, "/profile")
                self.assertEqual(status, 200)
                self.assertGreaterEqual(time.monotonic() - start, 0.300)
        # No request in the tail: the usual latency.
        with start_backend(tail_share=0, tail_latency_ms=5000) as b:
            start = time.monotonic()
            http_get(b.port, "/profile")
            self.assertLess(time.monotonic() - start, 2.0)

    def test_latency_does_not_block_the_thread(self):
        # One thread, 20 concurrent delayed requests: a blocking sleep would
        # need 20 x 300 ms; a timer serves them all in about 300 ms.
        with start_backend(latency_ms=300, threads=1) as b:
            results = []

            def one():
                results.append(http_get(b.port, "/profile", timeout=10)[0])

            workers = [threading.Thread(target=one) for _ in range(20)]
            start = time.monotonic()
            for w in workers:
                w.start()
            for w in workers:
                w.join(timeout=15)
            elapsed = time.monotonic() - start
            self.assertEqual(results, [200] * 20)
            self.assertLess(elapsed, 2.5)

    def test_several_threads_serve_concurrently(self):
        with start_backend(threads=2) as b:
            results = []

            def one(i):
                status, headers, body = http_get(b.port, f"/slow?ms=200&i={i}", timeout=10)
                results.append((status, headers["X-Backend-Version"]))

            workers = [threading.Thread(target=one, args=(i,)) for i in range(16)]
            start = time.monotonic()
            for w in workers:
                w.start()
            for w in workers:
                w.join(timeout=15)
            self.assertEqual(results, [(200, "v1.0")] * 16)
            self.assertLess(time.monotonic() - start, 2.0)

    def test_slow_endpoint(self):
        with start_backend() as b:
            start = time.monotonic()
            status, _, body = http_get(b.port, "/slow?ms=250")
            self.assertGreaterEqual(time.monotonic() - start, 0.250)
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["slept_ms"], 250)
            self.assertEqual(http_get(b.port, "/slow?ms=abc")[0], 400)


class DebugEndpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = start_backend(api="v1.1", label="echo-test")

    @classmethod
    def tearDownClass(cls):
        cls.backend.stop()

    def test_echo_reports_request(self):
        body = b"hello, proxied world"
        status, _, data = http_get(self.backend.port, "/echo/a?x=1&y=2",
                                   {"X-Test": "abc", "X-Multi": "1"}, method="PATCH",
                                   body=body)
        self.assertEqual(status, 200)
        doc = json.loads(data)
        self.assertEqual(doc["method"], "PATCH")
        self.assertEqual(doc["target"], "/echo/a?x=1&y=2")
        self.assertIn(["X-Test", "abc"], doc["headers"])
        self.assertIn(["Content-Length", str(len(body))], doc["headers"])
        self.assertEqual(doc["body_length"], len(body))
        self.assertEqual(doc["body_fnv1a64"], "%016x" % fnv1a64(body))
        self.assertEqual(doc["version"], "echo-test")

    def test_echo_keeps_repeated_headers_in_order(self):
        reply = raw_exchange(self.backend.port,
                             b"GET /echo HTTP/1.1\r\nHost: h\r\nX-Dup: one\r\nX-Dup: two\r\n"
                             b"Connection: close\r\n\r\n")
        doc = json.loads(reply.partition(b"\r\n\r\n")[2])
        dups = [v for n, v in doc["headers"] if n == "X-Dup"]
        self.assertEqual(dups, ["one", "two"])
        self.assertEqual(doc["body_length"], 0)

    def test_100_mib_chunked_upload_through_curl(self):
        # 100 segments of 1 MiB: 4 KiB of seeded random bytes, then zeros.
        # The checksum of the zeros is computed in closed form, so Python
        # checks every byte's position without hashing 100 MiB itself.
        seg, head, count = 1 << 20, 4096, 100
        rng = random.Random(1234)
        heads = [rng.randbytes(head) for _ in range(count)]
        expected = 0xCBF29CE484222325
        for h in heads:
            expected = fnv1a64_zeros(seg - head, fnv1a64(h, expected))
        zeros = bytes(seg - head)

        def chunks():
            for h in heads:
                yield h
                yield zeros

        code, body, err, status = curl_upload(self.backend.url("/upload"), chunks(),
                                              timeout=120)
        self.assertEqual(code, 0, err)
        self.assertEqual(status, 200)
        doc = json.loads(body)
        self.assertIn(["Transfer-Encoding", "chunked"], doc["headers"])
        self.assertEqual(doc["body_length"], seg * count)
        self.assertEqual(doc["body_fnv1a64"], "%016x" % expected)

    def test_content_length_upload_on_echo(self):
        body = random.Random(7).randbytes(300_000)
        status, _, data = http_get(self.backend.port, "/echo", method="PUT", body=body)
        self.assertEqual(status, 200)
        doc = json.loads(data)
        self.assertEqual(doc["body_length"], len(body))
        self.assertEqual(doc["body_fnv1a64"], "%016x" % fnv1a64(body))

    def test_stream_is_chunked_with_checksum_trailer(self):
        n, chunk = 100_000, 4096
        reply = raw_exchange(self.backend.port,
                             f"GET /stream?bytes={n}&chunk={chunk} HTTP/1.1\r\nHost: h\r\n"
                             "Connection: close\r\n\r\n".encode(), timeout=10)
        status_line, headers, body, sizes, trailers = decode_chunked(reply)
        self.assertTrue(status_line.startswith("HTTP/1.1 200"))
        names = {k.lower(): v for k, v in headers}
        self.assertEqual(names.get("transfer-encoding"), "chunked")
        self.assertEqual(names.get("trailer"), "X-Checksum")
        self.assertEqual(body, stream_pattern(n))
        self.assertEqual(sizes, [chunk] * (n // chunk) + [n % chunk])
        self.assertEqual(trailers["x-checksum"], "%016x" % fnv1a64(body))

    def test_stream_through_http_client_and_curl(self):
        status, _, body = http_get(self.backend.port, "/stream?bytes=12345&chunk=1000")
        self.assertEqual((status, body), (200, stream_pattern(12345)))
        out = subprocess.run(["curl", "-sS", "--raw", "--max-time", "10",
                              self.backend.url("/stream?bytes=25&chunk=10")],
                             capture_output=True, timeout=20, check=True).stdout
        self.assertEqual(out, b"a\r\n0123456789\r\na\r\n0123456789\r\n5\r\n01234\r\n"
                              b"0\r\nX-Checksum: %016x\r\n\r\n" % fnv1a64(b"0123456789" * 2
                                                                          + b"01234"))

    def test_stream_rejects_bad_parameters(self):
        self.assertEqual(http_get(self.backend.port, "/stream?chunk=0")[0], 400)
        self.assertEqual(http_get(self.backend.port, "/stream?bytes=-1")[0], 400)

    def test_keep_alive_reuses_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.backend.port, timeout=5)
        try:
            conn.request("GET", "/profile")
            conn.getresponse().read()
            sock, local = conn.sock, conn.sock.getsockname()
            for i in range(50):
                conn.request("POST", "/echo", body=b"x" * i)
                resp = conn.getresponse()
                self.assertEqual(json.loads(resp.read())["body_length"], i)
                self.assertFalse(resp.will_close)
            self.assertIs(conn.sock, sock)
            self.assertEqual(conn.sock.getsockname(), local)
        finally:
            conn.close()

    def test_pipelined_requests_answer_in_order(self):
        reply = raw_exchange(self.backend.port,
                             b"GET /slow?ms=50 HTTP/1.1\r\nHost: h\r\n\r\n"
                             b"GET /profile HTTP/1.1\r\nHost: h\r\nX-User-Id: 9\r\n"
                             b"Connection: close\r\n\r\n", timeout=5)
        self.assertEqual(reply.count(b"HTTP/1.1 200 OK"), 2)
        self.assertLess(reply.index(b"slept_ms"), reply.index(b'"userId":"9"'))

    def test_malformed_request_gets_400_and_close(self):
        start = time.monotonic()
        reply = raw_exchange(self.backend.port, b"NOT HTTP AT ALL\r\n\r\n", timeout=5)
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply)
        self.assertLess(time.monotonic() - start, 4)  # closed, not timed out


class Metrics(unittest.TestCase):
    def test_counters_by_path_and_code(self):
        with start_backend(api="v1.1", label="m", error_rate=1) as b:
            for _ in range(3):
                self.assertEqual(http_get(b.port, "/profile")[0], 500)
            http_get(b.port, "/healthz")
            http_get(b.port, "/definitely/not/here")
            status, headers, body = http_get(b.port, "/metrics")
            self.assertEqual(status, 200)
            self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            text = body.decode()
            self.assertIn("# TYPE profile_api_requests_total counter", text)
            self.assertIn("# HELP profile_api_requests_total ", text)
            samples = metric_samples(text)

            def count(path, code):
                key = ("profile_api_requests_total",
                       frozenset({("path", path), ("code", code)}))
                return samples.get(key, 0)

            self.assertEqual(count("/profile", "500"), 3)
            self.assertEqual(count("/profile", "200"), 0)
            self.assertEqual(count("/healthz", "200"), 1)
            self.assertEqual(count("other", "404"), 1)
            self.assertEqual(count("/metrics", "200"), 1)
            self.assertEqual(samples[("profile_api_info",
                                      frozenset({("api", "v1.1"), ("version", "m")}))], 1)


class Process(unittest.TestCase):
    def test_sigterm_exits_zero_promptly_with_idle_connection(self):
        b = start_backend()
        idle = socket.create_connection(("127.0.0.1", b.port))
        try:
            http_get(b.port, "/healthz")
            start = time.monotonic()
            self.assertEqual(b.stop(timeout=5), 0)
            self.assertLess(time.monotonic() - start, 2)
        finally:
            idle.close()

    def test_bad_flags_exit_2(self):
        for argv in (["--port", "x"], ["--port", "0", "--api", "v2"], ["--api", "v1.0"],
                     ["--port", "0", "--error-rate", "1.5"], ["--port", "0", "--bogus"],
                     ["--port", "0", "--tail-share", "0.02"],
                     ["--port", "0", "--tail-share", "2", "--tail-latency-ms", "40"]):
            proc = subprocess.run([binary("profile-api")] + argv, capture_output=True,
                                  timeout=10)
            self.assertEqual(proc.returncode, 2, argv)
            self.assertIn(b"usage:", proc.stderr)

    def test_kill9_and_second_backend_on_other_port(self):
        a, c = start_backend(label="a"), start_backend(label="c")
        try:
            self.assertNotEqual(a.port, c.port)
            self.assertEqual(a.kill9(), -9)
            self.assertEqual(http_get(c.port, "/profile")[1]["X-Backend-Version"], "c")
        finally:
            a.stop()
            c.stop()

    def test_wrk_against_backend(self):
        with start_backend(threads=1) as b:
            ok = run_wrk(b.url("/profile"), duration_s=1, connections=8, threads=1,
                         headers=["X-User-Id: 5"])
            self.assertGreater(ok["requests"], 1000)
            self.assertEqual(ok["non_2xx"], 0)
            self.assertEqual(sum(ok["socket_errors"].values()), 0)
            self.assertIn("p99", ok["latency_ms"])
        with start_backend(error_rate=1) as b:
            bad = run_wrk(b.url("/profile"), duration_s=1, connections=4, threads=1,
                          lua_script='wrk.method = "GET"\n')
            self.assertGreater(bad["requests"], 100)
            self.assertEqual(bad["non_2xx"], bad["requests"])



class WebsocketEcho(unittest.TestCase):
    """/ws: the echo the gateway's tunnel tests talk to, on its own."""

    def test_whoami_then_echo_of_text_and_binary(self):
        import websockets

        async def scenario(port):
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5,
                                          close_timeout=2, ping_interval=None) as ws:
                self.assertEqual(ws.response_headers["X-Version"], "canary-3")
                await ws.send("whoami")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "version canary-3")
                # Only the first message is special: later ones, whoami too, echo.
                rng = random.Random(3)
                messages = ["whoami", "", "héllo"] + [rng.randbytes(n) for n in (0, 1, 70000)]
                for m in messages:
                    await ws.send(m)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 5), m)
            self.assertEqual(ws.close_code, 1000)

        with start_backend(label="canary-3") as b:
            asyncio.run(asyncio.wait_for(scenario(b.port), 20))
            # The first message echoes when it is not whoami; each handshake is counted.
            async def first_echo(port):
                async with websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5,
                                              ping_interval=None) as ws:
                    await ws.send(b"whoami")  # binary: not the question
                    return await asyncio.wait_for(ws.recv(), 5)
            self.assertEqual(asyncio.run(asyncio.wait_for(first_echo(b.port), 20)), b"whoami")
            _, _, body = http_get(b.port, "/metrics")
            self.assertIn('path="/ws",code="101"} 2', body.decode())

    def test_plain_get_on_ws_is_refused_by_the_handshake(self):
        with start_backend() as b:
            status, _, _ = http_get(b.port, "/ws")
            self.assertIn(status, (400, 426))


if __name__ == "__main__":
    unittest.main()
