#!/usr/bin/env bash
# One-command set-up: a virtual environment inside the repo (.venv, ignored by git)
# with the tested versions (requirements/lock.txt) and ecdl_mm installed in
# editable mode. requirements/*.txt declare ranges; the lock pins them.
#   bash tools/install.sh                  # creates or updates .venv
#   PYTHON=python3.11 VENV=.venv bash tools/install.sh
#   bash tools/install.sh --cpu            # CPU-only torch (needs TORCH_CPU_INDEX reachable)
# The default installs PyPI's torch, the CUDA build: with its NVIDIA libraries and
# triton the .venv is about 6.4 GB, also on a machine without GPU. --cpu first
# installs the lock's torch and torchvision from the CPU-only index
# (TORCH_CPU_INDEX, default https://download.pytorch.org/whl/cpu), without them.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
CPU=0
for arg in "$@"; do
  case "$arg" in
    --cpu) CPU=1 ;;
    *) echo "install.sh: unknown argument '$arg' (only --cpu)" >&2; exit 2 ;;
  esac
done
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi

# pip with its exit status kept, minus the local index's noise about absent folders.
pipq() {
  "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v 'is ignored: it is neither' || true; }
  return "${PIPESTATUS[0]}"
}

# mmengine 0.10.7 imports pkg_resources, which setuptools >= 81 no longer ships.
pipq install --quiet --upgrade pip 'setuptools<81' wheel
if [ "$CPU" = 1 ]; then
  # the lock's versions as +cpu builds; the lock's torch==X matches X+cpu, so
  # the install below keeps them
  pins=$(grep -E '^(torch|torchvision)==' requirements/lock.txt | sed 's/$/+cpu/')
  pipq install --quiet -c requirements/lock.txt --index-url "$TORCH_CPU_INDEX" $pins
fi
# The tested stack (torch 2.14.1, torchvision 0.29.1, mmengine 0.10.7, mmcv-lite 2.2.0,
# mmpretrain 1.2.0, ...: requirements/lock.txt). mmcv-lite is the pure-Python mmcv:
# full mmcv needs CUDA and a compiler.
pipq install --quiet -c requirements/lock.txt -r requirements/runtime.txt \
  -r requirements/mminstall.txt -r requirements/tests.txt -r requirements/lint.txt \
  -r requirements/reader_app.txt -r requirements/docs.txt -r requirements/turbojpeg.txt
pipq install --quiet --no-deps --no-build-isolation -e .
"$VENV/bin/python" - <<'PY'
import torch, mmengine, mmcv, mmpretrain, ecdl_mm
print(f'ready: torch {torch.__version__} | mmengine {mmengine.__version__} | '
      f'mmcv {mmcv.__version__} | mmpretrain {mmpretrain.__version__} | '
      f'ecdl_mm {ecdl_mm.__version__}')
PY
