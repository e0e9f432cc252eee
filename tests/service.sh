#!/usr/bin/env bash
# tests/service.sh BUILD_DIR - the systemd unit as built (daemon/bgsyncd.service.in):
# systemd-analyze finds nothing wrong in it but the daemon not being installed
# yet, and its exposure score stays low (the hardening is in place). Skipped
# (exit 0 with a note) where systemd-analyze is not installed.
set -u
unit=$1/daemon/bgsyncd.service
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze not installed: unit not checked"
  exit 0
fi
problems=$(systemd-analyze verify "$unit" 2>&1 | grep -v "is not executable: No such file or directory" || true)
if [ -n "$problems" ]; then
  echo "FAIL: systemd-analyze verify: $problems"
  exit 1
fi
score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
  echo "systemd-analyze cannot score units offline here: exposure not checked"
  exit 0
fi
if awk -v s="$score" 'BEGIN { exit !(s > 2.0) }'; then
  echo "FAIL: exposure level $score (at most 2.0 expected)"
  exit 1
fi
echo "ok: the unit verifies; exposure level $score"
