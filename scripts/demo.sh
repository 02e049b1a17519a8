#!/usr/bin/env bash
# From a fresh clone: install what is missing, build a Release build, run `bgproxy demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBGPROXY_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target bgproxy
exec build/bgproxy demo "$@"
