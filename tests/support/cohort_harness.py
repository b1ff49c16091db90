"""Integration-test harness for Cohort: real processes on loopback.

Standard library only (Debian's /usr/bin/python3). ctest runs the tests with
COHORT_BIN=<build>/bin and PYTHONPATH=tests/support.

    from cohort_harness import start_backend, Gateway, http_get

    with start_backend(api="v1.1", label="canary", error_rate=0.05) as canary, \\
         Gateway(config_dict) as gw:
        status, headers, body = http_get(gw.port("public"), "/profile")

Every process the harness starts is registered and stopped at interpreter exit
(and, on Linux, killed by the kernel if the test process dies), so a failing
test never leaves a backend or gateway behind. Processes are only ever stopped
by their own PID.
"""

import atexit
import ctypes
import http.client
import http.server
import json
import os
import queue
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

__all__ = [
    "BIN_DIR", "binary", "HarnessError", "Backend", "start_backend", "Gateway",
    "http_get", "raw_exchange", "decode_chunked", "run_wrk", "curl_upload",
    "free_port", "wait_for_port", "fnv1a64", "fnv1a64_zeros", "stream_pattern",
    "FNV_OFFSET", "ROLLOUT", "DECISION", "PROBE_USERS", "gateway_config", "msg_is",
    "msg_starts", "Traffic", "WebhookServer", "StatusBackend", "RolloutTestCase",
]

_HERE = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.environ.get("COHORT_BIN") or os.path.normpath(
    os.path.join(_HERE, "..", "..", "build", "bin"))


class HarnessError(RuntimeError):
    """A process did not start or behave as the harness expected."""


def binary(name):
    """Absolute path of a built program; fails loudly if it is not built."""
    path = os.path.join(BIN_DIR, name)
    if not os.access(path, os.X_OK):
        raise HarnessError(f"{path} is not built (COHORT_BIN={BIN_DIR})")
    return path


# ---------------------------------------------------------------------------
# Process bookkeeping

_live = set()
_live_lock = threading.Lock()


def _register(proc):
    with _live_lock:
        _live.add(proc)


def _unregister(proc):
    with _live_lock:
        _live.discard(proc)


@atexit.register
def _stop_everything():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        try:
            p.close()
        except Exception as e:  # best effort at exit; report, do not mask
            print(f"cohort_harness: cleanup of {p!r} failed: {e}", file=sys.stderr)


def _die_with_parent():
    # Runs in the child between fork and exec: if the test process is killed
    # (ctest timeout), the kernel sends SIGKILL to this child too. Note that
    # it fires when the *thread* that started the child exits, so start
    # processes from the test's main thread.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


def _spawn(argv, cwd=None, env=None):
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, preexec_fn=_die_with_parent)


def _terminate(popen, timeout):
    """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code."""
    if popen.poll() is not None:
        return popen.returncode
    try:
        popen.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        return popen.wait(timeout=10)


def _kill9(popen):
    if popen.poll() is None:
        try:
            popen.kill()
        except ProcessLookupError:
            pass
    return popen.wait(timeout=10)


class _LineCollector(threading.Thread):
    """Reads a pipe line by line into a list (and an optional callback)."""

    def __init__(self, pipe, name, on_line=None):
        super().__init__(name=name, daemon=True)
        self.pipe = pipe
        self.lines = []
        self.on_line = on_line
        self.start()

    def run(self):
        try:
            for raw in iter(self.pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.lines.append(line)
                if self.on_line is not None:
                    self.on_line(line)
        except (OSError, ValueError):
            pass
        finally:
            try:
                self.pipe.close()
            except OSError:
                pass


def _read_first_line(pipe, timeout):
    """The first line of a pipe, or None on EOF / timeout. Reads byte-wise so
    nothing after the newline is consumed."""
    fd = pipe.fileno()
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        b = os.read(fd, 1)
        if not b:
            return None
        if b == b"\n":
            return buf.decode("utf-8", "replace")
        buf += b


# ---------------------------------------------------------------------------
# Demo backend

_LISTENING_RE = re.compile(r"^listening on (\S+):(\d+)\s*$")


class Backend:
    """A running profile-api process. Use start_backend() to make one."""

    def __init__(self, api="v1.0", label=None, start_timeout=10.0, **flags):
        self.api = api
        self.label = label if label is not None else api
        argv = [binary("profile-api"), "--port", "0", "--api", api]
        if label is not None:
            argv += ["--version-label", label]
        for key, value in flags.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                argv.append(flag)
            elif value is not False and value is not None:
                argv += [flag, str(value)]
        self.argv = argv
        self._popen = _spawn(argv)
        _register(self)
        line = _read_first_line(self._popen.stdout, start_timeout)
        match = _LISTENING_RE.match(line or "")
        if not match:
            code = _kill9(self._popen)
            err = self._popen.stderr.read().decode("utf-8", "replace")
            _unregister(self)
            raise HarnessError(
                f"profile-api did not print 'listening on' within {start_timeout}s "
                f"(first line {line!r}, exit {code}): {' '.join(argv)}\n{err}")
        self.host = match.group(1).strip("[]")
        self.port = int(match.group(2))
        self._stdout = _LineCollector(self._popen.stdout, "backend-stdout")
        self._stderr = _LineCollector(self._popen.stderr, "backend-stderr")

    @property
    def pid(self):
        return self._popen.pid

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def url(self, path="/"):
        return f"http://{self.address}{path}"

    @property
    def stderr_lines(self):
        return list(self._stderr.lines)

    def poll(self):
        """None while running, else the exit code."""
        return self._popen.poll()

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after timeout; returns the exit code."""
        code = _terminate(self._popen, timeout)
        _unregister(self)
        return code

    def kill9(self):
        code = _kill9(self._popen)
        _unregister(self)
        return code

    close = stop

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"<Backend {self.label} pid={self.pid} {self.address}>"


def start_backend(api="v1.0", label=None, **flags):
    """Start profile-api on a free port. flags become command-line options:
    error_rate=0.03 -> --error-rate 0.03, latency_ms=80, threads=2, ..."""
    return Backend(api=api, label=label, **flags)


# ---------------------------------------------------------------------------
# Gateway

def _subset_matches(expected, record):
    return all(record.get(k) == v for k, v in expected.items())


class Gateway:
    """A running `cohort serve -c FILE`.

    config is a dict (written as JSON, which is valid YAML) or YAML text. The
    file lives in a private temporary directory that is also the gateway's
    working directory, so relative paths (the default SQLite state file) stay
    inside it and survive restart(). When a dict has no `admin` section, the
    harness adds `admin: {address: 127.0.0.1:0}` so parallel tests never
    collide on the default admin port; it adds the same text on reload.

    Ports are discovered from the gateway's start-up log lines:
      {"level":"info","msg":"listening","listener":"public","address":"127.0.0.1:PORT"}
      {"msg":"admin listening","address":"127.0.0.1:PORT"}
    start() returns once every listener named in a dict config (or in
    `listeners=`) and the admin listener have been announced.

    Each stderr line is parsed as JSON (a line that is not JSON becomes
    {"_raw": line}) and appended to .logs and put on .log_queue.
    """

    def __init__(self, config, *, listeners=None, expect_admin=True, extra_args=(),
                 env=None, start_timeout=15.0, inject_admin=True, start=True,
                 binary_path=None):
        self._binary = binary_path or binary("cohort")
        self._extra_args = list(extra_args)
        self._env = env
        self._start_timeout = start_timeout
        self._inject_admin = inject_admin
        self._expect_listeners = list(listeners) if listeners is not None else None
        self._expect_admin = expect_admin
        self.dir = tempfile.mkdtemp(prefix="cohort-gw-")
        self.config_path = os.path.join(self.dir, "cohort.yaml")
        self.logs = []            # every parsed stderr line, across restarts
        self.log_queue = queue.Queue()
        self.stdout_lines = []
        self.ports = {}           # listener name -> port, for the current process
        self.admin_port = None
        self._cond = threading.Condition()
        self._popen = None
        self._readers = []
        self._start_mark = 0
        self._closed = False
        self._write_config(config)
        _register(self)
        if start:
            try:
                self.start()
            except BaseException:
                self.close()
                raise

    # -- configuration -----------------------------------------------------

    def _write_config(self, config):
        if isinstance(config, dict):
            config = json.loads(json.dumps(config))  # a private deep copy
            if self._inject_admin and "admin" not in config:
                config["admin"] = {"address": "127.0.0.1:0"}
            text = json.dumps(config, indent=2) + "\n"
            names = [l.get("name") for l in config.get("gateway", {}).get("listeners", [])]
            self._config_listeners = [n for n in names if n]
        else:
            text = str(config)
            self._config_listeners = None
        self.config = config
        tmp = self.config_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.config_path)  # the gateway never sees a half-written file

    # -- process lifecycle ---------------------------------------------------

    def start(self):
        if self.running:
            raise HarnessError("gateway already running")
        with self._cond:
            self.ports = {}
            self.admin_port = None
            self._start_mark = len(self.logs)
        argv = [self._binary, "serve", "-c", self.config_path] + self._extra_args
        env = None
        if self._env is not None:
            env = dict(os.environ)
            env.update(self._env)
        self._popen = _spawn(argv, cwd=self.dir, env=env)
        self._readers = [
            _LineCollector(self._popen.stderr, "gateway-stderr", self._on_log_line),
            _LineCollector(self._popen.stdout, "gateway-stdout", self.stdout_lines.append),
        ]
        expected = self._expect_listeners
        if expected is None:
            expected = self._config_listeners
        deadline = time.monotonic() + self._start_timeout
        with self._cond:
            while True:
                have_listeners = (set(expected) <= set(self.ports) if expected is not None
                                  else bool(self.ports))
                have_admin = self.admin_port is not None or not self._expect_admin
                if have_listeners and have_admin:
                    return self
                if self._popen.poll() is not None and self._readers_done():
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
        code = self._popen.poll()
        what = (f"exited with {code}" if code is not None
                else f"did not announce its listeners within {self._start_timeout}s")
        self.kill9()
        raise HarnessError(
            f"cohort serve {what}; expected listeners {expected}, admin={self._expect_admin}, "
            f"saw {self.ports}, admin_port={self.admin_port}\n{self.logs_text()}")

    def _readers_done(self):
        return all(not r.is_alive() for r in self._readers)

    def _on_log_line(self, line):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                record = {"_raw": line}
        except ValueError:
            record = {"_raw": line}
        with self._cond:
            msg = record.get("msg")
            address = record.get("address")
            port_text = address.rpartition(":")[2] if isinstance(address, str) else ""
            if port_text.isdigit():
                if msg == "listening" and record.get("listener"):
                    self.ports[record["listener"]] = int(port_text)
                elif msg == "admin listening":
                    self.admin_port = int(port_text)
            self.logs.append(record)
            self._cond.notify_all()
        self.log_queue.put(record)

    @property
    def pid(self):
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self):
        return self._popen is not None and self._popen.poll() is None

    def poll(self):
        return self._popen.poll() if self._popen is not None else None

    def port(self, listener="public"):
        with self._cond:
            if listener not in self.ports:
                raise KeyError(f"no listener {listener!r} announced; have {sorted(self.ports)}")
            return self.ports[listener]

    def address(self, listener="public"):
        return f"127.0.0.1:{self.port(listener)}"

    def url(self, path="/", listener="public"):
        return f"http://{self.address(listener)}{path}"

    def admin_url(self, path="/"):
        if self.admin_port is None:
            raise KeyError("the admin listener was not announced")
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def reload(self, new_config):
        """Rewrite the config file and send SIGHUP. Returns the log mark taken
        just before, for wait_for_log(..., since=mark)."""
        if not self.running:
            raise HarnessError("gateway is not running")
        mark = self.log_mark()
        self._write_config(new_config)
        self._popen.send_signal(signal.SIGHUP)
        return mark

    def stop(self, timeout=15.0):
        """SIGTERM (drain), wait, SIGKILL after timeout. Returns the exit code."""
        if self._popen is None:
            return None
        code = _terminate(self._popen, timeout)
        self._join_readers()
        return code

    def kill9(self):
        if self._popen is None:
            return None
        code = _kill9(self._popen)
        self._join_readers()
        return code

    def restart(self, new_config=None, timeout=15.0):
        """Stop (SIGTERM) if running, optionally replace the config, start
        again in the same directory (same state file). Ports are rediscovered.
        Returns the exit code of the stopped process (None if it was down)."""
        code = self.stop(timeout) if self.running else self.poll()
        if new_config is not None:
            self._write_config(new_config)
        self.start()
        return code

    def _join_readers(self):
        for r in self._readers:
            r.join(timeout=5)

    def close(self):
        """Stop the process and remove the private directory (kept when
        COHORT_KEEP_TMP=1, for debugging)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            _unregister(self)
            if os.environ.get("COHORT_KEEP_TMP") != "1":
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<Gateway pid={self.pid} ports={self.ports} admin={self.admin_port}>"

    # -- logs ------------------------------------------------------------------

    def log_mark(self):
        """An index into .logs; pass it as since= to ignore older lines."""
        with self._cond:
            return len(self.logs)

    def wait_for_log(self, predicate, timeout=5.0, since=None):
        """The first log record (a dict) at index >= since that satisfies
        predicate: a callable, or a dict matched as a subset of the record.
        since defaults to the start of the current process. Raises
        TimeoutError with the recent log lines when nothing matches."""
        match = predicate if callable(predicate) else (
            lambda r, expected=dict(predicate): _subset_matches(expected, r))
        index = self._start_mark if since is None else since
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while index < len(self.logs):
                    record = self.logs[index]
                    index += 1
                    if match(record):
                        return record
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if self._popen is not None and self._popen.poll() is not None \
                        and self._readers_done():
                    break  # nothing more will come
                self._cond.wait(min(left, 0.1))
        raise TimeoutError(f"no log line matched within {timeout}s\n{self.logs_text()}")

    def logs_text(self, last=40):
        with self._cond:
            tail = self.logs[-last:]
        return "\n".join(json.dumps(r) for r in tail)


# ---------------------------------------------------------------------------
# Clients

def http_get(port, path, headers=None, method="GET", body=None, timeout=5.0, host="127.0.0.1"):
    """One request on a fresh connection. Returns (status, headers, body):
    headers is an http.client.HTTPMessage (case-insensitive .get, .get_all)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data
    finally:
        conn.close()


def raw_exchange(port, data, timeout=5.0, host="127.0.0.1", shutdown_write=False):
    """Send bytes as is and return every byte received until the peer closes
    or timeout passes without the connection closing."""
    deadline = time.monotonic() + timeout
    received = bytearray()
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return bytes(received)


def decode_chunked(data):
    """Split a raw HTTP/1.1 response with a chunked body into
    (status_line, headers as [(name, value)], body bytes, chunk sizes,
    trailers as {lower-case name: value}). Raises ValueError if malformed
    or incomplete."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        raise ValueError("no end of headers")
    head = data[:head_end].decode("latin-1").split("\r\n")
    status_line, header_lines = head[0], head[1:]
    headers = [tuple(part.strip() for part in h.split(":", 1)) for h in header_lines]
    pos = head_end + 4
    body = bytearray()
    sizes = []
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise ValueError("truncated chunk size line")
        size = int(data[pos:eol].split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            break
        if data[pos + size:pos + size + 2] != b"\r\n":
            raise ValueError("chunk not followed by CRLF")
        body += data[pos:pos + size]
        sizes.append(size)
        pos += size + 2
    trailers = {}
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise ValueError("truncated trailer section")
        line = data[pos:eol].decode("latin-1")
        pos = eol + 2
        if not line:
            break
        name, _, value = line.partition(":")
        trailers[name.strip().lower()] = value.strip()
    return status_line, headers, bytes(body), sizes, trailers


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (racy by nature: prefer port 0 and
    reading the port back when the program supports it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=5.0, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} not accepting connections after {timeout}s")


# ---------------------------------------------------------------------------
# Checksums and patterns (match profile-api's /echo and /stream)

FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1


def fnv1a64(data, h=FNV_OFFSET):
    """FNV-1a 64 of data, continuing from h. Pure Python: about 5 MB/s, so
    keep it to a few MiB; use fnv1a64_zeros for long runs of zero bytes."""
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK64
    return h


def fnv1a64_zeros(count, h=FNV_OFFSET):
    """FNV-1a 64 continued over `count` zero bytes, in O(log count):
    XOR with 0 is the identity, so each byte only multiplies by the prime."""
    return (h * pow(_FNV_PRIME, count, 1 << 64)) & _MASK64


def stream_pattern(n, offset=0):
    """The first n bytes (from offset) of profile-api's /stream body."""
    digits = b"0123456789"
    start = offset % 10
    reps = (start + n) // 10 + 1
    return (digits * reps)[start:start + n]


# ---------------------------------------------------------------------------
# External tools

def curl_upload(url, chunks, headers=(), method=None, timeout=60.0, chunked=True):
    """Stream an iterable of bytes to url through curl's stdin (never held in
    memory). Returns (curl exit code, response body, curl stderr, HTTP status
    or 0 when there was no response)."""
    argv = ["curl", "-sS", "--max-time", str(timeout), "-T", "-",
            "-w", "\nHTTP_STATUS:%{http_code}"]
    if chunked:
        argv += ["-H", "Transfer-Encoding: chunked"]
    if method:
        argv += ["-X", method]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    def feed():
        try:
            for chunk in chunks:
                proc.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            pass  # curl gave up; its exit code says why
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    # Not communicate(): it closes stdin, cutting the upload short.
    outputs = {}

    def drain(name, pipe):
        with pipe:
            outputs[name] = pipe.read()

    threads = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=drain, args=("out", proc.stdout), daemon=True),
               threading.Thread(target=drain, args=("err", proc.stderr), daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for t in threads:
        t.join(timeout=10)
    out, err = outputs.get("out", b""), outputs.get("err", b"")
    body, _, status = out.rpartition(b"\nHTTP_STATUS:")
    return proc.returncode, body, err.decode("utf-8", "replace"), int(status or 0)


_WRK_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
_WRK_COUNT_UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}


def _wrk_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(m.group(1)) * _WRK_TIME_UNITS[m.group(2)]


def parse_wrk(output):
    """Parse wrk's text report (run with --latency) into a dict."""
    result = {"requests": 0, "duration_s": None, "requests_per_s": None, "non_2xx": 0,
              "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
              "latency_ms": {}, "raw": output}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    if m:
        result["requests"] = int(m.group(1))
        result["duration_s"] = _wrk_ms(m.group(2) + m.group(3)) / 1000.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if m:
        result["requests_per_s"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if m:
        result["non_2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m:
        result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                           map(int, m.groups())))
    m = re.search(r"Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)", output)
    if m:
        result["latency_ms"]["avg"] = _wrk_ms(m.group(1))
        result["latency_ms"]["stdev"] = _wrk_ms(m.group(2))
        result["latency_ms"]["max"] = _wrk_ms(m.group(3))
    dist = output.split("Latency Distribution", 1)
    if len(dist) == 2:
        for pct, value in re.findall(r"^\s+([\d.]+)%\s+([\d.]+\w+)\s*$", dist[1], re.M):
            result["latency_ms"][f"p{float(pct):g}"] = _wrk_ms(value)
    return result


def run_wrk(url, duration_s=5, connections=10, threads=1, lua_script=None, timeout=None,
            headers=(), wrk_timeout_s=None):
    """Run wrk against url and return parse_wrk()'s dict (requests, non_2xx,
    socket_errors, latency_ms{avg,stdev,max,p50,p75,p90,p99}, requests_per_s,
    raw). lua_script is script text, or a path to a .lua file. Always bounded:
    wrk is killed after `timeout` seconds (default duration + 30)."""
    threads = max(1, min(threads, connections))
    argv = ["wrk", "--latency", "-d", f"{duration_s}s", "-c", str(connections),
            "-t", str(threads)]
    if wrk_timeout_s is not None:
        argv += ["--timeout", f"{wrk_timeout_s}s"]
    for h in headers:
        argv += ["-H", h]
    tmpdir = None
    try:
        if lua_script is not None:
            if lua_script.endswith(".lua") and os.path.isfile(lua_script):
                script_path = lua_script
            else:
                tmpdir = tempfile.mkdtemp(prefix="cohort-wrk-")
                script_path = os.path.join(tmpdir, "script.lua")
                with open(script_path, "w", encoding="utf-8") as f:
                    f.write(lua_script)
            argv += ["-s", script_path]
        argv.append(url)
        limit = timeout if timeout is not None else duration_s + 30
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=limit, check=False)
        except subprocess.TimeoutExpired as e:
            raise HarnessError(f"wrk did not finish within {limit}s: {' '.join(argv)}") from e
        out = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise HarnessError(f"wrk exited with {proc.returncode}: "
                               f"{proc.stderr.decode('utf-8', 'replace')}\n{out}")
        result = parse_wrk(out)
        result["stderr"] = proc.stderr.decode("utf-8", "replace")
        return result
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Rollouts: configuration, load, webhook receivers and a status-code backend,
# shared by the e2e tests of the controller (test_rollout_controller,
# test_judgement, test_webhooks).


ROLLOUT = "profile-api"
DECISION = "x-cohort-decision"
PROBE_USERS = [f"u{i}" for i in range(300)]


def gateway_config(stable, canary, *, steps, metrics=None, threshold=3, min_requests=20,
                   no_data_deadline=None, webhooks=None, promotion="auto", revision=None,
                   baseline=None, cohorts=None, sequential=None, judge=None, interval="1s"):
    """One service (stable, canary and optionally baseline subsets, each a
    backend with .address), one route /profile and one rollout named ROLLOUT,
    with its state in sqlite:state.db inside the gateway's directory."""
    analysis = {"interval": interval, "threshold": threshold, "min_requests": min_requests,
                "metrics": metrics if metrics is not None else [
                    {"name": "success-rate", "min": "99%"},
                    {"name": "latency-p99", "max": "500ms"}]}
    if no_data_deadline is not None:
        analysis["no_data_deadline"] = no_data_deadline
    if sequential is not None:
        analysis["sequential"] = sequential
    if judge is not None:
        analysis["judge"] = judge
    rollout = {"name": ROLLOUT, "service": "profile-api",
               "session": {"key": [{"header": "X-User-Id"}], "anonymous": "random"},
               "steps": steps, "analysis": analysis, "promotion": promotion}
    if webhooks:
        rollout["webhooks"] = webhooks
    if revision is not None:
        rollout["revision"] = revision
    if cohorts:
        rollout["cohorts"] = cohorts
    subsets = {"stable": {"endpoints": [stable.address]},
               "canary": {"endpoints": [canary.address]}}
    if baseline is not None:
        subsets["baseline"] = {"endpoints": [baseline.address]}
        rollout["baseline"] = "baseline"
    return {
        "gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
                    "workers": 1, "decision_header": DECISION},
        "state": {"store": "sqlite:state.db"},
        "services": [{"name": "profile-api", "subsets": subsets}],
        "routes": [{"name": "profile", "match": {"path_prefix": "/profile"},
                    "service": "profile-api"}],
        "rollouts": [rollout],
    }


def msg_is(text):
    return lambda r: r.get("msg") == text


def msg_starts(prefix):
    return lambda r: isinstance(r.get("msg"), str) and r["msg"].startswith(prefix)


class Traffic:
    """cohort-loadgen in the background, bounded by --duration and stopped by
    its PID. extra_args go to the load generator as they are
    (["--internal-share", "0"]); report() stops it and returns its --json
    report (versions, transitions between versions per user, statuses)."""

    def __init__(self, gw, rate=300, users=1000, duration=30, connections=32, seed=1,
                 extra_args=()):
        argv = [binary("cohort-loadgen"), "--target", f"http://127.0.0.1:{gw.port()}",
                "--path", "/profile", "--users", str(users), "--rate", str(rate),
                "--connections", str(connections), "--duration", f"{duration}s",
                "--seed", str(seed), "--report-every", "0", "--json", *extra_args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.output = None

    def stop(self):
        if self.output is not None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.output = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.output = self.proc.communicate(timeout=10)

    def report(self):
        self.stop()
        out, err = self.output
        try:
            return json.loads(out)
        except ValueError as e:
            raise HarnessError(f"cohort-loadgen printed no JSON report (exit {self.proc.returncode}):"
                               f" {out!r} {err!r}") from e


class Hook(http.server.BaseHTTPRequestHandler):
    """Records each POST (its JSON body, path and arrival time) and answers
    the receiver's status after its delay, with its answer body."""

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with srv.lock:
            srv.calls.append(json.loads(body or b"{}"))
            srv.times.append(time.monotonic())
            srv.paths.append(self.path)
            status, delay, answer = srv.status, srv.delay, srv.answer
        if delay:
            time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        if answer:
            self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class WebhookServer:
    """A webhook receiver on loopback whose answer the test changes."""

    def __init__(self, status=200, delay=0.0, answer=b""):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.httpd.daemon_threads = True
        self.httpd.lock = threading.Lock()
        self.httpd.calls = []
        self.httpd.times = []
        self.httpd.paths = []
        self.httpd.status = status
        self.httpd.delay = delay
        self.httpd.answer = answer
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def set_status(self, status, answer=None):
        with self.httpd.lock:
            self.httpd.status = status
            if answer is not None:
                self.httpd.answer = answer

    @property
    def calls(self):
        with self.httpd.lock:
            return list(self.httpd.calls)

    def calls_since(self, t):
        """The calls that arrived at or after monotonic time t."""
        with self.httpd.lock:
            return [c for c, at in zip(self.httpd.calls, self.httpd.times) if at >= t]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like profile-api

    def do_GET(self):
        srv = self.server
        with srv.lock:
            status = srv.status if srv.rng.random() < srv.share else 200
            srv.answered[status] = srv.answered.get(status, 0) + 1
        body = json.dumps({"userId": self.headers.get("X-User-Id", ""),
                           "version": srv.label}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend-Version", srv.label)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class StatusBackend:
    """A small backend for status codes profile-api cannot give: it answers
    `status` to a `share` of GET requests (seeded) and 200 to the rest, with a
    JSON body {"userId", "version": label} and X-Backend-Version: label."""

    def __init__(self, label, status=403, share=1.0, seed=1):
        self.label = label
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
        self.httpd.daemon_threads = True
        self.httpd.lock = threading.Lock()
        self.httpd.label = label
        self.httpd.status = status
        self.httpd.share = share
        self.httpd.rng = random.Random(seed)
        self.httpd.answered = {}
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.host, self.port = "127.0.0.1", self.httpd.server_address[1]

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    @property
    def answered(self):
        with self.httpd.lock:
            return dict(self.httpd.answered)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class RolloutTestCase(unittest.TestCase):
    """Starts what a rollout test needs and stops it at cleanup; reads the
    admin API, the CLI, /metrics and real answers the way an operator would."""

    def backends(self, **canary_flags):
        stable = start_backend(api="v1.0", label="stable")
        self.addCleanup(stable.stop)
        canary = start_backend(api="v1.1", label="canary", **canary_flags)
        self.addCleanup(canary.stop)
        return stable, canary

    def gateway(self, config):
        gw = Gateway(config)
        self.addCleanup(gw.close)
        return gw

    def half_on_the_canary(self):
        """A gateway whose rollout holds 50% of the users on the canary
        (steps 50%, 90%; it never advances), once real users show both."""
        stable, canary = self.backends()
        gw = self.gateway(gateway_config(stable, canary, min_requests=10**9,
                                         steps=[{"weight": "50%"}, {"weight": "90%"}]))
        gw.wait_for_log(msg_is(f"Starting canary analysis for {ROLLOUT}"), timeout=5)
        seen = self.probe(gw, PROBE_USERS[:100])
        self.assertEqual({v for _, v in seen.values()}, {"stable", "canary"})
        return gw

    def traffic(self, gw, **kw):
        t = Traffic(gw, **kw)
        self.addCleanup(t.stop)
        return t

    def api(self, gw, path=f"/api/v1/rollouts/{ROLLOUT}", method="GET"):
        status, _, body = http_get(gw.admin_port, path, method=method)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def wait_api(self, gw, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            state = self.api(gw)
            if predicate(state):
                return state
            if time.monotonic() > deadline:
                self.fail(f"{what} not reached within {timeout}s: {json.dumps(state)[:1500]}\n"
                          f"{gw.logs_text()}")
            time.sleep(0.1)

    def cli(self, gw, *args):
        out = subprocess.run([binary("cohort"), *args, "--admin", gw.admin_url("").rstrip("/")],
                             capture_output=True, text=True, timeout=20)
        return out

    def probe(self, gw, users=PROBE_USERS, headers=None):
        """(decision header, backend version) of one real request per user."""
        seen = {}
        for u in users:
            status, got, body = http_get(gw.port(), "/profile",
                                         headers={"X-User-Id": u, **(headers or {})})
            self.assertEqual(status // 100 in (2, 5), True, body)
            seen[u] = (got.get(DECISION), got.get("X-Backend-Version"))
        return seen

    def explain(self, gw, users=PROBE_USERS, headers=None):
        """The subset and reason the gateway would choose, without sending traffic."""
        out = {}
        for u in users:
            status, _, body = http_get(
                gw.admin_port, "/api/v1/explain", method="POST",
                body=json.dumps({"method": "GET", "path": "/profile",
                                 "headers": {"X-User-Id": u, **(headers or {})}}),
                headers={"Content-Type": "application/json"})
            self.assertEqual(status, 200, body)
            j = json.loads(body)
            out[u] = (j["subset"], j["reason"])
        return out

    def messages(self, gw, since=0):
        return [r.get("msg", "") for r in gw.logs[since:]]

    def assert_all_on_stable(self, gw, reason, users=PROBE_USERS):
        seen = self.probe(gw, users)
        self.assertEqual({d for d, _ in seen.values()}, {reason}, seen)
        self.assertEqual({v for _, v in seen.values()}, {"stable"})

    def metrics_text(self, gw):
        status, _, body = http_get(gw.admin_port, "/metrics")
        self.assertEqual(status, 200)
        return body.decode()

    def metric_value(self, text, name, **labels):
        for line in text.splitlines():
            if not (line.startswith(name + "{") or line.startswith(name + " ")):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return None
