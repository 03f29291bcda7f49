#!/usr/bin/env bash
# Grad-CAM of the demo ECViT on one demo_test still, with mmpretrain's own
# tools/visualization/vis_cam.py (shipped in its wheel; needs grad-cam).
#
#   bash docs/gradcam_demo.sh [CKPT] [IMAGE] [OUT]
#
# CKPT: the fine-tuned demo model (default: the one tools/run_pipeline.sh
# writes); IMAGE: default the first image of demo_test lesion 730 (an
# adenoma); OUT: default work_dirs/gradcam/gradcam_demo.png. ECViT has no
# class token and pools the mean of all tokens after the last block, so the
# target layer is the last block's first LayerNorm (backbone.layers.3.ln1 in
# the 4-layer demo model, backbone.layers.11.ln1 in ViT-B) and --vit-like
# turns its 64 tokens back into an 8x8 map. The figure is derived from a
# real demo still: it stays in work_dirs/ (the images are not ours to
# redistribute).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python
DEMO=${ECDL_DEMO_ROOT:-../shared/datasets/ecdl-demo}
CFG=configs/ecdl/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py
CKPT=${1:-work_dirs/ecdl_demo_pipeline/finetune/epoch_30.pth}
IMG=${2:-$(ls "$DEMO"/adenomas/730/Images/*.jpg | head -n 1)}
OUT=${3:-work_dirs/gradcam/gradcam_demo.png}
mkdir -p "$(dirname "$OUT")"
VIS_CAM=$("$PYTHON" -c 'import os, mmpretrain; print(os.path.join(
    os.path.dirname(mmpretrain.__file__), ".mim", "tools", "visualization",
    "vis_cam.py"))')

"$PYTHON" "$VIS_CAM" "$IMG" "$CFG" "$CKPT" --vit-like \
    --target-layers backbone.layers.3.ln1 --method GradCAM \
    --save-path "$OUT" --cfg-options model.backbone.init_cfg=None
echo "Grad-CAM of $IMG: $OUT"
