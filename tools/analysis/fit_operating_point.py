# Copyright (c) ecdl_mm contributors. All rights reserved.
# Fit an operating point (test-time view, temperature, abstention threshold)
# on a VALIDATION split and write it as one JSON file for tools/test.py,
# tools/infer.py and LesionInferencer (--operating-point op.json):
#
#   python tools/analysis/fit_operating_point.py CONFIG CKPT --out op.json \
#       [--sheet val] [--targets accuracy=0.95 npv:non-neoplastic=0.90 \
#        sensitivity:invasive_cancer=0.95]
#
# The split is the config's val_dataloader, or its test dataset with --sheet
# (and --ann-file) replaced; the config's test sheet is refused. Rules (view
# by validation lesion NLL, temperature by NLL, thresholds at the largest
# coverage): ecdl_mm/evaluation/operating_point_fit.py.
import argparse
import os.path as osp

from mmengine.config import Config

import ecdl_mm  # noqa: F401
from ecdl_mm.evaluation.functional import parse_target
from ecdl_mm.evaluation.operating_point import OperatingPointError
from ecdl_mm.evaluation.operating_point_fit import fit_operating_point
from ecdl_mm.experiments import (dataset_classes, predict_views,
                                 validation_dataset_cfg)
from ecdl_mm.utils import add_cfg_options, merge_cfg_options
from ecdl_mm.utils.cli import run_cli
from ecdl_mm.utils.config_walk import lesion_metrics
from ecdl_mm.utils.provenance import add_to_json, provenance_from_config


def parse_args():
    parser = argparse.ArgumentParser(
        description='Fit an operating point on a validation split')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='operating point JSON')
    parser.add_argument(
        '--sheet',
        help='validation sheet (default: the '
        "config's val_dataloader)")
    parser.add_argument(
        '--ann-file',
        help='split workbook of --sheet; a relative path is taken from the '
        "working directory when the file is there, else from the dataset's "
        'data_root (as in the config)')
    parser.add_argument(
        '--targets',
        nargs='*',
        default=[],
        help='KIND[:CLASS]=VALUE, KIND in accuracy, '
        'sensitivity, specificity, ppv, npv (npv:C = share '
        'of lesions called C that truly are C)')
    parser.add_argument('--min-images', type=int, default=1)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--device', default='cpu')
    add_cfg_options(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    ann_file = args.ann_file
    if ann_file and not osp.isabs(ann_file) and osp.isfile(ann_file):
        # a path typed on the command line is the user's, from where they
        # are (mmengine would join it to data_root)
        ann_file = osp.abspath(ann_file)
    ds_cfg = validation_dataset_cfg(cfg, args.sheet, ann_file)
    classes = dataset_classes(ds_cfg)
    for t in args.targets:  # a typo stops before the model runs
        try:
            parse_target(t, classes)
        except ValueError as e:
            raise OperatingPointError(str(e)) from None
    aggregation = 'mean'
    for m in lesion_metrics(cfg):
        aggregation = m.get('aggregation', 'mean')
    pred = predict_views(
        cfg,
        args.checkpoint,
        ds_cfg,
        batch_size=args.batch_size,
        device=args.device)
    try:
        op = fit_operating_point(pred['views'], pred['target'],
                                 pred['lesion_ids'], pred['classes'],
                                 args.targets, aggregation, args.min_images)
    except ValueError as e:  # a target naming a class the data lack
        raise OperatingPointError(str(e)) from None
    op.save(args.out)
    add_to_json(
        args.out,
        provenance_from_config(
            dict(val_dataloader=dict(dataset=ds_cfg)),
            config=args.config,
            checkpoint=args.checkpoint,
            split='val'))
    print(summary(op))
    print(f'wrote {args.out}')


def summary(op) -> str:
    v = op.validation
    lines = [
        f"validation: {v['num_lesions']} lesions, {v['num_images']} "
        f"images; view rule: {v['rules']['view']}"
    ]
    for row in v['views']:
        mark = '*' if row['key'] == v['chosen_view'] else ' '
        lines.append(f"  {mark} {row['key']:<22} T={row['temperature']:.3f} "
                     f"lesion NLL {row['lesion_nll_raw']:.4f} -> "
                     f"{row['lesion_nll']:.4f}")
    cal = v['calibration']
    lines.append(f"temperature {op.temperature:.3f}: lesion ECE "
                 f"{cal['lesion_raw']['ece']:.3f} -> "
                 f"{cal['lesion_calibrated']['ece']:.3f}, lesion NLL "
                 f"{cal['lesion_raw']['nll']:.3f} -> "
                 f"{cal['lesion_calibrated']['nll']:.3f}")
    if v.get('temperature_at_bound'):
        lines.append('the temperature sits at a bound of its search: the '
                     'validation probabilities carry little information')
    lines.append(f'min_confidence {op.min_confidence:.4f} (thresholds: '
                 f'{op.thresholds or "no targets"})')
    if v['unmet']:
        lines.append(f"targets not met at any coverage: {v['unmet']} "
                     '(every lesion is uncertain)')
    for key, e in v['selective'].items():
        lines.append(f"  {key:<32} {e['value']:.3f} ({e['ci_lower']:.3f} "
                     f"to {e['ci_upper']:.3f}) {e['k']}/{e['n']}")
    return '\n'.join(lines)


if __name__ == '__main__':
    run_cli(main, user_errors=(OperatingPointError, ))
