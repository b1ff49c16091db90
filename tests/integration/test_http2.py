"""HTTP/2 downstream (issue 7): h2c with prior knowledge on a plain listener,
driven by real HTTP/2 clients (curl, nghttp, h2load) and by hand-made frames
where a test needs to see the connection's control frames (GOAWAY).

Three profile-api backends stand for the subsets, each with its own
--version-label, so X-Backend-Version tells which subset served a stream."""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from cohort_harness import Gateway, fnv1a64, http_get, fnv1a64_zeros, start_backend, stream_pattern
from gateway_fixtures import _ServerBase, rss_kib

DECISION = "x-cohort-decision"
LABELS = {"stable": "v1.0", "baseline": "v1.0-baseline", "canary": "v1.1"}
SUBSET_OF_LABEL = {label: subset for subset, label in LABELS.items()}
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MIB = 1024 * 1024

_backends = {}


def setUpModule():
    for subset, label in LABELS.items():
        _backends[subset] = start_backend(api="v1.1" if subset == "canary" else "v1.0",
                                          label=label)


def tearDownModule():
    for b in _backends.values():
        b.stop()
    _backends.clear()


class EndlessUpstream(_ServerBase):
    """Answers any request with a chunked body that never ends; `closed` is
    set once the gateway drops the connection."""

    def __init__(self):
        self.closed = threading.Event()
        super().__init__()

    def serve(self, conn, peer):
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                return
            head += chunk
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
        try:
            while not self._stop.is_set():
                conn.sendall(piece)
        except OSError:
            self.closed.set()


def make_config(weight="30%", http2=None, limits=None, workers=2, endless="127.0.0.1:1"):
    gateway = {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
               "workers": workers, "decision_header": DECISION}
    if http2:
        gateway["http2"] = http2
    if limits:
        gateway["limits"] = limits
    return {
        "gateway": gateway,
        "services": [
            {"name": "profile-api",
             "subsets": {name: {"endpoints": [b.address]} for name, b in _backends.items()}},
            {"name": "nowhere", "subsets": {"stable": {"endpoints": ["127.0.0.1:1"]}}},
            {"name": "endless", "subsets": {"stable": {"endpoints": [endless]}}},
        ],
        "routes": [
            {"name": "dead", "match": {"path_prefix": "/dead"}, "service": "nowhere"},
            {"name": "endless", "match": {"path_prefix": "/endless"}, "service": "endless"},
            {"name": "profile", "match": {"path_prefix": "/"}, "service": "profile-api"},
        ],
        "rollouts": [{
            "name": "profile-api", "service": "profile-api",
            "stable": "stable", "canary": "canary", "baseline": "baseline",
            "session": {"key": [{"header": "X-User-Id"}, {"query": "uid"}],
                        "anonymous": "cookie"},
            "weight": weight,
        }],
    }


def run(argv, timeout=60):
    return subprocess.run(argv, capture_output=True, timeout=timeout)


def curl_h2(url, *extra, timeout=30):
    """(status, {lower-case name: value}, body bytes, trailers dict) of one
    request with curl --http2-prior-knowledge."""
    with tempfile.TemporaryDirectory() as tmp:
        head_file = os.path.join(tmp, "head")
        proc = run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", str(timeout),
                    "-D", head_file, *extra, url], timeout=timeout + 5)
        if proc.returncode != 0:
            raise AssertionError(f"curl failed ({proc.returncode}): {proc.stderr.decode()}")
        with open(head_file, "rb") as f:
            raw = f.read().decode("latin-1")
    blocks = raw.split("\r\n\r\n")
    lines = blocks[0].split("\r\n")
    status_line = lines[0].split(" ")
    assert status_line[0] == "HTTP/2", lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    trailers = {}
    for line in "\r\n".join(blocks[1:]).split("\r\n"):
        if ":" in line:
            name, _, value = line.partition(":")
            trailers[name.strip().lower()] = value.strip()
    return int(status_line[1]), headers, proc.stdout, trailers


def expected_subset(reason, weight_bp):
    """The subset a bucket:/baseline: reason puts the user in: canary
    [0, w), baseline [w, 2w), stable the rest (INTERFACE.md)."""
    m = re.match(r"^(?:bucket:(\d+)(?:<|>=)\d+|baseline:(\d+))$", reason)
    if not m:
        raise AssertionError(f"not a bucket reason: {reason!r}")
    bucket = int(m.group(1) or m.group(2))
    if bucket < weight_bp:
        return "canary"
    if bucket < min(2 * weight_bp, 10000):
        return "baseline"
    return "stable"


# ---------------------------------------------------------------------------
# Hand-made frames (RFC 9113 4.1): enough to open a connection and watch
# what the gateway sends on stream 0.

def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


class RawH2:
    """A prior-knowledge connection that opens with the preface and an empty
    SETTINGS frame, and reads frames as (type, flags, stream, payload)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(PREFACE + frame(4, 0, 0))
        self.buf = b""

    def read_frame(self, timeout):
        self.sock.settimeout(timeout)
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7fffffff,
             self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        if f[0] == 4 and not f[1] & 1:
            self.sock.sendall(frame(4, 1, 0))  # SETTINGS ACK
        return f

    def request(self, stream, path):
        """GET path on stream, the fields as HPACK literals without indexing."""
        block = b""
        for name, value in ((b":method", b"GET"), (b":scheme", b"http"),
                            (b":authority", b"gateway"), (b":path", path.encode())):
            block += b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
        self.sock.sendall(frame(1, 0x5, stream, block))  # END_HEADERS | END_STREAM

    def wait_goaway(self, timeout):
        """(last stream id, error code) of the first GOAWAY, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                f = self.read_frame(deadline - time.monotonic())
            except socket.timeout:
                return None
            if f is None:
                return None
            if f[0] == 7:
                last, code = struct.unpack(">II", f[3][:8])
                return last & 0x7fffffff, code
        return None

    def closed_within(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.read_frame(deadline - time.monotonic()) is None:
                    return True
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
        return False

    def close(self):
        self.sock.close()


class Http2Downstream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.endless = EndlessUpstream()
        cls.gw = Gateway(make_config(endless=cls.endless.address))
        cls.port = cls.gw.port("public")
        cls.base = f"http://127.0.0.1:{cls.port}"

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()
        cls.endless.close()

    def test_curl_prior_knowledge_gets_the_backend_body_and_the_decision(self):
        status, headers, body, _ = curl_h2(self.base + "/profile", "-H", "X-User-Id: alice")
        self.assertEqual(status, 200)
        doc = json.loads(body)
        self.assertEqual(doc["userId"], "alice")
        subset = SUBSET_OF_LABEL[headers["x-backend-version"]]
        self.assertEqual(subset, expected_subset(headers[DECISION], 3000))
        self.assertEqual(doc["version"], "v1.1" if subset == "canary" else "v1.0")
        for hop in ("connection", "keep-alive", "transfer-encoding", "upgrade"):
            self.assertNotIn(hop, headers)

    def test_nghttp_sees_the_settings_and_the_response(self):
        proc = run(["nghttp", "-nv", "-H", "X-User-Id: bob", self.base + "/profile"])
        out = proc.stdout.decode()
        self.assertEqual(proc.returncode, 0, out[-2000:])
        self.assertIn("[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100]", out)
        self.assertIn("[SETTINGS_INITIAL_WINDOW_SIZE(0x04):1048576]", out)
        self.assertRegex(out, r"recv \(stream_id=\d+\) :status: 200")
        self.assertRegex(out, r"recv \(stream_id=\d+\) " + DECISION + r": (bucket|baseline):")
        self.assertRegex(out, r"recv \(stream_id=\d+\) x-backend-version: v1\.")

    def test_streams_on_one_connection_follow_each_users_decision(self):
        # curl 7.88.1 cannot reuse a prior-knowledge connection (curl#10634),
        # so nghttp multiplexes here: every URI is a stream on one connection,
        # each naming its user by the rollout's second key source (?uid=).
        users = [f"h2-user-{i}" for i in range(240)]
        proc = run(["nghttp", "-nv"] + [f"{self.base}/profile?uid={u}" for u in users],
                   timeout=120)
        out = proc.stdout.decode()
        self.assertEqual(proc.returncode, 0, out[-2000:])
        user_of, label_of, reason_of, status_of = {}, {}, {}, {}
        current = None
        for line in out.split("\n"):
            m = re.search(r"send HEADERS frame <.*stream_id=(\d+)>", line)
            if m:
                current = int(m.group(1))
                continue
            m = re.match(r"\s+:path: /profile\?uid=(\S+)$", line)
            if m and current is not None:
                user_of[current] = m.group(1)
                continue
            m = re.search(r"recv \(stream_id=(\d+)\) ([^:]+|:status): (.*)$", line)
            if m:
                sid, name, value = int(m.group(1)), m.group(2), m.group(3).strip()
                if name == ":status":
                    status_of[sid] = value
                elif name == "x-backend-version":
                    label_of[sid] = value
                elif name == DECISION:
                    reason_of[sid] = value
        self.assertEqual(sorted(user_of.values()), sorted(users))
        self.assertEqual(len(re.findall(r"Connected", out)) <= 1, True)
        counts = {"canary": 0, "baseline": 0, "stable": 0}
        for sid, user in user_of.items():
            self.assertEqual(status_of.get(sid), "200", (sid, user))
            served = SUBSET_OF_LABEL[label_of[sid]]
            self.assertEqual(served, expected_subset(reason_of[sid], 3000), (sid, user))
            counts[served] += 1
        # Each stream on its own: the same users over separate connections land alike.
        for user in users[:5]:
            _, headers, _, _ = curl_h2(f"{self.base}/profile?uid={user}")
            sid = next(k for k, v in user_of.items() if v == user)
            self.assertEqual(headers[DECISION], reason_of[sid])
        # 30% canary, 30% baseline by hash: binomial(240, 0.3) has sd 7.1.
        for subset in ("canary", "baseline"):
            self.assertGreater(counts[subset], 72 - 30, counts)
            self.assertLess(counts[subset], 72 + 30, counts)

    def test_same_user_same_subset_across_streams_and_connections(self):
        seen = set()
        for _ in range(3):
            _, headers, _, _ = curl_h2(self.base + "/profile", "-H", "X-User-Id: carol")
            seen.add((headers["x-backend-version"], headers[DECISION]))
        self.assertEqual(len(seen), 1, seen)

    def test_h2load_all_2xx(self):
        proc = run(["h2load", "-n", "5000", "-c", "4", "-m", "16", "-H", "X-User-Id: load",
                    self.base + "/profile"], timeout=120)
        out = proc.stdout.decode()
        self.assertEqual(proc.returncode, 0, out)
        self.assertRegex(out, r"requests: 5000 total, 5000 started, 5000 done, 5000 succeeded")
        self.assertIn("status codes: 5000 2xx, 0 3xx, 0 4xx, 0 5xx", out)

    def test_trailers_from_the_stream_endpoint_are_relayed(self):
        n = 200000
        status, headers, body, trailers = curl_h2(
            self.base + f"/stream?bytes={n}&chunk=7000", "-H", "X-User-Id: dave")
        self.assertEqual(status, 200)
        self.assertEqual(body, stream_pattern(n))
        self.assertEqual(trailers.get("x-checksum"), "%016x" % fnv1a64(body))
        self.assertIn(DECISION, headers)

    def test_local_answers_are_http2_with_the_decision(self):
        status, headers, body, _ = curl_h2(self.base + "/dead/x")
        self.assertEqual(status, 502)
        self.assertEqual(headers[DECISION], "route:dead")
        self.assertIn(b"nowhere", body)

    def test_anonymous_user_gets_a_cookie(self):
        status, headers, _, _ = curl_h2(self.base + "/profile")
        self.assertEqual(status, 200)
        self.assertIn("cohort_uid=", headers.get("set-cookie", ""))

    def test_20_mib_upload_and_download_with_bounded_rss(self):
        pid = self.gw.pid
        before = rss_kib(pid)
        peak = [before]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with tempfile.NamedTemporaryFile() as zeros:
                zeros.truncate(20 * MIB)
                zeros.flush()
                status, _, body, _ = curl_h2(self.base + "/upload", "-T", zeros.name,
                                             "-H", "X-User-Id: erin", timeout=60)
            self.assertEqual(status, 200)
            doc = json.loads(body)
            self.assertEqual(doc["body_length"], 20 * MIB)
            self.assertEqual(doc["body_fnv1a64"], "%016x" % fnv1a64_zeros(20 * MIB))
            # A client reading at 10 MB/s: the gateway must not buffer ahead of it.
            status, _, body, trailers = curl_h2(
                self.base + f"/stream?bytes={20 * MIB}&chunk=65536", "--limit-rate", "10M",
                "-H", "X-User-Id: erin", timeout=60)
            self.assertEqual(status, 200)
            self.assertEqual(len(body), 20 * MIB)
            self.assertEqual(body[:1000], stream_pattern(1000))
            self.assertIn("x-checksum", trailers)
        finally:
            stop.set()
            sampler.join()
        self.assertLess(peak[0] - before, 12 * 1024, (before, peak[0]))

    def test_rst_stream_mid_response_cancels_only_that_stream(self):
        conn = RawH2(self.port)
        try:
            conn.request(1, "/endless")
            got = 0
            while got < 32768:  # the response is flowing
                f = conn.read_frame(5)
                self.assertIsNotNone(f)
                if f[0] == 0 and f[2] == 1:
                    got += len(f[3])
            conn.sock.sendall(frame(3, 0, 1, struct.pack(">I", 8)))  # RST_STREAM CANCEL
            # The upstream exchange is cancelled: its connection is dropped.
            self.assertTrue(self.endless.closed.wait(5))
            # The connection itself carries on.
            conn.request(3, "/profile")
            status = None
            while status is None:
                f = conn.read_frame(5)
                self.assertIsNotNone(f)
                if f[0] == 1 and f[2] == 3:
                    status = f[3][0]
            self.assertEqual(status, 0x88)  # HPACK static entry 8: ":status: 200"
        finally:
            conn.close()
        self.assertTrue(self.gw.running)

    def test_goaway_after_a_reload(self):
        conn = RawH2(self.port)
        try:
            self.assertIsNone(conn.wait_goaway(0.5))  # nothing while the config stands
            mark = self.gw.reload(make_config(endless=self.endless.address))
            self.gw.wait_for_log({"msg": "configuration applied"}, since=mark)
            goaway = conn.wait_goaway(5)
            self.assertIsNotNone(goaway)
            self.assertEqual(goaway[1], 0)  # NO_ERROR
            self.assertTrue(conn.closed_within(5))
        finally:
            conn.close()
        status, _, _, _ = curl_h2(self.base + "/profile", "-H", "X-User-Id: gina")
        self.assertEqual(status, 200)


class Http2Lifecycle(unittest.TestCase):
    def test_metrics_and_access_log_carry_the_protocol(self):
        config = make_config()
        config["gateway"]["access_log"] = {"mode": "all"}
        with Gateway(config) as gw:
            proc = run(["nghttp", "-n", "-H", "X-User-Id: hank"] +
                       [f"http://127.0.0.1:{gw.port('public')}/profile?n={i}" for i in range(7)])
            self.assertEqual(proc.returncode, 0, proc.stderr.decode())
            gw.wait_for_log({"protocol": "HTTP/2", "path": "/profile", "status": 200})
            port = gw.admin_port
            _, _, body = http_get(port, "/metrics")
            m = re.search(r'cohort_downstream_requests_total\{listener="public",protocol="h2"\} (\d+)',
                          body.decode())
            self.assertIsNotNone(m, body.decode()[:3000])
            self.assertEqual(int(m.group(1)), 7)

    def test_settings_follow_the_config(self):
        config = make_config(http2={"max_concurrent_streams": 8,
                                    "initial_window_size": "256KiB"})
        with Gateway(config) as gw:
            proc = run(["nghttp", "-nv", f"http://127.0.0.1:{gw.port('public')}/profile"])
            out = proc.stdout.decode()
            self.assertIn("[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):8]", out)
            self.assertIn("[SETTINGS_INITIAL_WINDOW_SIZE(0x04):262144]", out)

    def test_idle_connection_gets_goaway_then_closes(self):
        with Gateway(make_config(limits={"idle_timeout": "1s"})) as gw:
            conn = RawH2(gw.port("public"))
            try:
                start = time.monotonic()
                goaway = conn.wait_goaway(5)
                self.assertIsNotNone(goaway)
                self.assertEqual(goaway, (0, 0))
                self.assertGreater(time.monotonic() - start, 0.8)
                self.assertTrue(conn.closed_within(3))
            finally:
                conn.close()

    def test_sigterm_sends_goaway_and_in_flight_streams_finish(self):
        with Gateway(make_config()) as gw:
            url = f"http://127.0.0.1:{gw.port('public')}/slow?ms=1500"
            nghttp = subprocess.Popen(["nghttp", "-nv", "-m", "4", url], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
            time.sleep(0.5)
            gw._popen.send_signal(signal.SIGTERM)
            out, _ = nghttp.communicate(timeout=15)
            out = out.decode()
            self.assertEqual(nghttp.returncode, 0, out[-3000:])
            self.assertIn("recv GOAWAY frame", out)
            self.assertEqual(len(re.findall(r"recv \(stream_id=\d+\) :status: 200", out)), 4, out)
            self.assertEqual(gw._popen.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main()
