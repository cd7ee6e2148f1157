#!/usr/bin/env bash
# The whole test suite, on a fresh machine: `bash scripts/test.sh`
#
# 1. makes a Python venv in .venv (kept between runs) with moto, the AWS emulator, and DuckDB
#    (runs the generated Athena SQL in tests/suite/pushdown.rs), from PyPI; and checks the deployment
#    files (scripts/check-deploy.py);
# 2. installs Debian's chromium if it is missing (a test screenshots the HTML report);
# 3. runs `cargo test`. The integration tests start their own moto_server on a free loopback
#    port per test (isolated state: queued Cost Explorer results never leak between tests) and
#    stop it when the test ends; webhook tests run a real HTTP server on loopback.
# Extra arguments go to `cargo test` (e.g. `bash scripts/test.sh daily_run`).
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
DUCKDB_VERSION="2.0.1"
VENV="${EGRESSWATCH_VENV:-.venv}"

if ! "$VENV/bin/python" -c "import moto, yaml, duckdb, sys; sys.exit(moto.__version__ != '$MOTO_VERSION' or duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
    echo "scripts/test.sh: installing moto[server]==$MOTO_VERSION, DuckDB $DUCKDB_VERSION and PyYAML into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" "duckdb==$DUCKDB_VERSION" "pyyaml==6.0.2"
fi

# The deployment recipes parse and say what they must (deploy/README.md).
"$VENV/bin/python" scripts/check-deploy.py
# Headless Chromium (Debian's package) opens the backfill's report.html in a test.
if ! command -v chromium >/dev/null 2>&1; then
    echo "scripts/test.sh: installing chromium (Debian) for the report test" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

EGRESSWATCH_MOTO_SERVER="$(cd "$VENV/bin" && pwd)/moto_server"
export EGRESSWATCH_MOTO_SERVER

cargo test "$@"
