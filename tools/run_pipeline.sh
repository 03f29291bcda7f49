#!/usr/bin/env bash
# The whole EC-DL demo on CPU in a few minutes, on the demo data in ../shared:
#   0. a lesion-grouped, stratified validation split carved out of demo_train
#      (make_splits.py: train 15 / val 5 lesions; demo_test is untouched),
#   1. in-domain MAE pre-training (tiny ECMAE) on the demo_train images only
#      (labels unused; the demo_test images are never seen before testing),
#   2. fine-tuning of its encoder with supervised deep clustering on the
#      carved train split (CE + class-centre loss, centres recomputed every
#      epoch),
#   3. the operating point (view, temperature, abstention threshold) fitted on
#      the carved val split only (fit_operating_point.py),
#   4. image- and lesion-level test on demo_test with that operating point
#      (report with calibration, selective metrics and decision table),
#   5. a PCA plot of the demo_test features before vs after fine-tuning.
# Nothing is fitted or selected on the demo_test lesions it reports.
#
#   bash tools/run_pipeline.sh [WORK_DIR]        (default work_dirs/ecdl_demo_pipeline)
#
# Your own cohort, the same recipe in one step (the paths of these options
# relative to where you run it; <class>/<lesion>/Images/*.jpg under DIR, two split sheets with the
# columns class_index, class_english, lesion_index[, patient_id]; the validation
# split is carved out of the training sheet, the test sheet is only tested):
#   bash tools/run_pipeline.sh [WORK_DIR] --data-root DIR --train-sheet A.csv --test-sheet B.csv
# A sheet is a .csv file or the first sheet of a workbook (.xlsx); the train
# and test sheets must share no lesion or patient.
#
# Environment: ECDL_DEMO_ROOT (demo data, default ../shared/datasets/ecdl-demo),
# PYTHON (default .venv/bin/python), MAE_EPOCHS (default 20), FT_EPOCHS (default 30;
# fewer epochs stop the configs' schedules early, as the tests do).
set -euo pipefail
CALLER=$PWD
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
OUT=
DATA_ROOT= TRAIN_SHEET= TEST_SHEET=
while [ "$#" -gt 0 ]; do
  case "$1" in
    --data-root|--train-sheet|--test-sheet)
      [ "$#" -ge 2 ] || { echo "run_pipeline.sh: $1 needs a value" >&2; exit 2; }
      case "$2" in /*) v=$2 ;; *) v=$CALLER/$2 ;; esac
      case "$1" in
        --data-root) DATA_ROOT=$v ;; --train-sheet) TRAIN_SHEET=$v ;; *) TEST_SHEET=$v ;;
      esac
      shift 2 ;;
    -h|--help) usage ;;
    -*) echo "run_pipeline.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$OUT" ] || { echo "run_pipeline.sh: one WORK_DIR only (got '$OUT' and '$1')" >&2; exit 2; }
       OUT=$1; shift ;;
  esac
done
OWN=0
if [ -n "$DATA_ROOT$TRAIN_SHEET$TEST_SHEET" ]; then
  if [ -z "$DATA_ROOT" ] || [ -z "$TRAIN_SHEET" ] || [ -z "$TEST_SHEET" ]; then
    echo "run_pipeline.sh: your own cohort needs all of --data-root DIR --train-sheet A.csv --test-sheet B.csv" >&2
    exit 2
  fi
  [ -d "$DATA_ROOT" ] || { echo "run_pipeline.sh: --data-root $DATA_ROOT is not a directory" >&2; exit 2; }
  for f in "$TRAIN_SHEET" "$TEST_SHEET"; do
    [ -f "$f" ] || { echo "run_pipeline.sh: sheet $f does not exist" >&2; exit 2; }
  done
  OWN=1
fi
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python
OUT=${OUT:-work_dirs/ecdl_demo_pipeline}
DEMO=${DATA_ROOT:-${ECDL_DEMO_ROOT:-../shared/datasets/ecdl-demo}}
MAE_EPOCHS=${MAE_EPOCHS:-20}
FT_EPOCHS=${FT_EPOCHS:-30}
MAE_CFG=configs/ecdl/ecmae_vit-tiny-p8_1xb8-coslr-20e_ecnbi-demo.py
FT_CFG=configs/ecdl/ecdl-clustering_vit-tiny-p8_1xb8-30e_ecnbi-demo-64px.py
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONHASHSEED=0
if [ -z "$DATA_ROOT" ] && [ ! -f "$DEMO/dataset_divide.xlsx" ]; then
    echo "run_pipeline.sh: error: no demo data at '$DEMO' (no dataset_divide.xlsx there): set ECDL_DEMO_ROOT to the ecdl-demo folder" >&2
    exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DEMO=$(cd "$DEMO" && pwd)
# each warning once in the whole run, not once per stage (the log files of
# the stages keep every one)
export ECDL_SHOWN_WARNINGS="$OUT/.shown_warnings"
: > "$ECDL_SHOWN_WARNINGS"
start=$(date +%s)
step() { echo; echo "=== [$(( $(date +%s) - start ))s] $*"; }

# The split sheets: the demo workbook's two sheets, or your two files (a
# sheet name means nothing in a .csv: sheet_name=None; the sets compared for
# leakage are the files themselves).
if [ "$OWN" = 1 ]; then
  TRAIN_NAME=$(basename "$TRAIN_SHEET")
  LESIONS=(--lesions "$TRAIN_SHEET")
  TRAIN_DS=(ann_file="$TRAIN_SHEET" sheet_name=None disjoint_with="[$TEST_SHEET]")
  TEST_DS=(ann_file="$TEST_SHEET" sheet_name=None disjoint_with="[$TRAIN_SHEET]")
else
  TRAIN_NAME=demo_train
  LESIONS=(--lesions dataset_divide.xlsx --sheet-name demo_train)
  TRAIN_DS=() TEST_DS=()
fi

step "0/5 validation split carved out of $TRAIN_NAME (lesion-grouped, stratified)"
"$PYTHON" tools/dataset_converters/make_splits.py "$DEMO" "${LESIONS[@]}" \
    --ratios 0.75 0.25 0 --seed 0 --out "$OUT/splits.xlsx"
SPLITS="$OUT/splits.xlsx"
TARGETS=${TARGETS:-accuracy=0.80}

step "1/5 in-domain MAE pre-training ($MAE_EPOCHS epochs) on $TRAIN_NAME images"
"$PYTHON" tools/train.py "$MAE_CFG" --work-dir "$OUT/ecmae" --cfg-options \
    train_dataloader.dataset.data_root="$DEMO" \
    ${TRAIN_DS[@]+"${TRAIN_DS[@]/#/train_dataloader.dataset.}"} \
    train_cfg.max_epochs="$MAE_EPOCHS" \
    default_hooks.checkpoint.interval="$MAE_EPOCHS"
MAE_CKPT="$OUT/ecmae/epoch_${MAE_EPOCHS}.pth"

# The fine-tune config has no validation loop and the test evaluates the last
# epoch; the carved val split serves only the operating point.
# (the fine-tune's training set is wrapped in ClassBalancedDataset: its keys
# are train_dataloader.dataset.dataset.*)
DATA_OPTS=(train_dataloader.dataset.dataset.data_root="$DEMO"
           test_dataloader.dataset.data_root="$DEMO"
           ${TEST_DS[@]+"${TEST_DS[@]/#/test_dataloader.dataset.}"}
           model.backbone.init_cfg.checkpoint="$MAE_CKPT")

step "2/5 fine-tuning with supervised deep clustering ($FT_EPOCHS epochs) on the carved train split"
"$PYTHON" tools/train.py "$FT_CFG" --work-dir "$OUT/finetune" --cfg-options \
    "${DATA_OPTS[@]}" train_cfg.max_epochs="$FT_EPOCHS" \
    train_dataloader.dataset.dataset.ann_file="$SPLITS" \
    train_dataloader.dataset.dataset.sheet_name=train \
    train_dataloader.dataset.dataset.disjoint_with="[val]" \
    default_hooks.checkpoint.interval="$FT_EPOCHS"
FT_CKPT="$OUT/finetune/epoch_${FT_EPOCHS}.pth"

step "3/5 operating point fitted on the carved val split ($TARGETS)"
"$PYTHON" tools/analysis/fit_operating_point.py "$FT_CFG" "$FT_CKPT" \
    --out "$OUT/operating_point.json" --ann-file "$SPLITS" --sheet val \
    --targets $TARGETS --cfg-options "${DATA_OPTS[@]}"

step "4/5 image- and lesion-level test on demo_test with the operating point"
"$PYTHON" tools/test.py "$FT_CFG" "$FT_CKPT" --work-dir "$OUT/test" \
    --out "$OUT/test/predictions.pkl" --cfg-options "${DATA_OPTS[@]}" \
    test_evaluator.0.out_dir="$OUT/lesion_eval" \
    --operating-point "$OUT/operating_point.json" --report

step "5/5 demo_test features before vs after clustering fine-tuning (PCA)"
"$PYTHON" tools/analysis/plot_features.py "$FT_CFG" \
    --checkpoints init "$FT_CKPT" \
    --titles "in-domain MAE encoder" "clustering fine-tuned" \
    --out "$OUT/features_pca.png" --cfg-options "${DATA_OPTS[@]}"

step "done in $(( $(date +%s) - start ))s; outputs in $OUT:"
ls "$OUT/lesion_eval" | sed 's/^/  lesion_eval\//'
echo "  features_pca.png features_pca.json operating_point.json splits.xlsx"
"$PYTHON" - "$OUT/lesion_eval/metrics.json" "$OUT/features_pca.json" \
    "$OUT/operating_point.json" <<'PY'
import json
import sys

doc = json.load(open(sys.argv[1]))
metrics = doc['metrics']
for level in ('image', 'lesion'):
    m = {k.split('/', 1)[1]: v for k, v in metrics.items()
         if k.startswith(level + '/')}
    for key in ('accuracy', 'auc_macro', 'sensitivity_macro'):
        if m.get(key) is not None:
            ci = ''
            if m.get(f'{key}_ci_lower') is not None:
                ci = (f" (95% CI {m[f'{key}_ci_lower']:.3f}-"
                      f"{m[f'{key}_ci_upper']:.3f})")
            print(f'  {level} {key}: {m[key]:.3f}{ci}')
op = doc.get('operating_point')
if op:
    v = op['view']
    view = v['name'] + (f" {v['crop_ratio']}" if v.get('crop_ratio') else '')
    print(f"  operating point (fitted on the carved val split): view {view}"
          f"{' + flip' if v.get('flip') else ''}, temperature "
          f"{op['temperature']:.3f}, uncertain below confidence "
          f"{op['min_confidence']:.3f}")
    counts = doc['counts']
    print('  selective lesion metrics on demo_test (accepted lesions, '
          '95% Wilson CI, k/n):')
    keys = ['coverage', 'accuracy'] + [
        f'{n}_{c}' for n in ('sensitivity', 'specificity', 'npv')
        for c in doc['classes']]
    for key in keys:
        val = metrics[f'selective/{key}']
        lo = metrics[f'selective/{key}_ci_lower']
        hi = metrics[f'selective/{key}_ci_upper']
        c = counts[f'selective/{key}']
        text = ('   n/a' if val is None else f'{val:6.3f} ({lo:.3f}-{hi:.3f})')
        print(f"    {key:<30} {text} {c['k']}/{c['n']}")
    n_val = json.load(open(sys.argv[3]))['validation']['num_lesions']
    print(f"  caveat: {metrics['lesion/num_lesions']} test lesions ({n_val} "
          'validation lesions) decide nothing; the intervals say how little.')
for title, info in json.load(open(sys.argv[2])).items():
    print(f"  silhouette (cosine) of demo_test features, {title}: "
          f"{info['silhouette_cosine']:.3f}")
PY
