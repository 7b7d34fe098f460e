#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv, start the embedded service (Postgres and Redis
# from pip packages, the API and one worker), upload a real example dataset, run a short
# self-supervised search over HTTP, download genotype and weights, call /predict.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && .venv/bin/python -c "import ssnas_core, api, worker, fontawesomefree" 2>/dev/null \
  || bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python scripts/quickstart.py "$@"
