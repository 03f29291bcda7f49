#!/usr/bin/env bash
# Builds the documentation site (Sphinx + MyST, docs/) as HTML, warnings as
# errors, and prints where the pages are. The API reference is autodoc over
# the checkout's ecdl_mm; the config reference is generated from configs/
# (docs/_ext/config_reference.py). Needs requirements/docs.txt.
#   bash tools/build_docs.sh            # -> docs/_build/html (git-ignored)
#   bash tools/build_docs.sh OUT_DIR    # -> OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${1:-docs/_build/html}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# -E: read every page again (the generated pages depend on configs/ and the
# package); -n is left off: links into torch/mmengine/mmpretrain have no
# inventory here (nothing downloads at build time).
"$PY" -m sphinx -b html -W --keep-going -E -q docs "$OUT"
echo "docs built: $(cd "$OUT" && pwd)/index.html"
