#!/usr/bin/env bash
# Side-by-side proxy benchmark (issue 10): Cohort, nginx and HAProxy on the same
# canary rule, driven by wrk. Installs nginx and haproxy if they are missing
# (the packages only: their system services are never started or stopped; the
# benchmark runs private instances and stops them by PID). Settings: see
# bench/proxy/proxy_bench.py or docs/performance.md. BENCH_QUICK=1 for a short run.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
if ((${#need[@]})); then
  echo "proxy bench: installing ${need[*]}"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d exit 101 keeps the package scripts from starting the services.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    made_policy=1
  fi
  install() { $sudo apt-get install -y --no-install-recommends "$@"; }
  if ! install "${need[@]}"; then
    $sudo apt-get update -q
    install "${need[@]}" || install "${need[@]/nginx-light/nginx}"
  fi
  if ((made_policy)); then $sudo rm -f "$policy"; fi
fi

# 10,000 idle connections need that many descriptors in the client and the proxy.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < 10100)); then
  echo "proxy bench: ulimit -n is $(ulimit -n); the idle-connection figure needs > 10100" >&2
fi

exec python3 bench/proxy/proxy_bench.py "$@"
