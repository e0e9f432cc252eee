#!/usr/bin/env bash
# bench/run.sh - builds the optimised build and runs every benchmark, printing
# their JSON lines and tables (see BENCHMARKS.md). Not a test: nothing here fails
# on a slow machine. BENCH_CLIENTS sets the office's caseload of bench_sync
# (default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --deps-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(( $(nproc) < 2 ? $(nproc) : 2 ))" >/dev/null
BG_GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
export BG_GIT_REV
start=$(date +%s)
for b in bench_codec bench_merge; do
  echo "== $b"
  "build/bench/$b"
  echo
done
echo "== bench_sync"
build/bench/bench_sync --clients "${BENCH_CLIENTS:-2000}"
echo
echo "== bgload (short: 100 active, 1,000 idle, 10 s; the full run is in BENCHMARKS.md)"
build/tools/bgload --active "${BGLOAD_ACTIVE:-100}" --idle "${BGLOAD_IDLE:-1000}" --seconds 10
echo
echo "== all benchmarks: $(( $(date +%s) - start )) s"
