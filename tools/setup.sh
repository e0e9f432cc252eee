#!/usr/bin/env bash
# tools/setup.sh - installs what bgsync needs from Debian's packages (only what is
# missing), then configures and builds. Safe to run again: with everything
# installed it does no package work and only an incremental build.
#
#   tools/setup.sh              install, configure and build into build/
#   tools/setup.sh --deps-only  only install the packages
#
# Runs as root (CI) or through sudo. Environment: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build and run
  cmake pkg-config gcc make libuv1-dev libsqlite3-dev libmsgpack-dev libmbedtls-dev
  # tests: unit tests, sanitizer build, fuzzing, TLS checks, benchmarks
  libcmocka-dev clang libclang-rt-14-dev libfuzzer-14-dev openssl valgrind
)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
else
  echo "setup: not a Debian system; make sure these are installed: ${packages[*]}" >&2
fi

if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup: these packages are missing and I am neither root nor have sudo: ${missing[*]}" >&2
    echo "setup: install them (apt-get install ${missing[*]}) and run me again" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--deps-only" ] && exit 0

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"
