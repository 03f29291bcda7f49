# Copyright (c) ecdl_mm contributors. All rights reserved.
# Train and test every config on the same lesion splits, then compare them
# paired (the first config, the EC-DL model, against every baseline):
#
#   python tools/analysis/benchmark_models.py \
#       --configs \
#       configs/ecdl/ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py \
#                 configs/baselines/resnet50_in1k-pre_8xb8-100e_ecnbi.py ... \
#       --splits data/ecnbi/splits.xlsx --work-dir work_dirs/benchmark
#
# Each config trains in <work-dir>/<config name> (model selection on the val
# sheet, save_best) and its selected checkpoint is tested on the test sheet
# (LesionMetric, lesion_eval/lesion_predictions.csv). Then compare_models
# (DeLong, McNemar, paired lesion bootstrap) writes <work-dir>/comparison/
# comparison.json, comparison.csv, model_metrics.csv, auc_differences.png and
# report.html. Rerun the same command after an interruption: finished
# configs are skipped, a partial one resumes from its last checkpoint.
# Demo (no val sheet: --sheets demo_train none demo_test) in
# configs/baselines/*-mini_1xb8-10e_ecnbi-demo-64px.py.
import argparse

import ecdl_mm  # noqa: F401
from ecdl_mm.evaluation.clinical import StudyDataError
from ecdl_mm.experiments import run_benchmark
from ecdl_mm.utils import add_cfg_options
from ecdl_mm.utils.cli import run_cli


def parse_args():
    parser = argparse.ArgumentParser(
        description='train, test and compare configs on the same splits')
    parser.add_argument(
        '--configs',
        nargs='+',
        required=True,
        help='config files; the first is the reference (EC-DL)')
    parser.add_argument('--splits', required=True, help='split workbook')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument(
        '--sheets',
        nargs=3,
        default=['train', 'val', 'test'],
        metavar=('TRAIN', 'VAL', 'TEST'),
        help='sheet names; VAL may be "none" (test the last epoch)')
    parser.add_argument(
        '--data-root', help='cohort root (default: the folder of --splits)')
    parser.add_argument('--bootstrap-rounds', type=int, default=2000)
    parser.add_argument('--seed', type=int, default=0)
    add_cfg_options(parser, note='Applied to every config.')
    return parser.parse_args()


def main():
    args = parse_args()
    sheets = [None if s.lower() == 'none' else s for s in args.sheets]
    run_benchmark(args.configs, args.splits, args.work_dir, sheets,
                  args.data_root, args.cfg_options, args.bootstrap_rounds,
                  args.seed)


if __name__ == '__main__':
    run_cli(main, user_errors=(StudyDataError, ))
