#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need.
# Idempotent and non-interactive: it installs only what is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config clang-format
  libboost1.81-dev libyaml-cpp-dev nlohmann-json3-dev libxxhash-dev libre2-dev
  libsqlite3-dev libssl-dev libnghttp2-dev libgoogle-perftools-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # integration tests and demo: real peers on loopback
  curl wrk nghttp2-client nghttp2-server procps iproute2 python3 openssl
  # HTTP/2, gRPC and WebSocket peers for the protocol tests
  python3-grpcio python3-websockets
  # promtool (`promtool check metrics` in the metrics tests)
  prometheus
  # statistics reference for the analysis tests
  r-base-core
  # dashboard: npm installs uPlot at build time; the browser test drives chromium
  nodejs npm chromium
)

# A package counts as present when dpkg has it, or, for npm, when an installed
# nodejs already provides the program (NodeSource's nodejs conflicts with npm).
present() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" && return 0
  [[ $1 == npm ]] && command -v npm >/dev/null 2>&1
}

missing=()
for p in "${packages[@]}"; do
  present "$p" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
