#!/usr/bin/env bash
# jpegtran, which tools/dataset_converters/add_restart_markers.py runs to add
# restart markers to a dataset's JPEGs losslessly (and the converter's tests,
# tests/test_datasets/test_transforms/test_jpeg_restart.py), from Debian's
# libjpeg-turbo-progs. Needs root (CI runs as root).
#   bash tools/install_jpegtran.sh
set -euo pipefail
if command -v jpegtran >/dev/null; then
  echo "jpegtran: $(command -v jpegtran)"
  exit 0
fi
source "$(dirname "$0")/apt_install.sh"
apt_install libjpeg-turbo-progs
echo "jpegtran: $(command -v jpegtran)"
