#!/usr/bin/env bash
# From a fresh clone: install what is missing, build Release and ASan+UBSan, run every test in both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=$(nproc)

run_suite() {  # build dir, extra cmake flags...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DBGPROXY_TESTS=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs" --timeout 600
}

echo "== Release build and tests"
run_suite build -DCMAKE_BUILD_TYPE=Release
echo "== ASan+UBSan build and tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBGPROXY_SANITIZE=ON -DBGPROXY_BENCH=OFF \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"  # line tables for reports; quicker to build
echo "== Fuzzing every parser that reads the network (scripts/fuzz.sh)"
scripts/fuzz.sh
