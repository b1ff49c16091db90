#!/bin/sh
# Instructions per decide() call, counted by callgrind (repeatable, unlike time
# on a shared machine). Two runs of different lengths are subtracted, so the
# one-off costs (snapshot build, RE2's lazily built DFA) cancel out.
# Usage: bench/routing/callgrind.sh build/bench/routing_bench [benchmark filter...]
set -eu
bench=$1
shift
filters=${*:-"BM_decide_bucket$ BM_decide_ten_cohorts_none_match$ BM_decide_ten_cohorts_all_joined$"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
measure() { # filter min_time -> "instructions calls"
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bench" \
    --benchmark_filter="$1" --benchmark_min_time="$2" >/dev/null 2>&1
  callgrind_annotate --tree=caller --inclusive=yes "$tmp/out" 2>/dev/null |
    awk '/< .*routing_bench\.cpp:/ { pending = $0; next }
         /\*  .*cohort::routing::decide\(/ && pending != "" {
           split(pending, a, " "); gsub(",", "", a[1])
           match(pending, /\(([0-9,]+)x\)/); c = substr(pending, RSTART + 1, RLENGTH - 3); gsub(",", "", c)
           print a[1], c; exit }
         { pending = "" }'
}
for f in $filters; do
  set -- $(measure "$f" 0.02)
  i1=$1 c1=$2
  set -- $(measure "$f" 0.2)
  i2=$1 c2=$2
  echo "$f: $(( (i2 - i1) / (c2 - c1) )) instructions per decide() ($c1 and $c2 calls)"
done
