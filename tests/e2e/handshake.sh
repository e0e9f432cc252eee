#!/usr/bin/env bash
# tests/e2e/handshake.sh BUILD_DIR - the daemon's TLS front door, checked from
# outside with openssl s_client against a real bgsyncd: refused without a
# certificate, with a certificate of another CA, with TLS 1.1 and with
# plaintext; an enrolment connection verifies against the organisation CA.
set -u
build=$1
tmp=$(mktemp -d)
home=$tmp/org
# two free ports in a row, below the kernel's ephemeral range
port=$((20000 + ($$ * 2) % 12000))
while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/$((port + 1))) 2>/dev/null; do
  port=$((port + 2))
done
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
failed=0
n=0
check() { # NAME CONDITION...
  local name=$1
  shift
  n=$((n + 1))
  if ! "$@"; then echo "FAIL: $name"; failed=$((failed + 1)); fi
}
command -v openssl >/dev/null || { echo "handshake: openssl not installed (tools/setup.sh installs it)"; exit 1; }

"$build/tools/bgctl" --home "$home" init --org "Zorg Test" --host localhost >/dev/null || exit 1
printf 'listen = 127.0.0.1:%d\nenrol_listen = 127.0.0.1:%d\n' "$port" $((port + 1)) >>"$home/bgsyncd.conf"
"$build/daemon/bgsyncd" --home "$home" 2>"$tmp/log" &
pid=$!
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done

s_client() { timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername localhost "${@:2}" </dev/null 2>&1; }

# a certificate from a CA of its own making
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=7/OU=anna" \
  -keyout "$tmp/other.key" -out "$tmp/other.crt" >/dev/null 2>&1

out=$(s_client "$port" -CAfile "$home/ca.crt")
check "no client certificate is refused" grep -qiE "alert|error|unexpected eof" <<<"$out"
out=$(s_client "$port" -CAfile "$home/ca.crt" -cert "$tmp/other.crt" -key "$tmp/other.key")
check "a certificate of another CA is refused" grep -qiE "alert|error|unexpected eof" <<<"$out"
out=$(s_client "$port" -tls1_1 -CAfile "$home/ca.crt")
check "TLS 1.1 is refused" grep -qiE "alert|error|no protocols" <<<"$out"
out=$(printf '\x00\x00\x00\x03\x81\x00\x01' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; timeout 3 cat <&3" 2>/dev/null | wc -c)
check "plaintext gets no protocol answer" test "$out" -lt 10
out=$(s_client $((port + 1)) -CAfile "$home/ca.crt" -verify_return_error)
check "the enrolment port verifies against the organisation CA" grep -q "Verify return code: 0 (ok)" <<<"$out"
check "only AEAD suites with ECDHE" grep -qE "Cipher is ECDHE-ECDSA-(AES(128|256)-GCM|CHACHA20-POLY1305)" <<<"$out"
out=$(s_client $((port + 1)) -cipher AES128-SHA -tls1_2 -CAfile "$home/ca.crt")
check "a CBC suite is refused" grep -qiE "alert|error|no cipher" <<<"$out"
check "refusals are logged" grep -q "handshake refused" "$tmp/log"
kill -TERM "$pid"
wait "$pid"
st=$?
pid=
check "SIGTERM: exit 0" test "$st" -eq 0
echo "handshake: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
