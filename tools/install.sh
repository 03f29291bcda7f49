#!/usr/bin/env bash
# One-command set-up: a virtual environment inside the repo (.venv, ignored by git)
# with the pinned OpenMMLab stack and ecdl_mm installed in editable mode.
#   bash tools/install.sh            # creates/updates .venv
#   PYTHON=python3.11 bash tools/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install --upgrade --quiet pip setuptools wheel
# The pinned stack. mmcv-lite is the pure-Python mmcv (full mmcv needs CUDA and a compiler).
$PIP install --quiet -r requirements/runtime.txt 2>&1 | grep -v "is ignored: it is neither" || true
$PIP install --quiet -r requirements/tests.txt 2>&1 | grep -v "is ignored: it is neither" || true


$PIP install --quiet --no-deps --no-build-isolation -e .
$VENV/bin/python -c "import torch, mmengine, mmcv, mmpretrain, ecdl_mm; print('torch', torch.__version__, '| mmengine', mmengine.__version__, '| mmcv', mmcv.__version__, '| mmpretrain', mmpretrain.__version__, '| ecdl_mm', ecdl_mm.__version__)"
