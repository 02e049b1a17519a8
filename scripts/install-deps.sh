#!/usr/bin/env bash
# Installs the Debian packages bgproxy needs that are missing (with sudo when not root).
# Usage: scripts/install-deps.sh [build|test|bench|fleet]...   (default: build)
set -euo pipefail

build=(g++ cmake ninja-build pkg-config libboost1.81-dev libboost-url1.81-dev prometheus-cpp-dev
  libyaml-cpp-dev libfmt-dev libssl-dev openssl libnghttp2-dev libsystemd-dev libgoogle-perftools-dev)
test=(libgtest-dev libgmock-dev prometheus curl clang libclang-rt-14-dev etcd-server etcd-client
  systemd chromium python3 nghttp2-client python3-h2 python3-grpcio python3-yaml)  # systemd-analyze verifies the shipped unit; chromium renders the
# dashboard (driven over its DevTools pipe by tests/integration/dashboard_driver.py, no module
# needed); python3's ssl is the TLS backend, client and webhook receiver of the TLS tests;
# python3-yaml parses the Kubernetes example
bench=(wrk haproxy nginx-light libbenchmark-dev linux-perf nghttp2-client nghttp2-server python3-h2)
# h2load (nghttp2-client) drives bench/h2.sh and bench/grpc.sh; nghttpd (nghttp2-server) is the gRPC
# benchmark's h2c backend; python3-h2 the Rapid Reset benchmark's attacker and backend
fleet=(etcd-server etcd-client python3)  # scripts/fleet-demo.sh, bench/fleet.py

wanted=()
for group in "${@:-build}"; do
  case "$group" in
    build) wanted+=("${build[@]}") ;;
    test) wanted+=("${build[@]}" "${test[@]}") ;;
    bench) wanted+=("${build[@]}" "${bench[@]}" "${fleet[@]}") ;;
    fleet) wanted+=("${fleet[@]}") ;;
    *) echo "install-deps: unknown group '$group'" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
