#!/usr/bin/env bash
# tests/install.sh BUILD_DIR SOURCE_DIR - libbgsync as an app developer meets it:
# install into a fresh prefix, build examples/caseload.c against the installed
# header with pkg-config and with the CMake package, and run both on a replica.
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name 'bgsync.pc' | head -n1)")
test -f "$tmp/prefix/include/bgsync.h" || { echo "FAIL: bgsync.h not installed"; exit 1; }
test -f "$tmp/prefix/include/bg_error.h" || { echo "FAIL: bg_error.h not installed"; exit 1; }
# the library exports its API and nothing of its internals
if nm -D --defined-only "$(dirname "$libdir")"/libbgsync.so | awk '{print $3}' | grep -vE '^(bgsync_|bg_err_)' | grep -q .; then
  echo "FAIL: libbgsync.so exports more than its API:"
  nm -D --defined-only "$(dirname "$libdir")"/libbgsync.so | awk '{print $3}' | grep -vE '^(bgsync_|bg_err_)' | head
  exit 1
fi
export PKG_CONFIG_PATH="$libdir"
cc -std=c11 -Wall -Wextra -Werror "$src/examples/caseload.c" $(pkg-config --cflags --libs bgsync sqlite3) \
  -o "$tmp/caseload-pc"
cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/ex" >/dev/null
export LD_LIBRARY_PATH="$(dirname "$libdir")"
for bin in "$tmp/caseload-pc" "$tmp/ex/caseload"; do
  out=$("$bin" "$tmp/replica.db")
  grep -q "not enrolled yet" <<<"$out" || { echo "FAIL: $bin printed: $out"; exit 1; }
  if "$bin" "$tmp/replica.db" c-1 "note" >/dev/null 2>"$tmp/err"; then
    echo "FAIL: a note on an unenrolled replica was accepted"; exit 1
  fi
  grep -q "enrol" "$tmp/err" || { echo "FAIL: unclear refusal: $(cat "$tmp/err")"; exit 1; }
done
echo "ok: installed, built with pkg-config and with the CMake package, ran both"
