#!/usr/bin/env bash
# Every GPU figure of issue 25 on one GPU, in under 6 minutes: one JSON and
# one markdown table in OUT_DIR (benchmarks/gpu_check.py has the details).
#   bash benchmarks/gpu_check.sh OUT_DIR            # on a CUDA machine
#   bash benchmarks/gpu_check.sh OUT_DIR --dry-run  # on a CPU: the schema
# Installs nothing: a missing package is named in one line (exit 3).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR [--dry-run]}
shift
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
for pkg in torch mmengine mmpretrain cv2 numpy pandas; do
  if ! "$PY" -c "import $pkg" 2>/dev/null; then
    echo "gpu_check.sh: package '$pkg' is missing (install requirements/runtime.txt); nothing was run" >&2
    exit 3
  fi
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 360 "$PY" benchmarks/gpu_check.py --out "$OUT" "$@"
