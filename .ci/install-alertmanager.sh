#!/usr/bin/env bash
# Installs a real Prometheus Alertmanager (Debian package) for
# tests/integration/test_alertmanager_real.py, plus htpasswd (apache2-utils) used to
# make a bcrypt hash when the `bcrypt` Python module is absent.
#
# The tests start their own Alertmanager on 127.0.0.1; the packaged service must not be
# left running, so service starts are refused during the install (policy-rc.d) and any
# instance the package managed to start is stopped afterwards.
set -euo pipefail

need=()
[ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
[ ${#need[@]} -eq 0 ] && exit 0

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
       $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"

# Belt and braces: if the package's service came up anyway (systemd host), stop it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus-alertmanager ]; then
    $SUDO /etc/init.d/prometheus-alertmanager stop >/dev/null 2>&1 || true
fi
