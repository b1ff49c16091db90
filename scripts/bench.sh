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

# proxy: Cohort, nginx and HAProxy side by side on the same canary rule
# (bench/proxy/, docs/performance.md). About 7 minutes; BENCH_PROXY=0 skips it,
# BENCH_QUICK=1 runs a short version.
if [[ ${BENCH_PROXY:-1} != 0 ]]; then
  if [[ -x build/bin/cohort ]]; then
    echo "== bench/proxy/run.sh"
    bench/proxy/run.sh
  else
    echo "== bench/proxy skipped: build/bin/cohort is not built"
  fi
fi
