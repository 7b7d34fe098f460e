#!/usr/bin/env bash
# The compose deployment proven with real containers (bench/compose_check.py has the steps):
# installs and starts Docker if missing (root, Debian packages), builds the images, runs the
# checks, takes the stack down; results in bench/results/compose.json. Runs at nice 10.
# Exit status: 0 all checks passed, 1 a check failed, 3 no Docker engine could be installed or
# started here (not root, no apt-get, dockerd refused to start): nothing was checked.
#
#   bash scripts/compose_check.sh [--fresh] [--keep] [--official] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/docker_env.sh
t0=$SECONDS
ssnas_docker_ready || { echo "compose_check: no usable Docker engine here: nothing checked" >&2; exit 3; }
export SSNAS_DOCKER_SETUP_S=$((SECONDS - t0))
export SSNAS_DOCKER_BUILD="${DOCKER_BUILD[*]}" SSNAS_COMPOSE="${COMPOSE[*]}"
PY=${PYTHON:-.venv/bin/python}  # needs httpx, Pillow and fontawesomefree (bash scripts/setup.sh)
[ -x "$PY" ] || PY=python3
exec nice -n 10 "$PY" bench/compose_check.py "$@"
