#!/usr/bin/env bash
# OpenMMLab's lint check with mmpretrain's settings (setup.cfg): flake8, isort
# and yapf, the versions of requirements/lint.txt. Changes nothing; prints
# what each would change and exits non-zero if any complains.
#   bash tools/lint.sh                 # the whole tree
#   bash tools/lint.sh ecdl_mm/models  # some paths
# To fix instead: isort PATHS && yapf -i -r PATHS (or pre-commit run
# --all-files with .pre-commit-config.yaml).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
if [ "$#" -gt 0 ]; then
  PATHS=("$@")
else
  PATHS=(ecdl_mm tools tests benchmarks configs setup.py)
fi
status=0
echo '== flake8'
"$PY" -m flake8 "${PATHS[@]}" || status=1
echo '== isort --check-only'
"$PY" -m isort --check-only --diff "${PATHS[@]}" || status=1
echo '== yapf --diff'
"$PY" -m yapf --diff --recursive --exclude 'tests/data/*' "${PATHS[@]}" \
  || status=1
echo '== copyright header (every Python file outside configs/ and tests/data/)'
missing=$(git ls-files 'ecdl_mm/*.py' 'tools/*.py' 'tests/*.py' 'benchmarks/*.py' setup.py \
  | grep -v '^tests/data/' \
  | while read -r f; do
      head -2 "$f" | grep -q '^# Copyright (c) ecdl_mm contributors. All rights reserved.$' \
        || echo "$f"
    done)
if [ -n "$missing" ]; then echo "$missing"; status=1; fi
if [ "$status" -eq 0 ]; then echo 'lint: clean'; else echo 'lint: see above'; fi
exit "$status"
