#!/usr/bin/env bash
# Fuzz the parsers that read the network: libFuzzer with ASan+UBSan (clang), FUZZ_SECONDS (60) of
# each target, as many targets at once as there are cores. What a run finds goes to build-fuzz/.
# Usage: scripts/fuzz.sh [TARGET...]   (default: every target; FUZZ_SECONDS=600 for a longer run)
set -euo pipefail
cd "$(dirname "$0")/.."
# Every target: tests/fuzz/NAME_fuzzer.cpp builds NAME_fuzzer (tests/fuzz/CMakeLists.txt).
all=(tests/fuzz/*_fuzzer.cpp)
all=("${all[@]##*/}")
all=("${all[@]%_fuzzer.cpp}")

fuzz_one() {  # target: its output is printed only when it finds something
  local target=$1 seconds=${FUZZ_SECONDS:-60} log=build-fuzz/$1.log
  mkdir -p "build-fuzz/corpus-work/$target"  # never the sources
  # One small message decoder: a third of the time finds what there is.
  [[ $target == grpc_health ]] && seconds=$(( (seconds + 2) / 3 ))
  if ! "build-fuzz/tests/fuzz/${target}_fuzzer" -max_total_time="$seconds" \
      -artifact_prefix=build-fuzz/ "build-fuzz/corpus-work/$target" "tests/fuzz/corpus/$target" \
      "tests/fuzz/regressions/$target" >"$log" 2>&1; then
    cat "$log"
    echo "fuzz: $target FAILED (its input is in build-fuzz/, its output in $log)" >&2
    return 1
  fi
  echo "fuzz: $target: $(grep -E '^Done [0-9]+ runs' "$log" || tail -n 1 "$log")"
}

if [[ ${1-} == --one ]]; then  # the parallel run below calls back here, one target a process
  fuzz_one "$2"
  exit
fi
if ! command -v clang++ >/dev/null; then
  echo "clang++ not found: fuzzing skipped (the suites replay the corpus)"
  exit 0
fi
targets=("$@")
(( $# )) || targets=("${all[@]}")
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBGPROXY_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/%/_fuzzer}"
printf '%s\n' "${targets[@]}" | xargs -P "$(nproc)" -I{} "$0" --one {}
