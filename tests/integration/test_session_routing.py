"""Session-aware routing through the real gateway (issue 3): sticky users over
fresh and reused connections, across a restart and a weight increase; pinned
cohorts; anonymous sessions with the cohort_uid cookie; JWT claim keys; the
baseline's share; the weight API.

Three profile-api backends stand for the subsets. Each has its own
--version-label, so the X-Backend-Version header (and the body's "version")
tells which subset served a request. Stable and baseline both run the v1.0
API, the canary v1.1: "version" in the sense of the issue is the API version,
"subset" the finer placement.

Bucket formula (INTERFACE.md): canary [0, w), baseline [w, 2w), stable the
rest, w in basis points. Placement is a pure function of the user id and the
rollout name, so every figure below is deterministic for the fixed ids used.
"""

import base64
import http.client
import http.cookiejar
import json
import re
import socket
import threading
import time
import unittest
import urllib.request

from cohort_harness import Gateway, http_get, start_backend

DECISION_HEADER = "x-cohort-decision"
LABELS = {"stable": "v1.0", "baseline": "v1.0-baseline", "canary": "v1.1"}
SUBSET_OF_LABEL = {label: subset for subset, label in LABELS.items()}
API_OF_SUBSET = {"stable": "v1.0", "baseline": "v1.0", "canary": "v1.1"}
ROLLOUT = "profile-api"

_backends = {}


def setUpModule():
    _backends["stable"] = start_backend(api="v1.0", label=LABELS["stable"])
    _backends["baseline"] = start_backend(api="v1.0", label=LABELS["baseline"])
    _backends["canary"] = start_backend(api="v1.1", label=LABELS["canary"])


def tearDownModule():
    for b in _backends.values():
        b.stop()
    _backends.clear()


def subsets():
    return {name: {"endpoints": [b.address]} for name, b in _backends.items()}


def make_config(weight="5%", anon_weight="50%"):
    return {
        "gateway": {
            "listeners": [{"name": "public", "address": "127.0.0.1:0"}],
            "workers": 2,
            "decision_header": DECISION_HEADER,
        },
        "services": [
            {"name": "profile-api", "subsets": subsets()},
            {"name": "profile-anon", "subsets": subsets()},
        ],
        "routes": [
            {"name": "anon-stable",
             "match": {"headers": [{"name": "X-Route", "exact": "anon-stable"}]},
             "service": "profile-anon"},
            {"name": "profile", "match": {"path_prefix": "/profile"}, "service": "profile-api"},
        ],
        "rollouts": [
            {
                "name": ROLLOUT,
                "service": "profile-api",
                "stable": "stable",
                "canary": "canary",
                "baseline": "baseline",
                "session": {
                    "key": [{"header": "X-User-Id"}, {"jwt_claim": "sub"}],
                    "anonymous": "cookie",
                    "cookie_max_age": "1h",
                },
                "cohorts": [
                    {"name": "internal",
                     "match": {"headers": [{"name": "X-User-Cohort", "exact": "internal"}]},
                     "pin": "canary"},
                    {"name": "legacy-mobile",
                     "match": {"headers": [{"name": "X-App-Version", "semver": "<5.2.0"}]},
                     "pin": "stable"},
                ],
                "weight": weight,
            },
            {
                "name": "profile-anon",
                "service": "profile-anon",
                "stable": "stable",
                "canary": "canary",
                "session": {"key": [{"header": "X-User-Id"}], "anonymous": "stable"},
                "weight": anon_weight,
            },
        ],
    }


# ---------------------------------------------------------------------------
# Reading a response

_BUCKET_RE = re.compile(r"^bucket:(\d+)(<|>=)(\d+)$")
_BASELINE_RE = re.compile(r"^baseline:(\d+)$")


def bucket_of_reason(reason):
    """The bucket in a bucket:/baseline: reason, else None."""
    m = _BUCKET_RE.match(reason) or _BASELINE_RE.match(reason)
    return int(m.group(1)) if m else None


def expected_subset(bucket, weight_bp):
    if bucket < weight_bp:
        return "canary"
    if bucket < min(2 * weight_bp, 10000):
        return "baseline"
    return "stable"


class Observation:
    __slots__ = ("user", "status", "subset", "reason", "body_version", "body_user", "cookies")

    def __init__(self, user, status, headers, body):
        self.user = user
        self.status = status
        label = headers.get("X-Backend-Version")
        self.subset = SUBSET_OF_LABEL.get(label, f"unknown:{label}")
        self.reason = headers.get(DECISION_HEADER)
        self.cookies = headers.get_all("Set-Cookie") or []
        self.body_version = None
        self.body_user = None
        if status == 200:
            doc = json.loads(body)
            self.body_version = doc.get("version")
            self.body_user = doc.get("userId")


class KeepAliveClient:
    """One http.client connection reused across requests; counts how often it
    had to open a new socket, so a test can tell reuse really happened."""

    def __init__(self, port, timeout=10.0):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.sockets_opened = 0
        self._last_sock = None

    def get(self, path, headers):
        self.conn.request("GET", path, headers=headers)
        if self.conn.sock is not self._last_sock:
            self.sockets_opened += 1
            self._last_sock = self.conn.sock
        resp = self.conn.getresponse()
        body = resp.read()
        return resp.status, resp.headers, body

    def close(self):
        self.conn.close()


class RawHeaders:
    """Response headers by lower-case name; the subset of HTTPMessage's
    interface Observation uses."""

    def __init__(self, pairs):
        self._fields = {}
        for name, value in pairs:
            self._fields.setdefault(name.lower(), []).append(value)

    def get(self, name, default=None):
        values = self._fields.get(name.lower())
        return values[0] if values else default

    def get_all(self, name):
        return self._fields.get(name.lower())


class RawConnection:
    """A lean HTTP/1.1 keep-alive client for the bulk runs: http.client's
    header parsing costs more than the gateway does, and the 40,000-request
    test should measure the gateway, not the parser. Handles what profile-api
    sends through the gateway: Content-Length bodies."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed_by_peer = False

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the gateway closed the connection mid-response")
        self.buf += chunk

    def get(self, path, headers, close=False):
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if close:
            lines.append("Connection: close")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = self.buf[:end].decode("latin-1").split("\r\n")
        self.buf = self.buf[end + 4:]
        status = int(head[0].split(" ", 2)[1])
        pairs = [tuple(part.strip() for part in line.split(":", 1)) for line in head[1:]]
        h = RawHeaders(pairs)
        length = h.get("Content-Length")
        if length is None:
            raise AssertionError(f"no Content-Length in {head}")
        length = int(length)
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        if (h.get("Connection") or "").lower() == "close":
            self.closed_by_peer = True
        return status, h, body

    def close(self):
        self.sock.close()


def run_rounds(port, users, rounds, threads=4, fresh_every=3, deadline_s=90.0):
    """Each user sends `rounds` requests to /profile. Users are split over
    threads; a thread interleaves its users (round by round), sending every
    `fresh_every`-th request on a fresh connection and the rest on the thread's
    keep-alive connection, which carries many users. Returns (observations,
    stats)."""
    results = [[] for _ in range(threads)]
    stats = {"fresh": 0, "reused": 0, "keepalive_sockets": 0}
    lock = threading.Lock()
    errors = []
    deadline = time.monotonic() + deadline_s

    def work(t):
        mine = users[t::threads]
        client = None
        sockets = fresh = reused = 0
        try:
            for r in range(rounds):
                for i, user in enumerate(mine):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"run_rounds exceeded {deadline_s}s")
                    headers = {"X-User-Id": user}
                    if (i + r) % fresh_every == 0:
                        one = RawConnection(port)
                        try:
                            status, h, body = one.get("/profile", headers, close=True)
                        finally:
                            one.close()
                        fresh += 1
                    else:
                        if client is None or client.closed_by_peer:
                            if client is not None:
                                client.close()
                            client = RawConnection(port)
                            sockets += 1
                        status, h, body = client.get("/profile", headers)
                        reused += 1
                    results[t].append(Observation(user, status, h, body))
        except Exception as e:  # reported by the main thread
            errors.append(e)
        finally:
            if client is not None:
                client.close()
            with lock:
                stats["fresh"] += fresh
                stats["reused"] += reused
                stats["keepalive_sockets"] += sockets

    workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=deadline_s + 15)
    if errors:
        raise errors[0]
    if any(w.is_alive() for w in workers):
        raise TimeoutError("a client thread did not finish")
    return [o for part in results for o in part], stats


class Admin:
    """A keep-alive JSON client for the admin API."""

    def __init__(self, gw):
        self.conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)

    def call(self, method, path, doc=None, raw=None):
        body = raw if raw is not None else (json.dumps(doc) if doc is not None else None)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data

    def json(self, method, path, doc=None, raw=None):
        status, headers, data = self.call(method, path, doc, raw)
        return status, json.loads(data)

    def explain(self, headers, path="/profile", method="GET"):
        status, doc = self.json("POST", "/api/v1/explain",
                                {"method": method, "path": path, "headers": headers})
        if status != 200:
            raise AssertionError(f"explain answered {status}: {doc}")
        return doc

    def set_weight(self, weight, rollout=ROLLOUT):
        status, doc = self.json("POST", f"/api/v1/rollouts/{rollout}/weight", {"weight": weight})
        if status != 200:
            raise AssertionError(f"setting weight {weight} answered {status}: {doc}")
        return doc

    def close(self):
        self.conn.close()


def unsigned_jwt(payload):
    def b64(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


# ---------------------------------------------------------------------------


class StickyUsers(unittest.TestCase):
    """2,000 users x 20 requests: 5 rounds at 5%, restart, 5 rounds at 5%,
    raise to 25% through the admin API, 10 rounds at 25%."""

    USERS = [f"user-{i}" for i in range(2000)]

    def check_phase(self, observations, weight_bp, phase):
        """Every response is 200, served by the subset its reason names, and
        the reason is consistent with the weight in force. Returns
        {user: (subset, bucket)}."""
        placed = {}
        for o in observations:
            self.assertEqual(o.status, 200, f"{phase}: {o.user}")
            self.assertEqual(o.body_user, o.user, f"{phase}: the backend saw another user")
            self.assertEqual(o.body_version, LABELS.get(o.subset), f"{phase}: {o.user}")
            bucket = bucket_of_reason(o.reason or "")
            self.assertIsNotNone(bucket, f"{phase}: {o.user} reason {o.reason!r}")
            self.assertEqual(o.subset, expected_subset(bucket, weight_bp),
                             f"{phase}: {o.user} reason {o.reason!r} served by {o.subset}")
            if o.subset != "baseline":
                m = _BUCKET_RE.match(o.reason)
                self.assertIsNotNone(m, f"{phase}: {o.user} reason {o.reason!r}")
                self.assertEqual((m.group(2), int(m.group(3))),
                                 ("<" if o.subset == "canary" else ">=", weight_bp),
                                 f"{phase}: {o.user} reason {o.reason!r}")
            else:
                self.assertRegex(o.reason, _BASELINE_RE, f"{phase}: {o.user}")
            previous = placed.setdefault(o.user, (o.subset, bucket))
            self.assertEqual(previous, (o.subset, bucket),
                             f"{phase}: {o.user} seen on {previous} and {(o.subset, bucket)}")
        return placed

    def assert_share(self, placed, subset, target, tolerance, what):
        share = sum(1 for s, _ in placed.values() if s == subset) / len(placed)
        self.assertLessEqual(abs(share - target), tolerance,
                             f"{what}: {subset} share {share:.4f}, target {target}")
        return share

    def test_users_stay_on_one_version_across_restart_and_weight_increase(self):
        started = time.monotonic()
        users = self.USERS
        with Gateway(make_config(weight="5%")) as gw:
            obs_a, stats_a = run_rounds(gw.port(), users, rounds=5)
            gw.restart()
            obs_b, stats_b = run_rounds(gw.port(), users, rounds=5)
            admin = Admin(gw)
            try:
                self.assertEqual(admin.set_weight("25%")["weight"], "25%")
                obs_c, stats_c = run_rounds(gw.port(), users, rounds=10)

                self.assertEqual(len(obs_a) + len(obs_b) + len(obs_c), len(users) * 20)
                for stats in (stats_a, stats_b, stats_c):
                    # Both kinds of connection really carried traffic, and the
                    # keep-alive ones were reused, not silently reopened.
                    self.assertGreater(stats["fresh"], 0)
                    self.assertGreater(stats["reused"], 0)
                    self.assertLessEqual(stats["keepalive_sockets"] * 50, stats["reused"], stats)

                before = self.check_phase(obs_a + obs_b, 500, "5% (before and after restart)")
                after = self.check_phase(obs_c, 2500, "25%")
                self.assertEqual(set(before), set(users))
                self.assertEqual(set(after), set(users))

                movers = {}
                for user in users:
                    (s0, b0), (s1, b1) = before[user], after[user]
                    self.assertEqual(b0, b1, f"{user}: the bucket changed")
                    if s0 != s1:
                        movers[user] = (s0, s1, b0)
                # Which moves the increase may make, by bucket.
                allowed = {("baseline", "canary"): (500, 1000),
                           ("stable", "canary"): (1000, 2500),
                           ("stable", "baseline"): (2500, 5000)}
                for user, (s0, s1, b) in movers.items():
                    self.assertIn((s0, s1), allowed, f"{user} moved {s0} -> {s1} (bucket {b})")
                    lo, hi = allowed[(s0, s1)]
                    self.assertTrue(lo <= b < hi, f"{user} moved {s0} -> {s1} with bucket {b}")
                # And every user in those ranges did move: nobody was left behind.
                for user in users:
                    b = before[user][1]
                    for (s0, s1), (lo, hi) in allowed.items():
                        if lo <= b < hi:
                            self.assertEqual(movers.get(user, (None, None, None))[:2], (s0, s1),
                                             f"{user} bucket {b}")

                # The wording: users seen on two API versions are exactly
                # the ones the increase moved to the canary, all with a bucket in
                # [500, 2500), which explain confirms independently.
                two_versions = {u for u in users
                                if API_OF_SUBSET[before[u][0]] != API_OF_SUBSET[after[u][0]]}
                to_canary = {u for u, (s0, s1, _) in movers.items() if s1 == "canary"}
                self.assertEqual(two_versions, to_canary)
                for user in sorted(two_versions):
                    e = admin.explain({"X-User-Id": user})
                    self.assertEqual(e["subset"], "canary", user)
                    self.assertTrue(500 <= e["bucket"] < 2500, f"{user}: explain {e}")
                    self.assertEqual(e["reason"], f"bucket:{e['bucket']}<2500")
                # 20% of the users move stable/baseline -> canary; 400 expected.
                self.assertLessEqual(abs(len(to_canary) / len(users) - 0.20), 0.04,
                                     f"{len(to_canary)} users moved to the canary")

                # Realised shares near the targets (about 5 standard errors at
                # n = 2,000), and the baseline as large as the canary.
                c5 = self.assert_share(before, "canary", 0.05, 0.025, "5%")
                b5 = self.assert_share(before, "baseline", 0.05, 0.025, "5%")
                c25 = self.assert_share(after, "canary", 0.25, 0.045, "25%")
                b25 = self.assert_share(after, "baseline", 0.25, 0.045, "25%")
                self.assertLessEqual(abs(c5 - b5), 0.025, (c5, b5))
                self.assertLessEqual(abs(c25 - b25), 0.08, (c25, b25))
                # The baseline never takes a canary user.
                for user in users:
                    if before[user][0] == "canary":
                        self.assertEqual(after[user][0], "canary", user)
            finally:
                admin.close()
        elapsed = time.monotonic() - started
        print(f"\n  40,000 requests in {elapsed:.1f}s; fresh/reused per phase: "
              f"{[(s['fresh'], s['reused']) for s in (stats_a, stats_b, stats_c)]}; "
              f"canary 5%: {c5:.4f}, baseline 5%: {b5:.4f}, canary 25%: {c25:.4f}, "
              f"baseline 25%: {b25:.4f}, moved to canary: {len(to_canary)}")


class Cohorts(unittest.TestCase):
    """Pinned cohorts, JWT keys, anonymous sessions and explain, on one gateway
    whose weight each test sets first."""

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(make_config(weight="5%"))

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def setUp(self):
        self.admin = Admin(self.gw)
        self.client = KeepAliveClient(self.gw.port())

    def tearDown(self):
        self.client.close()
        self.admin.close()

    def get(self, headers, path="/profile", user=None):
        status, h, body = self.client.get(path, headers)
        return Observation(user, status, h, body)

    def test_internal_cohort_header_always_reaches_the_canary(self):
        self.admin.set_weight("5%")
        plain = [self.get({"X-User-Id": f"int-{i}"}) for i in range(200)]
        self.assertGreater(sum(o.subset != "canary" for o in plain), 150,
                           "control: most of these users are not canary users")
        for i in range(200):
            headers = {"X-User-Id": f"int-{i}", "X-User-Cohort": "internal"}
            o = self.get(headers)
            self.assertEqual((o.status, o.subset, o.reason), (200, "canary", "pin:internal"))
            self.assertEqual(o.body_version, LABELS["canary"])
        # Without a user id too, and not for another cohort value.
        o = self.get({"X-User-Cohort": "internal"})
        self.assertEqual((o.subset, o.reason), ("canary", "pin:internal"))
        o = self.get({"X-User-Id": "int-0", "X-User-Cohort": "internal-2"})
        self.assertNotEqual(o.reason, "pin:internal")

    def test_old_app_version_stays_on_stable_even_in_a_canary_bucket(self):
        self.admin.set_weight("25%")
        canary_users = []
        for i in range(400):
            user = f"app-{i}"
            o = self.get({"X-User-Id": user})
            if o.subset == "canary":
                canary_users.append(user)
        self.assertGreater(len(canary_users), 50)
        for user in canary_users:
            o = self.get({"X-User-Id": user, "X-App-Version": "5.1.9"})
            self.assertEqual((o.status, o.subset, o.reason), (200, "stable", "pin:legacy-mobile"),
                             user)
            self.assertEqual(o.body_version, "v1.0")
            # At the range's edge the pin no longer applies: back to the bucket.
            o = self.get({"X-User-Id": user, "X-App-Version": "5.2.0"})
            self.assertEqual(o.subset, "canary", user)
            self.assertRegex(o.reason, r"^bucket:\d+<2500$")
            # First match wins: internal comes before legacy-mobile.
            o = self.get({"X-User-Id": user, "X-App-Version": "5.1.9",
                          "X-User-Cohort": "internal"})
            self.assertEqual((o.subset, o.reason), ("canary", "pin:internal"))

    def test_anonymous_cookie_jar_keeps_one_version_for_the_session(self):
        self.admin.set_weight("30%")
        url = self.gw.url("/profile")
        seen_subsets = set()
        ids = set()
        for session in range(40):
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            subsets_seen = set()
            for n in range(8):
                with opener.open(url, timeout=10) as resp:
                    self.assertEqual(resp.status, 200)
                    label = resp.headers.get("X-Backend-Version")
                    subsets_seen.add(SUBSET_OF_LABEL.get(label, label))
                    cookies = resp.headers.get_all("Set-Cookie") or []
                    reason = resp.headers.get(DECISION_HEADER)
                    if n == 0:
                        self.assertEqual(len(cookies), 1, cookies)
                        cookie = cookies[0]
                        m = re.match(r"^cohort_uid=([0-9a-f]{16});", cookie)
                        self.assertIsNotNone(m, cookie)
                        ids.add(m.group(1))
                        attributes = {a.strip().split("=")[0]: a.strip()
                                      for a in cookie.split(";")[1:]}
                        self.assertEqual(set(attributes),
                                         {"HttpOnly", "SameSite", "Path", "Max-Age"}, cookie)
                        self.assertEqual(attributes["SameSite"], "SameSite=Lax")
                        self.assertEqual(attributes["Path"], "Path=/")
                        self.assertEqual(attributes["Max-Age"], "Max-Age=3600")
                        first_reason = reason
                    else:
                        self.assertEqual(cookies, [], f"session {session} request {n}")
                        # The same bucket as the first response, now from the cookie.
                        self.assertEqual(reason, first_reason, f"session {session}")
            self.assertEqual(len(subsets_seen), 1, f"session {session}: {subsets_seen}")
            subset = subsets_seen.pop()
            seen_subsets.add(subset)
            # Explain, given the cookie, agrees.
            uid = next(c.value for c in jar if c.name == "cohort_uid")
            e = self.admin.explain({"Cookie": f"cohort_uid={uid}"})
            self.assertEqual((e["subset"], e["reason"]), (subset, first_reason))
        self.assertEqual(len(ids), 40, "every new session got its own id")
        # The cookie is what keeps a session in place: with 40 random ids at
        # 30% / 30% / 40%, all three subsets appear (P(not) < 1e-5).
        self.assertEqual(seen_subsets, {"stable", "baseline", "canary"})

    def test_anonymous_stable_policy_sends_anonymous_users_to_stable(self):
        self.admin.set_weight("50%", rollout="profile-anon")
        for _ in range(50):
            o = self.get({"X-Route": "anon-stable"})
            self.assertEqual((o.status, o.subset, o.reason), (200, "stable", "anonymous:stable"))
            self.assertEqual(o.cookies, [])
        # Control: users with a key on the same route are split 50/50.
        keyed = [self.get({"X-Route": "anon-stable", "X-User-Id": f"anon-{i}"})
                 for i in range(100)]
        canary = sum(o.subset == "canary" for o in keyed)
        self.assertTrue(30 <= canary <= 70, canary)

    def test_jwt_claim_routes_like_the_same_user_id_header(self):
        self.admin.set_weight("25%")
        by_subset = set()
        for i in range(200):
            user = f"jwt-{i}"
            by_header = self.get({"X-User-Id": user})
            by_token = self.get({"Authorization": f"Bearer {unsigned_jwt({'sub': user})}"})
            self.assertEqual(by_token.status, 200)
            self.assertEqual((by_token.subset, by_token.reason),
                             (by_header.subset, by_header.reason), user)
            self.assertEqual(by_token.cookies, [], "a keyed request gets no anonymous id")
            by_subset.add(by_header.subset)
            if i % 10 == 0:
                e = self.admin.explain(
                    {"Authorization": f"Bearer {unsigned_jwt({'sub': user})}"})
                self.assertEqual((e["subset"], e["reason"]), (by_token.subset, by_token.reason))
        self.assertEqual(by_subset, {"stable", "baseline", "canary"})
        # The header comes first in the key list: with both, the header decides.
        for i in range(50):
            a, b = f"jwt-{i}", f"jwt-{i + 1000}"
            both = self.get({"X-User-Id": a,
                             "Authorization": f"Bearer {unsigned_jwt({'sub': b})}"})
            self.assertEqual(both.reason, self.get({"X-User-Id": a}).reason)
        # A token without the claim names nobody: the request is anonymous.
        o = self.get({"Authorization": f"Bearer {unsigned_jwt({'name': 'x'})}"})
        self.assertEqual(len(o.cookies), 1, "anonymous: a cohort_uid cookie is issued")

    def test_explain_agrees_with_the_gateway(self):
        self.admin.set_weight("5%")
        checked = {"canary": 0, "baseline": 0, "stable": 0, "pin": 0}
        for i in range(300):
            headers = {"X-User-Id": f"exp-{i}"}
            if i % 10 == 0:
                headers["X-User-Cohort"] = "internal"
            elif i % 10 == 1:
                headers["X-App-Version"] = "4.0"
            o = self.get(headers)
            e = self.admin.explain(headers)
            self.assertEqual(o.status, 200)
            self.assertEqual((e["subset"], e["reason"]), (o.subset, o.reason), headers)
            self.assertEqual((e["route"], e["service"], e["rollout"]),
                             ("profile", "profile-api", ROLLOUT))
            bucket = bucket_of_reason(o.reason)
            if bucket is not None:
                self.assertEqual(e["bucket"], bucket)
                checked[o.subset] += 1
            else:
                checked["pin"] += 1
        self.assertTrue(all(n > 0 for n in checked.values()), checked)
        # A path no route takes: explain says so.
        status, doc = self.admin.json("POST", "/api/v1/explain",
                                      {"method": "GET", "path": "/nothing", "headers": {}})
        self.assertEqual((status, doc["routed"]), (404, False))


class WeightApi(unittest.TestCase):
    """POST /api/v1/rollouts/NAME/weight: validation, 404, and a change that
    shows on the next request of an already-open keep-alive connection."""

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(make_config(weight="5%"))

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def setUp(self):
        self.admin = Admin(self.gw)

    def tearDown(self):
        self.admin.close()

    def current_weight(self):
        status, doc = self.admin.json("GET", "/api/v1/rollouts")
        self.assertEqual(status, 200)
        return {r["name"]: r["weight"] for r in doc["rollouts"]}[ROLLOUT]

    def test_bad_input_is_a_400_json_error_and_changes_nothing(self):
        self.admin.set_weight("5%")
        bad = ['{"weight": "120%"}', '{"weight": "5"}', '{"weight": 5}', '{"weight": "-1%"}',
               '{"weight": "0.001%"}', '{"weight": ""}', '{"wieght": "5%"}', '["5%"]',
               'not json', '']
        for raw in bad:
            status, headers, data = self.admin.call(
                "POST", f"/api/v1/rollouts/{ROLLOUT}/weight", raw=raw)
            self.assertEqual(status, 400, raw)
            self.assertEqual(headers.get("Content-Type"), "application/json", raw)
            doc = json.loads(data)
            self.assertIsInstance(doc.get("error"), str, raw)
            self.assertTrue(doc["error"], raw)
        self.assertEqual(self.current_weight(), "5%")

    def test_unknown_rollout_is_404(self):
        status, doc = self.admin.json("POST", "/api/v1/rollouts/no-such-rollout/weight",
                                      {"weight": "5%"})
        self.assertEqual(status, 404)
        self.assertIn("no-such-rollout", doc["error"])
        status, doc = self.admin.json("GET", "/api/v1/rollouts/no-such-rollout")
        self.assertEqual(status, 404)

    def test_weight_change_shows_on_the_next_request_of_an_open_connection(self):
        self.admin.set_weight("5%")
        # Users that 25% puts on the canary and 5% does not.
        movers = []
        for i in range(300):
            e = self.admin.explain({"X-User-Id": f"w-{i}"})
            if 1000 <= e["bucket"] < 2500:
                movers.append(f"w-{i}")
        self.assertGreater(len(movers), 20)
        client = KeepAliveClient(self.gw.port())
        try:
            before = [Observation(u, *client.get("/profile", {"X-User-Id": u})) for u in movers]
            sock = client.conn.sock
            self.assertIsNotNone(sock, "the gateway kept the connection open")
            self.assertEqual({o.subset for o in before}, {"stable"})
            doc = self.admin.set_weight("25%")
            self.assertEqual((doc["weight"], doc["baseline_weight"]), ("25%", "25%"))
            self.assertEqual(self.current_weight(), "25%")
            after = [Observation(u, *client.get("/profile", {"X-User-Id": u})) for u in movers]
            self.assertIs(client.conn.sock, sock, "the same connection carried both")
            self.assertEqual(client.sockets_opened, 1)
            for o in after:
                self.assertEqual(o.subset, "canary", o.user)
                self.assertRegex(o.reason, r"^bucket:\d+<2500$")
            # And back down: the canary users return to stable on the same connection.
            self.admin.set_weight("5%")
            o = Observation(movers[0], *client.get("/profile", {"X-User-Id": movers[0]}))
            self.assertEqual(o.subset, "stable")
            self.assertIs(client.conn.sock, sock)
        finally:
            client.close()

    def test_above_half_the_baseline_gets_what_is_left_and_says_so(self):
        # Canary [0, 6000), baseline [6000, 10000): the baseline cannot match
        # the canary's share any more, and the API must report what it gets.
        doc = self.admin.set_weight("60%")
        self.assertEqual((doc["weight"], doc["baseline_weight"]), ("60%", "40%"))
        counts = {"canary": 0, "baseline": 0, "stable": 0}
        for i in range(1000):
            status, h, body = http_get(self.gw.port(), "/profile", {"X-User-Id": f"half-{i}"})
            counts[Observation(None, status, h, body).subset] += 1
        self.assertEqual(counts["stable"], 0, counts)
        self.assertLessEqual(abs(counts["canary"] / 1000 - 0.60), 0.08, counts)
        self.assertLessEqual(abs(counts["baseline"] / 1000 - 0.40), 0.08, counts)
        # /metrics reports the same target shares as the API and the router.
        with urllib.request.urlopen(f"http://127.0.0.1:{self.gw.admin_port}/metrics",
                                    timeout=5) as r:
            text = r.read().decode()
        ratios = {}
        for line in text.splitlines():
            if line.startswith(f'cohort_rollout_weight_ratio{{rollout="{ROLLOUT}",'):
                subset = line.split('subset="', 1)[1].split('"', 1)[0]
                ratios[subset] = float(line.rsplit(" ", 1)[1])
        self.assertEqual(ratios, {"canary": 0.6, "baseline": 0.4, "stable": 0.0})
        doc = self.admin.set_weight("20%")
        self.assertEqual((doc["weight"], doc["baseline_weight"]), ("20%", "20%"))

    def test_restart_returns_to_the_weight_in_the_file(self):
        self.admin.set_weight("40%")
        self.assertEqual(self.current_weight(), "40%")
        self.admin.close()
        self.gw.restart()
        self.admin = Admin(self.gw)
        self.assertEqual(self.current_weight(), "5%")
        e = self.admin.explain({"X-User-Id": "r"})
        self.assertEqual(e["weight"], "5%")
        o = Observation("r", *http_get(self.gw.port(), "/profile", {"X-User-Id": "r"}))
        self.assertEqual((o.subset, o.reason), (expected_subset(e["bucket"], 500), e["reason"]))
