#!/usr/bin/env python3
"""Real rollouts, counted: A/A false rollbacks and regression detection (issue 18).

One run is one rollout from step 1 until it has passed every step (promotion
is manual, so that is WaitingPromotion: counted as promoted) or is rolled back
(Failed), judged by the real controller on the real gateway's measurements,
with real profile-api processes as canary and baseline. In an A/A run canary
and baseline are identical processes (same binary, same flags), so every
rollback is a false one. In a regression run the canary is worse (errors 1% ->
5%, latency x1.2, a slow 2% tail), so every promotion is a miss.

Many runs at once: one gateway serves SLOTS independent rollouts (a service, a
route and a rollout each, with its own canary and baseline processes; stable is
one shared process, it is not judged). A single cohort-loadgen drives them all:
route k takes the users whose id ends in one of slot k's digits, so every slot
gets the same share of users and each user stays on one slot. Runs go in
batches. Between two batches the rollouts are taken out of the configuration
for --gap seconds (everyone on stable, canary and baseline idle); then one POST
/api/v1/config brings them back with a new `revision` and salt, so every run
starts from step 1 with a new state machine and a sequential test fed only from
its own start. The next batch starts once every run of this one has ended or
hit its cap. Batches, not staggered restarts, because a reload rebuilds every
rollout's state machine (and with it the sequential test's evidence), so a
reload in the middle of other runs would disturb them.

Runs in one batch share the machine and the gateway, so they are not perfectly
independent; each has its own canary and baseline processes, which is where
the A/A noise the issue describes comes from (one process slower for a second).

    PYENV_VERSION=system python3 bench/rollout/aa_runs.py                # every scenario
    PYENV_VERSION=system python3 bench/rollout/aa_runs.py --quick        # 20 A/A runs, fewer regressions
    PYENV_VERSION=system python3 bench/rollout/aa_runs.py aa-fast aa-fast-busy --runs 50

Scenarios (latency "fast" is profile-api without an injected delay, sub-ms;
"20ms" is --latency-ms 20 --latency-jitter-ms 10; "busy" adds two busy loops,
started and stopped by PID, for the whole scenario):
  aa-fast, aa-fast-busy, aa-20ms, aa-20ms-busy     A/A, 1% errors in both arms
  errors-1-5                                        20 ms, baseline 1% errors, canary 5%
  latency-x1.2                                      baseline 20+-10 ms, canary 24+-12 ms
  tail-2pct-40ms                                    canary: 2% of requests at 40 ms instead of 20+-10

Rollout shape (defaults): steps 10%, 20%, 30%, 40%, 50% (the baseline gets the
same share), min_requests 400 per step, interval 1 s, sequential alpha 0.01,
no threshold metrics and no judge (the sequential test is what is measured),
300 requests/s per slot, 10 slots. A run is capped at --run-cap seconds, a
scenario at --scenario-cap, the whole bench at --total-cap.

Prints progress per batch, then a table; --out FILE writes every run as JSON.
Exit 0 whatever the figures (a benchmark); 1 when a scenario could not run.
"""

import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.normpath(os.path.join(_HERE, "..", ".."))
sys.path.insert(0, os.path.join(_ROOT, "tests", "support"))
if "COHORT_BIN" not in os.environ:
    os.environ["COHORT_BIN"] = os.path.join(_ROOT, "build", "bin")

from cohort_harness import Gateway, HarnessError, binary, start_backend  # noqa: E402

FAST = {}
MS20 = {"latency_ms": 20, "latency_jitter_ms": 10}

# name -> (kind, baseline flags, canary flags, busy neighbour)
SCENARIOS = {
    "aa-fast": ("aa", dict(FAST, error_rate=0.01), dict(FAST, error_rate=0.01), False),
    "aa-fast-busy": ("aa", dict(FAST, error_rate=0.01), dict(FAST, error_rate=0.01), True),
    "aa-20ms": ("aa", dict(MS20, error_rate=0.01), dict(MS20, error_rate=0.01), False),
    "aa-20ms-busy": ("aa", dict(MS20, error_rate=0.01), dict(MS20, error_rate=0.01), True),
    "errors-1-5": ("regression", dict(MS20, error_rate=0.01), dict(MS20, error_rate=0.05), False),
    "latency-x1.2": ("regression", dict(MS20, error_rate=0.01),
                     {"latency_ms": 24, "latency_jitter_ms": 12, "error_rate": 0.01}, False),
    "tail-2pct-40ms": ("regression", dict(MS20, error_rate=0.01),
                       dict(MS20, error_rate=0.01, tail_share=0.02, tail_latency_ms=40), False),
}
# Runs per scenario in a full bench and with --quick.
DEFAULT_RUNS = {"aa": 100, "errors-1-5": 30, "latency-x1.2": 10, "tail-2pct-40ms": 10}
QUICK_RUNS = {"aa": 20, "errors-1-5": 10, "latency-x1.2": 10, "tail-2pct-40ms": 10}

# A run ends when the last step has passed (promotion is manual, so that is
# WaitingPromotion; a fresh batch then restarts it without any promotion) or
# when it is rolled back.
TERMINAL = ("WaitingPromotion", "Succeeded", "Failed")


# ---------------------------------------------------------------------------
# Statistics

def wilson(k, n, z=1.959964):
    """Wilson score 95% interval of a proportion k/n, as (low, high)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def canary_requests_of(summary):
    """Canary requests the sequential test had seen, from its summary
    ('... errors: e=.. after N s, canary k/n, ...'): the first 'canary k/n'."""
    m = re.search(r"canary (\d+)/(\d+)", summary or "")
    return int(m.group(2)) if m else None


# ---------------------------------------------------------------------------
# Processes

CLK_TCK = os.sysconf("SC_CLK_TCK")


def busy_ticks():
    """CPU ticks the whole machine spent busy (not idle, not iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def pid_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


class CpuWindow:
    """Cores used while a scenario ran: by its own processes (gateway,
    backends, load generator, busy loops) and by the rest of the machine (other
    users: the noise this bench cannot control, so it is reported)."""

    def __init__(self, pids):
        self.pids = list(pids)
        self.t = time.monotonic()
        self.busy, self.ours = busy_ticks(), pid_ticks(self.pids)

    def close(self):
        secs = max(1e-3, time.monotonic() - self.t)
        busy = busy_ticks() - self.busy
        ours = pid_ticks(self.pids) - self.ours
        return {"ours_cores": round(ours / CLK_TCK / secs, 2),
                "other_cores": round(max(0, busy - ours) / CLK_TCK / secs, 2),
                "loadavg": os.getloadavg()[0]}

class BusyNeighbour:
    """Two `while :; do :; done` shells, stopped by their own PIDs."""

    def __init__(self, count=2):
        self.procs = [subprocess.Popen(["sh", "-c", "while :; do :; done"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
                      for _ in range(count)]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait(timeout=10)


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Loadgen:
    """cohort-loadgen over every slot, bounded by --duration, stopped by its PID."""

    def __init__(self, port, rate, users, connections, duration_s, seed=1):
        argv = [binary("cohort-loadgen"), "--target", f"http://127.0.0.1:{port}",
                "--path", "/profile", "--users", str(users), "--rate", str(rate),
                "--connections", str(connections), "--duration", f"{int(duration_s)}s",
                "--internal-share", "0%", "--legacy-share", "0%", "--anonymous-share", "0%",
                "--seed", str(seed), "--report-every", "0", "--json"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_die_with_parent)

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=10)
        try:
            return json.loads(out)
        except ValueError:
            return None


# ---------------------------------------------------------------------------
# Configuration

def slot_digits(slot, slots):
    return "".join(str(d) for d in range(10) if d % slots == slot)


def build_config(stable, slots, batch, opts):
    """One service, route and rollout per slot; `batch` goes into every
    revision and salt, so a new batch restarts every rollout with fresh users.
    batch None: the services and routes without rollouts (everyone on stable),
    the gap between two batches."""
    n = len(slots)
    services, routes, rollouts = [], [], []
    for k, (baseline, canary) in enumerate(slots):
        services.append({"name": f"svc{k}", "subsets": {
            "stable": {"endpoints": [stable.address]},
            "baseline": {"endpoints": [baseline.address]},
            "canary": {"endpoints": [canary.address]}}})
        routes.append({"name": f"slot{k}",
                       "match": {"path_prefix": "/profile",
                                 "headers": [{"name": "X-User-Id",
                                              "regex": f"[0-9]*[{slot_digits(k, n)}]"}]},
                       "service": f"svc{k}"})
        analysis = {"interval": "1s", "threshold": 3, "min_requests": opts.min_requests,
                    "no_data_deadline": "60s", "metrics": [],
                    "sequential": {"alpha": opts.alpha}}
        rollouts.append({
            "name": f"slot{k}", "service": f"svc{k}",
            "stable": "stable", "baseline": "baseline", "canary": "canary",
            "revision": f"b{batch}", "salt": f"slot{k}-b{batch}",
            "session": {"key": [{"header": "X-User-Id"}], "anonymous": "stable"},
            "steps": [{"weight": f"{w:g}%"} for w in opts.steps],
            "analysis": analysis, "promotion": "manual"})
    return {
        "gateway": {"listeners": [{"name": "public", "address": "127.0.0.1:0"}],
                    "workers": opts.workers},
        "admin": {"address": "127.0.0.1:0"},
        "state": {"store": "sqlite:state.db"},
        "services": services, "routes": routes,
        "rollouts": rollouts if batch is not None else [],
    }


def admin(gw, path, method="GET", body=None, timeout=30, attempts=3):
    """One admin call; on a loaded machine a read can take seconds, so a
    timeout is retried (a bounded number of times) before it is an error."""
    for attempt in range(attempts):
        req = urllib.request.Request(gw.admin_url(path), method=method,
                                     data=body.encode() if body is not None else None,
                                     headers={"Content-Type": "application/yaml"} if body else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (TimeoutError, OSError) as e:
            if attempt + 1 == attempts:
                raise HarnessError(f"{method} {path}: {e} ({attempts} attempts of {timeout} s)")
            time.sleep(1)


def post_config(gw, config):
    status, body = admin(gw, "/api/v1/config", method="POST", body=json.dumps(config))
    if status != 200:
        raise HarnessError(f"POST /api/v1/config answered {status}: {body[:1000]}")


def rollouts_by_name(gw):
    status, body = admin(gw, "/api/v1/rollouts")
    if status != 200:
        raise HarnessError(f"GET /api/v1/rollouts answered {status}: {body[:500]}")
    return {r["name"]: r for r in json.loads(body)["rollouts"]}


def canary_counts(gw):
    """Canary requests served per service so far, from /metrics."""
    status, body = admin(gw, "/metrics")
    counts = {}
    if status != 200:
        return counts
    for line in body.splitlines():
        if line.startswith("cohort_requests_total{") and 'subset="canary"' in line:
            m = re.search(r'service="([^"]+)"', line)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + float(line.rsplit(" ", 1)[1])
    return counts


# ---------------------------------------------------------------------------
# Running one scenario

def run_scenario(specs, opts, runs_wanted, label, deadline, log=print, extra_pids=()):
    """specs: one (scenario name, kind, baseline flags, canary flags) per slot.
    Runs batches until runs_wanted runs have ended (over all slots), the
    scenario cap or `deadline` (monotonic) is reached. Returns (list of run
    dicts, CPU use: {ours_cores, other_cores, loadavg})."""
    results = []
    procs = []
    gw = load = cpu = None
    usage = {}
    started = time.monotonic()
    end_by = min(deadline, started + opts.scenario_cap)
    try:
        stable = start_backend(api="v1.0", label="stable", start_timeout=30, **specs[0][2])
        procs.append(stable)
        slots = []
        for k, (_, _, bflags, cflags) in enumerate(specs):
            b = start_backend(api="v1.0", label=f"baseline{k}", start_timeout=30, **bflags)
            c = start_backend(api="v1.0", label=f"canary{k}", start_timeout=30, **cflags)
            procs += [b, c]
            slots.append((b, c))
        gw = Gateway(build_config(stable, slots, None, opts), binary_path=opts.cohort,
                     start_timeout=60)
        load = Loadgen(gw.port(), rate=opts.rate * len(slots), users=opts.users,
                       connections=opts.connections_per_slot * len(slots),
                       duration_s=max(10, end_by - time.monotonic() + 30))
        time.sleep(2)  # connections open, first seconds of traffic are behind us
        cpu = CpuWindow([gw.pid, load.proc.pid] + [p.pid for p in procs] + list(extra_pids))
        batch = 0
        while len(results) < runs_wanted:
            now = time.monotonic()
            if now + 10 > end_by:
                log(f"[{label}] stopping: scenario cap reached with {len(results)} runs")
                break
            if not load.running():
                err = load.proc.stderr.read()[-500:] if load.proc.stderr else ""
                log(f"[{label}] stopping: the load generator exited: {err}")
                break
            batch += 1
            # The gap: no rollout for a moment, so every run starts afresh (a
            # new state machine and sequential test, fed from its own start,
            # with canary and baseline idle for the seconds before).
            post_config(gw, build_config(stable, slots, None, opts))
            time.sleep(opts.gap)
            counts0 = canary_counts(gw)
            post_config(gw, build_config(stable, slots, batch, opts))
            t0 = time.monotonic()
            pending = {f"slot{k}": k for k in range(len(slots))}
            batch_runs = []
            cap = min(t0 + opts.run_cap, end_by)
            while pending:
                time.sleep(opts.poll)
                states = rollouts_by_name(gw)
                now = time.monotonic()
                for name, k in list(pending.items()):
                    r = states.get(name)
                    fresh = r is not None and r.get("age_seconds", 1e9) <= now - t0 + 3
                    phase = r.get("phase") if r else None
                    if fresh and phase in TERMINAL or now >= cap:
                        batch_runs.append(describe_run(specs[k], k, batch, r, fresh, now - t0,
                                                       counts0, gw))
                        del pending[name]
            # A last batch may run more slots than runs are still wanted
            # (every slot carries its share of the load); count them by slot.
            batch_runs.sort(key=lambda x: x["slot"])
            take = batch_runs[:max(0, runs_wanted - len(results))]
            results += take
            report_batch(label, batch, take, results, runs_wanted, started, log)
    except (HarnessError, OSError, TimeoutError) as e:
        # Keep the runs that ended; the caller reports the scenario as failed.
        usage["error"] = f"{type(e).__name__}: {e}"
        log(f"[{label}] stopped by an error after {len(results)} runs: {usage['error']}")
    finally:
        if cpu is not None:
            usage.update(cpu.close())
            log(f"[{label}] CPU: this scenario's processes {usage['ours_cores']} cores, the rest "
                f"of the machine {usage['other_cores']} cores (load average {usage['loadavg']:.1f})")
        if load is not None:
            report = load.stop() or {}
            usage["achieved_rate"] = report.get("achieved_rate")
            usage["status"] = report.get("status")
            if report:
                log(f"[{label}] load: {report.get('achieved_rate')} req/s achieved of "
                    f"{report.get('target_rate')}; answers {report.get('status')}")
        if gw is not None:
            gw.close()
        for p in procs:
            p.stop()
    return results, usage


def describe_run(spec, slot, batch, record, fresh, seconds, counts0, gw):
    scenario, kind = spec[0], spec[1]
    phase = record.get("phase") if record and fresh else None
    outcome = {"WaitingPromotion": "promoted", "Succeeded": "promoted",
               "Failed": "rolled_back"}.get(phase, "timeout")
    seq = ((record or {}).get("last_analysis") or {}).get("sequential") or {}
    reason = (record or {}).get("reason", "")
    events = [e.get("message", "") for e in (record or {}).get("events", [])]
    canary_total = canary_counts(gw).get(f"svc{slot}", 0) - counts0.get(f"svc{slot}", 0)
    return {
        "scenario": scenario, "kind": kind, "batch": batch, "slot": slot,
        "outcome": outcome, "seconds": round(seconds, 2),
        "step": (record or {}).get("step"),
        "weight": (record or {}).get("weight"),
        "e_value": seq.get("e_value"), "test_seconds": seq.get("seconds"),
        "canary_requests": canary_requests_of(seq.get("summary")),
        "canary_served": int(canary_total),
        "by_sequential": any("sequential test rejected" in m for m in events[-5:])
        or "sequential" in reason,
        "reason": reason, "summary": seq.get("summary"),
        "last_events": events[-4:],
    }


def report_batch(label, batch, runs, results, wanted, started, log):
    rb = [r for r in results if r["outcome"] == "rolled_back"]
    to = [r for r in results if r["outcome"] == "timeout"]
    secs = [r["seconds"] for r in runs]
    line = (f"[{label}] batch {batch}: {len(results)}/{wanted} runs, {len(rb)} rolled back, "
            f"{len(to)} timed out; this batch {min(secs, default=0):.0f}-{max(secs, default=0):.0f}"
            f" s per run; {time.monotonic() - started:.0f} s elapsed")
    log(line)
    for r in runs:
        if r["kind"] == "aa" and r["outcome"] == "rolled_back":
            log(f"    false rollback: slot {r['slot']} after {r['seconds']:.0f} s at step "
                f"{r['step']}, canary {r['canary_requests']} req: {r['summary']}")
        if r["outcome"] == "timeout":
            log(f"    timeout: slot {r['slot']} step {r['step']}: {r['reason']}")


# ---------------------------------------------------------------------------
# Table

def table(results, scenarios, cpu_of=None):
    cpu_of = cpu_of or {}
    rows = []
    rows.append("| scenario | runs | rolled back | rate [95% Wilson] | promoted | timed out "
                "| median canary req to rollback | median s per run | other load (cores) |")
    rows.append("|---|---|---|---|---|---|---|---|---|")
    for name in scenarios:
        rs = [r for r in results if r["scenario"] == name]
        if not rs:
            continue
        n = len(rs)
        rb = [r for r in rs if r["outcome"] == "rolled_back"]
        pr = sum(r["outcome"] == "promoted" for r in rs)
        to = sum(r["outcome"] == "timeout" for r in rs)
        lo, hi = wilson(len(rb), n)
        reqs = [r["canary_requests"] for r in rb if r["canary_requests"] is not None]
        med_req = f"{statistics.median(reqs):.0f}" if reqs and rs[0]["kind"] != "aa" else (
            "-" if rs[0]["kind"] != "aa" else "(A/A)")
        rows.append(f"| {name} | {n} | {len(rb)} | {100 * len(rb) / n:.1f}% "
                    f"[{100 * lo:.1f}, {100 * hi:.1f}] | {pr} | {to} | {med_req} | "
                    f"{statistics.median(r['seconds'] for r in rs):.0f} | "
                    f"{cpu_of.get(name, {}).get('other_cores', '?')} |")
    return "\n".join(rows)


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    ap.add_argument("--quick", action="store_true", help="20 A/A runs per scenario, 10 per regression")
    ap.add_argument("--runs", type=int, help="runs per scenario (overrides the defaults)")
    ap.add_argument("--slots", type=int, default=10, help="concurrent rollouts (1, 2, 5 or 10)")
    ap.add_argument("--rate", type=float, default=300, help="requests/s per slot")
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--connections-per-slot", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="gateway workers")
    ap.add_argument("--steps", default="10,20,30,40,50", help="canary weights in percent")
    ap.add_argument("--min-requests", type=int, default=400)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--run-cap", type=float, default=150, help="seconds per run")
    ap.add_argument("--scenario-cap", type=float, default=1200, help="seconds per scenario")
    ap.add_argument("--total-cap", type=float, default=3600, help="seconds for everything")
    ap.add_argument("--gap", type=float, default=2.0,
                    help="seconds without rollouts between two batches")
    ap.add_argument("--poll", type=float, default=0.25, help="seconds between state reads")
    ap.add_argument("--out", help="write every run as JSON to this file")
    ap.add_argument("--cohort", help="the cohort binary to judge (default: COHORT_BIN/cohort; "
                    "profile-api and cohort-loadgen always come from COHORT_BIN)")
    return ap


def parse_options(argv):
    """The options of a run (parse_options([]) for the defaults)."""
    ap = parser()
    opts = ap.parse_args(argv)
    if opts.slots not in (1, 2, 5, 10):
        ap.error("--slots must be 1, 2, 5 or 10 (the ten last digits of a user id split evenly)")
    opts.steps = [float(s) for s in opts.steps.split(",")]
    return opts, ap


def main(argv=None):
    opts, ap = parse_options(argv)
    names = opts.scenarios or list(SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            ap.error(f"unknown scenario {n!r}; known: {', '.join(SCENARIOS)}")
    deadline = time.monotonic() + opts.total_cap
    all_runs, failed, cpu_of = [], [], {}
    started = time.monotonic()
    print(f"bench/rollout: cohort {opts.cohort or binary('cohort')}")
    print(f"bench/rollout: {', '.join(names)}; {opts.slots} slots x {opts.rate:g} req/s, steps "
          f"{opts.steps} (baseline same share), min_requests {opts.min_requests}, alpha "
          f"{opts.alpha}; caps: run {opts.run_cap:g} s, scenario {opts.scenario_cap:g} s, "
          f"total {opts.total_cap:g} s", flush=True)
    for name in names:
        kind, bflags, cflags, busy = SCENARIOS[name]
        table_ = QUICK_RUNS if opts.quick else DEFAULT_RUNS
        wanted = opts.runs or table_.get(name, table_.get(kind))
        if time.monotonic() + 30 > deadline:
            print(f"[{name}] skipped: total cap reached", flush=True)
            failed.append(name)
            continue
        neighbour = BusyNeighbour() if busy else None
        try:
            print(f"[{name}] {wanted} runs{' with two busy loops' if busy else ''}", flush=True)
            specs = [(name, kind, bflags, cflags)] * opts.slots
            runs, usage = run_scenario(specs, opts, wanted, name, deadline,
                                       log=lambda s: print(s, flush=True),
                                       extra_pids=[p.pid for p in neighbour.procs]
                                       if neighbour else ())
            for r in runs:
                r["cpu"] = usage
            all_runs += runs
            cpu_of[name] = usage
            if "error" in usage:
                failed.append(name)
        except (HarnessError, OSError, TimeoutError) as e:
            print(f"[{name}] failed: {e}", flush=True)
            failed.append(name)
        finally:
            if neighbour is not None:
                neighbour.stop()
    print()
    print(f"bench/rollout: {len(all_runs)} runs in {time.monotonic() - started:.0f} s")
    print(table(all_runs, names, cpu_of))
    if opts.out:
        with open(opts.out, "w", encoding="utf-8") as f:
            json.dump({"options": {k: v for k, v in vars(opts).items()}, "runs": all_runs}, f,
                      indent=1)
        print(f"runs written to {opts.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
