#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind: repeatable
# whatever else the machine does, unlike the side-by-side timings. The proxy
# runs under valgrind in front of an nginx backend with the benchmark's rule;
# h2load sends N1 and then N2 requests in two runs, and the difference of the
# totals divided by N2 - N1 cancels start-up and shutdown.
# Usage: bench/proxy/callgrind.sh [cohort|haproxy] [on|off] [h1|h2]
#   on/off: the forwarding fields (X-Forwarded-*, Via, traceparent), as
#   BENCH_PROXY_HEADERS in proxy_bench.py. h1: HTTP/1.1 on 8 connections;
#   h2: h2c on 16 connections x 10 streams, as the benchmark's HTTP/2 round.
#   COHORT_BIN, N1, N2 override.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:-cohort}
fields=${2:-on}
proto=${3:-h1}
n1=${N1:-10000}
n2=${N2:-40000}
cohort_bin=${COHORT_BIN:-build/bin/cohort}
for tool in valgrind callgrind_annotate nginx h2load curl; do
  command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is not installed" >&2; exit 2; }
done
[[ $target == haproxy ]] && ! command -v haproxy >/dev/null &&
  { echo "callgrind.sh: haproxy is not installed (bench/proxy/run.sh installs it)" >&2; exit 2; }
[[ $fields == on || $fields == off ]] || { echo "callgrind.sh: fields must be on or off" >&2; exit 2; }
case $proto in
  h1) load=(--h1 -c8) ;;
  h2) load=(-c16 -m10) ;;
  *) echo "callgrind.sh: the protocol must be h1 or h2" >&2; exit 2 ;;
esac

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) stable=$(free_port) canary=$(free_port)
mkdir -p "$work/tmp"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$stable; location / { return 200 "stable\n"; } }
  server { listen 127.0.0.1:$canary; location / { return 200 "canary\n"; } }
}
EOF
nginx -c "$work/nginx.conf" &
pids+=($!)

# The proxy's config is the benchmark's own (proxy_bench.py writes both).
if [[ $target == cohort ]]; then
  BENCH_PROXY_HEADERS=$fields python3 bench/proxy/proxy_bench.py config cohort \
    "$port" "$stable" "$canary" "$work" >"$work/cohort.yaml"
  proxy_cmd=("$cohort_bin" serve -c "$work/cohort.yaml")
else
  BENCH_PROXY_HEADERS=$fields python3 bench/proxy/proxy_bench.py config haproxy \
    "$port" "$stable" "$canary" "$work" >"$work/haproxy.cfg"
  proxy_cmd=(haproxy -db -f "$work/haproxy.cfg")
fi

# One run of n requests under callgrind: prints the program's total instructions.
measure() {
  local n=$1 out="$work/callgrind.$1"
  rm -f "$work/state.db"*
  valgrind --tool=callgrind --callgrind-out-file="$out" "${proxy_cmd[@]}" >"$work/proxy.$n.log" 2>&1 &
  local proxy=$!
  local up=0
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then up=1; break; fi
    sleep 0.2
  done
  if ((up == 0)); then
    echo "callgrind.sh: $target did not answer on 127.0.0.1:$port; its log:" >&2
    cat "$work/proxy.$n.log" >&2
    kill "$proxy" 2>/dev/null || true
    exit 1
  fi
  h2load "${load[@]}" -n "$n" -H 'X-User-Id: user-12345' -H 'User-Agent: bench' \
    "http://127.0.0.1:$port/profile" >"$work/h2load.$n.txt" 2>&1
  if ! grep -q "^status codes: $n 2xx" "$work/h2load.$n.txt"; then
    echo "callgrind.sh: not every request succeeded:" >&2
    grep -E "^requests:|^status codes" "$work/h2load.$n.txt" >&2
    kill "$proxy" 2>/dev/null || true
    exit 1
  fi
  kill -TERM "$proxy"
  wait "$proxy" || true
  # awk reads to the end: an early exit would fail the pipe (pipefail).
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !seen { gsub(",", "", $1); print $1; seen = 1 }'
}
echo "callgrind.sh: $target, forwarding fields $fields, $proto, $n1 then $n2 requests (a few minutes)" >&2
i1=$(measure "$n1")
i2=$(measure "$n2")
echo "$target fields=$fields $proto: $(((i2 - i1) / (n2 - n1))) instructions per request ($i1 and $i2 in all)"
