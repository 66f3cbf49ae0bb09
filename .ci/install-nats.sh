#!/usr/bin/env bash
# Installs a real NATS server (Debian package nats-server) for
# tests/integration/test_nats_real.py, which starts its own server on 127.0.0.1.
# The packaged service must not be left running: service starts are refused during the
# install (policy-rc.d) and any instance the package managed to start is stopped.
set -euo pipefail

command -v nats-server >/dev/null 2>&1 && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    # 101 = "action forbidden": invoke-rc.d will not start the service.
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    created_policy=1
fi
cleanup() { [ "$created_policy" -eq 1 ] && $SUDO rm -f "$policy"; true; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
# Quiet on success; the whole apt output on failure.
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends nats-server; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now nats-server >/dev/null 2>&1 || true
elif [ -x /etc/init.d/nats-server ]; then
    $SUDO /etc/init.d/nats-server stop >/dev/null 2>&1 || true
fi
