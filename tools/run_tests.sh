#!/usr/bin/env bash
# Runs the test suite (CPU only, small models, real demo images from ../shared).
#   bash tools/run_tests.sh                          # the whole suite (tests/)
#   bash tools/run_tests.sh tests/test_datasets -x   # only the paths given
#   bash tools/run_tests.sh -k browser               # the whole suite, filtered
#   bash tools/run_tests.sh --smoke [-x ...]         # ~1-minute subset of the main job
# Tests run on every core (pytest-xdist, one worker a core, tests of a file on
# one worker so its module fixtures are made once); ECDL_TEST_WORKERS=1 runs
# them in this process (e.g. for pdb).
# An argument that names an existing file or folder (or file::test) is a path:
# when there is one, only the paths given run; else the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORKERS=${ECDL_TEST_WORKERS:-$(nproc)}
[ "$WORKERS" -gt 4 ] && WORKERS=4
if [ "$WORKERS" -gt 1 ]; then
  # one intra-op thread a worker: the workers already fill the cores
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
  XDIST=(-n "$WORKERS" --dist loadfile)
else
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
  XDIST=()
fi
export PYTHONHASHSEED=0

# The main job in about a minute: the split sheet and the dataset, ECViT,
# ECMAE, the centre loss and head, LesionMetric against scikit-learn, and
# tools/test.py on the demo images (CSV, metrics, report).
SMOKE=(
  tests/test_datasets/test_ecnbi_dataset.py
  tests/test_models/test_backbones/test_ec_vit.py
  tests/test_models/test_selfsup/test_ec_mae.py
  tests/test_models/test_losses/test_cluster_center_loss.py
  tests/test_models/test_heads/test_supervised_clustering_head.py
  tests/test_evaluation/test_metrics/test_lesion_metric.py
  tests/test_evaluation/test_demo_test_tool.py
)

args=()
paths=0
for a in "$@"; do
  if [ "$a" = --smoke ]; then
    args+=("${SMOKE[@]}")
    paths=1
    continue
  fi
  args+=("$a")
  case "$a" in
    -*) ;;
    *) if [ -e "${a%%::*}" ]; then paths=1; fi ;;
  esac
done
if [ "$paths" = 0 ]; then
  args=(tests ${args[@]+"${args[@]}"})
fi
exec "$PY" -m pytest -q -p no:cacheprovider ${XDIST[@]+"${XDIST[@]}"} --durations=20 "${args[@]}"
