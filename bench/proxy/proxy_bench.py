#!/usr/bin/env python3
"""Side-by-side proxy benchmark: Cohort, nginx and HAProxy on the same canary rule.

Started by bench/proxy/run.sh (which installs nginx and haproxy if missing).
Every process it starts lives under one temporary directory, listens on free
loopback ports and is stopped by its PID; no system service is touched.

The rule, the same for every proxy: a request with `X-User-Cohort: internal`
goes to the canary backend; any other request goes to the canary when a sticky
hash of `X-User-Id` falls in the first 5% of 10,000 buckets, else to stable.
Upstream connections are kept alive.
The request each proxy sends upstream is the same too: every proxy adds what
Cohort adds (X-Forwarded-For, X-Forwarded-Proto, Via and a W3C traceparent with
fresh ids), and Via on the response.

Settings come from the environment (see docs/performance.md):
  BENCH_QUICK=1          2 rounds of 3 s, 1-worker round only, 2,000 idle conns
  BENCH_ROUNDS           rounds per target (default 5)
  BENCH_DURATION         seconds per wrk run (default 10)
  BENCH_CONNECTIONS      wrk connections (default 64)
  BENCH_WORKERS          worker configurations to run, e.g. "1 2" (default "1 2")
  BENCH_TARGETS          subset/order of "haproxy nginx cohort"
  BENCH_BACKEND_CPU      "0" pins the backends to core 0 with the proxy (default:
                         the layout whose rounds agree), "1" to core 1 with wrk,
                         "float" lets them run on either core (the scheduler
                         then decides each round, see docs/performance.md)
  BENCH_PROXY_HEADERS    "on": every proxy adds X-Forwarded-For/-Proto, Via and a
                         traceparent (default); "off": none does (Cohort with
                         gateway.proxy_headers all false)
  BENCH_IDLE_CONNS       idle keep-alive connections for the memory figure
                         (default 10000; 0 skips it)
  BENCH_OUT              also write all raw figures as JSON to this file
  COHORT_BIN             the gateway binary (default build/bin/cohort)
"""

import json
import random
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import idle_conns  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
EXPECTED_CANARY = 1.0 + 0.99 * 5.0  # internal 1%, then 5% of everyone else
SPLIT_TOLERANCE = 1.5  # percentage points
QUIET_CORES = 0.25  # a round whose "other load" stays below this counts as quiet


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


QUICK = os.environ.get("BENCH_QUICK", "0") == "1"
ROUNDS = env_int("BENCH_ROUNDS", 2 if QUICK else 5)
DURATION = env_int("BENCH_DURATION", 3 if QUICK else 10)
CONNECTIONS = env_int("BENCH_CONNECTIONS", 64)
WORKERS = [int(w) for w in os.environ.get("BENCH_WORKERS", "1" if QUICK else "1 2").split()]
TARGETS = os.environ.get("BENCH_TARGETS", "haproxy nginx cohort").split()
BACKEND_CPU = os.environ.get("BENCH_BACKEND_CPU", "0")
PROXY_HEADERS = os.environ.get("BENCH_PROXY_HEADERS", "on")
if PROXY_HEADERS not in ("on", "off"):
    sys.exit("BENCH_PROXY_HEADERS must be on or off, not %r" % PROXY_HEADERS)
IDLE_CONNS = env_int("BENCH_IDLE_CONNS", 2000 if QUICK else 10000)
COHORT_BIN = os.environ.get("COHORT_BIN", os.path.join(ROOT, "build/bin/cohort"))
WRK_SCRIPT = os.path.join(HERE, "canary.lua")


# ---------------------------------------------------------------- processes


def free_port():
    """A free loopback port below the ephemeral range, so that neither port-0
    listeners of other programs nor outgoing connections take it between this
    check and the proxy's bind."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except OSError:
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port found")


def wait_port(port, proc, what, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on %d" % (what, port))


def descendants(pid):
    """pid and every process below it (nginx: master and workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    """utime + stime of the processes (all their threads), in clock ticks."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat
    return total


def busy_ticks():
    """Busy CPU time of the whole machine (all cores), in clock ticks."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4]  # minus idle and iowait


def children_ticks():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * CLK_TCK


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/statm" % p) as f:
                total += int(f.read().split()[1]) * PAGE_KIB
        except OSError:
            continue
    return total


class Proc:
    """A process we started; stopped by its PID only."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.popen = subprocess.Popen(
            argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.pid = self.popen.pid

    def pids(self):
        return descendants(self.pid)

    def stop(self):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


def pin(cpu, argv):
    return argv if cpu is None else ["taskset", "-c", str(cpu)] + argv


# ---------------------------------------------------------------- configs


def nginx_common(work, name, workers):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    return d, """worker_processes %d;
daemon off;
master_process on;
pid %s/nginx.pid;
error_log %s/error.log warn;
worker_rlimit_nofile 30000;
events { worker_connections 30000; multi_accept off; }
""" % (
        workers,
        d,
        d,
    ), """
  access_log off;
  client_body_temp_path %s/tmp/body;
  proxy_temp_path %s/tmp/proxy;
  fastcgi_temp_path %s/tmp/fastcgi;
  uwsgi_temp_path %s/tmp/uwsgi;
  scgi_temp_path %s/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
""" % (
        d,
        d,
        d,
        d,
        d,
    )


def start_backends(work, workers, cpu):
    """One nginx serving two ports; the body names the backend."""
    d, top, http_common = nginx_common(work, "backends", workers)
    stable, canary = free_port(), free_port()
    conf = top + "http {\n" + http_common + """
  default_type text/plain;
  server { listen 127.0.0.1:%d reuseport backlog=4096; location / { return 200 "stable\\n"; } }
  server { listen 127.0.0.1:%d reuseport backlog=4096; location / { return 200 "canary\\n"; } }
}
""" % (
        stable,
        canary,
    )
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    p = Proc("backends", pin(cpu, ["nginx", "-p", d, "-e", d + "/error.log", "-c", path]),
             os.path.join(d, "out.log"))
    wait_port(stable, p.popen, "backend nginx")
    wait_port(canary, p.popen, "backend nginx")
    return p, stable, canary


# The config lines that add the fields Cohort adds (see BENCH_PROXY_HEADERS).
NGINX_ADDED_HEADERS = ("map $request_id $span_id", "proxy_set_header X-Forwarded-",
                       "proxy_set_header Via", "proxy_set_header traceparent", "add_header Via")
HAPROXY_ADDED_HEADERS = ("option forwardfor", "http-request set-header X-Forwarded-Proto",
                         "http-request add-header Via", "http-request set-header traceparent",
                         "http-response add-header Via")


def added_headers(conf, lines):
    """conf as written with BENCH_PROXY_HEADERS=on; without those lines when off."""
    if PROXY_HEADERS == "on":
        return conf
    return "\n".join(l for l in conf.split("\n") if not l.strip().startswith(lines))


def start_nginx(work, workers, cpu, stable, canary):
    d, top, http_common = nginx_common(work, "nginx", workers)
    port = free_port()
    h2_port = free_port()  # h2c with prior knowledge
    conf = top + "http {\n" + http_common + """
  map $http_x_user_cohort $is_internal { internal 1; default 0; }
  split_clients "${http_x_user_id}" $bucket { 5%% canary; * stable; }
  map $is_internal $pool { 1 canary; default $bucket; }
  map $request_id $span_id { "~^(?<half>.{16})" $half; }
  upstream stable { server 127.0.0.1:%d; keepalive 256; keepalive_requests 1000000; }
  upstream canary { server 127.0.0.1:%d; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:%d backlog=4096;
    listen 127.0.0.1:%d http2 backlog=4096;
    location / {
      proxy_pass http://$pool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Via "1.1 nginx";
      proxy_set_header traceparent "00-$request_id-$span_id-01";
      add_header Via "1.1 nginx" always;
    }
  }
}
""" % (
        stable,
        canary,
        port,
        h2_port,
    )
    conf = added_headers(conf, NGINX_ADDED_HEADERS)
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    p = Proc("nginx", pin(cpu, ["nginx", "-p", d, "-e", d + "/error.log", "-c", path]),
             os.path.join(d, "out.log"))
    wait_port(port, p.popen, "nginx")
    p.h2_port = h2_port
    return p, port


def haproxy_maxconn():
    """HAProxy wants two descriptors per connection (client and server side)
    and refuses to start when the fd limit is short of that."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1000, (soft - 300) // 2)


def haproxy_config(workers, pid_dir, port, h2_port, stable, canary):
    """HAProxy's config for the rule (also bench/proxy/callgrind.sh's)."""
    conf = """global
  nbthread %d
  maxconn %d
  pidfile %s/haproxy.pid

defaults
  mode http
  option http-keep-alive
  timeout connect 1s
  timeout client 60s
  timeout server 15s
  timeout http-keep-alive 60s

frontend fe
  bind 127.0.0.1:%d
  bind 127.0.0.1:%d proto h2
  http-request set-var(txn.bucket) req.hdr(X-User-Id),xxh32,mod(10000)
  use_backend canary if { req.hdr(X-User-Cohort) -m str internal }
  use_backend canary if { var(txn.bucket) -m int lt 500 }
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request add-header Via "1.1 haproxy"
  http-request set-header traceparent "00-%%[uuid,regsub(-,,g)]-%%[uuid,regsub(-,,g),bytes(0,16)]-01"
  http-response add-header Via "1.1 haproxy"
  default_backend stable

backend stable
  http-reuse always
  server s1 127.0.0.1:%d

backend canary
  http-reuse always
  server c1 127.0.0.1:%d
""" % (
        workers,
        haproxy_maxconn(),
        pid_dir,
        port,
        h2_port,
        stable,
        canary,
    )
    return added_headers(conf, HAPROXY_ADDED_HEADERS)


def start_haproxy(work, workers, cpu, stable, canary):
    d = os.path.join(work, "haproxy")
    os.makedirs(d, exist_ok=True)
    port = free_port()
    h2_port = free_port()  # h2c with prior knowledge
    conf = haproxy_config(workers, d, port, h2_port, stable, canary)
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    check = subprocess.run(["haproxy", "-c", "-f", path], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError("haproxy config rejected:\n" + check.stdout + check.stderr)
    # -db: stay in the foreground, no master-worker; one process, nbthread threads.
    p = Proc("haproxy", pin(cpu, ["haproxy", "-db", "-f", path]), os.path.join(d, "out.log"))
    wait_port(port, p.popen, "haproxy")
    p.h2_port = h2_port
    return p, port


def cohort_config(workers, state_dir, stable, canary, listen="127.0.0.1:0", admin="127.0.0.1:0"):
    """Cohort's config for the rule (also bench/proxy/callgrind.sh's)."""
    conf = """gateway:
  listeners: [{ name: public, address: "%s" }]
  workers: %d
  access_log: { mode: off }
%sadmin: { address: "%s" }
state: { store: "sqlite:%s/state.db" }
services:
  - name: profile-api
    subsets:
      stable: { endpoints: ["127.0.0.1:%d"] }
      canary: { endpoints: ["127.0.0.1:%d"] }
routes:
  - name: all
    service: profile-api
rollouts:
  - name: profile-api
    service: profile-api
    session:
      key: [ { header: X-User-Id } ]
      anonymous: stable
    cohorts:
      - name: internal
        match: { headers: [ { name: X-User-Cohort, exact: internal } ] }
        pin: canary
    weight: 5%%
""" % (
        listen,
        workers,
        "" if PROXY_HEADERS == "on" else
        "  proxy_headers: { x_forwarded: false, via: false, traceparent: false }\n",
        admin,
        state_dir,
        stable,
        canary,
    )
    return conf


def start_cohort(work, workers, cpu, stable, canary):
    d = os.path.join(work, "cohort")
    os.makedirs(d, exist_ok=True)
    conf = cohort_config(workers, d, stable, canary)
    path = os.path.join(d, "cohort.yaml")
    with open(path, "w") as f:
        f.write(conf)
    log = os.path.join(d, "stderr.log")
    p = Proc("cohort", pin(cpu, [COHORT_BIN, "serve", "-c", path]), log)
    pattern = re.compile(r'"msg":"listening","listener":"public","address":"127\.0\.0\.1:(\d+)"')
    deadline = time.time() + 15
    while time.time() < deadline:
        if p.popen.poll() is not None:
            raise RuntimeError("cohort exited:\n" + open(log).read()[-2000:])
        m = pattern.search(open(log).read())
        if m:
            port = int(m.group(1))
            wait_port(port, p.popen, "cohort")
            return p, port
        time.sleep(0.05)
    raise RuntimeError("cohort did not report its listener:\n" + open(log).read()[-2000:])


STARTERS = {"haproxy": start_haproxy, "nginx": start_nginx, "cohort": start_cohort}
LABELS = {"haproxy": "HAProxy", "nginx": "nginx", "cohort": "Cohort"}


# ---------------------------------------------------------------- load


def run_wrk(port, seconds, threads, cpu, check_split=False):
    env = dict(os.environ)
    env["CHECK_SPLIT"] = "1" if check_split else "0"
    argv = pin(cpu, ["wrk", "-t%d" % threads, "-c%d" % CONNECTIONS, "-d%ds" % seconds,
                     "--latency", "-s", WRK_SCRIPT, "http://127.0.0.1:%d/profile" % port])
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError("wrk gave no summary:\n" + out.stdout + out.stderr)


class CpuWindow:
    """CPU time while one load runs: the proxy's own, and as a noise gauge
    for the round what the rest of the machine used meanwhile (other users,
    kernel work not charged to our processes): not the proxy, not the
    backends, not the load generator (a child of ours)."""

    def __init__(self, proc, backends=None):
        self.pids = proc.pids()
        self.ours = self.pids + (backends.pids()
                                 if backends is not None and backends is not proc else [])
        self.start = self._sample()

    def _sample(self):
        return cpu_ticks(self.pids), cpu_ticks(self.ours), busy_ticks(), children_ticks()

    def close(self, secs):
        proxy, ours, busy, children = (b - a for a, b in zip(self.start, self._sample()))
        self.proxy_ticks = proxy
        self.other_cores = max(0.0, busy - ours - children) / CLK_TCK / secs


def run_h2load(port, seconds, cpu):
    """h2load over h2c (prior knowledge): 16 connections x 10 streams for
    `seconds`; one X-User-Id for every request (h2load sends fixed headers)."""
    argv = pin(cpu, ["h2load", "-c", "16", "-m", "10", "-t", "1", "-D", str(seconds),
                     "-H", "X-User-Id: 4242", "http://127.0.0.1:%d/profile" % port])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    ok = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    if not (m and ok and codes):
        raise RuntimeError("h2load gave no summary:\n" + out)
    secs = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    succeeded = int(ok.group(1))
    return {"requests": succeeded, "duration_s": secs,
            "errors": int(ok.group(2)) + sum(int(codes.group(i)) for i in (3, 4)),
            "mean_latency": mean.group(1) if mean else "?"}


def measure_h2(proc, port, seconds, wrk_cpu, backends):
    window = CpuWindow(proc, backends)
    r = checked(proc, lambda: run_h2load(port, seconds, wrk_cpu))
    window.close(r["duration_s"])
    return {"rps": r["requests"] / r["duration_s"], "requests": r["requests"],
            "errors": r["errors"], "mean_latency": r["mean_latency"],
            "cpu_us_per_req": window.proxy_ticks / CLK_TCK * 1e6 / max(r["requests"], 1),
            "other_cores": window.other_cores}


def print_h2_report(results, targets):
    print("\n## HTTP/2 (h2c, h2load -c16 -m10, 1 worker each, proxy on core 0, h2load on "
          "core 1)\n")
    print("| target | req/s | mean latency | proxy CPU µs/req | errors | req/s vs HAProxy "
          "| CPU/req vs HAProxy |")
    print("|---|---|---|---|---|---|---|")
    base = results.get("haproxy")
    ratios = {}
    for t in targets:
        rs = results[t]
        rps = median([r["rps"] for r in rs])
        cpu = median([r["cpu_us_per_req"] for r in rs])
        vs_rps = vs_cpu = "-"
        if base and t != "haproxy":
            per_rps = [a["rps"] / b["rps"] for a, b in zip(rs, base) if b["rps"]]
            per_cpu = [a["cpu_us_per_req"] / b["cpu_us_per_req"]
                       for a, b in zip(rs, base) if b["cpu_us_per_req"]]
            ratios[t] = {"rps": median(per_rps), "cpu_us_per_req": median(per_cpu)}
            vs_rps, vs_cpu = "%.2f" % ratios[t]["rps"], "%.2f" % ratios[t]["cpu_us_per_req"]
        print("| %s | %.0f | %s | %.2f | %d | %s | %s |" % (
            LABELS[t], rps, rs[len(rs) // 2]["mean_latency"], cpu,
            sum(r["errors"] for r in rs), vs_rps, vs_cpu))
    print("\n(medians over %d rounds; ratios are medians of per-round ratios)"
          % len(results[targets[0]]))
    return ratios


def measure(proc, port, seconds, threads, wrk_cpu, backends=None):
    window = CpuWindow(proc, backends)
    r = checked(proc, lambda: run_wrk(port, seconds, threads, wrk_cpu))
    secs = r["duration_us"] / 1e6
    window.close(secs)
    errors = sum(r["errors"].values())
    return {
        "rps": r["requests"] / secs,
        "requests": r["requests"],
        "errors": errors,
        "error_kinds": r["errors"],  # wrk: connect, read, write, status (non-2xx/3xx), timeout
        "p50_us": r["p50_us"],
        "p99_us": r["p99_us"],
        "p999_us": r["p999_us"],
        "cpu_us_per_req": window.proxy_ticks / CLK_TCK * 1e6 / max(r["requests"], 1),
        "cpu_cores": window.proxy_ticks / CLK_TCK / secs,
        "other_cores": window.other_cores,
    }


def checked(proc, fn):
    """Runs fn; on failure says which process and whether it is still alive."""
    try:
        return fn()
    except RuntimeError as e:
        state = "running" if proc.popen.poll() is None else "exited with %s" % proc.popen.returncode
        with open(proc.log_path, errors="replace") as f:
            tail = f.read()[-3000:]
        raise RuntimeError("%s (pid %d, %s): %s\nits log ends with:\n%s" % (
            proc.name, proc.pid, state, e, tail)) from None


def split_check(procs, wrk_cpu):
    """A short run per proxy whose Lua response hook counts canary bodies."""
    out = {}
    for t, (p, port) in procs.items():
        r = checked(p, lambda: run_wrk(port, 2, 1, wrk_cpu, check_split=True))
        share = 100.0 * r["canary"] / max(r["seen"], 1)
        out[t] = {"canary_pct": share, "seen": r["seen"],
                  "ok": r["seen"] > 0 and abs(share - EXPECTED_CANARY) <= SPLIT_TOLERANCE}
    return out


def measure_idle_memory(proc, port, count):
    pids = proc.pids()
    before = rss_kib(pids)
    socks = idle_conns.open_idle("127.0.0.1", port, count)
    time.sleep(2.0)
    after = rss_kib(proc.pids())
    alive = idle_conns.still_open(socks)
    for s in socks:
        s.close()
    time.sleep(0.5)
    return {"connections": count, "still_open": alive, "rss_before_kib": before,
            "rss_after_kib": after, "kib_per_conn": (after - before) / count}


# ---------------------------------------------------------------- report


def fmt_us(us):
    return "%.2f ms" % (us / 1000) if us >= 1000 else "%d µs" % us


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def print_config_report(title, results, targets):
    print("\n## %s\n" % title)
    base = "haproxy" if "haproxy" in targets else None
    hdr = ("| target | req/s | p50 | p99 | p99.9 | proxy CPU µs/req | proxy cores "
           "| other load (cores) | errors |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for t in targets:
        rs = results[t]
        print("| %s | %.0f | %s | %s | %s | %.2f | %.2f | %.2f | %d |" % (
            LABELS[t], median([r["rps"] for r in rs]), fmt_us(median([r["p50_us"] for r in rs])),
            fmt_us(median([r["p99_us"] for r in rs])), fmt_us(median([r["p999_us"] for r in rs])),
            median([r["cpu_us_per_req"] for r in rs]), median([r["cpu_cores"] for r in rs]),
            median([r["other_cores"] for r in rs]), sum(r["errors"] for r in rs)))
    print("\n(medians over %d rounds; errors are summed; other load = CPU the rest of the "
          "machine used during the runs, 0 on a quiet machine)" % len(results[targets[0]]))
    if base is None:
        return {}
    print("\nRatio to HAProxy, per round, then the median (throughput: higher is better; "
          "CPU and p99: lower is better):\n")
    hdr = ("| target | metric | " + " | ".join("round %d" % (i + 1) for i in range(len(results[base])))
           + " | median | median of quiet rounds |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    ratios = {}
    for t in targets:
        if t == base:
            continue
        ratios[t] = {}
        for metric, key in (("req/s", "rps"), ("CPU/req", "cpu_us_per_req"), ("p99", "p99_us")):
            pairs = list(zip(results[t], results[base]))
            per = [a[key] / b[key] if b[key] else float("nan") for a, b in pairs]
            quiet = [x for x, (a, b) in zip(per, pairs)
                     if a["other_cores"] < QUIET_CORES and b["other_cores"] < QUIET_CORES]
            ratios[t][key] = {"per_round": per, "median": median(per),
                              "median_quiet": median(quiet), "quiet_rounds": len(quiet)}
            print("| %s | %s | %s | **%.2f** | %s |" % (
                LABELS[t], metric, " | ".join("%.2f" % x for x in per), median(per),
                "%.2f (%d)" % (median(quiet), len(quiet)) if quiet else "none"))
    print("\n(quiet: the rest of the machine used < %.2f cores during both rounds; the number "
          "of such rounds in brackets)" % QUIET_CORES)
    return ratios


def on_sigterm(signum, frame):
    raise KeyboardInterrupt  # run the finally clauses that stop our processes


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for tool in ("wrk", "nginx", "haproxy", "taskset"):
        if shutil.which(tool) is None:
            sys.exit("proxy bench: %s is not installed (bench/proxy/run.sh installs it)" % tool)
    if "cohort" in TARGETS and not os.access(COHORT_BIN, os.X_OK):
        sys.exit("proxy bench: %s is not built" % COHORT_BIN)

    work = tempfile.mkdtemp(prefix="cohort-proxy-bench.")
    os.chmod(work, 0o755)  # nginx workers may run as nobody
    started = []
    report = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(), "quick": QUICK,
              "rounds": ROUNDS, "duration_s": DURATION, "connections": CONNECTIONS,
              "backend_cpu": BACKEND_CPU,
              "proxy_headers": PROXY_HEADERS, "configs": {}}
    print("# Proxy benchmark (%s)" % report["date"])
    with open("/proc/loadavg") as f:
        load1 = float(f.read().split()[0])
    if load1 > 1.0:
        print("note: load average %.2f before starting; the machine is not quiet, expect noise "
              "(see 'other load')" % load1)
    print("%s; %d rounds x %d s, %d wrk connections, targets %s; backends %s; "
          "forwarding fields (X-Forwarded-*, Via, traceparent) %s" % (
              report["machine"], ROUNDS, DURATION, CONNECTIONS, " ".join(TARGETS),
              "floating" if BACKEND_CPU == "float" else "on core " + BACKEND_CPU,
              "added by every proxy" if PROXY_HEADERS == "on" else "added by none"))

    def stop_all():
        while started:
            started.pop().stop()

    try:
        for workers in WORKERS:
            pinned = workers == 1
            proxy_cpu = 0 if pinned else None
            wrk_cpu = 1 if pinned else None
            backend_cpu = int(BACKEND_CPU) if (pinned and BACKEND_CPU in ("0", "1")) else None
            backends, stable, canary = start_backends(work, workers, backend_cpu)
            started.append(backends)
            procs = {}
            for t in TARGETS:
                p, port = STARTERS[t](work, workers, proxy_cpu, stable, canary)
                started.append(p)
                procs[t] = (p, port)
            time.sleep(0.5)
            for p in started:  # a proxy that lost its port exits shortly after start
                if p.popen.poll() is not None:
                    raise RuntimeError("%s exited with %s; see %s" % (p.name, p.popen.returncode, p.log_path))
            cfg = {"workers": workers, "layout": "", "rounds": {t: [] for t in TARGETS}}
            if pinned:
                cfg["layout"] = "proxy on core 0, wrk on core 1, backends %s" % (
                    "floating" if backend_cpu is None else "on core %d" % backend_cpu)
            else:
                cfg["layout"] = "everything shares both cores (no pinning), wrk -t%d" % workers

            # Backend alone, for scale (how much the proxies take away).
            alone = measure(backends, stable, max(2, DURATION // 2), workers, wrk_cpu)
            cfg["backend_alone_rps"] = alone["rps"]

            cfg["split"] = split_check(procs, wrk_cpu)

            # Warm-up (upstream pools, caches), not counted.
            for t in TARGETS:
                checked(procs[t][0], lambda: run_wrk(procs[t][1], 2, workers, wrk_cpu))

            for rnd in range(ROUNDS):
                for t in TARGETS:
                    p, port = procs[t]
                    r = measure(p, port, DURATION, workers, wrk_cpu, backends)
                    cfg["rounds"][t].append(r)
                    print("  workers=%d round %d %-8s %8.0f req/s  p99 %-9s  %.2f µs/req  other load %.2f cores" % (
                        workers, rnd + 1, t, r["rps"], fmt_us(r["p99_us"]), r["cpu_us_per_req"],
                        r["other_cores"]),
                        flush=True)

            # Again after the load: the split must not drift (e.g. a rollout
            # that advanced or promoted itself while under load).
            cfg["split_after"] = split_check(procs, wrk_cpu)

            if pinned and shutil.which("h2load") is not None:
                h2 = {t: [] for t in TARGETS}
                for rnd in range(ROUNDS):
                    for t in TARGETS:
                        p, port = procs[t]
                        h2_port = getattr(p, "h2_port", port)  # Cohort: the same listener
                        r = measure_h2(p, h2_port, DURATION, wrk_cpu, backends)
                        h2[t].append(r)
                        print("  h2 round %d %-8s %8.0f req/s  %.2f µs/req  other load %.2f cores" % (
                            rnd + 1, t, r["rps"], r["cpu_us_per_req"], r["other_cores"]), flush=True)
                cfg["h2_rounds"] = h2

            if pinned and IDLE_CONNS > 0:
                cfg["idle_memory"] = {}
                for t in TARGETS:
                    p, port = procs[t]
                    count = IDLE_CONNS
                    if t == "haproxy":  # its maxconn is bound by the fd limit
                        count = min(count, haproxy_maxconn() - 100)
                    cfg["idle_memory"][t] = measure_idle_memory(p, port, count)

            title = "%d worker%s each: %s" % (workers, "" if workers == 1 else "s", cfg["layout"])
            cfg["ratios"] = print_config_report(title, cfg["rounds"], TARGETS)
            if "h2_rounds" in cfg:
                cfg["h2_ratios"] = print_h2_report(cfg["h2_rounds"], TARGETS)
            print("\nBackend alone (wrk straight to the stable nginx): %.0f req/s" % alone["rps"])
            print("\nSplit check (share of canary answers; expected %.2f%% = 1%% internal + 5%% "
                  "of the other 99%%, flagged beyond ±%.1f points):\n" % (EXPECTED_CANARY, SPLIT_TOLERANCE))
            print("| target | canary share before the rounds | after the rounds | responses | verdict |")
            print("|---|---|---|---|---|")
            for t in TARGETS:
                a, b = cfg["split"][t], cfg["split_after"][t]
                print("| %s | %.2f%% | %.2f%% | %d + %d | %s |" % (
                    LABELS[t], a["canary_pct"], b["canary_pct"], a["seen"], b["seen"],
                    "ok" if a["ok"] and b["ok"] else "**OFF**"))
            if "idle_memory" in cfg:
                print("\nIdle keep-alive connections (RSS of the proxy process(es), after minus "
                      "before opening them):\n")
                print("| target | connections | still open | RSS before | RSS after | KiB per connection |")
                print("|---|---|---|---|---|---|")
                for t in TARGETS:
                    m = cfg["idle_memory"][t]
                    print("| %s | %d | %d | %.1f MiB | %.1f MiB | %.2f |" % (
                        LABELS[t], m["connections"], m["still_open"], m["rss_before_kib"] / 1024,
                        m["rss_after_kib"] / 1024, m["kib_per_conn"]))
            print(flush=True)
            report["configs"][str(workers)] = cfg
            stop_all()

    finally:
        stop_all()
        if os.environ.get("BENCH_KEEP_WORKDIR") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work dir kept: %s" % work)

    out = os.environ.get("BENCH_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(report, f, indent=1)
        print("\nraw figures written to %s" % out)


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d cores, %s, Linux %s" % (os.cpu_count(), model or "unknown CPU", os.uname().release)


def print_config(argv):
    """proxy_bench.py config cohort|haproxy PORT STABLE CANARY DIR: the config
    the benchmark would write, on stdout (BENCH_PROXY_HEADERS applies)."""
    if len(argv) != 5 or argv[0] not in ("cohort", "haproxy"):
        sys.exit("usage: proxy_bench.py config cohort|haproxy PORT STABLE_PORT CANARY_PORT DIR")
    target, port, stable, canary, d = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), argv[4]
    if target == "cohort":
        print(cohort_config(1, d, stable, canary, listen="127.0.0.1:%d" % port,
                            admin="127.0.0.1:%d" % free_port()), end="")
    else:
        print(haproxy_config(1, d, port, free_port(), stable, canary), end="")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "config":
        print_config(sys.argv[2:])
    else:
        main()
