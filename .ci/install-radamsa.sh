#!/usr/bin/env bash
# Installs radamsa, the external mutator of tests/integration/test_fuzz_radamsa.py, from the
# distribution's packages (Debian has it from trixie on). Where the release has no radamsa
# package (bookworm), the test uses libradamsa from the `pyradamsa` wheel of the dev extras
# instead, so a failure here only means that fallback is used.
set -euo pipefail

command -v radamsa >/dev/null 2>&1 && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
$SUDO apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
if ! apt-cache show radamsa >/dev/null 2>&1; then
    echo "radamsa: no package in this release; the fuzz test uses the pyradamsa wheel" >&2
    exit 0
fi
$SUDO apt-get install -y -qq --no-install-recommends radamsa >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
