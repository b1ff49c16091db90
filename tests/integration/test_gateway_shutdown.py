"""SIGTERM: the gateway stops accepting, lets in-flight requests finish,
closes idle keep-alive connections and exits 0."""

import socket
import threading
import time
import unittest
import json

from cohort_harness import Gateway, http_get, start_backend
from gateway_fixtures import gateway_config, route, service


def connect_refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


class Shutdown(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = start_backend(label="slowpoke")

    @classmethod
    def tearDownClass(cls):
        cls.backend.stop()

    def config(self, drain_timeout="10s"):
        return gateway_config([service("svc", [self.backend])],
                              [route("all", "svc", path_prefix="/")], workers=2,
                              limits={"drain_timeout": drain_timeout})

    def test_sigterm_lets_in_flight_requests_finish(self):
        with Gateway(self.config()) as gw:
            port = gw.port("public")
            results = []
            lock = threading.Lock()

            def slow():
                try:
                    r = http_get(port, "/slow?ms=1500", timeout=10)
                except OSError as e:
                    r = (None, None, repr(e).encode())
                with lock:
                    results.append(r)

            threads = [threading.Thread(target=slow) for _ in range(12)]
            for t in threads:
                t.start()
            time.sleep(0.5)  # every request is in flight at the backend now
            sent_at = time.monotonic()
            gw._popen.send_signal(15)
            gw.wait_for_log({"msg": "draining"}, timeout=3)
            time.sleep(0.2)
            # Not accepting any more, while the slow requests are still running.
            self.assertTrue(connect_refused(port))
            self.assertTrue(gw.running)
            for t in threads:
                t.join(timeout=10)
            code = gw._popen.wait(timeout=10)
            took = time.monotonic() - sent_at
            self.assertEqual(code, 0, gw.logs_text())
            self.assertEqual(len(results), 12)
            for status, _, body in results:
                self.assertEqual(status, 200, body)
                self.assertEqual(json.loads(body)["slept_ms"], 1500)
            self.assertLess(took, 5)
            gw.wait_for_log({"msg": "stopped"}, timeout=3)
            self.assertTrue(connect_refused(port))

    def test_idle_keep_alive_connections_do_not_delay_exit(self):
        with Gateway(self.config(drain_timeout="20s")) as gw:
            port = gw.port("public")
            idle = []
            for _ in range(4):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /profile HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while b'"version":"slowpoke"}' not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])
                idle.append(s)
            try:
                start = time.monotonic()
                code = gw.stop(timeout=15)
                self.assertEqual(code, 0)
                self.assertLess(time.monotonic() - start, 3)
                for s in idle:
                    s.settimeout(2)
                    try:
                        self.assertEqual(s.recv(10), b"")
                    except ConnectionResetError:
                        pass
            finally:
                for s in idle:
                    s.close()

    def test_drain_deadline_bounds_shutdown(self):
        with Gateway(self.config(drain_timeout="1s")) as gw:
            port = gw.port("public")
            result = {}

            def stuck():
                try:
                    result["r"] = http_get(port, "/slow?ms=8000", timeout=12)
                except OSError as e:
                    result["r"] = e

            t = threading.Thread(target=stuck)
            t.start()
            time.sleep(0.4)
            start = time.monotonic()
            code = gw.stop(timeout=10)
            took = time.monotonic() - start
            t.join(timeout=12)
            self.assertEqual(code, 0)
            self.assertGreater(took, 0.8)
            self.assertLess(took, 3.5)
            self.assertTrue(any(r.get("msg") == "drain deadline passed" for r in gw.logs),
                            gw.logs_text())


if __name__ == "__main__":
    unittest.main()
