#!/usr/bin/env bash
# tests/e2e/proxy.sh BUILD_DIR - tools/bgproxy, the fault-injecting proxy the
# tests put between a device and bgsyncd: its command line (help, usage errors
# exit 2, a port in use exits 1), then test_proxy drives it over plain loopback
# TCP (forwarding, close, stall, delay, --connections, memory bound).
set -u
build=$1
bgproxy=$build/tools/bgproxy
failed=0
n=0

# expect CODE PATTERN -- COMMAND...: exit status CODE and output matching PATTERN
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$(timeout 10 "$@" 2>&1)
  rc=$?
  n=$((n + 1))
  if [ "$rc" -ne "$code" ] || ! grep -qE -e "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (want $code), output:"
    sed 's/^/    /' <<<"$out" | head -n 8
    failed=$((failed + 1))
  fi
}

expect 0 "Example:" -- "$bgproxy" --help
expect 0 "^bgproxy [0-9]" -- "$bgproxy" --version
expect 2 "--listen PORT is required" -- "$bgproxy" --to 127.0.0.1:1
expect 2 "--to HOST:PORT is required" -- "$bgproxy" --listen 0
expect 2 "unknown option '--fast'" -- "$bgproxy" --listen 0 --to 127.0.0.1:1 --fast
expect 2 "--at needs a value" -- "$bgproxy" --listen 0 --to 127.0.0.1:1 --fault close --at
expect 2 "--fault 'drop' is none of close, stall, delay" -- "$bgproxy" --listen 0 --to 127.0.0.1:1 --fault drop
expect 2 "--dir 'left' is neither up" -- "$bgproxy" --listen 0 --to 127.0.0.1:1 --fault close --dir left
expect 2 "--at: '-1' is not a number" -- "$bgproxy" --listen 0 --to 127.0.0.1:1 --fault close --at -1
expect 2 "--listen: '70000' is not a number from 0 to 65535" -- "$bgproxy" --listen 70000 --to 127.0.0.1:1
expect 2 "need --fault" -- "$bgproxy" --listen 0 --to 127.0.0.1:1 --at 5
expect 2 "--delay-ms goes with --fault delay" -- "$bgproxy" --listen 0 --to 127.0.0.1:1 --fault close --delay-ms 5
expect 1 "--to 'nowhere' is not HOST:PORT" -- "$bgproxy" --listen 0 --to nowhere
expect 1 "--port-file /nonexistent/dir/p.tmp" -- "$bgproxy" --listen 0 --to 127.0.0.1:1 --port-file /nonexistent/dir/p

# a port in use: start one proxy, start a second on its port
tmp=$(mktemp -d)
"$bgproxy" --listen 0 --to 127.0.0.1:1 --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
expect 1 "listening on 127.0.0.1:[0-9]+: address already in use" -- "$bgproxy" --listen "$(cat "$tmp/port")" --to 127.0.0.1:1
kill -TERM "$pid"
wait "$pid"
st=$?
n=$((n + 1))
[ "$st" -eq 0 ] || { echo "FAIL: SIGTERM: exit status $st, not 0"; failed=$((failed + 1)); }
grep -q "listening on 127.0.0.1:$(cat "$tmp/port"), forwarding to 127.0.0.1:1, no fault" "$tmp/log" ||
  { echo "FAIL: no 'listening' line:"; cat "$tmp/log"; failed=$((failed + 1)); }
rm -rf "$tmp"
echo "proxy command line: $((n - failed)) passed, $failed failed"

timeout 300 "$build/tests/test_proxy" "$bgproxy" || failed=$((failed + 1))
[ "$failed" -eq 0 ]
