#!/usr/bin/env bash
# The test command: installs the project with its dev extras into .venv, makes sure
# Mosquitto, PostgreSQL and InfluxDB run on loopback (scripts/services.sh), then
# runs pytest. Slow soak tests are left out unless you pass -m slow (or -m "").
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -k ingest -x
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
bash scripts/services.sh

if [[ " $* " == *" -m "* ]]; then
  exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python -m pytest -m "not slow" "$@"
