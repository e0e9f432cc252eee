#!/usr/bin/env bash
# tools/demo.sh - the README's main job: installs what is missing, builds, and
# runs a care organisation for a day on loopback.
#
#   bgctl init an organisation, two teams, four begeleiders (anna with a laptop
#   and a phone), an office user, 40 clients spread over all eight phases;
#   bgsyncd starts on its embedded SQLite store; every device enrols and syncs.
#   Then a day offline: two begeleiders edit the same plan, a client signs on
#   one device while a colleague edits the plan on another, the office moves a
#   traject to evaluatie, a client moves to another team, the office registers
#   a new aanmelding on a device. Everyone syncs; the
#   demo prints what the rules decided and why, what was removed from which
#   device, the office's signals and a report, and checks its claims (equal digests everywhere, the expected
#   conflict, proposal and purge). It stops the daemon and exits 0, or exits 1
#   naming the claim that failed.
#
# The organisation stays in build/demo/ for a look afterwards
# (bgctl --home build/demo/org ..., bgsync --replica build/demo/anna-laptop.db ...).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh >/dev/null
bin=$PWD/build
bgctl() { "$bin/tools/bgctl" --home "$dir/org" "$@"; }
dev() { local d=$1; shift; "$bin/tools/bgsync" --replica "$dir/$d.db" "$@"; }

dir=$PWD/build/demo
rm -rf "$dir"
mkdir -p "$dir"
daemon=
cleanup() { [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null; true; }
trap cleanup EXIT
fail() {
  echo "demo: CLAIM FAILED: $*" >&2
  exit 1
}
say() { printf '\n== %s\n' "$*"; }

say "The office sets up Zorg Noord (bgctl, store on embedded SQLite)"
bgctl init --org "Zorg Noord (demo)" --host localhost | sed -n '1p'
bgctl team add noord >/dev/null
bgctl team add zuid >/dev/null
for u in anna:noord bert:noord carla:zuid daan:zuid; do
  bgctl user add "${u%%:*}" --role begeleider --team "${u##*:}" >/dev/null
done
bgctl user add olga --role office --team noord >/dev/null
echo "teams noord and zuid; begeleiders anna, bert (noord), carla, daan (zuid); olga at the office (intake, team noord)"

# 40 clients: noord c-01..c-20 (odd: anna, even: bert), zuid c-21..c-40 (odd: carla, even: daan)
tb_of() {
  local n=$((10#${1#c-}))
  if [ "$n" -le 20 ]; then [ $((n % 2)) -eq 1 ] && echo anna || echo bert
  else [ $((n % 2)) -eq 1 ] && echo carla || echo daan; fi
}
device_of() { [ "$1" = anna ] && echo anna-laptop || echo "$1"; }
for i in $(seq -w 1 40); do
  c=c-$i
  team=noord
  [ $((10#$i)) -gt 20 ] && team=zuid
  bgctl client add "$c" --team "$team" --begeleider "$(tb_of "$c")" >/dev/null
done
echo "40 clients registered, each traject in aanmelding"

# a free pair of loopback ports: the daemon says "serving" once it listens; else another pair
cp "$dir/org/bgsyncd.conf" "$dir/org/bgsyncd.conf.base"
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 10000))
  { cat "$dir/org/bgsyncd.conf.base"; printf 'listen = 127.0.0.1:%d\nenrol_listen = 127.0.0.1:%d\n' "$port" $((port + 1)); } \
    >"$dir/org/bgsyncd.conf"
  "$bin/daemon/bgsyncd" --home "$dir/org" 2>"$dir/bgsyncd.log" &
  daemon=$!
  for _ in $(seq 1 100); do
    grep -q "serving" "$dir/bgsyncd.log" 2>/dev/null && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "serving" "$dir/bgsyncd.log" && break
  cleanup
  daemon=
done
grep -q "serving" "$dir/bgsyncd.log" || { cat "$dir/bgsyncd.log"; fail "bgsyncd did not start"; }
say "bgsyncd serves on 127.0.0.1:$port; six devices enrol with one-time codes and sync"
for d in anna-laptop:anna anna-phone:anna bert:bert carla:carla daan:daan olga-office:olga; do
  code=$(bgctl device enroll "${d##*:}" | tail -n 1)
  dev "${d%%:*}" enroll --server "localhost:$port" --code "$code" --name "${d%%:*}" | sed 's/;.*//'
done
sync_all() { for d in "$@"; do dev "$d" sync >>"$dir/sync-$d.out" 2>&1 || { tail "$dir/sync-$d.out"; fail "$d could not sync"; }; done; }
everyone=(anna-laptop anna-phone bert carla daan olga-office)
sync_all "${everyone[@]}"

say "The begeleiders bring their clients to where they are: five in each of the eight phases"
# each trajectbegeleider's device walks its client along the method, decision by decision
walk() {
  local c=$1 target=$2 d
  d=$(device_of "$(tb_of "$c")")
  [ "$target" -ge 2 ] && dev "$d" set "$c" aanmelding.gesprek "Aanmeldgesprek met $c en verwijzer" &&
    dev "$d" set "$c" aanmelding.besluit intakegesprek && dev "$d" phase "$c" intake
  [ "$target" -ge 3 ] && dev "$d" set "$c" intake.gesprek "Intake bij $c thuis" &&
    dev "$d" set "$c" intake.besluit toelating && dev "$d" phase "$c" opstart
  [ "$target" -ge 4 ] && dev "$d" set "$c" opstart.notities "Indicatie en huisvesting geregeld" &&
    dev "$d" phase "$c" analyse
  [ "$target" -ge 5 ] && dev "$d" set "$c" persoonsbeschrijving:wonen.situatie "Woont alleen, huur achterstand" &&
    dev "$d" set "$c" persoonsbeschrijving:financien.situatie "Schulden niet in beeld" && dev "$d" phase "$c" planning
  if [ "$target" -ge 5 ]; then # a draft plan; signed when the traject moves on
    dev "$d" set "$c" plan.einddoel "Zelfstandig wonen zonder schulden"
    local doel
    doel=$(dev "$d" doel "$c" financien "Schulden in beeld" --prioriteit 1)
    dev "$d" actie "$c" "$doel" "Samen de post openen" --wie client >/dev/null
  fi
  if [ "$target" -ge 6 ]; then
    dev "$d" sign "$c" "Client $c, Utrecht"
    dev "$d" phase "$c" uitvoering
  fi
  [ "$target" -ge 7 ] && dev "$d" note "$c" "Voortgangsgesprek: post wordt wekelijks geopend" --soort voortgangsgesprek >/dev/null &&
    dev "$d" phase "$c" evaluatie
  [ "$target" -ge 8 ] && dev "$d" set "$c" evaluatie.rapport "Doelen bereikt" &&
    dev "$d" set "$c" evaluatie.besluit uitstroom && dev "$d" phase "$c" uitstroom
  return 0
}
# the clients of the scripted day: c-03 and c-05 in planning (anna), c-07 in uitvoering (anna),
# c-12 in analyse (bert); the rest spread so that every phase holds five
declare -A target=([c-03]=5 [c-05]=5 [c-07]=6 [c-12]=4)
for i in $(seq -w 1 40); do
  c=c-$i
  [ -n "${target[$c]:-}" ] || target[$c]=$((1 + (10#$i - 1) % 8))
done
# keep five per phase: two clients take the places the scripted ones left
target[c-13]=7
target[c-14]=3
for i in $(seq -w 1 40); do walk "c-$i" "${target[c-$i]}" >/dev/null; done
sync_all anna-laptop bert carla daan
sync_all "${everyone[@]}"
dev olga-office clients | awk '{split($2, p, "="); n[p[2]]++} END {for (k in n) printf "  %-12s %d clients\n", k, n[k]}' | sort -k1,1
[ "$(dev olga-office clients | wc -l)" -eq 40 ] || fail "the office does not see 40 clients"

say "A day offline: nobody syncs until the evening"
echo "- anna (laptop) and bert both rewrite the einddoel of c-03's plan"
dev anna-laptop set c-03 plan.einddoel "Eigen woning binnen een jaar"
dev bert set c-03 plan.einddoel "Begeleid wonen, dan zelfstandig"
echo "- at c-05 the client signs the plan on anna's phone; bert, not knowing, sharpens a doel"
dev anna-phone sign c-05 "Client c-05, Utrecht"
doel05=$(dev bert show c-05 --json | grep -o '"type":"doel","client":"c-05","rid":"[^"]*"' | head -n1 | sed 's/.*"rid":"//; s/"$//')
[ -n "$doel05" ] || fail "c-05 has no doel"
dev bert set c-05 "doel:$doel05.omschrijving" "Schulden in beeld en een regeling met de bank"
echo "- the office moves c-07 to evaluatie; anna, at c-07's kitchen table, writes a voortgangsgesprek"
dev olga-office phase c-07 evaluatie
dev anna-laptop note c-07 "Voortgangsgesprek: rust in huis, dagritme terug" --soort voortgangsgesprek >/dev/null
echo "- anna visits c-12 for bert and writes a rapportage; that afternoon the office moves c-12 to team zuid (carla)"
dev anna-laptop note c-12 "Huisbezoek voor bert: client maakt het goed" --soort begeleidingsgesprek >/dev/null
bgctl client move c-12 --team zuid --begeleider carla | sed 's/^/  /'
echo "- a new aanmelding comes in by phone: olga registers c-41 on her office device"
dev olga-office register c-41 "Fatima el Idrissi"
dev olga-office set c-41 aanmelding.gesprek "Telefonische aanmelding door de huisarts"
for d in anna-laptop anna-phone bert olga-office; do
  printf '  %-12s %s writes waiting to sync\n' "$d" "$(dev "$d" --json status | grep -o '"pending":[0-9]*' | cut -d: -f2)"
done

say "Evening: everyone syncs (twice round, in this order: ${everyone[*]})"
sync_all "${everyone[@]}"
sync_all "${everyone[@]}"
for d in "${everyone[@]}"; do
  grep -h "removed from this device" "$dir/sync-$d.out" | sed "s/^/  $d: /" || true
done

echo "- the office assigns the new client c-41 to bert in team noord; bert syncs once more"
bgctl client move c-41 --team noord --begeleider bert | sed 's/^/  /'
sync_all bert

say "What the rules decided (bgsync conflicts on anna's laptop)"
dev anna-laptop conflicts | sed 's/^/  /'

say "The claims, checked"
# 1. every device that holds a client shows the same state of it
for c in c-03 c-05 c-07; do
  ref=$(dev olga-office digest "$c")
  for d in anna-laptop anna-phone bert; do
    [ "$(dev "$d" digest "$c")" = "$ref" ] || fail "$d and the office differ on $c"
  done
done
[ "$(dev carla digest c-12)" = "$(dev olga-office digest c-12)" ] || fail "carla and the office differ on c-12"
echo "ok  c-03, c-05, c-07: equal digests on anna's laptop and phone, bert's laptop and the office"
echo "ok  c-12: equal digests on carla's laptop and the office"
# 2. the R2 conflict at c-03: anna is the trajectbegeleider, so her einddoel leads; bert's is kept
dev bert conflicts --json | grep -q '"client":"c-03","type":"begeleidingsplan".*"rule":"R2".*"value":"Eigen woning binnen een jaar".*"value":"Begeleid wonen, dan zelfstandig"' ||
  fail "the c-03 conflict is not shown on bert's laptop as R2 with both values"
echo "ok  c-03: anna's einddoel shown (R2: the trajectbegeleider leads), bert's kept as a conflict entry"
# 3. the R1 proposal at c-05: bert's doel edit was not in what the client signed
for d in anna-laptop anna-phone bert olga-office; do
  dev "$d" conflicts --json | grep -q '"kind":"proposal","client":"c-05"' || fail "$d does not show c-05's wijzigingsvoorstel"
done
dev olga-office show c-05 | grep -q "omschrijving=Schulden in beeld " || fail "c-05's signed doel changed"
echo "ok  c-05: the signed plan stands; bert's doel edit waits as a wijzigingsvoorstel on every device"
# 4. c-07 moved on, and anna's voortgangsgesprek is there
dev anna-phone show c-07 | grep -q "phase=evaluatie" || fail "c-07 is not in evaluatie on anna's phone"
dev olga-office show c-07 | grep -q "rust in huis" || fail "anna's rapportage on c-07 did not reach the office"
echo "ok  c-07: in evaluatie everywhere, with anna's rapportage"
# 5. c-12: anna's writes went up before the purge; carla has them; noord's devices do not hold c-12 any more
dev carla show c-12 | grep -q "client maakt het goed" || fail "anna's rapportage on c-12 did not reach carla"
for d in anna-laptop anna-phone bert; do
  if dev "$d" clients | grep -q "^client=c-12 "; then fail "$d still holds c-12"; fi
  grep -q "client c-12 removed from this device" "$dir/sync-$d.out" || fail "$d's sync did not report removing c-12"
done
echo "ok  c-12: anna's rapportage pushed first, then c-12 removed from anna's and bert's devices; carla has it"
dev bert show c-41 | grep -q "naam=Fatima el Idrissi" || fail "bert does not have the new client c-41"
dev bert show c-41 | grep -q "gesprek=Telefonische aanmelding" || fail "c-41's aanmelding did not reach bert"
echo "ok  c-41: registered on the office device, assigned by the office, now on bert's laptop"
for d in "${everyone[@]}"; do
  [ "$(dev "$d" --json status | grep -o '"pending":[0-9]*')" = '"pending":0' ] || fail "$d still has pending writes"
  [ "$(dev "$d" --json status | grep -o '"rejected":[0-9]*')" = '"rejected":0' ] || fail "the office refused writes of $d"
done
echo "ok  nothing pending and nothing refused on any device"
bgctl audit verify | sed 's/^/ok  /'

say "Three weeks on, without anyone syncing: the office's signals (bgctl signals --now $(date -d '+21 days' +%F))"
bgctl signals --now "$(date -d '+21 days' +%F)" | sed 's/^/  /'
bgctl signals --now "$(date -d '+21 days' +%F)" --json | grep -q '"signal":"plan-unsigned".*"client":"c-03"' ||
  fail "the signals do not name c-03's unsigned plan"

say "The report for the office (bgctl report, all teams; --json and --csv for spreadsheets)"
bgctl report | awk '/^Clients per phase/ || /^Decisions made/ {show = 1} /^$/ {if (show) print; show = 0} show && !/^(noord|zuid) /' |
  sed 's/^/  /'

say "bgsyncd stops (SIGTERM)"
kill -TERM "$daemon"
wait "$daemon" || fail "bgsyncd did not exit cleanly"
daemon=
tail -n 1 "$dir/bgsyncd.log"
echo
echo "The organisation is in $dir: try 'build/tools/bgsync --replica $dir/bert.db conflicts'."
echo "Client: docs/CLIENT.md. Office: docs/OPERATIONS.md. Rules: docs/RULES.md. Tests: tools/test.sh."
