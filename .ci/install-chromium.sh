#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for tests/integration/test_statuspage_browser.py
# (the local status page in a real headless browser). Idempotent and quiet: nothing to do when
# both are present; the whole apt output only on failure. The test skips, with the reason,
# when chromium is absent.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
