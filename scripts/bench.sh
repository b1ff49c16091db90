#!/usr/bin/env bash
# make bench: microbenchmarks and simulators; prints figures (no pass/fail on timings).
set -euo pipefail
cd "$(dirname "$0")/.."
run() {
  local bin=$1; shift
  if [[ -x $bin ]]; then
    echo "== $bin $*"
    "$bin" "$@"
    echo
  fi
}
for b in build/bench/routing_bench build/bin/http_bench build/bin/metrics_bench build/bench/metrics_bench; do
  run "$b" --benchmark_min_time=0.2
done
run build/bin/analysis_sim ${ANALYSIS_SIM_ARGS:---quick}
