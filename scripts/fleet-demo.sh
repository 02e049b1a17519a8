#!/usr/bin/env bash
# Three bgproxy replicas and one etcd member acting as one rollout (docs/fleet.md): installs what
# is missing (Debian 12), builds, and runs the demo of bench/fleet.py. About 15 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build fleet
if [ ! -x build/bgproxy ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBGPROXY_TESTS=OFF >/dev/null
  cmake --build build -j"$(nproc)" --target bgproxy
fi
exec python3 bench/fleet.py --demo --bgproxy build/bgproxy
