#!/usr/bin/env bash
# The short demo: profile-api v1.0 (stable) and v1.1 (canary) behind the
# gateway on loopback, a few users' requests, what came back, and everything
# stopped again (also on Ctrl-C). KEEP=1 leaves it running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin
work=$(mktemp -d /tmp/cohort-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

start_backend() {  # name api -> prints port
  local name=$1 api=$2
  "$bin/profile-api" --port 0 --api "$api" > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q 'listening on' "$work/$name.out" 2>/dev/null; then break; fi
    sleep 0.05
  done
  sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/$name.out" | head -1
}

stable_port=$(start_backend stable v1.0)
canary_port=$(start_backend canary v1.1)
cat > "$work/cohort.yaml" <<YAML
gateway:
  listeners: [{ name: public, address: "127.0.0.1:0" }]
  workers: 2
  decision_header: x-cohort-decision
admin: { address: "127.0.0.1:0" }
state: { store: "sqlite:$work/state.db" }
services:
  - name: profile-api
    subsets:
      stable: { endpoints: ["127.0.0.1:$stable_port"] }
      canary: { endpoints: ["127.0.0.1:$canary_port"] }
routes:
  - name: profile
    match: { path_prefix: /profile }
    service: profile-api
rollouts:
  - name: profile-api
    service: profile-api
    session:
      key: [ { header: X-User-Id } ]
      anonymous: cookie
    cohorts:
      - name: internal
        match: { headers: [ { name: X-User-Cohort, exact: internal } ] }
        pin: canary
      - name: legacy-mobile
        match: { headers: [ { name: X-App-Version, semver: "<5.2.0" } ] }
        pin: stable
    weight: 25%
YAML
"$bin/cohort" serve -c "$work/cohort.yaml" 2> "$work/gateway.log" &
pids+=($!)
for _ in $(seq 100); do
  grep -q '"started"' "$work/gateway.log" 2>/dev/null && break
  sleep 0.05
done
gw_port=$(sed -n 's/.*"msg":"listening","listener":"public","address":"127.0.0.1:\([0-9]*\)".*/\1/p' "$work/gateway.log" | head -1)
admin_port=$(sed -n 's/.*"msg":"admin listening","address":"127.0.0.1:\([0-9]*\)".*/\1/p' "$work/gateway.log" | head -1)
echo "gateway on 127.0.0.1:$gw_port (admin 127.0.0.1:$admin_port); stable v1.0 on :$stable_port, canary v1.1 on :$canary_port"
echo "rollout profile-api: internal staff pinned to the canary, app versions < 5.2.0 pinned to stable, 25% of users on the canary"
echo

ask() {  # description, curl header args...
  local what=$1; shift
  local out
  out=$(curl -s -D "$work/h" "$@" "http://127.0.0.1:$gw_port/profile")
  printf '%-34s %-26s %s\n' "$what" "$(sed -n 's/^x-cohort-decision: //Ip' "$work/h" | tr -d '\r')" "$out"
}
ask "internal staff (user 7)" -H 'X-User-Id: 7' -H 'X-User-Cohort: internal'
ask "old app 5.1.9 (user 8)" -H 'X-User-Id: 8' -H 'X-App-Version: 5.1.9'
for user in 1 2 3 4 5 6; do
  ask "user $user, first request" -H "X-User-Id: $user"
  ask "user $user, again" -H "X-User-Id: $user"
done
ask "anonymous, no cookie yet" -c "$work/jar"
ask "anonymous, with its cookie" -b "$work/jar"
echo
echo "explain for user 3:"
curl -s -X POST "http://127.0.0.1:$admin_port/api/v1/explain" \
  -d '{"method":"GET","path":"/profile","headers":{"X-User-Id":"3"}}' || true
echo
if [[ "${KEEP:-0}" == 1 ]]; then
  echo "KEEP=1: running until Ctrl-C (gateway http://127.0.0.1:$gw_port, admin http://127.0.0.1:$admin_port)"
  wait
fi
echo "demo finished; stopping everything it started"
