#!/usr/bin/env bash
# tools/demo.sh - the README's main job: installs what is missing, builds, and
# demonstrates what runs today.
#
# Today that is proto/: a whole sync session - HELLO to BYE, a PUSH of
# caseworker writes, a PURGE, a page of CHANGES - decoded from its golden frames
# by the same code the daemon and the client library link, hostile frames
# refused with their error codes, and the merge engine under a simulated team.
# The daemon, client library and the organisation demonstration follow in their
# own issues (see README, Status).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh >/dev/null
v=tests/vectors
echo "== bgsync $(build/tools/bgframe --version | cut -d' ' -f2-)"
echo
echo "== A sync session as it crosses the wire (one line per frame)"
build/tools/bgframe decode $v/hello.hex $v/welcome.hex $v/push.hex $v/ack.hex $v/pull.hex \
  $v/purge.hex $v/ack_purge.hex $v/changes.hex $v/bye.hex
echo
echo "== Hostile frames: each refused with a code, before anything is allocated for it"
build/tools/bgframe decode $v/err_huge_array_claim.hex $v/err_frame_too_large.hex \
  $v/err_too_deep.hex $v/err_write_bad_utf8.hex $v/err_write_ctx_unsorted.hex || true
echo
n_err=$(ls $v/err_*.hex | wc -l)
echo "== Every golden vector (tests/vectors) through the decoder: the $n_err err_* ones must be refused"
# (bgframe exits 1 when it refuses a frame, as it must for these)
{ build/tools/bgframe decode --quiet $v/*.hex || true; } | tail -n 1
echo
echo "== The merge engine: a team working offline on shared clients (20 simulated teams, one per seed)"
echo "   Every replica must converge and every write must be accounted for (docs/RULES.md)."
build/tools/bgsim --seeds 20 --start 1
echo
echo "Protocol: docs/PROTOCOL.md. Rules: docs/RULES.md. Tests: tools/test.sh (docs/TESTING.md)."
