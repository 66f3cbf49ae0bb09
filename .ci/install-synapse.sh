#!/usr/bin/env bash
# Install a Matrix homeserver (Synapse) into a dedicated virtualenv for the matrix
# provider's integration test (tests/integration/test_matrix_synapse.py).
#
#   bash .ci/install-synapse.sh        # venv at $SYNAPSE_VENV, default <repo>/.synapse-venv
#
# Idempotent and quiet: exits at once when synapse is already importable in the venv;
# pip's output is shown only when the install fails. Synapse lives outside the project's
# own venv because it pins its own dependencies (Twisted, cryptography, ...).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SYNAPSE_VENV:-$repo/.synapse-venv}"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import synapse.app.homeserver" >/dev/null 2>&1; then
    exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { "$python" -m venv "$venv" &&
       "$venv/bin/python" -m pip install --disable-pip-version-check matrix-synapse &&
       "$venv/bin/python" -c "import synapse.app.homeserver"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-synapse: failed to install matrix-synapse into $venv" >&2
    exit 1
fi
echo "install-synapse: matrix-synapse installed in $venv"
