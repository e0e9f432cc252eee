#!/usr/bin/env bash
# tools/test.sh - the whole test suite, from a fresh clone:
#   1. installs missing Debian packages (tools/setup.sh --deps-only);
#   2. builds with clang, AddressSanitizer + UndefinedBehaviorSanitizer and the
#      libFuzzer targets (build-asan/) and runs every test there, the fuzz
#      targets for a fixed number of executions over their seed corpus;
#   3. builds the normal optimised build (build/), runs the README's main job
#      (tools/demo.sh: the organisation demonstration, which checks its own
#      claims), and runs every test there.
# Exits non-zero on the first failure. The output ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

tools/setup.sh --deps-only

echo "== sanitizer build (clang, ASan + UBSan, libFuzzer): build-asan/"
cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
  -DBG_SANITIZE=ON -DBG_FUZZ=ON -DBG_SIM_SEEDS=200 >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ctest --output-on-failure -j "$jobs")

echo "== normal build (gcc, RelWithDebInfo): build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"

echo "== the README's main job (tools/demo.sh) must run and exit 0"
if ! tools/demo.sh > build/demo.out 2>&1; then
  tail -n 30 build/demo.out
  echo "tools/demo.sh failed; its output is in build/demo.out" >&2
  exit 1
fi
echo "demo: ok ($(wc -l < build/demo.out) lines, build/demo.out)"

(cd build && ctest --output-on-failure -j "$jobs")
