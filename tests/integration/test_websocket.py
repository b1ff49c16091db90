"""WebSocket tunnels through the real gateway (issue 7): the upgrade is routed
by the user's session like any request, then bytes flow both ways until a side
closes, the tunnel sits idle too long, or a rollback moves its user off the
canary. Two profile-api backends stand for the subsets; each answers the first
message "whoami" with "version <label>" and puts X-Version on its 101, so a
test sees which one a tunnel reached.

The rollout is driven by the controller (one 50% step that never advances:
min_requests is out of reach) so that `abort` is a real rollback. Every wait
is bounded; the file runs in well under a minute.
"""

import asyncio
import json
import os
import random
import re
import socket
import time
import unittest

import websockets
import websockets.exceptions

from cohort_harness import Gateway, http_get, start_backend

ROLLOUT = "profile-api"
DECISION = "x-cohort-decision"
USERS = [f"ws-user-{i}" for i in range(24)]
_BUCKET = re.compile(r"^bucket:(\d+)(<|>=)(\d+)$")

_backends = {}


def setUpModule():
    _backends["stable"] = start_backend(api="v1.0", label="stable")
    _backends["canary"] = start_backend(api="v1.1", label="canary")


def tearDownModule():
    for b in _backends.values():
        b.stop()
    _backends.clear()


def make_config(*, idle_timeout="10m", rollback_grace="1s", workers=2):
    return {
        "gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
                    "workers": workers, "decision_header": DECISION,
                    "access_log": {"mode": "all"},
                    "websocket": {"idle_timeout": idle_timeout,
                                  "rollback_grace": rollback_grace}},
        "state": {"store": "sqlite:state.db"},
        "services": [{"name": "profile-api", "subsets": {
            name: {"endpoints": [b.address]} for name, b in _backends.items()}}],
        "routes": [{"name": "profile", "match": {"path_prefix": "/"},
                    "service": "profile-api"}],
        "rollouts": [{
            "name": ROLLOUT, "service": "profile-api",
            "session": {"key": [{"header": "X-User-Id"}], "anonymous": "stable"},
            "steps": [{"weight": "50%"}],
            "analysis": {"interval": "1s", "min_requests": 10**9,
                         "metrics": [{"name": "success-rate", "min": "1%"}]},
        }],
    }


def run(coro, timeout=30):
    """Runs one test's coroutine with an upper bound on its time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def open_tunnel(gw, user, path="/ws"):
    """(connection, subset by whoami, the 101's headers)."""
    ws = await websockets.connect(
        f"ws://127.0.0.1:{gw.port()}{path}", extra_headers={"X-User-Id": user},
        open_timeout=5, close_timeout=2, ping_interval=None, max_size=2**20)
    await ws.send("whoami")
    answer = await asyncio.wait_for(ws.recv(), 5)
    assert answer.startswith("version "), answer
    return ws, answer[len("version "):], ws.response_headers


async def closed_within(ws, timeout):
    """Seconds until the connection closed, or None if it stayed open."""
    start = time.monotonic()
    try:
        await asyncio.wait_for(ws.wait_closed(), timeout)
    except asyncio.TimeoutError:
        return None
    return time.monotonic() - start


async def still_echoes(ws, text="still there?"):
    await ws.send(text)
    return await asyncio.wait_for(ws.recv(), 3) == text


class WebsocketCase(unittest.TestCase):
    def gateway(self, **kw):
        gw = Gateway(make_config(**kw))
        self.addCleanup(gw.close)
        gw.wait_for_log(lambda r: r.get("msg") == f"Starting canary analysis for {ROLLOUT}",
                        timeout=10)
        return gw

    def gauge(self, gw):
        status, _, body = http_get(gw.admin_port, "/metrics")
        self.assertEqual(status, 200)
        out = {}
        for line in body.decode().splitlines():
            m = re.fullmatch(r'cohort_tunnels_open\{service="([^"]*)",subset="([^"]*)"\} (\S+)',
                             line)
            if m:
                out[(m.group(1), m.group(2))] = float(m.group(3))
        return out

    def wait_gauge(self, gw, expected, timeout=3.0):
        deadline = time.monotonic() + timeout
        while True:
            seen = {k[1]: v for k, v in self.gauge(gw).items() if k[0] == "profile-api"}
            if all(seen.get(s) == v for s, v in expected.items()):
                return seen
            if time.monotonic() > deadline:
                self.fail(f"cohort_tunnels_open {seen}, expected {expected}")
            time.sleep(0.1)

    async def tunnels_by_subset(self, gw, users=USERS):
        """Opens one tunnel per user: {subset: [(user, ws)]}."""
        out = {"stable": [], "canary": []}
        for u in users:
            ws, subset, headers = await open_tunnel(gw, u)
            # The 101 carries the backend's own header and the routing reason.
            self.assertEqual(headers["X-Version"], subset)
            m = _BUCKET.match(headers[DECISION])
            self.assertIsNotNone(m, headers[DECISION])
            self.assertEqual(int(m.group(3)), 5000)
            self.assertEqual(subset, "canary" if m.group(2) == "<" else "stable",
                             (u, headers[DECISION]))
            out[subset].append((u, ws))
        return out


class Routing(WebsocketCase):
    def test_users_reach_their_subset_and_stay_there(self):
        gw = self.gateway()

        async def scenario():
            first = await self.tunnels_by_subset(gw)
            # 24 users at 50%: both subsets are used (1 - 2 * 0.5**24 certain).
            self.assertTrue(first["canary"] and first["stable"], first)
            placed = {u: s for s, pairs in first.items() for u, _ in pairs}
            for pairs in first.values():
                for _, ws in pairs:
                    await ws.close()
            # Sticky: a second tunnel of each user lands where the first did.
            for u, subset in placed.items():
                ws, again, _ = await open_tunnel(gw, u)
                self.assertEqual(again, subset, u)
                await ws.close()
            # A plain request of the same users follows the same decision.
            for u, subset in list(placed.items())[:6]:
                status, headers, _ = http_get(gw.port(), "/profile", {"X-User-Id": u})
                self.assertEqual(status, 200)
                self.assertEqual(headers["X-Backend-Version"], subset)
            # Each handshake has one access log line: status 101 and the subset
            # (the tunnel's lifetime is not its duration).
            deadline = time.monotonic() + 3
            while True:
                lines = [r for r in gw.logs if r.get("path") == "/ws"]
                if len(lines) >= 2 * len(USERS) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            self.assertEqual(len(lines), 2 * len(USERS))
            self.assertEqual({(r["status"], r["protocol"]) for r in lines}, {(101, "HTTP/1.1")})
            self.assertEqual({r["subset"] for r in lines}, {"stable", "canary"})
            self.assertLess(max(r["duration_ms"] for r in lines), 2000)

        run(scenario())

    def test_echo_of_many_text_and_binary_messages_both_ways(self):
        gw = self.gateway()
        rng = random.Random(7)

        async def exchange(ws, count):
            # Sizes around and well above the tunnel's 16 KiB buffers, sent
            # while replies are read, so both directions carry data at once.
            sent = []
            for i in range(count):
                size = rng.choice([0, 1, 125, 126, 4000, 16383, 16384, 16385, 70000, 300000])
                if i % 2:
                    sent.append(rng.randbytes(size))
                else:
                    sent.append("".join(rng.choice("abcé€😀 ") for _ in range(size // 4)))

            async def send_all():
                for m in sent:
                    await ws.send(m)

            async def receive_all():
                return [await asyncio.wait_for(ws.recv(), 10) for _ in sent]

            _, received = await asyncio.gather(send_all(), receive_all())
            self.assertEqual(len(received), len(sent))
            for i, (a, b) in enumerate(zip(sent, received)):
                self.assertEqual(type(a), type(b), i)
                self.assertEqual(a, b, i)
            return sum(len(m) for m in sent)

        async def scenario():
            tunnels = await self.tunnels_by_subset(gw, USERS[:12])
            ws_canary = tunnels["canary"][0][1]
            ws_stable = tunnels["stable"][0][1]
            total = sum(await asyncio.gather(exchange(ws_canary, 120), exchange(ws_stable, 120)))
            self.assertGreater(total, 2_000_000)
            for pairs in tunnels.values():
                for _, ws in pairs:
                    await ws.close()
                    self.assertEqual(ws.close_code, 1000)  # a clean close handshake, relayed

        run(scenario(), timeout=60)

    def test_gauge_counts_open_tunnels_per_subset(self):
        gw = self.gateway()

        async def scenario():
            tunnels = await self.tunnels_by_subset(gw, USERS[:10])
            counts = {s: len(p) for s, p in tunnels.items()}
            self.wait_gauge(gw, {"stable": counts["stable"], "canary": counts["canary"]})
            # Closing from the client side: the gauge follows.
            _, ws = tunnels["canary"].pop()
            await ws.close()
            self.wait_gauge(gw, {"stable": counts["stable"], "canary": counts["canary"] - 1})
            for pairs in tunnels.values():
                for _, ws in pairs:
                    await ws.close()
            self.wait_gauge(gw, {"stable": 0, "canary": 0})

        run(scenario())


class Rollback(WebsocketCase):
    def test_abort_closes_canary_tunnels_within_grace_and_keeps_stable_ones(self):
        grace = 1.0
        gw = self.gateway(rollback_grace="1s")

        async def scenario():
            tunnels = await self.tunnels_by_subset(gw, USERS[:16])
            self.assertTrue(tunnels["canary"] and tunnels["stable"], tunnels)
            mark = gw.log_mark()
            status, _, body = http_get(gw.admin_port, f"/api/v1/rollouts/{ROLLOUT}/abort",
                                       method="POST")
            self.assertEqual(status, 200, body)
            aborted = time.monotonic()
            waits = await asyncio.gather(
                *(closed_within(ws, grace + 1.0) for _, ws in tunnels["canary"]))
            elapsed = time.monotonic() - aborted
            self.assertTrue(all(w is not None for w in waits), (waits, gw.logs_text()))
            # Closed by the grace, not at once and not late.
            self.assertGreaterEqual(elapsed, grace - 0.2, waits)
            self.assertLessEqual(elapsed, grace + 1.0, waits)
            # The stable tunnels are untouched and still work.
            for _, ws in tunnels["stable"]:
                self.assertTrue(await still_echoes(ws))
            self.wait_gauge(gw, {"canary": 0, "stable": len(tunnels["stable"])})
            # One line per worker that held canary tunnels, with the count and the reason.
            lines = [r for r in gw.logs[mark:] if r.get("msg") == "closing websocket tunnels"]
            self.assertTrue(lines, gw.logs_text())
            self.assertEqual(sum(r["tunnels"] for r in lines), len(tunnels["canary"]))
            self.assertEqual({(r["reason"], r["rollout"]) for r in lines},
                             {("rollback", ROLLOUT)})
            # Reconnecting, the canary users land on stable.
            for u, _ in tunnels["canary"]:
                ws, subset, headers = await open_tunnel(gw, u)
                self.assertEqual(subset, "stable", u)
                self.assertEqual(headers[DECISION], f"rollback:{ROLLOUT}")
                await ws.close()
            for _, ws in tunnels["stable"]:
                await ws.close()

        run(scenario())

    def test_zero_grace_closes_at_once(self):
        gw = self.gateway(rollback_grace="0s", workers=1)

        async def scenario():
            tunnels = await self.tunnels_by_subset(gw, USERS[:8])
            self.assertTrue(tunnels["canary"], tunnels)
            http_get(gw.admin_port, f"/api/v1/rollouts/{ROLLOUT}/abort", method="POST")
            waits = await asyncio.gather(*(closed_within(ws, 1.0) for _, ws in tunnels["canary"]))
            self.assertTrue(all(w is not None and w < 1.0 for w in waits), waits)
            for _, ws in tunnels["stable"]:
                self.assertTrue(await still_echoes(ws))
                await ws.close()

        run(scenario())


class Timeouts(WebsocketCase):
    def test_idle_tunnel_is_closed_busy_one_is_not(self):
        gw = self.gateway(idle_timeout="1s")

        async def scenario():
            idle, _, _ = await open_tunnel(gw, USERS[0])
            busy, _, _ = await open_tunnel(gw, USERS[1])
            start = time.monotonic()

            async def keep_busy():
                # A message every 0.3 s for 2.4 s: never 1 s without a byte.
                while time.monotonic() - start < 2.4:
                    self.assertTrue(await still_echoes(busy, "ping"))
                    await asyncio.sleep(0.3)

            waited, _ = await asyncio.gather(closed_within(idle, 3.0), keep_busy())
            self.assertIsNotNone(waited, "the idle tunnel stayed open")
            self.assertGreaterEqual(waited, 0.8)
            self.assertLessEqual(waited, 2.5)
            self.assertTrue(await still_echoes(busy))
            await busy.close()

        run(scenario())


class Drain(WebsocketCase):
    def test_sigterm_closes_tunnels_and_exits_at_once(self):
        gw = self.gateway()

        async def scenario():
            tunnels = await self.tunnels_by_subset(gw, USERS[:4])
            start = time.monotonic()
            # SIGTERM, then wait for the exit (in a thread: the tunnels are watched here).
            stopping = asyncio.get_running_loop().run_in_executor(None, lambda: gw.stop(5.0))
            waits = await asyncio.gather(
                *(closed_within(ws, 3.0) for pairs in tunnels.values() for _, ws in pairs))
            self.assertTrue(all(w is not None for w in waits), waits)
            code = await stopping
            self.assertEqual(code, 0)
            # Well before limits.drain_timeout (15s): the drain does not wait for tunnels.
            self.assertLess(time.monotonic() - start, 3.0)

        run(scenario())


class PlainHttp(WebsocketCase):
    def test_other_requests_on_the_same_listener(self):
        gw = self.gateway()

        def raw(request):
            with socket.create_connection(("127.0.0.1", gw.port()), timeout=5) as s:
                s.sendall(request)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                return data

        status, headers, body = http_get(gw.port(), "/profile", {"X-User-Id": USERS[0]})
        self.assertEqual(status, 200)
        self.assertIn(json.loads(body)["version"], ("stable", "canary"))
        # A WebSocket handshake to a path that does not switch: the ordinary
        # answer is relayed, and the connection stays an HTTP connection.
        reply = raw(b"GET /profile HTTP/1.1\r\nHost: a\r\nX-User-Id: u1\r\n"
                    b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply)
        # Another protocol is not tunnelled: the request is served as plain HTTP/1.1.
        reply = raw(b"GET /profile HTTP/1.1\r\nHost: a\r\nX-User-Id: u1\r\n"
                    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                    b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply)
        self.assertNotIn(b"upgrade", reply.lower().split(b"\r\n\r\n")[0])


if __name__ == "__main__":
    unittest.main()
