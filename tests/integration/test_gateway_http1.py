"""The gateway as an HTTP/1.1 reverse proxy: routing, load balancing,
RFC 9110/9112 semantics, rejections of ambiguous framing, limits and upstream
failures. Real processes on loopback: `cohort serve`, profile-api backends
and small Python peers; clients are raw sockets, http.client and curl."""

import http.client
import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

from cohort_harness import (FNV_OFFSET, Gateway, decode_chunked, fnv1a64, fnv1a64_zeros,
                            free_port, http_get, raw_exchange, start_backend, stream_pattern,
                            curl_upload)
from gateway_fixtures import (BarrierUpstream, CloseDelimitedUpstream, RecordingUpstream, SilentUpstream, close_all, echo_headers,
                              full_backlog_listener, gateway_config, read_exactly_until, route,
                              rss_kib, service, split_response, timed_exchange)

MAX_BODY = 65536
MAX_HEADER = 8192
# Requests in flight together in the pool test: more than the 128 idle
# connections per endpoint the pool used to keep.
BURST = 200


class GatewayHttp1(unittest.TestCase):
    """One gateway (one worker, so pools and balancing are deterministic) in
    front of three profile-api backends, a recording Python origin, a dead
    port and a silent upstream."""

    @classmethod
    def setUpClass(cls):
        cls.a = start_backend(api="v1.0", label="a")
        cls.b = start_backend(api="v1.1", label="b")
        cls.c = start_backend(api="v1.0", label="c")
        cls.e = start_backend(api="v1.0", label="e")
        cls.rec = RecordingUpstream()
        cls.silent = SilentUpstream()
        cls.dead_port = free_port()
        services = [
            service("svc-a", [cls.a]),
            service("svc-b", [cls.b]),
            service("svc-c", [cls.c]),
            service("svc-e", [cls.e]),
            service("svc-rr", [cls.a, cls.c], lb="round_robin"),
            service("svc-lr", [cls.a, cls.c], lb="least_request"),
            service("svc-rec", [cls.rec]),
            service("svc-dead", [f"127.0.0.1:{cls.dead_port}"], connect_timeout="500ms"),
            service("svc-silent", [cls.silent], request_timeout="1s"),
        ]
        routes = [
            route("lb-rr", "svc-rr", headers=[{"name": "X-LB", "exact": "rr"}]),
            route("lb-lr", "svc-lr", headers=[{"name": "X-LB", "exact": "lr"}]),
            route("by-host", "svc-b", host="b.example"),
            route("by-header", "svc-c", path_prefix="/echo/",
                  headers=[{"name": "X-Route", "exact": "c"}]),
            route("by-method", "svc-b", path_prefix="/echo/m", methods=["POST"]),
            route("by-exact", "svc-c", path_exact="/echo/exact"),
            route("by-regex", "svc-b", path_regex="/echo/re/[0-9]+"),
            route("recorded", "svc-rec", path_prefix="/rec"),
            route("dead", "svc-dead", path_prefix="/dead"),
            route("silent", "svc-silent", path_prefix="/silent"),
            route("profile", "svc-a", path_prefix="/profile"),
            route("echo", "svc-e", path_prefix="/echo"),
            route("misc", "svc-e", path_regex="/(stream|upload|slow)"),
        ]
        limits = {"max_header_bytes": MAX_HEADER, "max_body_bytes": MAX_BODY,
                  "header_timeout": "1s", "idle_timeout": "2s"}
        cls.gw = Gateway(gateway_config(services, routes, limits=limits,
                                        decision_header="x-cohort-decision"))
        cls.port = cls.gw.port("public")

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.gw.close()
        for p in (cls.a, cls.b, cls.c, cls.e):
            p.stop()
        cls.rec.close()
        cls.silent.close()
        assert code == 0, f"gateway exited with {code}"

    def get(self, path, headers=None, **kw):
        return http_get(self.port, path, headers, **kw)

    def label_of(self, path, headers=None, method="GET", body=None):
        status, hdrs, _ = self.get(path, headers, method=method, body=body)
        self.assertEqual(status, 200, path)
        return hdrs["X-Backend-Version"]

    # -- proxying and routing ------------------------------------------------

    def test_profile_v10_body_via_stable_subset(self):
        status, headers, body = self.get("/profile", {"X-User-Id": "42"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["X-Backend-Version"], "a")
        doc = json.loads(body)
        self.assertEqual(set(doc), {"userId", "username", "avatarUrl", "version"})
        self.assertEqual(doc["userId"], "42")
        self.assertEqual(doc["version"], "a")
        self.assertIsInstance(doc["avatarUrl"], str)

    def test_decision_header_names_the_route(self):
        _, headers, _ = self.get("/profile")
        self.assertEqual(headers["x-cohort-decision"], "route:profile")
        _, headers, _ = self.get("/echo/re/77")
        self.assertEqual(headers["x-cohort-decision"], "route:by-regex")

    def test_route_matching_sends_to_different_services(self):
        # path_prefix
        self.assertEqual(self.label_of("/echo/x"), "e")
        # path_exact: only the exact path
        self.assertEqual(self.label_of("/echo/exact"), "c")
        self.assertEqual(self.label_of("/echo/exactly"), "e")
        # path_regex: a full match
        self.assertEqual(self.label_of("/echo/re/123"), "b")
        self.assertEqual(self.label_of("/echo/re/12x"), "e")
        # methods
        self.assertEqual(self.label_of("/echo/m1", method="POST", body=b"x"), "b")
        self.assertEqual(self.label_of("/echo/m1"), "e")
        # headers
        self.assertEqual(self.label_of("/echo/h", {"X-Route": "c"}), "c")
        self.assertEqual(self.label_of("/echo/h", {"X-Route": "d"}), "e")
        # host: case-insensitive, port ignored
        self.assertEqual(self.label_of("/echo/h", {"Host": "b.example"}), "b")
        self.assertEqual(self.label_of("/echo/h", {"Host": "B.Example:8080"}), "b")
        self.assertEqual(self.label_of("/echo/h", {"Host": "c.example"}), "e")
        # the query string does not take part in path matching
        self.assertEqual(self.label_of("/echo/exact?x=1"), "c")

    def test_no_route_is_404_from_the_gateway(self):
        status, headers, body = self.get("/nothing/here")
        self.assertEqual(status, 404)
        self.assertIsNone(headers["X-Backend-Version"])
        self.assertIn(b"no route", body)

    def test_round_robin_spreads_over_two_endpoints(self):
        labels = [self.label_of("/echo/rr", {"X-LB": "rr"}) for _ in range(20)]
        counts = {k: labels.count(k) for k in set(labels)}
        self.assertEqual(set(counts), {"a", "c"}, labels)
        self.assertTrue(8 <= counts["a"] <= 12, counts)
        # round robin alternates on a single worker
        self.assertTrue(all(x != y for x, y in zip(labels, labels[1:])), labels)

    def test_least_request_avoids_the_busy_endpoint(self):
        # Sequential requests (no outstanding ones) still use both endpoints.
        labels = [self.label_of("/echo/lr", {"X-LB": "lr"}) for _ in range(10)]
        self.assertEqual(set(labels), {"a", "c"}, labels)
        # With one slow request outstanding on an endpoint, every other
        # request goes to the other one.
        result = {}

        def slow():
            result["r"] = self.get("/slow?ms=1500", {"X-LB": "lr"}, timeout=10)

        t = threading.Thread(target=slow)
        t.start()
        try:
            time.sleep(0.3)
            labels = [self.label_of("/echo/lr", {"X-LB": "lr"}) for _ in range(10)]
        finally:
            t.join(timeout=10)
        status, headers, _ = result["r"]
        self.assertEqual(status, 200)
        busy = headers["X-Backend-Version"]
        other = {"a": "c", "c": "a"}[busy]
        self.assertEqual(labels, [other] * 10)

    # -- HTTP/1.1 semantics --------------------------------------------------

    def test_hop_by_hop_removed_forwarding_headers_added(self):
        request = (b"GET /echo/h?q=1 HTTP/1.1\r\n"
                   b"Host: front.example:1234\r\n"
                   b"Connection: X-Drop-Me, close\r\n"
                   b"X-Drop-Me: secret\r\n"
                   b"Keep-Alive: timeout=5\r\n"
                   b"TE: trailers\r\n"
                   b"Upgrade: websocket\r\n"
                   b"Proxy-Connection: keep-alive\r\n"
                   b"X-Forwarded-For: 203.0.113.7\r\n"
                   b"X-Forwarded-Proto: gopher\r\n"
                   b"X-Keep: yes\r\n\r\n")
        reply, took = timed_exchange(self.port, request)
        status, headers, body = split_response(reply)
        self.assertEqual(status, 200)
        self.assertLess(took, 3, "Connection: close must close the connection")
        doc = json.loads(body)
        self.assertEqual(doc["target"], "/echo/h?q=1")
        for name in ("Connection", "X-Drop-Me", "Keep-Alive", "TE", "Upgrade",
                     "Proxy-Connection"):
            self.assertEqual(echo_headers(doc, name), [], name)
        self.assertEqual(echo_headers(doc, "X-Keep"), ["yes"])
        self.assertEqual(echo_headers(doc, "Host"), ["front.example:1234"])
        self.assertEqual(echo_headers(doc, "X-Forwarded-For"), ["203.0.113.7, 127.0.0.1"])
        self.assertEqual(echo_headers(doc, "X-Forwarded-Proto"), ["http"])
        via = echo_headers(doc, "Via")
        self.assertEqual(len(via), 1)
        self.assertRegex(via[0], r"^1\.1 \S+")
        # The response: Via added, the backend's own headers kept.
        self.assertEqual(len(headers.get("via", [])), 1)
        self.assertRegex(headers["via"][0], r"^1\.1 \S+")
        self.assertEqual(headers["x-backend-version"], ["e"])
        self.assertEqual(headers.get("connection"), ["close"])

    def test_x_forwarded_for_added_when_absent(self):
        _, _, body = self.get("/echo/xff")
        doc = json.loads(body)
        self.assertEqual(echo_headers(doc, "X-Forwarded-For"), ["127.0.0.1"])
        self.assertEqual(echo_headers(doc, "Host"), ["127.0.0.1:%d" % self.port])

    def test_response_hop_by_hop_removed(self):
        # The recording origin answers without hop-by-hop fields; profile-api
        # answers HTTP/1.0 clients with Connection: keep-alive when asked.
        # Through the gateway, a 1.1 client must not see Keep-Alive.
        reply, _ = timed_exchange(self.port, b"GET /profile HTTP/1.1\r\nHost: x\r\n"
                                             b"Connection: close\r\n\r\n")
        status, headers, _ = split_response(reply)
        self.assertEqual(status, 200)
        self.assertNotIn("keep-alive", headers)
        self.assertNotIn("transfer-encoding", headers)
        self.assertEqual(len(headers.get("content-length", [])), 1)

    def test_client_keep_alive_reuses_one_socket(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/profile")
            conn.getresponse().read()
            sock, local = conn.sock, conn.sock.getsockname()
            for i in range(100):
                conn.request("POST", "/echo", body=b"x" * i)
                resp = conn.getresponse()
                doc = json.loads(resp.read())
                self.assertEqual(resp.status, 200)
                self.assertEqual(doc["body_length"], i)
                self.assertFalse(resp.will_close)
            self.assertIs(conn.sock, sock)
            self.assertEqual(conn.sock.getsockname(), local)
        finally:
            conn.close()

    def test_heads_of_every_size_on_one_connection(self):
        # The next head starts in a small block kept from the last one; a head
        # that outgrows it moves to a bigger block, and the one after is small
        # again: every size must arrive whole, on the same socket.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            sock = None
            for size in (0, 3000, 0, 900, 6000, 0):
                headers = {"X-Pad": "p" * size} if size else {}
                conn.request("GET", "/echo/size%d" % size, headers=headers)
                resp = conn.getresponse()
                doc = json.loads(resp.read())
                self.assertEqual(resp.status, 200)
                self.assertEqual(doc["target"], "/echo/size%d" % size)
                self.assertEqual(len("".join(echo_headers(doc, "X-Pad"))), size)
                sock = sock or conn.sock
                self.assertIs(conn.sock, sock)
        finally:
            conn.close()

    def test_upstream_keep_alive_reuses_pooled_connection(self):
        before = len(self.rec.requests)
        for i in range(20):  # separate client connections, one worker
            status, _, body = self.get(f"/rec/{i}")
            self.assertEqual(status, 200)
        seen = self.rec.requests[before:]
        self.assertEqual(len(seen), 20)
        peers = {r["peer"] for r in seen}
        self.assertEqual(len(peers), 1, f"upstream connections used: {peers}")

    def test_idle_upstream_connections_close_after_the_idle_timeout(self):
        status, _, _ = self.get("/rec/before-idle")
        self.assertEqual(status, 200)
        seen_before = {r["peer"] for r in self.rec.requests}
        time.sleep(3)  # limits.idle_timeout is 2s here
        status, _, _ = self.get("/rec/after-idle")
        self.assertEqual(status, 200)
        self.assertNotIn(self.rec.requests[-1]["peer"], seen_before,
                         "a connection idle past limits.idle_timeout was used again")

    def test_pipelined_requests_and_head(self):
        reply, took = timed_exchange(
            self.port,
            b"HEAD /profile HTTP/1.1\r\nHost: x\r\nX-User-Id: 5\r\n\r\n"
            b"GET /profile HTTP/1.1\r\nHost: x\r\nX-User-Id: 6\r\nConnection: close\r\n\r\n")
        self.assertLess(took, 3)
        first_head, _, rest = reply.partition(b"\r\n\r\n")
        self.assertTrue(first_head.startswith(b"HTTP/1.1 200"), reply[:200])
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", first_head).group(1))
        self.assertGreater(length, 0)
        # No body after the HEAD answer: the next bytes are the GET's answer.
        self.assertTrue(rest.startswith(b"HTTP/1.1 200"), rest[:100])
        status, _, body = split_response(rest)
        self.assertEqual(json.loads(body)["userId"], "6")
        self.assertEqual(len(body), length)

    def test_expect_100_continue(self):
        body = b"expecting you"
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"POST /echo/expect HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\nExpect: 100-continue\r\n"
                      b"Connection: close\r\n\r\n" % len(body))
            interim = read_exactly_until(s, b"\r\n\r\n", 3)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
            self.assertTrue(interim.endswith(b"\r\n\r\n"), interim)
            s.sendall(body)
            rest = read_exactly_until(s, b"\x00never", 5)
        status, _, data = split_response(rest)
        self.assertEqual(status, 200)
        doc = json.loads(data)
        self.assertEqual(doc["body_length"], len(body))
        self.assertEqual(doc["body_fnv1a64"], "%016x" % fnv1a64(body))

    def test_chunked_request_with_trailers_forwarded(self):
        before = len(self.rec.requests)
        reply, _ = timed_exchange(
            self.port,
            b"POST /rec/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Trailer: X-Sum\r\nConnection: close\r\n\r\n"
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n")
        self.assertEqual(split_response(reply)[0], 200)
        got = self.rec.requests[before:]
        self.assertEqual(len(got), 1)
        self.assertRegex(got[0]["head"], r"(?i)\r\ntransfer-encoding: chunked\r\n")
        self.assertNotRegex(got[0]["head"], r"(?i)\r\ncontent-length:")
        raw = got[0]["raw_body"]
        _, _, body, _, trailers = decode_chunked(b"HTTP/1.1 200 OK\r\n\r\n" + raw)
        self.assertEqual(body, b"hello world")
        self.assertEqual(trailers, {"x-sum": "abc"})

    def test_chunked_request_body_checksum_on_echo(self):
        rng = random.Random(11)
        pieces = [rng.randbytes(n) for n in (1, 100, 4096, 7, 30000)]
        wire = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        reply, _ = timed_exchange(
            self.port,
            b"PUT /echo/chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n" + wire)
        status, _, data = split_response(reply)
        self.assertEqual(status, 200)
        doc = json.loads(data)
        whole = b"".join(pieces)
        self.assertEqual(doc["body_length"], len(whole))
        self.assertEqual(doc["body_fnv1a64"], "%016x" % fnv1a64(whole))

    def test_chunked_response_with_trailer_over_raw_socket(self):
        n, chunk = 200_000, 7000
        reply, _ = timed_exchange(self.port, f"GET /stream?bytes={n}&chunk={chunk} HTTP/1.1\r\n"
                                             "Host: x\r\nConnection: close\r\n\r\n".encode(),
                                  timeout=10)
        status_line, headers, body, _, trailers = decode_chunked(reply)
        self.assertTrue(status_line.startswith("HTTP/1.1 200"), status_line)
        names = {k.lower(): v for k, v in headers}
        self.assertEqual(names.get("transfer-encoding"), "chunked")
        self.assertEqual(body, stream_pattern(n))
        self.assertEqual(trailers.get("x-checksum"), "%016x" % fnv1a64(body))

    def test_chunked_response_with_trailer_via_curl(self):
        n = 50_000
        out = subprocess.run(["curl", "-sS", "--raw", "--max-time", "10",
                              self.gw.url(f"/stream?bytes={n}&chunk=4096"), "-D", "-"],
                             capture_output=True, timeout=20, check=True).stdout
        status_line, _, body, _, trailers = decode_chunked(out)
        self.assertIn(" 200", status_line)
        self.assertEqual(body, stream_pattern(n))
        self.assertEqual(trailers.get("x-checksum"), "%016x" % fnv1a64(body))
        # and decoded by curl itself
        out = subprocess.run(["curl", "-sS", "--max-time", "10",
                              self.gw.url(f"/stream?bytes={n}&chunk=999")],
                             capture_output=True, timeout=20, check=True).stdout
        self.assertEqual(out, stream_pattern(n))

    def test_http10_client_gets_length_or_close_delimited_body(self):
        n = 30_000
        reply, took = timed_exchange(self.port, f"GET /stream?bytes={n}&chunk=1000 HTTP/1.0\r\n"
                                                "Host: x\r\n\r\n".encode(), timeout=5)
        self.assertLess(took, 4, "an HTTP/1.0 exchange without keep-alive must close")
        status, headers, body = split_response(reply)
        self.assertEqual(status, 200)
        self.assertNotIn("transfer-encoding", headers)
        if "content-length" in headers:
            self.assertEqual(int(headers["content-length"][0]), n)
        self.assertEqual(body, stream_pattern(n))
        # A Content-Length response stays one for a 1.0 client.
        reply, took = timed_exchange(self.port, b"GET /profile HTTP/1.0\r\nHost: x\r\n\r\n")
        self.assertLess(took, 4)
        status, headers, body = split_response(reply)
        self.assertEqual(status, 200)
        self.assertEqual(int(headers["content-length"][0]), len(body))
        self.assertEqual(json.loads(body)["version"], "a")

    def test_head_request(self):
        reply, took = timed_exchange(self.port, b"HEAD /profile HTTP/1.1\r\nHost: x\r\n"
                                                b"Connection: close\r\n\r\n")
        self.assertLess(took, 3)
        status, headers, body = split_response(reply)
        self.assertEqual(status, 200)
        self.assertGreater(int(headers["content-length"][0]), 0)
        self.assertEqual(body, b"")

    # -- rejections ----------------------------------------------------------

    def assert_rejected(self, request, status=400, timeout=4.0):
        reply, took = timed_exchange(self.port, request, timeout=timeout)
        self.assertTrue(reply.startswith(b"HTTP/1.1 %d " % status),
                        f"{request[:120]!r} -> {reply[:200]!r}")
        self.assertLess(took, timeout - 0.5, f"connection not closed after {request[:80]!r}")
        code, headers, _ = split_response(reply)
        self.assertEqual(headers.get("connection"), ["close"])
        return reply

    def test_rejects_ambiguous_framing(self):
        cases = {
            "CL+TE": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "TE+CL": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Length: 5\r\n\r\n0\r\n\r\n",
            "differing CL": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                            b"Content-Length: 6\r\n\r\nhello!",
            "differing CL list": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n"
                                 b"\r\nhello!",
            "TE gzip": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxx",
            "chunked not final": b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                                 b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
            "chunked twice": b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
                             b"\r\n0\r\n\r\n",
            "obs-fold": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
            "bare CR in value": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n",
            "bare CR line end": b"GET /echo HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
            "space before colon": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
            "tab before colon": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A\t: b\r\n\r\n",
            "no Host": b"GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n",
        }
        for name, request in cases.items():
            with self.subTest(name):
                self.assert_rejected(request)

    def test_rejects_invalid_chunk_sizes(self):
        cases = {
            "not hex": b"zz\r\nhello\r\n0\r\n\r\n",
            "negative": b"-5\r\nhello\r\n0\r\n\r\n",
            "overflow": b"1ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
            "empty size": b"\r\nhello\r\n0\r\n\r\n",
            "space in size": b"5 5\r\nhello\r\n0\r\n\r\n",
            "data longer than size": b"3\r\nhello\r\n0\r\n\r\n",
        }
        for name, body in cases.items():
            with self.subTest(name):
                self.assert_rejected(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n" + body)

    def test_head_larger_than_limit_is_431(self):
        big = b"X-Big: " + b"a" * (MAX_HEADER + 100) + b"\r\n"
        self.assert_rejected(b"GET /echo HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n", status=431)
        # Just under the limit passes.
        fits = b"X-Fit: " + b"a" * (MAX_HEADER - 200) + b"\r\n"
        reply, _ = timed_exchange(self.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n" + fits +
                                  b"Connection: close\r\n\r\n")
        self.assertEqual(split_response(reply)[0], 200)

    def test_incomplete_head_is_408_after_header_timeout(self):
        start = time.monotonic()
        reply, took = timed_exchange(self.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n", timeout=5)
        self.assertTrue(reply.startswith(b"HTTP/1.1 408 "), reply[:200])
        self.assertGreater(took, 0.8)
        self.assertLess(took, 3.0)
        self.assertLess(time.monotonic() - start, 4.5)

    def test_idle_keep_alive_connection_closed_after_idle_timeout(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=6) as s:
            s.sendall(b"GET /profile HTTP/1.1\r\nHost: x\r\n\r\n")
            first = read_exactly_until(s, b'"version":"a"}', 3)
            self.assertTrue(first.startswith(b"HTTP/1.1 200"), first[:200])
            idle_from = time.monotonic()
            s.settimeout(6)
            try:
                rest = s.recv(1024)
            except ConnectionResetError:
                rest = b""
            idle = time.monotonic() - idle_from
        self.assertEqual(rest, b"")  # closed without a response
        self.assertGreater(idle, 1.5)
        self.assertLess(idle, 4.0)

    def test_body_above_limit_is_413(self):
        # Declared length: refused before any body byte is read.
        self.assert_rejected(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                             % (MAX_BODY + 1) + b"x" * 1000, status=413)
        # Chunked: refused once the running total passes the limit.
        piece = b"y" * 16384
        chunks = b"".join(b"4000\r\n%s\r\n" % piece for _ in range(5))
        self.assert_rejected(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + chunks, status=413)
        # At the limit: accepted.
        status, _, data = self.get("/echo/limit", method="POST", body=b"z" * MAX_BODY)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(data)["body_length"], MAX_BODY)

    # -- upstream failures ---------------------------------------------------

    def test_connect_refused_is_502_naming_service_and_subset(self):
        start = time.monotonic()
        status, _, body = self.get("/dead/x")
        self.assertLess(time.monotonic() - start, 2)
        self.assertEqual(status, 502)
        text = body.decode()
        self.assertIn("svc-dead", text)
        self.assertIn("stable", text)
        self.assertIn("refused", text)

    def test_silent_upstream_is_504_after_request_timeout(self):
        start = time.monotonic()
        status, _, body = self.get("/silent/x", timeout=8)
        took = time.monotonic() - start
        self.assertEqual(status, 504)
        self.assertGreater(took, 0.8)
        self.assertLess(took, 3.0)
        text = body.decode()
        self.assertIn("svc-silent", text)
        self.assertIn("stable", text)
        # The gateway keeps serving.
        self.assertEqual(self.get("/profile")[0], 200)


class GatewayUpstreamConnectTimeout(unittest.TestCase):
    def test_connect_timeout_is_504(self):
        full = full_backlog_listener()
        if full is None:
            self.skipTest("cannot make a loopback connect hang deterministically here")
        listener, fillers = full
        try:
            port = listener.getsockname()[1]
            config = gateway_config(
                [service("svc-slow", [f"127.0.0.1:{port}"], connect_timeout="300ms")],
                [route("all", "svc-slow", path_prefix="/")])
            with Gateway(config) as gw:
                start = time.monotonic()
                status, _, body = http_get(gw.port("public"), "/x", timeout=5)
                took = time.monotonic() - start
            self.assertEqual(status, 504)
            self.assertGreater(took, 0.25)
            self.assertLess(took, 2.0)
            self.assertIn("svc-slow", body.decode())
            self.assertIn("stable", body.decode())
            self.assertIn("connect", body.decode())
        finally:
            close_all(listener, *fillers)


class GatewayStalePooledConnection(unittest.TestCase):
    def test_upstream_closing_idle_connections_is_invisible_to_clients(self):
        # The origin closes every connection right after its answer, so the
        # pooled connection is usually dead when the next request takes it;
        # a request without a body is replayed on a fresh connection.
        with RecordingUpstream(close_after_each=True) as origin, \
                Gateway(gateway_config([service("s", [origin])],
                                       [route("r", "s", path_prefix="/")])) as gw:
            for i in range(30):
                status, _, body = http_get(gw.port("public"), f"/g/{i}")
                self.assertEqual(status, 200, body)
                time.sleep(0.01)  # let the FIN arrive before the next request
            self.assertEqual(len(origin.requests), 30)
            self.assertEqual(len({r["peer"] for r in origin.requests}), 30)


class GatewayCloseDelimitedUpstream(unittest.TestCase):
    def test_close_delimited_answer_is_rechunked_for_http11_clients(self):
        payload = random.Random(5).randbytes(300_000)
        with CloseDelimitedUpstream(payload) as origin, \
                Gateway(gateway_config([service("s", [origin])],
                                       [route("r", "s", path_prefix="/")])) as gw:
            port = gw.port("public")
            # HTTP/1.1 client: chunked, so the connection could stay open.
            reply, took = timed_exchange(port, b"GET /a HTTP/1.1\r\nHost: x\r\n"
                                               b"Connection: close\r\n\r\n", timeout=5)
            status_line, headers, body, _, _ = decode_chunked(reply)
            self.assertTrue(status_line.startswith("HTTP/1.1 200"), status_line)
            self.assertIn(("X-Origin", "close-delimited"), headers)
            self.assertEqual(body, payload)
            # HTTP/1.0 client: close-delimited again.
            reply, took = timed_exchange(port, b"GET /b HTTP/1.0\r\nHost: x\r\n\r\n",
                                         timeout=5)
            self.assertLess(took, 4)
            status, headers, body = split_response(reply)
            self.assertEqual(status, 200)
            self.assertNotIn("transfer-encoding", headers)
            self.assertEqual(body, payload)


class GatewayPoolBurst(unittest.TestCase):
    def test_pool_keeps_every_connection_a_burst_needed(self):
        # Two bursts of BURST requests that the origin answers only once all
        # are in flight: the second must find the first's connections idle
        # in the pool, not open new ones (a pool that keeps fewer than the
        # concurrency closes and reopens connections at every burst). Its
        # own gateway: the default idle_timeout (60s) outlasts any pause
        # between the bursts on a loaded machine.
        with BarrierUpstream(BURST) as origin, \
                Gateway(gateway_config([service("s", [origin], request_timeout="30s")],
                                       [route("r", "s", path_prefix="/")])) as gw:
            port = gw.port("public")

            def burst():
                before = len(origin.peers)
                proc = subprocess.run(
                    ["h2load", "--h1", "-n", str(BURST), "-c", str(BURST), "-T", "30", "-N", "30",
                     f"http://127.0.0.1:{port}/burst"],
                    capture_output=True, text=True, timeout=60)
                self.assertIn(f"status codes: {BURST} 2xx", proc.stdout, proc.stdout + proc.stderr)
                return set(origin.peers[before:])

            first = burst()
            self.assertEqual(len(first), BURST, "the origin saw fewer connections than requests")
            second = burst()
            self.assertEqual(len(second), BURST)
            self.assertEqual(second - first, set(),
                             f"{len(second - first)} connections opened again for the second burst")


class GatewayWithoutDecisionHeader(unittest.TestCase):
    def test_no_decision_header_unless_configured(self):
        with start_backend(label="solo") as b, \
                Gateway(gateway_config([service("s", [b])],
                                       [route("r", "s", path_prefix="/")])) as gw:
            status, headers, _ = http_get(gw.port("public"), "/profile")
            self.assertEqual(status, 200)
            self.assertEqual(headers["X-Backend-Version"], "solo")
            self.assertIsNone(headers["x-cohort-decision"])


class GatewayProxyHeadersOff(unittest.TestCase):
    """gateway.proxy_headers all false: the backend sees the client's own
    X-Forwarded-*, traceparent and no Via; the client sees no Via, over
    HTTP/1.1 and HTTP/2 alike."""

    CLIENT_TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    SENT = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "gopher",
            "traceparent": CLIENT_TRACE}

    def check_backend_saw_the_clients_fields(self, doc):
        self.assertEqual(echo_headers(doc, "X-Forwarded-For"), ["203.0.113.7"])
        self.assertEqual(echo_headers(doc, "X-Forwarded-Proto"), ["gopher"])
        self.assertEqual(echo_headers(doc, "traceparent"), [self.CLIENT_TRACE])
        self.assertEqual(echo_headers(doc, "Via"), [])

    def test_nothing_added_when_all_are_off(self):
        with start_backend(label="plain") as b:
            config = gateway_config([service("s", [b])], [route("r", "s", path_prefix="/")])
            config["gateway"]["proxy_headers"] = {"x_forwarded": False, "via": False,
                                                  "traceparent": False}
            with Gateway(config) as gw:
                port = gw.port("public")
                status, headers, body = http_get(port, "/echo/off", headers=self.SENT)
                self.assertEqual(status, 200)
                self.assertIsNone(headers["via"])
                self.check_backend_saw_the_clients_fields(json.loads(body))

                args = ["curl", "-s", "-i", "--http2-prior-knowledge", "--max-time", "5"]
                for name, value in self.SENT.items():
                    args += ["-H", "%s: %s" % (name, value)]
                out = subprocess.run(args + ["http://127.0.0.1:%d/echo/off-h2" % port],
                                     capture_output=True, timeout=10).stdout.decode()
                head, _, body = out.partition("\r\n\r\n")
                self.assertTrue(head.startswith("HTTP/2 200"), out)
                self.assertNotIn("\nvia:", head.lower())
                self.check_backend_saw_the_clients_fields(json.loads(body))

    def test_defaults_add_them(self):
        # The control: the same request through a default gateway.
        with start_backend(label="plain") as b, \
                Gateway(gateway_config([service("s", [b])],
                                       [route("r", "s", path_prefix="/")])) as gw:
            status, headers, body = http_get(gw.port("public"), "/echo/on", headers=self.SENT)
            self.assertEqual(status, 200)
            self.assertRegex(headers["via"], r"^1\.1 cohort$")
            doc = json.loads(body)
            self.assertEqual(echo_headers(doc, "X-Forwarded-For"), ["203.0.113.7, 127.0.0.1"])
            self.assertEqual(echo_headers(doc, "X-Forwarded-Proto"), ["http"])
            self.assertEqual(len(echo_headers(doc, "Via")), 1)
            trace = echo_headers(doc, "traceparent")
            self.assertEqual(len(trace), 1)
            # The gateway's span continues the client's trace under a new parent id.
            self.assertTrue(trace[0].startswith("00-0af7651916cd43dd8448eb211c80319c-"), trace)
            self.assertNotEqual(trace[0], self.CLIENT_TRACE)


class GatewayLargeUpload(unittest.TestCase):
    def test_100_mib_chunked_upload_with_flat_memory(self):
        seg, head, count = 1 << 20, 4096, 100
        rng = random.Random(99)
        heads = [rng.randbytes(head) for _ in range(count)]
        expected = FNV_OFFSET
        for h in heads:
            expected = fnv1a64_zeros(seg - head, fnv1a64(h, expected))
        zeros = bytes(seg - head)

        def chunks():
            for h in heads:
                yield h
                yield zeros

        with start_backend(label="up") as b, \
                Gateway(gateway_config([service("s", [b])],
                                       [route("r", "s", path_prefix="/")])) as gw:
            # Warm up (first connection, pool, allocator arenas), then measure.
            self.assertEqual(http_get(gw.port("public"), "/profile")[0], 200)
            base = rss_kib(gw.pid)
            peak = [base]
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    try:
                        peak[0] = max(peak[0], rss_kib(gw.pid))
                    except (OSError, AssertionError):
                        return
                    stop.wait(0.02)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                code, body, err, status = curl_upload(gw.url("/upload"), chunks(), timeout=90)
            finally:
                stop.set()
                sampler.join(timeout=2)
        self.assertEqual(code, 0, err)
        self.assertEqual(status, 200)
        doc = json.loads(body)
        self.assertEqual(doc["body_length"], seg * count)
        self.assertEqual(doc["body_fnv1a64"], "%016x" % expected)
        self.assertIn("chunked", [v.lower() for v in echo_headers(doc, "Transfer-Encoding")])
        growth_mib = (peak[0] - base) / 1024
        print(f"\n100 MiB upload: gateway RSS {base} KiB -> peak {peak[0]} KiB "
              f"(+{growth_mib:.1f} MiB)", file=sys.stderr)
        self.assertLess(growth_mib, 64, f"RSS grew by {growth_mib:.1f} MiB (base {base} KiB)")


if __name__ == "__main__":
    unittest.main()
