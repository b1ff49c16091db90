"""TLS (issue 7): termination on listeners (TLS 1.2/1.3 only, ALPN, SNI with
several certificates, certificates that reload with the configuration and a
bad reload that keeps the old ones serving) and TLS / mTLS towards upstreams.

Certificates are made at test time with the openssl CLI in a temporary
directory: a CA, a server certificate for 127.0.0.1 and localhost, a second
one for the SNI name api.example.test, a replacement server certificate for
the reload test, and a client certificate for mTLS. The peers are the real
tools: `openssl s_client`, `curl --cacert`, Python's ssl module, and
profile-api with --tls-cert / --tls-key / --tls-client-ca."""

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

from cohort_harness import Gateway, http_get, start_backend

DECISION_HEADER = "x-cohort-decision"

_dir = None
_backends = {}


def path(name):
    return os.path.join(_dir, name)


def openssl(*args):
    proc = subprocess.run(["openssl", *args], cwd=_dir, capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n"
                             f"{proc.stderr.decode('utf-8', 'replace')}")


def make_leaf(name, common_name, usage, san=None):
    """name.pem / name.key: an EC P-256 certificate signed by the test CA."""
    ext = f"basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n"
    if san:
        ext += f"subjectAltName={san}\n"
    with open(path(f"{name}.ext"), "w", encoding="ascii") as f:
        f.write(ext)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={common_name}")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


def make_certificates():
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Cohort Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    make_leaf("server", "localhost", "serverAuth", "IP:127.0.0.1,DNS:localhost")
    make_leaf("reloaded", "reloaded.localhost", "serverAuth", "IP:127.0.0.1,DNS:localhost")
    make_leaf("api", "api.example.test", "serverAuth", "DNS:api.example.test")
    make_leaf("client", "cohort-gateway", "clientAuth")


def setUpModule():
    global _dir
    _dir = tempfile.mkdtemp(prefix="cohort-tls-")
    make_certificates()
    _backends["stable"] = start_backend(api="v1.0", label="v1.0")
    _backends["canary"] = start_backend(api="v1.1", label="v1.1")
    _backends["tls"] = start_backend(api="v1.0", label="tls", tls_cert=path("server.pem"),
                                     tls_key=path("server.key"))
    _backends["mtls"] = start_backend(api="v1.0", label="mtls", tls_cert=path("server.pem"),
                                      tls_key=path("server.key"), tls_client_ca=path("ca.pem"))


def tearDownModule():
    for b in _backends.values():
        b.stop()
    _backends.clear()
    if os.environ.get("COHORT_KEEP_TMP") != "1":
        shutil.rmtree(_dir, ignore_errors=True)


def listener_tls(cert="server", key=None, **extra):
    tls = {"certificate": path(f"{cert}.pem"), "private_key": path(f"{key or cert}.key")}
    tls.update(extra)
    return tls


def tls_service(name, backend, tls):
    return {"name": name, "subsets": {"stable": {"endpoints": [_backends[backend].address]}},
            "tls": tls, "connect_timeout": "2s"}


def by_header(name, value, service):
    return {"name": name, "match": {"headers": [{"name": "X-Svc", "exact": value}]},
            "service": service}


def make_config(secure_tls=None):
    secure_tls = secure_tls or listener_tls(
        certificates=[{"certificate": path("api.pem"), "private_key": path("api.key")}],
        alpn=["h2", "http/1.1"])
    return {
        "gateway": {
            "listeners": [
                {"name": "public", "address": "127.0.0.1:0"},
                {"name": "secure", "address": "127.0.0.1:0", "tls": secure_tls},
                {"name": "strict", "address": "127.0.0.1:0",
                 "tls": listener_tls(min_version="1.3", alpn=["http/1.1"])},
            ],
            "workers": 2,
            "decision_header": DECISION_HEADER,
            "limits": {"header_timeout": "1s"},
        },
        "services": [
            {"name": "profile-api",
             "subsets": {"stable": {"endpoints": [_backends["stable"].address]},
                         "canary": {"endpoints": [_backends["canary"].address]}}},
            tls_service("tls-verified", "tls", {"ca_file": path("ca.pem")}),
            tls_service("tls-system-store", "tls", {}),
            tls_service("tls-wrong-name", "tls",
                        {"ca_file": path("ca.pem"), "server_name": "other.example.test"}),
            tls_service("mtls-with-cert", "mtls",
                        {"ca_file": path("ca.pem"), "certificate": path("client.pem"),
                         "private_key": path("client.key")}),
            tls_service("mtls-without-cert", "mtls", {"ca_file": path("ca.pem")}),
        ],
        "routes": [
            by_header("verified", "verified", "tls-verified"),
            by_header("system-store", "system-store", "tls-system-store"),
            by_header("wrong-name", "wrong-name", "tls-wrong-name"),
            by_header("mtls", "mtls", "mtls-with-cert"),
            by_header("mtls-no-cert", "mtls-no-cert", "mtls-without-cert"),
            {"name": "profile", "match": {"path_prefix": "/"}, "service": "profile-api"},
        ],
        "rollouts": [{
            "name": "profile-api",
            "service": "profile-api",
            "stable": "stable",
            "canary": "canary",
            "session": {"key": [{"header": "X-User-Id"}], "anonymous": "stable"},
            "weight": "50%",
        }],
    }


def s_client(port, *args):
    """(exit code, everything openssl s_client printed) for one handshake
    that verifies against the test CA; stdin is empty, so it ends at once."""
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", path("ca.pem"),
         *args], input=b"", capture_output=True, timeout=20)
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace")


def peer_common_name(output):
    m = re.search(r"^subject=.*?CN\s*=\s*([^,\s/]+)", output, re.MULTILINE)
    return m.group(1) if m else None


def curl(url, headers=(), extra=()):
    """(status, {lower-case header: value}, body) of one curl request that
    verifies the gateway against the test CA. The status line's protocol is
    in the fields as ":protocol" ("HTTP/2", "HTTP/1.1")."""
    argv = ["curl", "-sS", "--max-time", "10", "--cacert", path("ca.pem"), "-D", "-",
            "-o", path("curl-body"), *extra]
    for h in headers:
        argv += ["-H", h]
    proc = subprocess.run(argv + [url], capture_output=True, timeout=20)
    if proc.returncode != 0:
        raise AssertionError(f"curl {url} failed ({proc.returncode}): {proc.stderr!r}")
    blocks = proc.stdout.decode("latin-1").strip().split("\r\n\r\n")
    lines = blocks[-1].split("\r\n")
    status = int(lines[0].split(" ")[1])
    fields = {":protocol": lines[0].split(" ")[0]}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    with open(path("curl-body"), "rb") as f:
        body = f.read()
    return status, fields, body


def metric(gw, name, labels):
    with urllib.request.urlopen(gw.admin_url("/metrics"), timeout=5) as resp:
        text = resp.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(want)}\}} (\d+)", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def https_connection(port, server_hostname="127.0.0.1"):
    ctx = ssl.create_default_context(cafile=path("ca.pem"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=server_hostname)


def request_on(sock, target="/healthz", headers=()):
    """One keep-alive GET on an open socket; the raw response (Content-Length framed)."""
    head = f"GET {target} HTTP/1.1\r\nHost: gw\r\n" + "".join(f"{h}\r\n" for h in headers)
    sock.sendall((head + "\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {data!r}")
        data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head_bytes).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head_bytes.decode("latin-1"), body


class Termination(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(make_config())

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def test_s_client_gets_tls13_and_h2_by_alpn(self):
        code, out = s_client(self.gw.port("secure"), "-alpn", "h2,http/1.1")
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r"New, TLSv1\.3, Cipher is ")
        self.assertIn("ALPN protocol: h2", out)
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertEqual(peer_common_name(out), "localhost")
        code, out = s_client(self.gw.port("secure"), "-alpn", "http/1.1")
        self.assertEqual(code, 0, out)
        self.assertIn("ALPN protocol: http/1.1", out)

    def test_h2load_and_nghttp_over_tls(self):
        url = f"https://127.0.0.1:{self.gw.port('secure')}/profile"
        out = subprocess.run(["h2load", "-n", "400", "-c", "2", "-m", "8", "-H", "X-User-Id: 5",
                              url], capture_output=True, text=True, timeout=60).stdout
        self.assertIn("Application protocol: h2", out)
        self.assertRegex(out, r"status codes: 400 2xx, 0 3xx, 0 4xx, 0 5xx")
        out = subprocess.run(["nghttp", "-nv", "-H", "X-User-Id: 5", url],
                             capture_output=True, text=True, timeout=30).stdout
        self.assertIn("negotiated protocol: h2", out)
        self.assertRegex(out, r":status: 200")
        self.assertRegex(out, DECISION_HEADER + r": ")

    def test_client_offering_only_unconfigured_protocols_gets_no_alpn(self):
        # The strict listener is configured with alpn: [http/1.1] only.
        code, out = s_client(self.gw.port("strict"), "-alpn", "h2")
        self.assertEqual(code, 0, out)
        self.assertIn("No ALPN negotiated", out)

    def test_http2_over_tls_routes_each_user_like_http11(self):
        seen = set()
        for i in range(12):
            user = [f"X-User-Id: h2-user-{i}"]
            url = f"https://127.0.0.1:{self.gw.port('secure')}/profile"
            status, h2_headers, body = curl(url, user, ["--http2"])
            self.assertEqual((status, h2_headers[":protocol"]), (200, "HTTP/2"), body)
            status, h1_headers, _ = curl(url, user, ["--http1.1"])
            self.assertEqual((status, h1_headers[":protocol"]), (200, "HTTP/1.1"))
            self.assertEqual(h2_headers[DECISION_HEADER], h1_headers[DECISION_HEADER])
            self.assertEqual(h2_headers["x-backend-version"], h1_headers["x-backend-version"])
            seen.add(h2_headers["x-backend-version"])
        self.assertEqual(seen, {"v1.0", "v1.1"})

    def test_tls12_is_allowed_by_default(self):
        code, out = s_client(self.gw.port("secure"), "-tls1_2")
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r"New, TLSv1\.2, Cipher is ECDHE-")

    def test_tls11_is_refused_and_counted(self):
        before = metric(self.gw, "cohort_tls_handshake_failures_total", {"listener": "secure"})
        # SECLEVEL=0 lets this client really offer TLS 1.1; the refusal must
        # come from the gateway, and the gateway counts it.
        code, out = s_client(self.gw.port("secure"), "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
        self.assertNotEqual(code, 0, out)
        self.assertNotRegex(out, r"New, TLSv1(\.1)?, Cipher is [A-Z]")
        self.assertRegex(out, r"alert protocol version|unsupported protocol")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            after = metric(self.gw, "cohort_tls_handshake_failures_total",
                           {"listener": "secure"})
            if after is not None and after > (before or 0):
                break
            time.sleep(0.05)
        self.assertEqual(after, (before or 0) + 1)

    def test_min_version_13_refuses_tls12(self):
        code, out = s_client(self.gw.port("strict"), "-tls1_2")
        self.assertNotEqual(code, 0, out)
        self.assertNotRegex(out, r"New, TLSv1\.2, Cipher is [A-Z]")
        code, out = s_client(self.gw.port("strict"), "-tls1_3")
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r"New, TLSv1\.3, Cipher is ")

    def test_sni_selects_the_certificate_for_the_name(self):
        code, out = s_client(self.gw.port("secure"), "-servername", "api.example.test",
                             "-verify_hostname", "api.example.test")
        self.assertEqual(code, 0, out)
        self.assertEqual(peer_common_name(out), "api.example.test")
        self.assertIn("Verify return code: 0 (ok)", out)
        # A name no extra certificate has, and no name at all: the default.
        _, out = s_client(self.gw.port("secure"), "-servername", "localhost")
        self.assertEqual(peer_common_name(out), "localhost")
        _, out = s_client(self.gw.port("secure"), "-servername", "unknown.example.test")
        self.assertEqual(peer_common_name(out), "localhost")
        _, out = s_client(self.gw.port("secure"), "-noservername")
        self.assertEqual(peer_common_name(out), "localhost")

    def test_https_routes_by_session_like_plain_http(self):
        seen = set()
        for i in range(24):
            user = f"user-{i}"
            status, plain_headers, _ = http_get(self.gw.port("public"), "/profile",
                                                headers={"X-User-Id": user})
            self.assertEqual(status, 200)
            status, tls_headers, body = curl(
                f"https://127.0.0.1:{self.gw.port('secure')}/profile", [f"X-User-Id: {user}"])
            self.assertEqual(status, 200, body)
            self.assertEqual(tls_headers[DECISION_HEADER], plain_headers.get(DECISION_HEADER))
            self.assertEqual(tls_headers["x-backend-version"],
                             plain_headers.get("X-Backend-Version"))
            self.assertEqual(json.loads(body)["version"], tls_headers["x-backend-version"])
            seen.add(tls_headers["x-backend-version"])
        # At 50% both subsets serve some of these users: the comparison covered both.
        self.assertEqual(seen, {"v1.0", "v1.1"})

    def test_forwarded_proto_is_https_on_tls_listeners(self):
        status, _, body = curl(f"https://localhost:{self.gw.port('secure')}/echo")
        self.assertEqual(status, 200)
        headers = {n.lower(): v for n, v in json.loads(body)["headers"]}
        self.assertEqual(headers["x-forwarded-proto"], "https")
        status, _, body = http_get(self.gw.port("public"), "/echo")
        headers = {n.lower(): v for n, v in json.loads(body)["headers"]}
        self.assertEqual(headers["x-forwarded-proto"], "http")

    def test_plain_http_on_a_tls_listener_fails_the_handshake(self):
        before = metric(self.gw, "cohort_tls_handshake_failures_total",
                        {"listener": "secure"}) or 0
        with socket.create_connection(("127.0.0.1", self.gw.port("secure")), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            try:
                while chunk := s.recv(4096):
                    data += chunk
            except ConnectionResetError:
                pass
        self.assertNotIn(b"HTTP/1.1", data)
        time.sleep(0.1)
        after = metric(self.gw, "cohort_tls_handshake_failures_total", {"listener": "secure"})
        self.assertEqual(after, before + 1)

    def test_silent_client_is_dropped_after_the_header_timeout(self):
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.gw.port("secure")), timeout=5) as s:
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
        elapsed = time.monotonic() - start
        self.assertEqual(data, b"")
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 3.0)


class Upstream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(make_config())

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def get(self, svc):
        return http_get(self.gw.port("public"), "/profile",
                        headers={"X-Svc": svc, "X-User-Id": "u1"})

    def test_tls_upstream_verified_against_the_ca(self):
        for _ in range(3):  # the second and third reuse the pooled TLS connection
            status, headers, body = self.get("verified")
            self.assertEqual(status, 200, body)
            self.assertEqual(headers.get("X-Backend-Version"), "tls")

    def test_upstream_not_trusted_by_the_system_store_is_a_clean_502(self):
        status, _, body = self.get("system-store")
        self.assertEqual(status, 502)
        addr = _backends["tls"].address
        self.assertIn(f"TLS handshake with {addr} failed: certificate verify failed",
                      body.decode())

    def test_upstream_with_another_name_fails_hostname_verification(self):
        status, _, body = self.get("wrong-name")
        self.assertEqual(status, 502)
        self.assertIn("certificate verify failed: hostname mismatch", body.decode())

    def test_mtls_with_a_client_certificate_works(self):
        status, headers, body = self.get("mtls")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("X-Backend-Version"), "mtls")

    def test_mtls_without_a_client_certificate_is_a_502_that_says_why(self):
        status, _, body = self.get("mtls-no-cert")
        text = body.decode()
        self.assertEqual(status, 502, text)
        self.assertIn("service 'mtls-without-cert'", text)
        self.assertIn(f"TLS error from {_backends['mtls'].address}", text)
        self.assertIn("certificate required", text)
        # The backend logs the refusal on its own schedule: wait for the line.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(
                "TLS handshake failed" in line for line in _backends["mtls"].stderr_lines):
            time.sleep(0.05)
        self.assertTrue(any("TLS handshake failed" in line
                            for line in _backends["mtls"].stderr_lines))


class Validate(unittest.TestCase):
    """`cohort validate` reads the certificate files like serve does."""

    def write(self, key):
        text = (
            "gateway:\n"
            "  listeners:\n"
            "    - name: secure\n"
            "      address: 127.0.0.1:0\n"
            f"      tls: {{ certificate: {path('server.pem')}, private_key: {key} }}\n"
            "services:\n"
            "  - name: s\n"
            "    subsets: { stable: { endpoints: [127.0.0.1:9] } }\n"
            "routes:\n"
            "  - { name: r, match: { path_prefix: / }, service: s }\n")
        f = path("validate-%d.yaml" % len(key))
        with open(f, "w", encoding="utf-8") as out:
            out.write(text)
        return f

    def run_validate(self, file):
        from cohort_harness import binary
        return subprocess.run([binary("cohort"), "validate", file], capture_output=True,
                              text=True, timeout=30)

    def test_good_certificates_are_ok(self):
        f = self.write(path("server.key"))
        proc = self.run_validate(f)
        self.assertEqual((proc.returncode, proc.stdout.strip()), (0, f + ": ok"), proc.stderr)

    def test_missing_key_file_is_an_error_at_the_tls_block(self):
        missing = path("no-such.key")
        f = self.write(missing)
        proc = self.run_validate(f)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertRegex(proc.stdout, re.escape(f) + r":5:\d+: listener 'secure' tls: cannot "
                         r"read private_key '" + re.escape(missing) + "'")

    def test_key_of_another_certificate_is_an_error(self):
        proc = self.run_validate(self.write(path("api.key")))
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("listener 'secure' tls:", proc.stdout)


class GrpcOverMutualTls(unittest.TestCase):
    """An HTTP/2 upstream over mTLS (protocol: http2 with tls:): the gateway
    offers h2 by ALPN, presents its client certificate, and gRPC answers."""

    def test_grpc_call_through_an_mtls_http2_upstream(self):
        backend = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                               "examples", "grpc-backend", "grpc_backend.py")
        proc = subprocess.Popen(
            ["/usr/bin/python3", backend, "--port", "0", "--version", "secure",
             "--tls-cert", path("server.pem"), "--tls-key", path("server.key"),
             "--tls-client-ca", path("ca.pem")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.terminate)
        line = proc.stdout.readline().decode()
        self.assertTrue(line.startswith("listening on "), repr(line))
        address = "127.0.0.1:" + line.split()[-1]

        def config(with_cert):
            tls = {"ca_file": path("ca.pem")}
            if with_cert:
                tls.update(certificate=path("client.pem"), private_key=path("client.key"))
            return {
                "gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
                            "workers": 1},
                "services": [{"name": "echo", "protocol": "http2", "tls": tls,
                              "subsets": {"stable": {"endpoints": [address]}},
                              "connect_timeout": "2s"}],
                "routes": [{"name": "all", "match": {"path_prefix": "/"}, "service": "echo"}],
            }

        from grpc_client import EchoClient  # python3-grpcio
        with Gateway(config(True)) as gw, EchoClient(f"127.0.0.1:{gw.port()}") as client:
            self.assertEqual(client.unary(b"hi"), ("OK", b"secure:hi", {"x-version": "secure"}))
            code, replies, _ = client.bidi_ping_pong([b"a", b"b"], wait=2.0)
            self.assertEqual((code, replies), ("OK", [b"secure:a", b"secure:b"]))
        with Gateway(config(False)) as gw, EchoClient(f"127.0.0.1:{gw.port()}") as client:
            code, _, _ = client.unary(b"hi")
            self.assertNotEqual(code, "OK")  # refused without a client certificate


class Reload(unittest.TestCase):
    def setUp(self):
        self.gw = Gateway(make_config(listener_tls()))

    def tearDown(self):
        self.gw.close()

    def test_new_certificate_serves_new_handshakes_and_old_connections_stay(self):
        port = self.gw.port("secure")
        old = https_connection(port)
        head, _ = request_on(old)
        self.assertIn(" 200 ", head.splitlines()[0])
        mark = self.gw.reload(make_config(listener_tls("reloaded")))
        self.gw.wait_for_log({"msg": "configuration applied"}, since=mark)
        code, out = s_client(port)
        self.assertEqual(code, 0, out)
        self.assertEqual(peer_common_name(out), "reloaded.localhost")
        # The connection made before the reload keeps its session and serves on.
        head, _ = request_on(old)
        self.assertIn(" 200 ", head.splitlines()[0])
        subject = dict(x[0] for x in old.getpeercert()["subject"])
        self.assertEqual(subject["commonName"], "localhost")
        old.close()

    def test_reload_naming_a_missing_key_is_rejected_and_the_old_certificate_serves(self):
        port = self.gw.port("secure")
        bad = make_config(listener_tls(key="missing"))
        mark = self.gw.reload(bad)
        record = self.gw.wait_for_log({"msg": "configuration rejected"}, since=mark)
        m = re.fullmatch(re.escape(self.gw.config_path) + r":(\d+):(\d+): (.+)",
                         record["error"])
        self.assertIsNotNone(m, record)
        line, column, message = int(m.group(1)), int(m.group(2)), m.group(3)
        self.assertEqual(message, f"listener 'secure' tls: cannot read private_key "
                                  f"'{path('missing.key')}': No such file or directory")
        # The place is the secure listener's tls: block in the written file.
        with open(self.gw.config_path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.assertIn('"tls"', lines[line - 1])
        self.assertGreater(column, 0)
        self.assertIn('"name": "secure"', "\n".join(lines[line - 4:line - 1]))
        code, out = s_client(port)
        self.assertEqual(code, 0, out)
        self.assertEqual(peer_common_name(out), "localhost")
        status, _, _ = curl(f"https://127.0.0.1:{port}/healthz")
        self.assertEqual(status, 200)

    def test_reload_with_a_key_of_another_certificate_is_rejected(self):
        mark = self.gw.reload(make_config(listener_tls("server", key="api")))
        record = self.gw.wait_for_log({"msg": "configuration rejected"}, since=mark)
        self.assertIn(f"private_key '{path('api.key')}' does not match certificate "
                      f"'{path('server.pem')}'", record["error"])
        code, out = s_client(self.gw.port("secure"))
        self.assertEqual(code, 0, out)
        self.assertEqual(peer_common_name(out), "localhost")


if __name__ == "__main__":
    unittest.main()
