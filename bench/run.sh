#!/usr/bin/env bash
# bench/run.sh - builds the optimised build and runs every benchmark, printing
# their JSON lines and tables (see BENCHMARKS.md). Not a test: nothing here fails
# on a slow machine.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --deps-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
BG_GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
export BG_GIT_REV
for b in build/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b"
  echo
done
