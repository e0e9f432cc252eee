#!/usr/bin/env bash
# tests/cli.sh BUILD_DIR SOURCE_DIR - the command-line contract of the tools:
# --help exits 0 with an example, usage errors exit 2 with a message, results
# use the documented exit codes. One line per check; exits 1 on the first failure.
set -u
build=$1
src=$2
bgframe=$build/tools/bgframe
bgsim=$build/tools/bgsim
bgctl=$build/tools/bgctl
bgsyncd=$build/daemon/bgsyncd
bgsync=$build/tools/bgsync
home=$(mktemp -d)/org
trap 'rm -rf "$(dirname "$home")"' EXIT
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
  if [ "$rc" -ne "$code" ] || ! grep -qE -e "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (want $code), output:"
    sed 's/^/    /' <<<"$out" | head -n 8
    failed=$((failed + 1))
  fi
}

expect 0 "Example:" -- "$bgframe" --help
expect 0 "protocol 1\.\.2" -- "$bgframe" --version
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

expect 2 "none of memory, sqlite, mixed" -- "$bgsim" --store paper --seeds 1

expect 0 "Example:" -- "$bgctl" --help
expect 2 "--home DIR is required" -- "$bgctl" team add x
expect 2 "unknown command 'nope'" -- "$bgctl" --home "$home" nope
expect 1 "not an organisation directory.*bgctl --home .* init" -- "$bgctl" --home "$home" user list
expect 2 "init needs --org NAME and --host HOST" -- "$bgctl" --home "$home" init --org X
expect 0 "CA fingerprint" -- "$bgctl" --home "$home" init --org "Zorg Test" --host localhost
expect 1 "initialised already" -- "$bgctl" --home "$home" init --org "Zorg Test" --host localhost
expect 0 "team noord added" -- "$bgctl" --home "$home" team add noord
expect 1 "team 'noord' exists" -- "$bgctl" --home "$home" team add noord
expect 2 "usage: bgctl --home DIR user add" -- "$bgctl" --home "$home" user add anna --role boss
expect 1 "no team 'zuid' .*bgctl team add zuid" -- "$bgctl" --home "$home" user add anna --role begeleider --team zuid
expect 0 "user anna added" -- "$bgctl" --home "$home" user add anna --role begeleider --team noord
expect 0 "client C-1 added" -- "$bgctl" --home "$home" client add C-1 --team noord --begeleider anna
expect 0 '^[0-9A-Z]{7}(-[0-9A-Z]{7}){7}$' -- bash -c "'$bgctl' --home '$home' device enroll anna | tail -n 1"
expect 1 "no user 'nobody'" -- "$bgctl" --home "$home" device enroll nobody
expect 0 '^\[\]$' -- "$bgctl" --home "$home" device list --json
expect 1 "no device 42" -- "$bgctl" --home "$home" device revoke 42
serial_before=$(openssl x509 -in "$home/server.crt" -noout -serial 2>/dev/null)
expect 0 "server certificate for localhost renewed until" -- "$bgctl" --home "$home" cert renew
[ "$(openssl x509 -in "$home/server.crt" -noout -serial 2>/dev/null)" != "$serial_before" ] ||
  { echo "FAIL: cert renew did not replace server.crt"; failed=$((failed + 1)); }
[ -f "$home/server.crt.old" ] && [ "$(stat -c %a "$home/server.key")" = 600 ] ||
  { echo "FAIL: cert renew: no server.crt.old, or the new key is not mode 0600"; failed=$((failed + 1)); }
expect 2 "--days takes a whole number" -- "$bgctl" --home "$home" cert renew --days 0
expect 2 "usage: bgctl --home DIR cert renew" -- "$bgctl" --home "$home" cert revoke
expect 0 "Example:" -- "$bgctl" --home "$home" cert renew --help
expect 0 "audit chain intact" -- "$bgctl" --home "$home" audit verify
expect 0 '"login":"anna"' -- "$bgctl" --home "$home" user list --json
# the office's commands: each one's help, its success and its failures
for c in "config show" "config check" status "team list" "user disable" "user enable" "user team" "client assign" \
  "client list" "client show" "conflicts list" "conflicts show" "conflicts resolve" "proposals list" signals report; do
  expect 0 "Example:" -- "$bgctl" --home "$home" $c --help
done
expect 0 "^store +store\.db +the store file" -- "$bgctl" --home "$home" config show
expect 0 '"key":"listen","value":"\[::\]:7443"' -- "$bgctl" --home "$home" config show --json
expect 0 "^ok: " -- "$bgctl" --home "$home" config check
expect 3 "bgsyncd: +not running.*bgsyncd --home" -- "$bgctl" --home "$home" status
expect 3 '"running":false.*"clients":1' -- "$bgctl" --home "$home" status --json
expect 2 "usage: bgctl --home DIR status" -- "$bgctl" --home "$home" status now
expect 0 "team zuid added" -- "$bgctl" --home "$home" team add zuid
expect 0 "^noord +1 +1 " -- "$bgctl" --home "$home" team list
expect 0 '^team,members,clients,created$' -- "$bgctl" --home "$home" team list --csv
expect 0 "user bert added" -- "$bgctl" --home "$home" user add bert --role begeleider --team noord
expect 0 "bert joined team zuid" -- "$bgctl" --home "$home" user team add bert zuid
expect 1 "user 'bert' is in team 'zuid' already" -- "$bgctl" --home "$home" user team add bert zuid
expect 0 "bert left team noord" -- "$bgctl" --home "$home" user team remove bert noord
expect 1 "user 'bert' is not in team 'noord'" -- "$bgctl" --home "$home" user team remove bert noord
expect 1 "no team 'oost'" -- "$bgctl" --home "$home" user team add bert oost
expect 2 "usage: bgctl --home DIR user team add.remove" -- "$bgctl" --home "$home" user team join bert zuid
expect 1 "not in team 'noord'.*user team add bert noord" -- "$bgctl" --home "$home" client assign C-1 --begeleider bert
expect 0 "bert joined team noord" -- "$bgctl" --home "$home" user team add bert noord
expect 0 "C-1: trajectbegeleider now bert" -- "$bgctl" --home "$home" client assign C-1 --begeleider bert
expect 1 "no client 'C-9'" -- "$bgctl" --home "$home" client assign C-9 --begeleider bert
expect 2 "usage: bgctl --home DIR client assign" -- "$bgctl" --home "$home" client assign C-1
expect 0 "^C-1 +noord +bert +aanmelding +0 +[0-9-]+ +none +0 +0$" -- "$bgctl" --home "$home" client list
expect 0 '"id":"C-1","team":"noord","begeleider":"bert","phase":"aanmelding","cycle":0' -- "$bgctl" --home "$home" client list --json
expect 0 "^no clients" -- "$bgctl" --home "$home" client list --team zuid
expect 0 "traject: aanmelding, cycle 0" -- "$bgctl" --home "$home" client show C-1
expect 0 "traject:t +begeleider +3 +office" -- "$bgctl" --home "$home" client show C-1
expect 0 '"records":\[\{"record":"traject:t","field":"positie"' -- "$bgctl" --home "$home" client show C-1 --json
expect 1 "no client 'C-9'" -- "$bgctl" --home "$home" client show C-9
expect 0 "no open conflicts" -- "$bgctl" --home "$home" conflicts list
expect 0 '^\[\]$' -- "$bgctl" --home "$home" conflicts list --json
expect 1 "no open conflict or wijzigingsvoorstel 'c9.9'" -- "$bgctl" --home "$home" conflicts show c9.9
expect 1 "no open conflict or wijzigingsvoorstel 'c9.9'" -- "$bgctl" --home "$home" conflicts resolve c9.9 --keep A
expect 2 "usage: bgctl --home DIR conflicts resolve ID" -- "$bgctl" --home "$home" conflicts resolve c9.9 --keep C
expect 2 "usage: bgctl --home DIR conflicts resolve ID" -- "$bgctl" --home "$home" conflicts resolve c9.9 --keep A --value x
expect 0 "no wijzigingsvoorstellen waiting" -- "$bgctl" --home "$home" proposals list
expect 0 "no signals" -- "$bgctl" --home "$home" signals --days 3
expect 0 "signals on 2099-01-01 for 1 clients and 0 devices" -- "$bgctl" --home "$home" signals --now 2099-01-01
expect 0 '^signal,client,device,team,begeleider,since,days,detail$' -- "$bgctl" --home "$home" signals --csv
expect 2 "--now takes a date: YYYY-MM-DD" -- "$bgctl" --home "$home" signals --now tomorrow
expect 2 "--days takes a whole number" -- "$bgctl" --home "$home" signals --days -1
expect 0 "^noord +aanmelding +0 +1$" -- "$bgctl" --home "$home" report
expect 0 "^fase,noord,aanmelding,0,1,,$" -- "$bgctl" --home "$home" report --csv
expect 0 '"section":"fase","team":"noord","item":"aanmelding","cycle":0,"count":1' -- "$bgctl" --home "$home" report --json --team noord
expect 0 "report 2000-01-01 to 2000-01-31, team noord: 1 clients" -- "$bgctl" --home "$home" report --team noord --from 2000-01-01 --to 2000-01-31
expect 2 "--from must be on or before --to" -- "$bgctl" --home "$home" report --from 2001-01-01 --to 2000-01-01
expect 0 "user bert disabled" -- "$bgctl" --home "$home" user disable bert
expect 1 "user 'bert' is disabled already" -- "$bgctl" --home "$home" user disable bert
expect 1 "this user is disabled" -- "$bgctl" --home "$home" device enroll bert
expect 0 "bert +begeleider +disabled" -- "$bgctl" --home "$home" user list
expect 0 "user bert enabled" -- "$bgctl" --home "$home" user enable bert
expect 1 "is the office itself" -- "$bgctl" --home "$home" user disable _office
expect 1 "no user 'nobody'" -- "$bgctl" --home "$home" user enable nobody
chmod 644 "$home/server.key"
expect 1 "server.key is readable by others.*chmod 600" -- "$bgctl" --home "$home" config check
chmod 600 "$home/server.key"
cp "$home/bgsyncd.conf" "$home/bgsyncd.conf.good"
printf 'host = elsewhere.example\n' >> "$home/bgsyncd.conf"
expect 1 "not for host 'elsewhere.example'" -- "$bgctl" --home "$home" config check
printf 'max_frame = lots\n' >> "$home/bgsyncd.conf"
expect 1 "max_frame must be a whole number.*fix that line" -- "$bgctl" --home "$home" config check
mv "$home/bgsyncd.conf.good" "$home/bgsyncd.conf"
expect 1 "is missing.*init" -- "$bgctl" --home "$home.none" config check
[ "$(stat -c %a "$home/ca.key")" = 600 ] || { echo "FAIL: ca.key is not mode 0600"; failed=$((failed + 1)); }
[ "$(stat -c %a "$home/store.db")" = 600 ] || { echo "FAIL: store.db is not mode 0600"; failed=$((failed + 1)); }

expect 0 "Example:" -- "$bgsyncd" --help
expect 0 "^bgsyncd [0-9]" -- "$bgsyncd" --version
expect 2 "--home DIR is required" -- "$bgsyncd"
expect 2 "unknown option" -- "$bgsyncd" --home "$home" --fast
expect 1 "no configuration" -- "$bgsyncd" --home /nonexistent
expect 2 "is not HOST:PORT" -- "$bgsyncd" --home "$home" --listen nowhere
printf 'max_frame = lots\n' > "$home/bad.conf"
expect 1 "bad.conf:1: max_frame must be a whole number" -- "$bgsyncd" --home "$home" --config "$home/bad.conf"

replica=$(dirname "$home")/anna.db
expect 0 "bgsync --replica FILE" -- "$bgsync" --help
for c in enroll sync status clients show set propose register phase sign doel actie note conflicts resolve; do
  expect 0 "Example:" -- "$bgsync" "$c" --help
done
expect 2 "which replica" -- env -u BGSYNC_REPLICA "$bgsync" status
expect 2 "unknown command 'nope'" -- "$bgsync" --replica "$replica" nope
expect 2 "unknown option --fast" -- "$bgsync" --replica "$replica" sync --fast
expect 2 "enroll needs --server" -- "$bgsync" --replica "$replica" enroll --code X
expect 2 "usage: bgsync --replica FILE set" -- "$bgsync" --replica "$replica" set C-1 plan.einddoel
expect 2 "resolve takes --keep A" -- "$bgsync" --replica "$replica" resolve c1.2 --keep C
expect 0 "not enrolled" -- "$bgsync" --replica "$replica" status
expect 0 '"enrolled":false' -- "$bgsync" --replica "$replica" --json status
expect 1 "enrol it and sync once first" -- "$bgsync" --replica "$replica" set C-1 client.naam Jan
expect 1 "not enrolled: enrol it with a code" -- "$bgsync" --replica "$replica" sync
expect 1 "the enrolment code is mistyped" -- "$bgsync" --replica "$replica" enroll --server localhost:1 --code ABC
expect 0 '^[0-9a-f]{64}$' -- "$bgsync" --replica "$replica" digest
expect 0 "no open conflicts" -- "$bgsync" --replica "$replica" conflicts
BGSYNC_REPLICA=$replica expect 0 "not enrolled" -- "$bgsync" status
[ "$(stat -c %a "$replica")" = 600 ] || { echo "FAIL: the replica is not mode 0600"; failed=$((failed + 1)); }
printf 'garbage' > "$(dirname "$home")/junk.db"
expect 1 "cannot open the replica" -- "$bgsync" --replica "$(dirname "$home")/junk.db" status

bgload=$build/tools/bgload
expect 2 "--active takes a number, not 'x'" -- "$bgload" --active x
expect 2 "--seconds takes a number, not '2s'" -- "$bgload" --seconds 2s

echo "cli: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
