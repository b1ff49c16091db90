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

# rollout: real A/A rollouts (false-rollback rate with its 95% interval) and
# regression rollouts (errors 1%->5%, latency x1.2, a slow 2% tail: detection
# and canary requests to rollback), at sub-ms and 20 ms latency, with and
# without a busy neighbour (bench/rollout/, docs/analysis.md). About 30 minutes;
# BENCH_ROLLOUT=0 skips it, BENCH_QUICK=1 (or BENCH_ROLLOUT=quick) runs about 10;
# BENCH_ROLLOUT_ARGS adds options (scenarios, --runs N, --out FILE).
if [[ ${BENCH_ROLLOUT:-1} != 0 ]]; then
  if [[ -x build/bin/cohort && -x build/bin/profile-api && -x build/bin/cohort-loadgen ]]; then
    echo "== bench/rollout/aa_runs.py"
    quick=()
    if [[ ${BENCH_QUICK:-0} == 1 || ${BENCH_ROLLOUT:-1} == quick ]]; then quick=(--quick); fi
    # shellcheck disable=SC2086
    PYENV_VERSION=system python3 bench/rollout/aa_runs.py "${quick[@]}" ${BENCH_ROLLOUT_ARGS:-}
  else
    echo "== bench/rollout skipped: build/bin/cohort, profile-api or cohort-loadgen is not built"
  fi
fi
