#!/usr/bin/env bash
# `make demo`: the seed's story end to end, all on loopback.
#
#   profile-api v1.0 (stable, and a copy as the baseline) and v1.1 (canary) behind
#   `cohort serve`; cohort-loadgen simulates 5,000 users (2% internal staff, 50
#   beta testers, 10% on app versions below 5.2.0 that v1.1 would break).
#   Rollout 1: the good v1.1 goes to staff, beta, 1%, 5%, 25%, 50% and is promoted.
#   Then the configuration is switched (POST /api/v1/config): v1.1 is the new
#   stable, old apps keep v1.0 through a route of their own, and the canary is a
#   bad build "v1.2" (5% errors, 300 ms) with a new revision.
#   Rollout 2: it is rolled back automatically.
#
# Environment:
#   KEEP=1          stay up at the end (dashboard URL printed) until Ctrl-C
#   DEMO_SHORT=1    shorter pauses between the acts (the e2e test uses it)
#   DEMO_SUMMARY=F  also write the summary as JSON to F
#   COHORT_BIN=DIR  where the binaries are (default build/bin)
#   DEMO_RATE=R     requests per second of the simulated users (default 400)
# Everything it starts is stopped on exit, Ctrl-C or a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${COHORT_BIN:-$root/build/bin}
rate=${DEMO_RATE:-400}
short=${DEMO_SHORT:-0}
# The short mode checks every second; the full one every 2 s, slow enough to follow.
if [[ $short == 1 ]]; then pause=1 interval=1s; else pause=4 interval=2s; fi
work=$(mktemp -d /tmp/cohort-demo.XXXXXX)
pids=()
loadgen_pid=

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${DEMO_KEEP_WORK:-0} == 1 ]]; then
    echo "demo files kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; echo "interrupted: stopping everything the demo started"; exit 130' INT TERM

die() {
  echo "demo: $*" >&2
  if [[ -f $work/gateway.log ]]; then
    echo "--- last gateway log lines ---" >&2
    grep -v '"access"' "$work/gateway.log" | tail -20 >&2 || true
  fi
  exit 1
}

for b in cohort profile-api cohort-loadgen; do
  [[ -x $bin/$b ]] || die "$bin/$b is missing: run 'make build' (or make demo)"
done
command -v curl > /dev/null || die "curl is missing: run scripts/deps.sh"
command -v python3 > /dev/null || die "python3 is missing: run scripts/deps.sh"

wait_for_line() {  # file pattern what
  for _ in $(seq 200); do
    if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  die "$3 did not start (see $1)"
}

started_port=
start_backend() {  # name api label [extra args] -> sets started_port
  local name=$1 api=$2 label=$3
  shift 3
  "$bin/profile-api" --port 0 --api "$api" --version-label "$label" "$@" \
    > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  wait_for_line "$work/$name.out" 'listening on' "profile-api $name"
  started_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/$name.out" | head -1)
}

render() {  # template -> the configuration with this run's ports, state file and interval
  sed -e "s/^      interval: 1s$/      interval: $interval/" \
      -e "s/127\.0\.0\.1:19001/127.0.0.1:$p_v10/; s/127\.0\.0\.1:19002/127.0.0.1:$p_v10b/" \
      -e "s/127\.0\.0\.1:19003/127.0.0.1:$p_v11/; s/127\.0\.0\.1:19004/127.0.0.1:$p_v11b/" \
      -e "s/127\.0\.0\.1:19005/127.0.0.1:$p_v12/" \
      -e "s#sqlite:cohort-demo-state.db#sqlite:$work/state.db#" "$1"
}

echo "== Cohort demo: a session-aware canary release of profile-api, on loopback =="
# Started in this shell (not in $(...)) so that their ids land in pids. Every
# build takes 20 +- 10 ms like a real service (a database call): on loopback the
# versions would otherwise differ by microseconds of CPU, which the sequential
# latency test rightly notices but which is not what the demo is about.
service_time=(--latency-ms 20 --latency-jitter-ms 10)
start_backend v1.0 v1.0 v1.0 "${service_time[@]}" && p_v10=$started_port
start_backend v1.0-baseline v1.0 v1.0 "${service_time[@]}" && p_v10b=$started_port
start_backend v1.1 v1.1 v1.1 "${service_time[@]}" && p_v11=$started_port
start_backend v1.1-baseline v1.1 v1.1 "${service_time[@]}" && p_v11b=$started_port
start_backend v1.2-bad v1.1 v1.2 --error-rate 0.05 --latency-ms 300 --latency-jitter-ms 50 &&
  p_v12=$started_port
echo "profile-api (20 +- 10 ms per request): v1.0 on :$p_v10 (stable) and :$p_v10b (baseline), v1.1 on :$p_v11 (canary)"
echo "             and :$p_v11b (baseline of rollout 2), the bad v1.2 on :$p_v12 (5% errors, +300 ms)"

render examples/configs/demo-1-good-release.yaml > "$work/cohort.yaml"
"$bin/cohort" serve -c "$work/cohort.yaml" 2> "$work/gateway.log" &
pids+=($!)
wait_for_line "$work/gateway.log" '"started"' "cohort serve"
gw_port=$(sed -n 's/.*"msg":"listening","listener":"public","address":"127.0.0.1:\([0-9]*\)".*/\1/p' "$work/gateway.log" | head -1)
admin_port=$(sed -n 's/.*"msg":"admin listening","address":"127.0.0.1:\([0-9]*\)".*/\1/p' "$work/gateway.log" | head -1)
[[ -n $gw_port && -n $admin_port ]] || die "cannot find the gateway's ports in its log"
admin=http://127.0.0.1:$admin_port
dashboard=$admin/
echo "gateway: http://127.0.0.1:$gw_port/profile   admin API and dashboard: $dashboard"

users=5000
beta=1000-1049
echo "users: $users simulated (2% internal staff, beta testers $beta, 10% on apps < 5.2.0), $rate requests/s"
t0=$(date +%s.%N)
"$bin/cohort-loadgen" --target "http://127.0.0.1:$gw_port/profile" --users "$users" \
  --internal-share 2% --beta-users "$beta" --legacy-share 10% --rate "$rate" \
  --duration 30m --report-every 1s --json > "$work/loadgen.json" 2> "$work/loadgen.progress" &
loadgen_pid=$!
pids+=("$loadgen_pid")

watch() {  # label until timeout out log-offset stable:canary [more options]
  python3 scripts/demo_watch.py watch --admin "$admin" --rollout profile-api --label "$1" \
    --until "$2" --timeout "$3" --log "$work/gateway.log" --log-from "$5" --t0 "$t0" --out "$4" \
    --versions "$6" "${@:7}"
}

echo
echo "-- rollout 1: v1.1, a good release: internal staff -> beta -> 1% -> 5% -> 25% -> 50% -> promoted"
echo "   (checks every $interval: success rate >= 99%, p99 <= 250 ms, judged against the v1.0 baseline,"
echo "    and a sequential test of errors and slow requests every second)"
watch "rollout 1 (v1.1)" Succeeded,Failed 120 "$work/rollout1.json" 0 v1.0:v1.1 ||
  die "rollout 1 did not finish in time"
phase1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["phase"])' "$work/rollout1.json")
[[ $phase1 == Succeeded ]] || die "rollout 1 ended $phase1, not Succeeded"
sleep "$pause"

echo
echo "-- switching the configuration (POST /api/v1/config, examples/configs/demo-2-bad-release.yaml):"
echo "   v1.1 is promoted, so it becomes the stable version (and its copy the baseline): users"
echo "   on v1.1 stay there. Apps < 5.2.0 cannot read v1.1: a route of their own keeps them on v1.0."
echo "   The canary is now the bad build v1.2 with revision v1.2: the rollout restarts at step 0."
render examples/configs/demo-2-bad-release.yaml > "$work/cohort.yaml"
log_offset=$(stat -c %s "$work/gateway.log")
answer=$(curl -sS -X POST --data-binary @"$work/cohort.yaml" "$admin/api/v1/config") ||
  die "POST /api/v1/config failed"
[[ $answer == *applied* ]] || die "configuration refused: $answer"

echo
echo "-- rollout 2: v1.2, a bad release (5% errors, +300 ms): it should be rolled back by the analysis"
watch "rollout 2 (v1.2)" Failed,Succeeded 120 "$work/rollout2.json" "$log_offset" v1.1:v1.2 \
  --after-restart ||
  die "rollout 2 did not finish in time"
sleep "$pause"

# Stop the users (the load generator drains and reports on SIGTERM) and tell the story.
kill -TERM "$loadgen_pid"
for _ in $(seq 200); do
  kill -0 "$loadgen_pid" 2>/dev/null || break
  sleep 0.05
done
kill -KILL "$loadgen_pid" 2>/dev/null || true
wait "$loadgen_pid" 2>/dev/null || true
[[ -s $work/loadgen.json ]] || die "the load generator wrote no report (see $work/loadgen.progress)"
python3 scripts/demo_watch.py summary --loadgen "$work/loadgen.json" \
  --rollout "$work/rollout1.json" --rollout "$work/rollout2.json" --t0 "$t0" \
  --dashboard "$dashboard" ${DEMO_SUMMARY:+--out "$DEMO_SUMMARY"}

if [[ ${KEEP:-0} == 1 ]]; then
  echo
  echo "KEEP=1: everything stays up until Ctrl-C. Dashboard: $dashboard"
  echo "  gateway http://127.0.0.1:$gw_port/profile; try: $bin/cohort get rollouts --admin $admin"
  echo "  the simulated users keep coming (100 requests/s) so that the dashboard stays alive"
  "$bin/cohort-loadgen" --target "http://127.0.0.1:$gw_port/profile" --users "$users" \
    --internal-share 2% --beta-users "$beta" --legacy-share 10% --rate 100 --duration 24h \
    --report-every 0 > /dev/null 2>&1 &
  pids+=($!)
  sleep infinity &  # waited for in the background, so that Ctrl-C is handled at once
  pids+=($!)
  wait $! || true
fi
echo "demo finished; stopping everything it started"
