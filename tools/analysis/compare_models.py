# Copyright (c) ecdl_mm contributors. All rights reserved.
# Paired lesion-level comparison of models tested on the same lesions, from
# the lesion_predictions.csv files LesionMetric writes (out_dir):
#
#   python tools/analysis/compare_models.py A/lesion_predictions.csv \
#       B/lesion_predictions.csv [C.csv ...] --names A B [C] --out-dir DIR
#
# DeLong's test for each class's one-vs-rest AUC and the macro AUC; McNemar's
# test (exact binomial below 25 discordant lesions) for accuracy and each
# class's sensitivity and specificity; paired lesion-bootstrap intervals of
# every difference. Writes DIR/comparison.json, comparison.csv,
# model_metrics.csv, auc_differences.png and report.html.
import argparse
import os.path as osp

import ecdl_mm  # noqa: F401
from ecdl_mm.evaluation.clinical import StudyDataError, load_lesion_predictions
from ecdl_mm.experiments.model_benchmark import write_comparison
from ecdl_mm.utils.cli import run_cli


def parse_args():
    parser = argparse.ArgumentParser(
        description='paired lesion-level comparison of models')
    parser.add_argument(
        'predictions', nargs='+', help='lesion_predictions.csv files (>= 2)')
    parser.add_argument(
        '--names', nargs='+', help='model names (default: file stems)')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--bootstrap-rounds', type=int, default=2000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--ci-level', type=float, default=0.95)
    parser.add_argument(
        '--exact-below',
        type=int,
        default=25,
        help='McNemar: exact binomial test below this many discordant '
        'lesions, chi-square above')
    parser.add_argument('--title', default='Paired model comparison')
    return parser.parse_args()


def main():
    args = parse_args()
    if len(args.predictions) < 2:
        raise StudyDataError('compare_models needs >= 2 predictions files')
    names = args.names
    if names is None:
        # the folder of each file (e.g. lesion_eval, ablation_eval)
        names = [
            osp.basename(osp.dirname(osp.abspath(p))) for p in args.predictions
        ]
        if len(set(names)) != len(names):
            names = [f'model_{i + 1}' for i in range(len(names))]
    if len(names) != len(args.predictions) or len(set(names)) != len(names):
        raise StudyDataError(f'--names {names} must give '
                             f'{len(args.predictions)} unique names')
    preds = [load_lesion_predictions(p) for p in args.predictions]
    out = args.out_dir
    # the inputs with their hashes and their own provenance (sidecars)
    results = write_comparison(
        preds,
        names,
        out,
        args.bootstrap_rounds,
        args.seed,
        args.ci_level,
        args.exact_below,
        args.title,
        inputs=dict(zip(names, args.predictions)))

    print(f'{results["num_lesions"]} lesions; differences are A - B; '
          f'{args.ci_level:.0%} paired lesion-bootstrap CI')
    print(f'{"A - B":<28}{"metric":<32}{"A":>7}{"B":>7}{"A-B":>8}'
          f'  {"CI":<18}{"test":<15}{"p":>7}{"p Holm":>8}')
    for r in results['comparisons']:
        ci = f'[{r["ci_lower"]:.3f}, {r["ci_upper"]:.3f}]'
        print(f'{r["model_a"] + " - " + r["model_b"]:<28}{r["metric"]:<32}'
              f'{r["value_a"]:7.3f}{r["value_b"]:7.3f}'
              f'{r["difference"]:8.3f}  {ci:<18}{r["test"]:<15}'
              f'{r["p_value"]:7.4f}{r["p_holm"]:8.4f}')
    print(f'wrote comparison.json, comparison.csv, model_metrics.csv, '
          f'auc_differences.png, report.html to {out}')


if __name__ == '__main__':
    run_cli(main, user_errors=(StudyDataError, ))
