#!/usr/bin/env bash
# tools/fuzz.sh - long fuzzing runs (not part of the test suite).
#
#   tools/fuzz.sh [RUNS] [TARGET...]    default: 10000000 runs of every target
#
# Builds build-asan/ (clang, ASan + UBSan, libFuzzer), then runs each target for
# RUNS executions over its seed corpus plus what earlier long runs found
# (build-asan/tests/fuzz/corpus/*_new). Crashing inputs are written to the
# current directory as crash-*; add them to tests/vectors when they show a bug.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000000}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_frame fuzz_msg)
tools/setup.sh --deps-only
cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
  -DBG_SANITIZE=ON -DBG_FUZZ=ON >/dev/null
cmake --build build-asan -j "$(nproc)"
corpus=build-asan/tests/fuzz/corpus
for t in "${targets[@]}"; do
  case $t in fuzz_frame) c=frame ;; fuzz_msg) c=body ;; *) echo "unknown target $t" >&2; exit 2 ;; esac
  echo "== $t: $runs executions"
  log=build-asan/$t.log
  if ! build-asan/tests/fuzz/$t -runs="$runs" -max_len=65536 -print_final_stats=1 \
      "$corpus/${c}_new" "$corpus/$c" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "$t failed; full log: $log" >&2
    exit 1
  fi
  grep -E "^stat::|Done [0-9]+ runs" "$log" || true
done
