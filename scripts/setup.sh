#!/usr/bin/env bash
# Create .venv and install ssnas with its dev extras (torch 2.14.1 / torchvision 0.29.1 pinned).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
