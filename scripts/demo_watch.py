#!/usr/bin/env python3
"""The demo's eyes (scripts/demo.sh): a live progress line per rollout, and the
summary at the end. Standard library only.

  demo_watch.py watch --admin URL --rollout NAME --label TEXT --until PHASE[,PHASE]
                      --log GATEWAY_LOG [--log-from BYTES] --t0 EPOCH --timeout S
                      --out RESULT.json
      Polls GET /api/v1/rollouts/NAME every second and prints one line (phase,
      step, weight, canary and baseline success rate and p99), with the
      controller's transitions (from the gateway log) printed above it. Exits 0
      once the phase is one of PHASE, 1 on timeout; RESULT.json records the final
      state, the events and when they happened (seconds since --t0, the load
      generator's start).

  demo_watch.py summary --loadgen REPORT.json --rollout R1.json --rollout R2.json
                        --t0 EPOCH --dashboard URL [--out SUMMARY.json]
      Prints the summary: requests per version, users that saw more than one
      version and when (set against the controller's transitions), legacy users
      and the canary builds, the outcome of each rollout. Writes it as JSON.
"""

import argparse
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request

# Controller lines worth showing: the transitions. Halts for lack of traffic
# are the normal way a step waits and would drown the rest.
SHOWN = ("Starting", "Advance", "Halt", "Rolling back", "Promotion", "New revision", "Canary")
QUIET = ("canary requests judged", "insufficient evidence")
# Transitions that move users: a user may change version only around them.
MOVES = ("Advance", "Promotion", "Rolling back", "Promoting", "Rolled back")
TOLERANCE_S = 2.0  # a request routed just before a change, answered just after


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def get_json(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def pct(v):
    return "  -   " if v is None else f"{100.0 * v:6.2f}%"


def ms(v):
    return "   -  " if v is None else f"{v:6.1f}ms"


def arm(metrics):
    metrics = metrics or {}
    n = metrics.get("requests", 0) or 0
    return (metrics.get("success_rate") if n else None, metrics.get("p99_ms") if n else None, n)


def progress_line(label, r):
    cs, cp, cn = arm(r.get("canary_metrics"))
    bs, bp, bn = arm(r.get("baseline_metrics"))
    return (f"{label}: {r.get('phase', '?'):<16} step {r.get('step', 0)}/{r.get('steps', 0)}"
            f"  weight {r.get('weight', '?'):>4}  cohorts {','.join(r.get('joined_cohorts') or []) or '-':<14}"
            f"  canary {pct(cs)} p99 {ms(cp)} ({cn})"
            f"  baseline {pct(bs)} p99 {ms(bp)} ({bn})"
            f"  failed checks {r.get('failed_checks', 0)}/{r.get('threshold', '?')}")


class log_follower:
    def __init__(self, path):
        self.path = path
        self.offset = 0

    def new_lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        out = []
        for raw in data[: end + 1].splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                continue
        return out


def watch(a):
    url = f"{a.admin}/api/v1/rollouts/{a.rollout}"
    until = set(a.until.split(","))
    tty = sys.stdout.isatty()
    follower = log_follower(a.log)
    follower.offset = a.log_from
    deadline = time.monotonic() + a.timeout
    events = []
    last = {}
    max_step = 0
    shown_line = False
    restarted = not a.after_restart

    def say(text):
        nonlocal shown_line
        if tty and shown_line:
            sys.stdout.write("\r\033[K")
        sys.stdout.write(text + "\n")
        shown_line = False

    while True:
        for entry in follower.new_lines():
            msg = entry.get("msg", "")
            if entry.get("rollout") != a.rollout or not msg.startswith(SHOWN):
                continue
            at = parse_time(entry["time"]) - a.t0 if "time" in entry else None
            events.append({"at_s": round(at, 3) if at is not None else None, "message": msg})
            if not any(q in msg for q in QUIET):
                stamp = f"[{at:5.1f}s] " if at is not None else ""
                say(f"  {stamp}{msg}")
        try:
            last = get_json(url)
        except (urllib.error.URLError, OSError, ValueError) as e:
            say(f"{a.label}: admin API not answering ({e})")
        if restarted or (last and last.get("phase") not in until):
            max_step = max(max_step, int(last.get("step", 0) or 0))
        line = progress_line(a.label, last) if last else f"{a.label}: waiting"
        if tty:
            sys.stdout.write("\r\033[K" + line)
            shown_line = True
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if last and last.get("phase") not in until:
            restarted = True
        done = restarted and last.get("phase") in until
        if done or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    # The transition that ended the wait may have been logged after the last read.
    time.sleep(0.2)
    for entry in follower.new_lines():
        msg = entry.get("msg", "")
        if entry.get("rollout") == a.rollout and msg.startswith(SHOWN):
            at = parse_time(entry["time"]) - a.t0 if "time" in entry else None
            events.append({"at_s": round(at, 3) if at is not None else None, "message": msg})
            if not any(q in msg for q in QUIET):
                say(f"  [{at:5.1f}s] {msg}")
    if tty and shown_line:
        sys.stdout.write("\n")
    stable_version, canary_version = a.versions.split(":")
    result = {
        "label": a.label,
        "stable_version": stable_version,
        "canary_version": canary_version,
        "rollout": a.rollout,
        "phase": last.get("phase"),
        "reached": restarted and last.get("phase") in until,
        "max_step": max_step,
        "steps": last.get("steps"),
        "reason": last.get("reason"),
        "failed_checks": last.get("failed_checks"),
        "canary_metrics": last.get("canary_metrics"),
        "baseline_metrics": last.get("baseline_metrics"),
        "last_analysis": last.get("last_analysis"),
        "events": [e for e in events if not any(q in e["message"] for q in QUIET)],
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    if not result["reached"]:
        print(f"{a.label}: gave up after {a.timeout:.0f}s in phase {last.get('phase')}")
        return 1
    return 0


def moments(rollouts):
    out = []
    for r in rollouts:
        for e in r["events"]:
            if e["at_s"] is not None and e["message"].startswith(MOVES):
                out.append((e["at_s"], r["label"], e["message"]))
    return sorted(out)


def summary(a):
    with open(a.loadgen) as f:
        lg = json.load(f)
    rollouts = []
    for path in a.rollout:
        with open(path) as f:
            rollouts.append(json.load(f))
    marks = moments(rollouts)

    print()
    print("== summary ==")
    print(f"load: {lg['requests']} requests from {lg['users']} users in {lg['send_window_s']:.1f}s "
          f"({lg['achieved_rate']:.0f}/s), errors {lg['errors']['total']} "
          f"(non-2xx {lg['errors']['non_2xx']})")
    print("requests (users) per version:")
    for v, n in sorted(lg["versions"].items()):
        print(f"  {v:<6} {n:>8} ({lg['users_per_version'].get(v, 0)} users)")
    print("per cohort of the simulated population:")
    for name, c in lg["cohorts"].items():
        if c["users"]:
            per = ", ".join(f"{v} {n}" for v, n in sorted(c["versions"].items()))
            print(f"  {name:<9} {c['users']:>5} users: {per or 'no answers'}")

    # A user may change version only because of a controller transition that
    # happened before the change was seen: onto a canary after one of its steps
    # or its promotion, back to stable only after its rollback; and never the
    # same way twice (that would be flapping). The load generator sees a move
    # at the user's next request, so a move shows up some seconds after the step.
    switches = []
    violations = []
    # The moves the rollouts made: (from, to) -> (earliest time, why).
    edges = {}
    for r in rollouts:
        ev = r["events"]
        advances = [e["at_s"] for e in ev if e["message"].startswith("Advance")]
        backs = [e["at_s"] for e in ev if e["message"].startswith("Rolling back")]
        if advances:
            edges[(r["stable_version"], r["canary_version"])] = (
                min(advances), f"{r['label']}: its steps and promotion")
        if backs:
            edges[(r["canary_version"], r["stable_version"])] = (
                min(backs), f"{r['label']}: its rollback")

    def explain(src, dst):
        # A user quiet for a while may see two moves at once (v1.0, promoted
        # v1.1, then the v1.2 canary): allow a chain, from its last move's time.
        if (src, dst) in edges:
            return edges[(src, dst)]
        for (a1, b1), (t1, w1) in edges.items():
            if a1 == src and (b1, dst) in edges:
                t2, w2 = edges[(b1, dst)]
                return max(t1, t2), f"{w1}, then {w2}"
        return None, None

    for name, t in sorted(lg.get("transition_times", {}).items()):
        src, dst = name.split("->", 1)
        allowed_from, why = explain(src, dst)
        entry = {"transition": name, "users": t["users"], "switches": lg["transitions"][name],
                 "first_s": t["first_s"], "last_s": t["last_s"],
                 "seconds": sorted(int(x) for x in t["by_second"]), "because": why}
        switches.append(entry)
        if why is None:
            violations.append(f"{name}: no rollout moves users this way")
        elif allowed_from is None or t["first_s"] < allowed_from - TOLERANCE_S:
            violations.append(f"{name}: first seen at {t['first_s']:.1f}s, before {why}")
        if entry["switches"] != entry["users"]:
            violations.append(f"{name}: {entry['switches']} switches by {entry['users']} users"
                              " (some switched this way more than once)")
    print("controller transitions that move users:")
    for m in marks:
        print(f"  {m[0]:6.1f}s  {m[2]}")
    print(f"users that saw more than one version: {lg['multi_version_users']}")
    for e in switches:
        print(f"  {e['transition']}: {e['users']} users, each once ({e['switches']} switches),"
              f" seen between {e['first_s']:.1f}s and {e['last_s']:.1f}s -- {e['because']}"
              if e["switches"] == e["users"] else
              f"  {e['transition']}: {e['users']} users, {e['switches']} switches,"
              f" seen between {e['first_s']:.1f}s and {e['last_s']:.1f}s -- {e['because']}")
    if violations:
        for v in violations:
            print(f"  FLAPPING: {v}")
    else:
        print("  no flapping: every switch follows a step, the promotion or the rollback, once per user")

    legacy = lg["cohorts"].get("legacy", {"users": 0, "versions": {}, "multi_version_users": 0})
    legacy_versions = sorted(legacy["versions"])
    legacy_ok = legacy_versions == ["v1.0"] and legacy["multi_version_users"] == 0
    print(f"legacy apps (< 5.2.0): {legacy['users']} users saw {', '.join(legacy_versions)}"
          f" -> {'never on v1.1 or v1.2' if legacy_ok else 'REACHED ANOTHER VERSION'}")

    print("rollouts:")
    for r in rollouts:
        outcome = {"Succeeded": "promoted to 100%",
                   "Failed": "rolled back automatically"}.get(r["phase"], "did not finish")
        print(f"  {r['label']}: {r['phase']} ({outcome}); reached step {r['max_step']}/{r['steps']}"
              f"; {r.get('reason') or ''}")
    print(f"dashboard: {a.dashboard}")

    out = {
        "rollouts": [{"label": r["label"], "phase": r["phase"], "max_step": r["max_step"],
                      "stable_version": r["stable_version"], "canary_version": r["canary_version"],
                      "steps": r["steps"], "reason": r.get("reason"), "events": r["events"]}
                     for r in rollouts],
        "versions": lg["versions"],
        "users_per_version": lg["users_per_version"],
        "cohorts": lg["cohorts"],
        "multi_version_users": lg["multi_version_users"],
        "transitions": switches,
        "flapping": violations,
        "moments": [{"at_s": m[0], "rollout": m[1], "message": m[2]} for m in marks],
        "legacy_only_v1_0": legacy_ok,
        "errors": lg["errors"],
        "requests": lg["requests"],
        "dashboard": a.dashboard,
    }
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("watch")
    w.add_argument("--admin", required=True)
    w.add_argument("--rollout", required=True)
    w.add_argument("--label", required=True)
    w.add_argument("--until", required=True)
    w.add_argument("--log", required=True)
    w.add_argument("--log-from", type=int, default=0, help="byte offset to read the log from")
    w.add_argument("--t0", type=float, required=True)
    w.add_argument("--timeout", type=float, default=120)
    w.add_argument("--out", required=True)
    w.add_argument("--versions", required=True, help="STABLE:CANARY version labels, for the summary")
    w.add_argument("--after-restart", action="store_true",
                   help="the rollout is about to restart: finish only once it left the --until phases")
    s = sub.add_parser("summary")
    s.add_argument("--loadgen", required=True)
    s.add_argument("--rollout", action="append", required=True)
    s.add_argument("--t0", type=float, required=True)
    s.add_argument("--dashboard", required=True)
    s.add_argument("--out")
    a = p.parse_args()
    return watch(a) if a.cmd == "watch" else summary(a)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # Die of SIGINT so that the calling shell sees Ctrl-C, not an exit status.
        import signal
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
