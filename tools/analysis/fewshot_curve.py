# Copyright (c) ecdl_mm contributors. All rights reserved.
# Few-shot learning curves at a new centre: every method config (linear
# probe, LoRA, visual prompt tuning, full fine-tuning; configs/fewshot)
# trained on k labelled lesions per class, k in --shots, for every seed,
# and tested on the rest of the new cohort:
#
#   python tools/analysis/fewshot_curve.py \
#       --configs \
#       configs/fewshot/ecvit-base-p16_ecdl-pre_fewshot-*_ecnbi.py \
#       --data-root data/new_centre --pretrained \
#       work_dirs/.../best_lesion_accuracy_epoch_N.pth \
#       --work-dir work_dirs/fewshot [--shots 1 2 4 8 16] [--seeds 0 1 2]
#
# Writes lesion macro AUC and accuracy per method and k (mean over seeds
# with a 95% t-interval; each run's lesion-bootstrap interval in the JSON)
# as fewshot_curve.md, .csv, .json and a plot, fewshot_curve.png. Finished
# runs are skipped when the command is run again.
import argparse

import ecdl_mm  # noqa: F401
from ecdl_mm.experiments import run_fewshot_curve
from ecdl_mm.utils import add_cfg_options
from ecdl_mm.utils.cli import run_cli


def parse_args():
    parser = argparse.ArgumentParser(
        description='few-shot learning curves at a new centre')
    parser.add_argument(
        '--configs',
        nargs='+',
        required=True,
        help='few-shot configs, one per method')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument(
        '--shots', type=int, nargs='+', default=[1, 2, 4, 8, 16])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--data-root', help='the new cohort')
    parser.add_argument(
        '--ann-file', help='its sheet file (default: every '
        'lesion folder)')
    parser.add_argument('--sheet-name')
    parser.add_argument(
        '--pretrained', help='source model checkpoint (its backbone.*)')
    add_cfg_options(parser, note='Applied to every run.')
    return parser.parse_args()


def main():
    args = parse_args()
    cohort = dict(
        data_root=args.data_root,
        ann_file=args.ann_file,
        sheet_name=args.sheet_name)
    run_fewshot_curve(args.configs, args.work_dir, args.shots, args.seeds,
                      cohort, args.pretrained, args.cfg_options)


if __name__ == '__main__':
    run_cli(main)
