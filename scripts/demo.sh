#!/usr/bin/env bash
# One command on a fresh machine: install into .venv and run `dehong demo`
# (embedded MQTT broker, SQLite, the embedded time-series store; no server to install).
# Arguments go to `dehong demo`, e.g.  bash scripts/demo.sh --duration 60
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[edge,cloud]'
exec .venv/bin/dehong demo "$@"
