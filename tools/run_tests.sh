#!/usr/bin/env bash
# Runs the test suite (CPU only, small models, real demo images from ../shared).
#   bash tools/run_tests.sh                          # the whole suite (tests/)
#   bash tools/run_tests.sh tests/test_datasets -x   # only the paths given
#   bash tools/run_tests.sh -k browser               # the whole suite, filtered
#   bash tools/run_tests.sh --smoke [-x ...]         # ~1-minute subset of the main job
# An argument that names an existing file or folder (or file::test) is a path:
# when there is one, only the paths given run; else the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONHASHSEED=0 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
PY=.venv/bin/python

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
exec "$PY" -m pytest -q -p no:cacheprovider "${args[@]}"
