#!/usr/bin/env bash
# The whole test suite, on a fresh machine: `bash scripts/test.sh`
#
# 1. makes a Python venv in .venv (kept between runs) with moto, the AWS emulator, from PyPI;
# 2. runs `cargo test`. The integration tests start their own moto_server on a free loopback
#    port per test (isolated state: queued Cost Explorer results never leak between tests) and
#    stop it when the test ends; webhook tests run a real HTTP server on loopback.
# Extra arguments go to `cargo test` (e.g. `bash scripts/test.sh daily_run`).
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
VENV="${EGRESSWATCH_VENV:-.venv}"

if ! "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    echo "scripts/test.sh: installing moto[server]==$MOTO_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
EGRESSWATCH_MOTO_SERVER="$(cd "$VENV/bin" && pwd)/moto_server"
export EGRESSWATCH_MOTO_SERVER

cargo test "$@"
