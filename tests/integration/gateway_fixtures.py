"""Shared pieces of the gateway integration tests: configuration builders,
small Python peers (a recording upstream, a silent upstream) and helpers that
read what came back over raw sockets.

Standard library only, like the harness. Every blocking call has a timeout."""

import json
import os
import socket
import threading
import time

from cohort_harness import raw_exchange


def gateway_config(services, routes, *, limits=None, decision_header=None, workers=1,
                   admin=None):
    """A config dict with one listener `public` on a free loopback port."""
    gateway = {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
               "workers": workers}
    if limits:
        gateway["limits"] = dict(limits)
    if decision_header:
        gateway["decision_header"] = decision_header
    config = {"gateway": gateway, "services": services, "routes": routes}
    if admin is not None:
        config["admin"] = admin
    return config


def service(name, endpoints, *, lb=None, **extra):
    """A service whose `stable` subset holds endpoints ("host:port" strings or
    objects with an .address)."""
    eps = [e if isinstance(e, str) else e.address for e in endpoints]
    s = {"name": name, "subsets": {"stable": {"endpoints": eps}}}
    if lb:
        s["lb"] = lb
    s.update(extra)
    return s


def route(name, service_name, **match):
    return {"name": name, "match": match, "service": service_name}


def split_response(data):
    """(status code, {lower-case name: [values]}, body bytes) of one raw
    response whose body is everything after the head."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"no complete response head in {data[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(parts[1]), headers, body


def timed_exchange(port, data, timeout=4.0):
    """raw_exchange plus the time it took: a reply that arrives well before
    `timeout` means the gateway closed the connection itself."""
    start = time.monotonic()
    reply = raw_exchange(port, data, timeout=timeout)
    return reply, time.monotonic() - start


def echo_headers(doc, name):
    """Values of one header (case-insensitive) in profile-api's /echo report."""
    return [v for n, v in doc["headers"] if n.lower() == name.lower()]


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def read_exactly_until(sock, marker, timeout):
    """Bytes read from sock until marker appears (or timeout / close)."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def read_head(conn, buf):
    """One request head (through its blank line) from buf, reading conn as
    needed; it is removed from buf, the bytes after it stay. None at EOF."""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end])
    del buf[:end]
    return head


class _ServerBase:
    """A loopback TCP server on a free port, one thread per connection.
    Stopped by close(); every socket it opened is closed then."""

    def __init__(self, backlog=64):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._conns = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve_safely, args=(conn, peer), daemon=True).start()

    def _serve_safely(self, conn, peer):
        try:
            self.serve(conn, peer)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def serve(self, conn, peer):
        raise NotImplementedError

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SilentUpstream(_ServerBase):
    """Accepts connections, reads what arrives and never answers."""

    def __init__(self):
        self.accepted = 0
        super().__init__()

    def serve(self, conn, peer):
        self.accepted += 1
        conn.settimeout(0.2)
        while not self._stop.is_set():
            try:
                if not conn.recv(65536):
                    return
            except socket.timeout:
                continue


class RecordingUpstream(_ServerBase):
    """A keep-alive HTTP/1.1 origin that records each request: the peer
    address, the raw head and the raw body bytes exactly as framed on the
    wire (chunk sizes and trailers included). Answers 200 with a small JSON
    document {"request": n}."""

    def __init__(self, close_after_each=False):
        self.requests = []  # dicts: peer, head (str), raw_body (bytes)
        # Close the connection after each answer without announcing it, like
        # an origin whose keep-alive timeout just passed.
        self.close_after_each = close_after_each
        super().__init__()

    def serve(self, conn, peer):
        conn.settimeout(10)
        buf = bytearray()
        while not self._stop.is_set():
            head = read_head(conn, buf)
            if head is None:
                return
            head = head.decode("latin-1")
            fields = {}
            for line in head.split("\r\n")[1:]:
                if line:
                    name, _, value = line.partition(":")
                    fields[name.strip().lower()] = value.strip()
            raw_body = bytearray()
            if fields.get("transfer-encoding", "").lower() == "chunked":
                raw_body = self._read_chunked(conn, buf)
            elif "content-length" in fields:
                need = int(fields["content-length"])
                while len(buf) < need:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                raw_body = bytes(buf[:need])
                del buf[:need]
            with self._lock:
                self.requests.append({"peer": peer, "head": head, "raw_body": bytes(raw_body)})
                n = len(self.requests)
            body = json.dumps({"request": n}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            if self.close_after_each:
                return

    @staticmethod
    def _read_chunked(conn, buf):
        """Consumes one chunked body (with trailers) from buf/conn and
        returns its raw bytes."""
        pos = 0

        def need(n_end):
            while len(buf) < n_end:
                chunk = conn.recv(65536)
                if not chunk:
                    raise OSError("closed inside a chunked body")
                buf.extend(chunk)

        def line_end(start):
            while True:
                i = buf.find(b"\r\n", start)
                if i >= 0:
                    return i
                need(len(buf) + 1)

        while True:
            eol = line_end(pos)
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
            pos = eol + 2
            if size == 0:
                break
            need(pos + size + 2)
            pos += size + 2
        while True:  # trailer section up to the empty line
            eol = line_end(pos)
            empty = eol == pos
            pos = eol + 2
            if empty:
                break
        raw = bytes(buf[:pos])
        del buf[:pos]
        return raw


class CloseDelimitedUpstream(_ServerBase):
    """Answers every request with an HTTP/1.0 response whose body ends when
    the connection closes (no Content-Length, no chunking)."""

    def __init__(self, body):
        self.body = body
        super().__init__()

    def serve(self, conn, peer):
        conn.settimeout(5)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buf += chunk
        conn.sendall(b"HTTP/1.0 200 OK\r\nX-Origin: close-delimited\r\n\r\n" + self.body)


class BarrierUpstream(_ServerBase):
    """A keep-alive origin that holds every answer until `parties` requests
    wait at once, so the gateway must have that many upstream connections
    busy together. Records the peer (the gateway's connection) of each
    request; a burst that never gathers breaks the barrier and gets 503s."""

    def __init__(self, parties, timeout=20):
        self.peers = []
        self.barrier = threading.Barrier(parties, timeout=timeout)
        super().__init__(backlog=parties)

    def serve(self, conn, peer):
        conn.settimeout(30)
        buf = bytearray()
        while not self._stop.is_set():
            if read_head(conn, buf) is None:
                return
            with self._lock:
                self.peers.append(peer)
            try:
                self.barrier.wait()
                status = b"200 OK"
            except threading.BrokenBarrierError:
                status = b"503 Service Unavailable"
            conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 3\r\n\r\nok\n")


def full_backlog_listener():
    """A listening socket whose accept queue is full, so a further connect
    to it gets no answer (Linux drops the SYN). Returns (listener, fillers)
    or None when a probe connect still succeeds (then a connect timeout
    cannot be produced deterministically on this machine)."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    for _ in range(8):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.3)
        try:
            s.connect(("127.0.0.1", port))
            fillers.append(s)
        except (socket.timeout, OSError):
            s.close()
            # The queue is full now: check once more that it stays so.
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(0.3)
            try:
                probe.connect(("127.0.0.1", port))
            except socket.timeout:
                return lst, fillers
            except OSError:
                pass
            finally:
                probe.close()
            break
    for s in fillers:
        s.close()
    lst.close()
    return None


def close_all(*socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("json", "os",
                                                                                  "socket",
                                                                                  "threading",
                                                                                  "time")]
