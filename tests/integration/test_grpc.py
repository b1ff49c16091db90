"""HTTP/2 upstreams (`protocol: http2`) and gRPC through the gateway.

HTTP/1.1 clients (curl, raw sockets) -> gateway -> nghttpd (h2c) or the gRPC
test backend (examples/grpc-backend): many concurrent requests share few
upstream connections (counted with `ss`); an upstream restart and a graceful
stop (GOAWAY) are survived; gRPC answers keep their trailers on the way back.

Real gRPC clients (python3-grpcio) over h2c: unary, server/client/bidi
streaming with trailers, a full-duplex ping-pong stream, stickiness per user,
a canary with --unavailable-rate 0.05 counted as failing in the gateway's
windows and in cohort_grpc_responses_total, and grpc-timeout bounding a call.
"""

import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from cohort_harness import Gateway, raw_exchange
from gateway_fixtures import gateway_config, route, service

HERE = os.path.dirname(os.path.abspath(__file__))
GRPC_BACKEND = os.path.join(HERE, "..", "..", "examples", "grpc-backend", "grpc_backend.py")
PYTHON = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_connectable(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Nghttpd:
    """nghttpd --no-tls serving a temporary directory."""

    def __init__(self, port=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="cohort-nghttpd-")
        self.port = port or free_port()
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["nghttpd", "--no-tls", "-d", self.dir, *self.extra,
                                      str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_connectable(self.port):
            self.stop()
            raise AssertionError("nghttpd did not start (Debian nghttp2-server)")

    def put(self, name, data):
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"


class GrpcBackend:
    """examples/grpc-backend/grpc_backend.py; stop() is graceful (GOAWAY)."""

    def __init__(self, version="v1.0", port=0, **flags):
        argv = [PYTHON, GRPC_BACKEND, "--port", str(port), "--version", version]
        for key, value in flags.items():
            argv += ["--" + key.replace("_", "-"), str(value)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"listening on (\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"grpc backend did not start: {line!r} "
                                 f"{self.proc.stderr.read().decode()}")
        self.port = int(m.group(1))

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


def curl(url, *args):
    """(http code, body bytes) of one curl call (HTTP/1.1 to the gateway)."""
    out = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args, url],
                         capture_output=True, timeout=15, check=False).stdout
    body, _, code = out.rpartition(b"\n")
    return int(code or 0), body


def upstream_connections(port):
    """Established TCP connections to 127.0.0.1:port, from `ss`."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def grpc_frame(message):
    return b"\x00" + len(message).to_bytes(4, "big") + message


def grpc_over_http1(port, path, message, timeout=5.0):
    """A unary gRPC call sent as HTTP/1.1: (status, headers, body, trailers)."""
    body = grpc_frame(message)
    request = (f"POST {path} HTTP/1.1\r\nHost: grpc.test\r\ncontent-type: application/grpc\r\n"
               f"te: trailers\r\nConnection: close\r\ncontent-length: {len(body)}\r\n\r\n"
               ).encode() + body
    reply = raw_exchange(port, request, timeout=timeout)
    head, _, rest = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    data = b""
    trailers = {}
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                tail = rest.split(b"\r\n\r\n")[0]
                for line in tail.decode("latin-1").split("\r\n"):
                    if ":" in line:
                        name, _, value = line.partition(":")
                        trailers[name.strip().lower()] = value.strip()
                break
            data += rest[:size]
            rest = rest[size + 2:]
    else:
        data = rest
    return status, headers, data, trailers


class Http2Upstream(unittest.TestCase):
    def setUp(self):
        self.peers = []

    def tearDown(self):
        for p in self.peers:
            p.close() if hasattr(p, "close") else p.stop()

    def start_nghttpd(self, **kw):
        n = Nghttpd(**kw)
        self.peers.append(n)
        return n

    def start_gateway(self, address, workers=1):
        cfg = gateway_config([service("h2", [address], protocol="http2")],
                             [route("all", "h2")], workers=workers)
        gw = Gateway(cfg)
        self.peers.append(gw)
        return gw

    def test_http1_client_to_h2c_upstream(self):
        n = self.start_nghttpd()
        n.put("hello.txt", b"hello over h2c")
        big = bytes(range(256)) * 4096  # 1 MiB: several windows' worth
        n.put("big.bin", big)
        gw = self.start_gateway(n.address)
        code, body = curl(gw.url("/hello.txt"))
        self.assertEqual((code, body), (200, b"hello over h2c"))
        code, body = curl(gw.url("/big.bin"))
        self.assertEqual(code, 200)
        self.assertEqual(body, big)
        code, _ = curl(gw.url("/missing"))
        self.assertEqual(code, 404)

    def test_request_body_reaches_the_upstream(self):
        n = self.start_nghttpd(extra=["--echo-upload"])
        gw = self.start_gateway(n.address)
        payload = os.urandom(300_000)
        path = os.path.join(n.dir, "upload.bin")
        with open(path, "wb") as f:
            f.write(payload)
        # Content-Length framing, then chunked framing from the client.
        code, body = curl(gw.url("/echo"), "--data-binary", "@" + path)
        self.assertEqual(code, 200)
        self.assertEqual(body, payload)
        code, body = curl(gw.url("/echo"), "--data-binary", "@" + path,
                          "-H", "Transfer-Encoding: chunked")
        self.assertEqual(code, 200)
        self.assertEqual(body, payload)

    def test_concurrent_requests_share_few_upstream_connections(self):
        n = self.start_nghttpd()
        n.put("a.txt", b"A" * 1000)
        gw = self.start_gateway(n.address, workers=1)
        results = []

        def one(_):
            return curl(gw.url("/a.txt"))

        with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
            results = list(pool.map(one, range(200)))
        self.assertEqual([c for c, _ in results], [200] * 200)
        self.assertTrue(all(b == b"A" * 1000 for _, b in results))
        # 200 requests, 40 at a time, from one worker: one h2 connection.
        conns = upstream_connections(n.port)
        self.assertGreaterEqual(conns, 1)
        self.assertLessEqual(conns, 2, f"{conns} upstream connections for one worker")

    def test_upstream_restart_is_survived(self):
        n = self.start_nghttpd()
        n.put("a.txt", b"first")
        gw = self.start_gateway(n.address)
        self.assertEqual(curl(gw.url("/a.txt")), (200, b"first"))
        n.stop()
        code, _ = curl(gw.url("/a.txt"))
        self.assertEqual(code, 502, "nothing listens: connection refused")
        n.put("a.txt", b"second")
        n.start()
        self.assertEqual(curl(gw.url("/a.txt")), (200, b"second"))


class GrpcThroughHttp1(unittest.TestCase):
    """gRPC framing sent by an HTTP/1.1 client: the h2 upstream side is real gRPC."""

    def setUp(self):
        self.backend = GrpcBackend(version="v9")
        cfg = gateway_config([service("grpc", [self.backend.address], protocol="http2")],
                             [route("all", "grpc")])
        self.gw = Gateway(cfg)

    def tearDown(self):
        self.gw.close()
        self.backend.stop()

    def test_unary_answer_and_trailers_come_back(self):
        status, headers, body, trailers = grpc_over_http1(
            self.gw.port(), "/cohort.test.Echo/Unary", b"hello")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "application/grpc")
        self.assertEqual(body, grpc_frame(b"v9:hello"))
        self.assertEqual(trailers.get("grpc-status"), "0")
        self.assertEqual(trailers.get("x-version"), "v9")

    def test_trailers_only_answer_keeps_its_status_in_the_head(self):
        status, headers, body, trailers = grpc_over_http1(
            self.gw.port(), "/cohort.test.Echo/Nope", b"")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        # A trailers-only response: one HEADERS frame, so grpc-status is a head field.
        self.assertEqual(headers.get("grpc-status"), "12", (headers, trailers))  # UNIMPLEMENTED

    def test_graceful_upstream_stop_then_new_backend(self):
        self.assertEqual(grpc_over_http1(self.gw.port(), "/cohort.test.Echo/Unary",
                                         b"x")[2], grpc_frame(b"v9:x"))
        port = self.backend.port
        self.backend.stop()  # GOAWAY, then the listener closes
        self.backend = GrpcBackend(version="v10", port=port)
        # The drained connection left the pool: the next call opens a new one.
        status, _, body, trailers = grpc_over_http1(self.gw.port(), "/cohort.test.Echo/Unary",
                                                    b"y")
        self.assertEqual((status, body), (200, grpc_frame(b"v10:y")))
        self.assertEqual(trailers.get("grpc-status"), "0")


class GrpcDeadline(unittest.TestCase):
    """grpc-timeout bounds a call below the service's request_timeout."""

    def test_grpc_timeout_answers_before_request_timeout(self):
        from gateway_fixtures import SilentUpstream
        silent = SilentUpstream()
        self.addCleanup(silent.close)
        svc = {"name": "slow", "protocol": "http2", "request_timeout": "4s",
               "subsets": {"stable": {"endpoints": [silent.address]}},
               "retries": {"enabled": False}}
        with Gateway(gateway_config([svc], [route("all", "slow")])) as gw:
            def call(extra):
                argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
                        "-H", "content-type: application/grpc", "--data-binary", "x",
                        *extra, f"http://127.0.0.1:{gw.port()}/cohort.test.Echo/Unary"]
                start = time.monotonic()
                out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
                return out.strip(), time.monotonic() - start
            code, took = call(["-H", "grpc-timeout: 300m"])
            self.assertEqual(code, "504")
            self.assertGreaterEqual(took, 0.25)
            self.assertLess(took, 2.0)
            # Without it the call waits for request_timeout (the client gives up first).
            code, took = call([])
            self.assertEqual(code, "000")
            self.assertGreaterEqual(took, 2.9)


class GrpcClientsThroughGateway(unittest.TestCase):
    def setUp(self):
        from grpc_client import EchoClient  # python3-grpcio
        self.stable = GrpcBackend(version="v1.0")
        self.canary = GrpcBackend(version="v1.1", unavailable_rate=0.05, seed=7)
        svc = {"name": "echo", "protocol": "http2",
               "subsets": {"stable": {"endpoints": [self.stable.address]},
                           "canary": {"endpoints": [self.canary.address]}},
               "retries": {"enabled": False}}
        cfg = gateway_config([svc], [route("all", "echo")])
        cfg["rollouts"] = [{"name": "echo", "service": "echo", "stable": "stable",
                            "canary": "canary", "weight": "50%",
                            "session": {"key": [{"header": "x-user-id"}]}}]
        self.gw = Gateway(cfg)
        self.client = EchoClient(f"127.0.0.1:{self.gw.port()}")

    def tearDown(self):
        self.client.close()
        self.gw.close()
        self.stable.stop()
        self.canary.stop()

    def user_on(self, version):
        for i in range(200):
            md = (("x-user-id", f"u{i}"),)
            code, reply, _ = self.client.unary(b"?", metadata=md)
            if code == "OK" and reply.startswith(version.encode() + b":"):
                return md
        self.fail(f"no user routed to {version}")

    def test_unary_and_streams_with_trailers(self):
        md = self.user_on("v1.0")
        self.assertEqual(self.client.unary(b"hi", metadata=md),
                         ("OK", b"v1.0:hi", {"x-version": "v1.0"}))
        self.assertEqual(self.client.server_stream(4, metadata=md),
                         ("OK", [b"v1.0:0", b"v1.0:1", b"v1.0:2", b"v1.0:3"],
                          {"x-version": "v1.0"}))
        self.assertEqual(self.client.client_stream([b"a", b"b", b"c"], metadata=md),
                         ("OK", b"v1.0:abc", {"x-version": "v1.0"}))
        self.assertEqual(self.client.bidi_stream([b"x", b"y"], metadata=md),
                         ("OK", [b"v1.0:x", b"v1.0:y"], {"x-version": "v1.0"}))

    def test_bidi_stream_is_full_duplex(self):
        # Each message waits for the echo of the one before: the gateway must
        # relay answers while the request stream is still open.
        md = self.user_on("v1.0")
        payloads = [b"m%d" % i for i in range(6)]
        start = time.monotonic()
        code, replies, trailers = self.client.bidi_ping_pong(payloads, metadata=md, wait=2.0)
        self.assertEqual(code, "OK")
        self.assertEqual(replies, [b"v1.0:" + p for p in payloads])
        self.assertEqual(trailers.get("x-version"), "v1.0")
        self.assertLess(time.monotonic() - start, 3.0)

    def test_a_user_stays_on_one_version(self):
        md = self.user_on("v1.1")
        versions = set()
        for _ in range(20):
            code, reply, trailers = self.client.unary(b"k", metadata=md)
            versions.add(trailers.get("x-version"))
        self.assertEqual(versions, {"v1.1"})

    def test_canary_unavailable_is_counted_as_failing(self):
        md = self.user_on("v1.1")
        codes = [self.client.unary(b"c", metadata=md)[0] for _ in range(400)]
        unavailable = codes.count("UNAVAILABLE")
        self.assertGreater(unavailable, 5, "5% of 400 calls, seed 7")
        # Every call was HTTP 200: only grpc-status can tell the canary failed.
        deadline = time.monotonic() + 5
        errors = 0
        while time.monotonic() < deadline:
            with urllib.request.urlopen(self.gw.admin_url(
                    "/api/v1/windows?rollout=echo&subset=canary&seconds=60"), timeout=5) as r:
                doc = json.load(r)
            errors = doc.get("errors", 0)
            if errors >= unavailable:
                break
            time.sleep(0.3)
        # user_on's probing calls may have failed on the canary too.
        self.assertGreaterEqual(errors, unavailable, doc)
        with urllib.request.urlopen(self.gw.admin_url("/metrics"), timeout=5) as r:
            metrics = r.read().decode()
        # cohort_grpc_responses_total{service,subset,grpc_status}: every UNAVAILABLE seen.
        m = re.search(r'^cohort_grpc_responses_total\{[^}]*subset="canary"[^}]*'
                      r'grpc_status="14"[^}]*\} (\d+)$', metrics, re.M)
        self.assertIsNotNone(m, "no canary UNAVAILABLE series in /metrics")
        self.assertGreaterEqual(int(m.group(1)), unavailable)
        self.assertIn('subset="canary"', "".join(
            l for l in metrics.splitlines() if l.startswith("cohort_requests_total")))

if __name__ == "__main__":
    unittest.main()
