#!/usr/bin/env bash
# tests/cli.sh BUILD_DIR SOURCE_DIR - the command-line contract of the tools:
# --help exits 0 with an example, usage errors exit 2 with a message, results
# use the documented exit codes. One line per check; exits 1 on the first failure.
set -u
build=$1
src=$2
bgframe=$build/tools/bgframe
bgsim=$build/tools/bgsim
v=$src/tests/vectors
failed=0
n=0

# expect CODE PATTERN -- COMMAND...: exit status CODE and output matching PATTERN
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  n=$((n + 1))
  if [ "$rc" -ne "$code" ] || ! grep -qE "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (want $code), output:"
    sed 's/^/    /' <<<"$out" | head -n 8
    failed=$((failed + 1))
  fi
}

expect 0 "Example:" -- "$bgframe" --help
expect 0 "protocol 1\.\.1" -- "$bgframe" --version
expect 2 "missing command" -- "$bgframe"
expect 2 "unknown command 'nope'" -- "$bgframe" nope
expect 2 "cannot open" -- "$bgframe" decode /nonexistent/frame.hex
expect 0 '"type":"PUSH".*"batch":42' -- "$bgframe" decode "$v/push.hex"
expect 1 "refused: 109 BG_E_FIELD_TYPE: PUSH.writes\[0\]\.dot" -- "$bgframe" decode "$v/err_write_bad_dot.hex"
expect 1 "ends inside a frame" -- bash -c "printf '\x00\x00\x00\x09\x81' | '$bgframe' decode -"
expect 0 '"type":"PING"' -- bash -c "printf '\x00\x00\x00\x03\x81\x00\x09' | '$bgframe' decode -"

expect 0 "Example:" -- "$bgsim" --help
expect 2 "needs a value" -- "$bgsim" --seeds
expect 2 "is not a number" -- "$bgsim" --seeds many
expect 2 "out of range" -- "$bgsim" --devices 99
expect 0 "^bgsim: 3 passed, 0 failed$" -- "$bgsim" --seeds 3 --start 7 --ops 200

echo "cli: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
