#!/usr/bin/env bash
# The whole EC-DL demo on CPU in a few minutes, on the demo data in ../shared:
#   1. in-domain MAE pre-training (tiny ECMAE) on the demo_train images only
#      (labels unused; the demo_test images are never seen before testing),
#   2. fine-tuning of its encoder with supervised deep clustering on demo_train
#      (CE + class-centre loss, centres recomputed every epoch),
#   3. image- and lesion-level test on demo_test (report, CSVs, plots),
#   4. a PCA plot of the demo_test features before vs after fine-tuning.
#
#   bash tools/run_pipeline.sh [WORK_DIR]        (default work_dirs/ecdl_demo_pipeline)
#
# Environment: ECDL_DEMO_ROOT (demo data, default ../shared/datasets/ecdl-demo),
# PYTHON (default .venv/bin/python), MAE_EPOCHS (default 20), FT_EPOCHS (default 30;
# fewer epochs stop the configs' schedules early, as the tests do).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python
OUT=${1:-work_dirs/ecdl_demo_pipeline}
DEMO=${ECDL_DEMO_ROOT:-../shared/datasets/ecdl-demo}
MAE_EPOCHS=${MAE_EPOCHS:-20}
FT_EPOCHS=${FT_EPOCHS:-30}
MAE_CFG=configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py
FT_CFG=configs/ecdl/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONHASHSEED=0
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DEMO=$(cd "$DEMO" && pwd)
start=$(date +%s)
step() { echo; echo "=== [$(( $(date +%s) - start ))s] $*"; }

step "1/4 in-domain MAE pre-training ($MAE_EPOCHS epochs) on demo_train images"
"$PYTHON" tools/train.py "$MAE_CFG" --work-dir "$OUT/ecmae" --cfg-options \
    train_dataloader.dataset.data_root="$DEMO" \
    train_cfg.max_epochs="$MAE_EPOCHS" \
    default_hooks.checkpoint.interval="$MAE_EPOCHS"
MAE_CKPT="$OUT/ecmae/epoch_${MAE_EPOCHS}.pth"

# The demo has no validation sheet: the fine-tune config has no validation
# and the test evaluates the last epoch (nothing is selected on demo_test).
DATA_OPTS=(train_dataloader.dataset.dataset.data_root="$DEMO"
           test_dataloader.dataset.data_root="$DEMO"
           model.backbone.init_cfg.checkpoint="$MAE_CKPT")

step "2/4 fine-tuning with supervised deep clustering ($FT_EPOCHS epochs) on demo_train"
"$PYTHON" tools/train.py "$FT_CFG" --work-dir "$OUT/finetune" --cfg-options \
    "${DATA_OPTS[@]}" train_cfg.max_epochs="$FT_EPOCHS" \
    default_hooks.checkpoint.interval="$FT_EPOCHS"
FT_CKPT="$OUT/finetune/epoch_${FT_EPOCHS}.pth"

step "3/4 image- and lesion-level test on demo_test"
"$PYTHON" tools/test.py "$FT_CFG" "$FT_CKPT" --work-dir "$OUT/test" \
    --out "$OUT/test/predictions.pkl" --cfg-options "${DATA_OPTS[@]}" \
    test_evaluator.0.out_dir="$OUT/lesion_eval"

step "4/4 demo_test features before vs after clustering fine-tuning (PCA)"
"$PYTHON" tools/analysis/plot_features.py "$FT_CFG" \
    --checkpoints init "$FT_CKPT" \
    --titles "in-domain MAE encoder" "clustering fine-tuned" \
    --out "$OUT/features_pca.png" --cfg-options "${DATA_OPTS[@]}"

step "done in $(( $(date +%s) - start ))s; outputs in $OUT:"
ls "$OUT/lesion_eval" | sed 's/^/  lesion_eval\//'
echo "  features_pca.png features_pca.json"
"$PYTHON" - "$OUT/lesion_eval/metrics.json" "$OUT/features_pca.json" <<'PY'
import json
import sys

metrics = json.load(open(sys.argv[1]))['metrics']
for level in ('image', 'lesion'):
    m = {k.split('/', 1)[1]: v for k, v in metrics.items()
         if k.startswith(level + '/')}
    for key in ('accuracy', 'auc_macro', 'sensitivity_macro'):
        if key in m:
            ci = ''
            if f'{key}_ci_lower' in m:
                ci = (f" (95% CI {m[f'{key}_ci_lower']:.3f}-"
                      f"{m[f'{key}_ci_upper']:.3f})")
            print(f'  {level} {key}: {m[key]:.3f}{ci}')
for title, info in json.load(open(sys.argv[2])).items():
    print(f"  silhouette (cosine) of demo_test features, {title}: "
          f"{info['silhouette_cosine']:.3f}")
PY
